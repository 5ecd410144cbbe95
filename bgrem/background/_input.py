"""Turn what users pass (arrays, Quantity, NDData, CCDData) into one form."""

import dataclasses
import warnings

import numpy as np
from astropy.nddata import NDData
from astropy.units import Quantity
from astropy.utils.exceptions import AstropyUserWarning

__all__ = []


@dataclasses.dataclass
class ImageInput:
    """The pieces of an input image that bgrem works with."""

    data: np.ndarray            # float32 native byte order, our own copy
    unit: object                # astropy unit or None
    mask: np.ndarray            # bool: user mask (and NDData / MaskedArray masks)
    coverage_mask: np.ndarray   # bool or None
    nonfinite: np.ndarray       # bool: NaN/inf pixels outside the coverage mask
    wcs: object = None
    meta: dict = dataclasses.field(default_factory=dict)
    source_mask: np.ndarray = None  # bool or None: pixels whose light is all kept

    @property
    def invalid(self):
        """Pixels without usable data: non-finite or outside the coverage."""
        if self.coverage_mask is None:
            return self.nonfinite
        return self.nonfinite | self.coverage_mask


def read_input(data, mask=None, coverage_mask=None, source_mask=None):
    """
    Validate ``data`` and its masks; the caller's arrays are never modified.

    ``source_mask`` may also be regions (see `regions_mask`), placed with
    the WCS of an NDData ``data``.

    Raises
    ------
    TypeError, ValueError
        For input that is not a 2-D real image, masks of the wrong shape,
        sky regions without a celestial WCS, or an image without a single
        usable pixel.
    """
    wcs, meta, unit = None, {}, None
    masks = []
    if isinstance(data, NDData):
        wcs, meta, unit = data.wcs, dict(data.meta), data.unit
        if data.mask is not None:
            masks.append(np.asarray(data.mask, dtype=bool))
        data = data.data
    if isinstance(data, Quantity):
        unit = data.unit
        data = data.value
    if isinstance(data, np.ma.MaskedArray):
        masks.append(np.ma.getmaskarray(data))
        data = data.data
    array = np.asanyarray(data)
    if array.dtype.kind not in 'biuf':
        raise TypeError(f'data must be a real-valued image, got dtype {array.dtype}')
    if array.ndim != 2:
        raise ValueError(f'data must be a 2-D image, got {array.ndim} dimension(s) '
                         f'(shape {array.shape}); pick one plane of a cube')
    if array.size == 0:
        raise ValueError('data is empty')
    # A native-byte-order float32 copy: never a view of the caller's array.
    array = np.array(array, dtype=np.float32, order='C', copy=True)

    if mask is not None:
        masks.append(_check_mask(mask, array.shape, 'mask'))
    user_mask = np.zeros(array.shape, bool)
    for m in masks:
        if m.shape != array.shape:
            raise ValueError(f'mask shape {m.shape} does not match data shape {array.shape}')
        user_mask |= m
    if coverage_mask is not None:
        coverage_mask = _check_mask(coverage_mask, array.shape, 'coverage_mask')

    nonfinite = ~np.isfinite(array)
    if coverage_mask is not None:
        nonfinite &= ~coverage_mask
    already_masked = user_mask if coverage_mask is None else user_mask | coverage_mask
    if np.any(nonfinite & ~already_masked):
        warnings.warn(f'Input data contains {np.count_nonzero(nonfinite & ~already_masked)} '
                      'unmasked non-finite values (NaN or inf), which were automatically '
                      'masked; they stay NaN in the outputs.', AstropyUserWarning)
    if source_mask is not None:
        source_mask = (regions_mask(source_mask, array.shape, wcs) if _is_regions(source_mask)
                       else _check_mask(source_mask, array.shape, 'source_mask'))
    image = ImageInput(array, unit, user_mask, coverage_mask, nonfinite, wcs, meta,
                       source_mask)
    if np.all(image.invalid | user_mask):
        raise ValueError('all pixels are masked, non-finite or outside the coverage: '
                         'nothing to work on')
    return image


def _check_mask(mask, shape, name):
    mask = np.asanyarray(mask)
    if mask.shape != shape:
        raise ValueError(f'{name} shape {mask.shape} does not match data shape {shape}')
    return mask.astype(bool, copy=True)


def _is_regions(value):
    from regions import Region, Regions

    return isinstance(value, (Region, Regions)) or (
        isinstance(value, (list, tuple)) and len(value) > 0
        and all(isinstance(item, Region) for item in value))


def regions_mask(regions, shape, wcs=None):
    """
    The pixels inside ``regions``, as a boolean image.

    Parameters
    ----------
    regions : `regions.Region`, `regions.Regions` or list of `regions.Region`
        Pixel or sky regions (e.g. read from a DS9 file with
        `regions.Regions.read`); a pixel is inside if its centre is.
    shape : tuple of int
        Shape of the image.
    wcs : `~astropy.wcs.WCS`, optional
        Celestial WCS of the image; needed for sky regions.

    Returns
    -------
    mask : `~numpy.ndarray` of bool

    Raises
    ------
    ValueError
        For sky regions without a celestial WCS.
    """
    from regions import PixelRegion, Region

    if isinstance(regions, Region):
        regions = [regions]
    mask = np.zeros(shape, bool)
    for region in regions:
        if not isinstance(region, PixelRegion):
            if wcs is None or not getattr(wcs, 'has_celestial', False):
                raise ValueError(f'sky region {region!r} needs a celestial WCS to be placed '
                                 'on the image: give the data as NDData with a WCS, or '
                                 'pixel regions')
            region = region.to_pixel(wcs)
        region_mask = region.to_mask(mode='center')
        if region_mask is None:  # entirely off the image
            continue
        image = region_mask.to_image(shape, dtype=bool)
        if image is not None:
            mask |= image
    return mask
