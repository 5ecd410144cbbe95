"""
Reading an image plane from a FITS file and writing results back, header
and WCS kept.
"""

import dataclasses
import pathlib

import numpy as np
from astropy.io import fits
from astropy.wcs import WCS, FITSFixedWarning

__all__ = ['FITSImage', 'read_fits_image', 'write_fits_image']

# Keywords that describe the data layout; astropy writes its own.
_STRUCTURAL = ('SIMPLE', 'XTENSION', 'BITPIX', 'NAXIS', 'EXTEND', 'PCOUNT', 'GCOUNT',
               'BSCALE', 'BZERO', 'BLANK', 'CHECKSUM', 'DATASUM')


@dataclasses.dataclass
class FITSImage:
    """A 2-D image read from a FITS file."""

    data: np.ndarray
    header: fits.Header
    hdu_index: int

    @property
    def wcs(self):
        """The celestial WCS of the header, or None."""
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter('ignore', FITSFixedWarning)
            wcs = WCS(self.header)
        return wcs if wcs.has_celestial else None


def read_fits_image(path, hdu=None, plane=None):
    """
    Read one 2-D image from a FITS file (``.fits``, ``.fits.gz``, ``.fits.fz``).

    Parameters
    ----------
    path : path-like
        The file.
    hdu : int or str, optional
        Index or EXTNAME of the HDU; by default the first HDU that holds an
        image.
    plane : int, optional
        For a 3-D cube, the index of the plane along the first (slowest)
        axis; required for cubes.

    Returns
    -------
    image : `FITSImage`
        The data (as stored, not copied to float) and a header that
        describes a 2-D image (a cube's third WCS axis removed).

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If the HDU holds no 2-D image or the plane is missing or out of range.
    OSError
        If the file is not FITS.
    """
    path = pathlib.Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'{path}: no such file')
    with fits.open(path, memmap=False) as hdul:
        index = _find_image_hdu(hdul, hdu, path)
        selected = hdul[index]
        data = np.asarray(selected.data)
        header = selected.header.copy()
    if data.ndim == 3:
        if plane is None:
            raise ValueError(f'{path}[{index}] is a 3-D cube of shape {data.shape}: '
                             'choose a plane (--plane)')
        if not -data.shape[0] <= plane < data.shape[0]:
            raise ValueError(f'plane {plane} out of range for a cube of {data.shape[0]} planes')
        data = data[plane]
        header = _drop_third_axis(header)
    elif data.ndim != 2:
        raise ValueError(f'{path}[{index}] has {data.ndim} dimensions; bgrem needs a 2-D '
                         'image or a plane of a 3-D cube')
    elif plane is not None:
        raise ValueError(f'{path}[{index}] is a 2-D image: --plane does not apply')
    return FITSImage(data, header, index)


def write_fits_image(path, data, header, extensions=(), overwrite=False):
    """
    Write ``data`` with ``header`` (and image ``extensions``) to ``path``.

    A name ending in ``.fz`` writes tile-compressed HDUs (lossless GZIP
    compression of the float values).

    Parameters
    ----------
    path : path-like
        Output file.
    data : `~numpy.ndarray`
        The primary image.
    header : `~astropy.io.fits.Header`
        Its header; layout keywords are replaced.
    extensions : sequence of (str, ndarray)
        Extra images as ``(EXTNAME, data)``; they get the WCS of ``header``.
    overwrite : bool, optional
        Replace an existing file.
    """
    header = _clean_header(header)
    compressed = str(path).endswith('.fz')
    wcs_header = FITSImage(data, header, 0).wcs
    wcs_cards = wcs_header.to_header() if wcs_header is not None else fits.Header()

    def image_hdu(array, hdr, name=None):
        if compressed:
            return fits.CompImageHDU(array, hdr, name=name, compression_type='GZIP_2',
                                     quantize_level=0.0)
        return fits.ImageHDU(array, hdr, name=name)

    hdus = [fits.PrimaryHDU() if compressed else fits.PrimaryHDU(data, header)]
    if compressed:
        hdus.append(image_hdu(data, header))
    for name, array in extensions:
        hdus.append(image_hdu(array, wcs_cards.copy(), name=name))
    fits.HDUList(hdus).writeto(path, overwrite=overwrite)


def _find_image_hdu(hdul, hdu, path):
    if hdu is not None:
        try:
            selected = hdul[hdu]
        except (KeyError, IndexError):
            raise ValueError(f'{path} has no HDU {hdu!r} ({len(hdul)} HDUs)') from None
        if not selected.is_image or selected.data is None:
            raise ValueError(f'HDU {hdu!r} of {path} holds no image')
        return hdul.index_of(hdu)
    for index, candidate in enumerate(hdul):
        if candidate.is_image and candidate.data is not None and candidate.data.ndim >= 2:
            return index
    raise ValueError(f'{path} contains no image HDU')


def _drop_third_axis(header):
    header = header.copy()
    for key in list(header.keys()):
        base = key.rstrip('0123456789')
        if key.endswith('3') and base in ('NAXIS', 'CTYPE', 'CRVAL', 'CDELT', 'CRPIX',
                                          'CUNIT', 'CROTA', 'CNAME'):
            del header[key]
        elif key.startswith(('PC', 'CD')) and '_' in key and '3' in key.split('_'):
            del header[key]
        elif key.startswith(('PC3', 'CD3')):
            del header[key]
    header['NAXIS'] = 2
    if 'WCSAXES' in header:
        header['WCSAXES'] = 2
    return header


def _clean_header(header):
    header = header.copy()
    for key in _STRUCTURAL:
        header.remove(key, ignore_missing=True, remove_all=True)
    for key in list(header.keys()):
        if key.startswith(('NAXIS', 'Z')) and key.rstrip('0123456789') in (
                'NAXIS', 'ZNAXIS', 'ZTILE', 'ZNAME', 'ZVAL', 'ZBITPIX', 'ZCMPTYPE',
                'ZIMAGE', 'ZSIMPLE', 'ZTENSION', 'ZEXTEND', 'ZBLOCKED', 'ZPCOUNT',
                'ZGCOUNT', 'ZQUANTIZ', 'ZDITHER'):
            header.remove(key, ignore_missing=True, remove_all=True)
    return header
