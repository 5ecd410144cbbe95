"""
`detect_sources`: a source catalogue from a bgrem-cleaned image.

Detection uses the cleaned image (no noise left, so a low threshold finds
faint sources without many false ones); photometry uses the *unclipped*
image, because clipping negative pixels at zero biases faint fluxes upward.
"""

import collections
import warnings

import numpy as np
from astropy.table import QTable
from astropy.utils.exceptions import AstropyUserWarning

from ._highpass import median_highpass

__all__ = ['DetectionResult', 'detect_sources']

#: Bit values of the ``flags`` column.
FLAG_EDGE = 1        #: the aperture reaches the image edge or masked/invalid pixels
FLAG_DEBLENDED = 2   #: the source was split from a larger segment by deblending
FLAG_PSF_FIT = 4     #: the PSF fit failed or is unreliable (only with ``psf_model``)

DetectionResult = collections.namedtuple('DetectionResult',
                                         ['catalog', 'segmentation', 'background'])
DetectionResult.__doc__ = """\
What `detect_sources` returns; unpacks as ``catalog, segmentation, background``.

Attributes
----------
catalog : `~astropy.table.QTable`
    One row per source (see `detect_sources`).
segmentation : `~photutils.segmentation.SegmentationImage` or None
    The segmentation of the cleaned image (None when nothing is detected).
background : `~bgrem.BGRemBackground`
    The background removal the detection used.
"""

_METHODS = ('photutils', 'sep')
_PHOTOMETRY_IMAGES = ('unclipped', 'data')


def detect_sources(data, background=None, *, threshold=1.0, n_pixels=5, deblend=False,
                   highpass_width=None, method='photutils', photometry_on='unclipped',
                   aperture_radius=None, kron_params=(2.5, 1.4), aperture_correction=False,
                   local_bkg_width=0, psf_model=None, psf_fit_shape=None,
                   **background_options):
    """
    Detect and measure sources on a background-removed image.

    Unlike `photutils.segmentation.detect_sources`, which takes a
    background-subtracted image and a threshold and returns only a
    segmentation image, this function removes the background with
    `~bgrem.BGRemBackground` (or takes one you computed), detects sources
    on the *cleaned* image, measures them on the *unclipped* image, and
    returns a catalogue with photutils column names next to the
    segmentation image.

    Parameters
    ----------
    data : array_like, `~astropy.units.Quantity` or `~astropy.nddata.NDData`
        The image, as for `~bgrem.BGRemBackground`.  Its unit, mask and WCS
        are used (``sky_centroid`` needs a celestial WCS).  May be None when
        ``background`` is given.
    background : `~bgrem.BGRemBackground`, optional
        The background removal of ``data`` if you already have it; by
        default it is computed with ``background_options``.
    threshold : float, optional
        Detection threshold in units of the noise of the data
        (`~bgrem.BGRemBackground.background_rms`): a pixel belongs to a
        source if the cleaned image exceeds ``threshold * background_rms``.
    n_pixels : int, optional
        Minimum number of connected pixels (8-connectivity) of a source.
    deblend : bool, optional
        Split blended sources (`photutils.segmentation.deblend_sources`, or
        sep's multi-threshold deblending).
    highpass_width : int, optional
        Width in pixels of a running median subtracted from the cleaned
        image before detection (`~bgrem.detection.median_highpass`); about
        5 times the seeing FWHM.  Segments, centroids, shapes and Kron
        apertures then come from that image, fluxes still from the
        ``photometry_on`` image.  Where the output keeps sky structure
        (structured sky, crowded fields) it finds many more point sources
        at the same number of false ones, but it cuts galaxies larger than
        the window down to their cores, so their Kron fluxes are too low:
        use it for point-source catalogues.  None (default) detects on the
        cleaned image itself.
    method : {'photutils', 'sep'}, optional
        Library for extraction and photometry.  Both give the same columns
        and agree within the errors.
    photometry_on : {'unclipped', 'data'}, optional
        Image the aperture and Kron fluxes are measured on: the unclipped
        bgrem output (no noise, default), or the data minus
        `~bgrem.BGRemBackground.smooth_background` (all the noise of the
        data, no model involved).  PSF fits are always made on the latter.
    aperture_radius : float, optional
        Radius (pixels) of the circular aperture of ``aperture_flux``; by
        default twice the median FWHM of the detected sources.
    kron_params : tuple of float, optional
        ``(k, r_min)``: the Kron aperture is ``k`` Kron radii, at least
        ``r_min`` in units of the source's semi-axes (SExtractor's
        ``PHOT_AUTOPARAMS``).
    aperture_correction : bool, optional
        Scale ``flux`` and ``flux_err`` of point-like sources (FWHM within
        25% of the PSF's) by the median ratio of total to Kron flux of the
        bright (S/N > 50), isolated, unflagged point-like sources, the total
        being measured in a circle of 4 PSF FWHM (the factor and the number
        of stars used are in ``catalog.meta``).
        The Kron aperture misses a few per cent of the light of a PSF with
        extended wings.  Off by default.
    local_bkg_width : int, optional
        Width (pixels) of the annulus around each source in which a local
        background is estimated and subtracted from the fluxes; 0 (default)
        subtracts nothing, which suits the cleaned image.
    psf_model : `astropy.modeling.Fittable2DModel` or 'moffat', optional
        A photutils PSF model of the image (`~photutils.psf.ImagePSF`,
        `~photutils.psf.MoffatPSF`, `~photutils.psf.GriddedPSFModel`, ...),
        pixel response included, or ``'moffat'`` to fit a Moffat profile
        (elliptical, with a Gaussian core where the stars ask for one:
        `~bgrem.detection.fit_moffat_psf`) to the bright (S/N > 30),
        isolated, point-like, unflagged sources of this image first (at
        least 5, at most the 60 brightest; the fit is in
        ``catalog.meta['psf_fit']``; with fewer stars a warning is given
        and ``psf_flux`` is NaN and flagged; on an atmospheric
        (Kolmogorov) PSF its fluxes are about 1% low).  The model is then
        fitted at every detected position (`~photutils.psf.PSFPhotometry`,
        one source at a time, position free within 2 pixels) on the data
        minus `~bgrem.BGRemBackground.smooth_background`, whose star
        profiles are untouched by the network (on the denoised image the
        median error is about a quarter larger), and the catalogue gains
        ``psf_flux``, ``psf_flux_err`` and ``psf_qfit``.  For point sources
        this is the most accurate flux (see the evaluation page); it is
        meaningless for resolved galaxies, so ``flux`` stays Kron.
    psf_fit_shape : int or tuple of int, optional
        Odd size (pixels) of the PSF fit box; by default
        ``2 * ceil(1.5 * FWHM) + 1`` with the FWHM of ``psf_model``.
    **background_options
        Passed to `~bgrem.BGRemBackground` (``model``, ``diffusion_steps``,
        ``normalization``, ``mask``, ``coverage_mask``, ...) when
        ``background`` is not given.

    Returns
    -------
    result : `DetectionResult`
        ``(catalog, segmentation, background)``.  The catalogue has the
        columns ``label``, ``x_centroid``, ``y_centroid`` (0-based pixels),
        ``sky_centroid`` (with a WCS), ``area``, ``fwhm``, ``segment_flux``,
        ``aperture_flux``, ``aperture_flux_err``, ``kron_flux``,
        ``kron_flux_err``, ``flux`` and ``flux_err`` (= Kron, the total
        flux), ``snr`` (``flux / flux_err``), ``local_background``,
        ``clipped_aperture_flux`` (the same aperture on the clipped
        output, to show its bias) and ``flags`` (1: aperture touches the
        edge or invalid pixels, 2: deblended, 4: unreliable PSF fit), in the
        unit of the data; with ``psf_model``, also ``psf_flux``,
        ``psf_flux_err`` and ``psf_qfit`` (photutils' quality of fit).
        Its ``meta`` records the settings and the background removal.

    Raises
    ------
    ValueError
        For invalid parameters or a ``background`` of another shape.

    Notes
    -----
    The flux errors combine the noise of the data
    (`~bgrem.BGRemBackground.background_rms`) over the aperture; they do
    not include the Poisson noise of the sources.

    Examples
    --------
    >>> from bgrem import detect_sources
    >>> from bgrem.datasets import make_demo_image
    >>> data, sources, truth = make_demo_image((128, 128), 10, flux_range=(2e3, 2e4), seed=1)
    >>> catalog, segmentation, bkg = detect_sources(data, threshold=1.0, diffusion_steps=1)
    >>> len(catalog) >= 9  # 10 stars and a faint galaxy
    True
    """
    from ..background import BGRemBackground

    if method not in _METHODS:
        raise ValueError(f'method must be one of {_METHODS}, got {method!r}')
    if photometry_on not in _PHOTOMETRY_IMAGES:
        raise ValueError(f'photometry_on must be one of {_PHOTOMETRY_IMAGES}, '
                         f'got {photometry_on!r}')
    threshold = float(threshold)
    if not (np.isfinite(threshold) and threshold > 0):
        raise ValueError(f'threshold must be a positive number, got {threshold!r}')
    if int(n_pixels) != n_pixels or n_pixels < 1:
        raise ValueError(f'n_pixels must be a positive integer, got {n_pixels!r}')
    if aperture_radius is not None and not aperture_radius > 0:
        raise ValueError(f'aperture_radius must be positive, got {aperture_radius!r}')
    kron_params = tuple(float(p) for p in kron_params)
    if len(kron_params) != 2 or not all(p > 0 for p in kron_params):
        raise ValueError(f'kron_params must be two positive numbers, got {kron_params!r}')
    if int(local_bkg_width) != local_bkg_width or local_bkg_width < 0:
        raise ValueError(f'local_bkg_width must be a non-negative integer, '
                         f'got {local_bkg_width!r}')
    if isinstance(psf_model, str):
        if psf_model != 'moffat':
            raise ValueError(f"psf_model must be a photutils PSF model or 'moffat', "
                             f"got {psf_model!r}")
    elif psf_model is not None:
        _check_psf_model(psf_model)
    elif psf_fit_shape is not None:
        raise ValueError('psf_fit_shape needs a psf_model')
    if highpass_width is not None and (int(highpass_width) != highpass_width
                                       or highpass_width < 3):
        raise ValueError(f'highpass_width must be an integer of at least 3, '
                         f'got {highpass_width!r}')

    if background is None:
        background = BGRemBackground(data, **background_options)
    elif background_options:
        raise ValueError('give either background or options to compute it, not both: '
                         f'{sorted(background_options)}')
    elif data is not None and np.shape(background.cleaned) != _shape_of(data):
        raise ValueError(f'background is for an image of shape {np.shape(background.cleaned)}, '
                         f'data has shape {_shape_of(data)}')

    images = _Images.from_background(background, photometry_on,
                                     with_sky=photometry_on == 'data' or psf_model is not None,
                                     highpass_width=highpass_width)
    extract = _extract_photutils if method == 'photutils' else _extract_sep
    catalog, segmentation = extract(images, threshold * images.rms, int(n_pixels), deblend,
                                    aperture_radius, kron_params, int(local_bkg_width))
    psf_requested, psf_fit = psf_model is not None, None
    if isinstance(psf_model, str):  # None when there are too few stars
        psf_model, psf_fit = _fit_moffat_psf(catalog, images)
    if psf_requested:
        _add_psf_photometry(catalog, images, psf_model, psf_fit_shape)
    catalog = _finish_catalog(catalog, images, background, aperture_correction)
    catalog.meta.update({
        'method': method, 'threshold': threshold, 'n_pixels': int(n_pixels),
        'deblend': bool(deblend), 'highpass_width': highpass_width,
        'photometry_on': photometry_on,
        'kron_params': list(kron_params), 'aperture_correction_applied': bool(aperture_correction),
        'local_bkg_width': int(local_bkg_width),
        'psf_photometry': psf_model is not None,
        **({'psf_fit': psf_fit} if psf_fit is not None else {}),
        'bgrem': {key: value for key, (value, _) in background.provenance().items()},
    })
    return DetectionResult(catalog, segmentation, background)


def _shape_of(data):
    return np.shape(getattr(data, 'data', data))


_IMAGE_NAMES = 'detection cleaned unclipped measured sky_subtracted rms invalid mask'


class _Images(collections.namedtuple('_Images', _IMAGE_NAMES)):
    """
    Plain float64 arrays (no units) that detection and photometry use:
    ``detection`` is the image sources are found and shaped on (the cleaned
    one, or its high-pass with ``highpass_width``), ``measured`` the image
    of ``photometry_on``, ``sky_subtracted`` the data minus the smooth
    background (the image of the PSF fits; None unless asked for
    ``with_sky``: the smooth background costs seconds on large images).
    """

    @classmethod
    def from_background(cls, bkg, photometry_on, with_sky=True, highpass_width=None):
        def plain(array):  # always a copy: the background's arrays are never modified
            return np.array(getattr(array, 'value', array), dtype=float, order='C', copy=True)

        cleaned, unclipped = plain(bkg.cleaned), plain(bkg.unclipped)
        invalid = ~np.isfinite(cleaned)
        if bkg.coverage_mask is not None:
            invalid |= bkg.coverage_mask
        sky_subtracted = None
        if with_sky:
            sky_subtracted = plain(bkg.background) + cleaned - plain(bkg.smooth_background)
            sky_subtracted[invalid] = 0.0
        # unclipped and sky_subtracted themselves are kept for reference
        measured = (unclipped if photometry_on == 'unclipped' else sky_subtracted).copy()
        rms = plain(bkg.background_rms)
        for array in (cleaned, unclipped, measured):
            array[invalid] = 0.0
        rms[invalid | ~np.isfinite(rms)] = np.nan
        fallback = np.nanmedian(rms)
        rms[~np.isfinite(rms)] = fallback if np.isfinite(fallback) else 1.0
        detection = cleaned
        if highpass_width is not None:
            detection = median_highpass(cleaned, int(highpass_width))
            detection[invalid] = 0.0
        return cls(detection, cleaned, unclipped, measured, sky_subtracted, rms, invalid,
                   invalid | bkg.mask)


_COLUMNS = ('label', 'x_centroid', 'y_centroid', 'sky_centroid', 'area', 'fwhm', 'segment_flux',
            'aperture_flux', 'aperture_flux_err', 'kron_flux', 'kron_flux_err', 'flux',
            'flux_err', 'snr', 'psf_flux', 'psf_flux_err', 'psf_qfit', 'local_background',
            'clipped_aperture_flux', 'flags')
_FLUX_COLUMNS = ('segment_flux', 'aperture_flux', 'aperture_flux_err', 'kron_flux',
                 'kron_flux_err', 'flux', 'flux_err', 'psf_flux', 'psf_flux_err',
                 'local_background', 'clipped_aperture_flux')


def _check_psf_model(psf_model):
    from astropy.modeling import Fittable2DModel

    if not isinstance(psf_model, Fittable2DModel) or not all(
            name in psf_model.param_names for name in ('flux', 'x_0', 'y_0')):
        raise TypeError('psf_model must be a photutils PSF model (a Fittable2DModel with '
                        f'flux, x_0 and y_0 parameters), got {type(psf_model).__name__}')


def _fit_moffat_psf(catalog, images, min_snr=30.0, min_stars=5):
    """
    A Moffat PSF fitted to the bright isolated point sources of the catalogue
    on the sky-subtracted data, and what was fitted (for ``meta``); the PSF
    is None (with a warning) when fewer than ``min_stars`` qualify.
    """
    from ._psf import fit_moffat_psf

    use, _, psf_fwhm = _reference_stars(catalog, images.sky_subtracted.shape, min_snr, 2.5)
    info = {'model': 'moffat', 'n_stars': int(use.sum())}
    if use.sum() < min_stars:
        warnings.warn(f"psf_model='moffat': {int(use.sum())} bright isolated point sources "
                      f"(S/N > {min_snr:g}), fewer than {min_stars}: no PSF fitted, psf_flux "
                      "is NaN and flagged", AstropyUserWarning)
        return None, info
    kron, kron_err = (np.asarray(catalog[c], float)[use] for c in ('kron_flux', 'kron_flux_err'))
    order = np.argsort(-kron / kron_err)  # the brightest first
    x = np.asarray(catalog['x_centroid'], float)[use][order]
    y = np.asarray(catalog['y_centroid'], float)[use][order]
    psf, fit = fit_moffat_psf(images.sky_subtracted, images.rms, x, y, psf_fwhm,
                              mask=images.mask)
    info.update(fit)
    return psf, info


def _add_psf_photometry(catalog, images, psf_model, fit_shape):
    """
    Columns psf_flux, psf_flux_err, psf_qfit and FLAG_PSF_FIT, in place;
    without a ``psf_model`` the columns are NaN and every source is flagged.
    """
    from ._psf import psf_fluxes

    if psf_model is None:
        for name in ('psf_flux', 'psf_flux_err', 'psf_qfit'):
            catalog[name] = np.full(len(catalog), np.nan)
        catalog['flags'] = np.asarray(catalog['flags']) | FLAG_PSF_FIT
        return
    flux, flux_err, qfit, bad = psf_fluxes(images.sky_subtracted, catalog['x_centroid'],
                                           catalog['y_centroid'], psf_model, images.rms,
                                           mask=images.mask, fit_shape=fit_shape)
    catalog['psf_flux'] = flux
    catalog['psf_flux_err'] = flux_err
    catalog['psf_qfit'] = qfit
    catalog['flags'] = np.asarray(catalog['flags']) | np.where(bad, FLAG_PSF_FIT, 0)


def _empty_catalog():
    names = [c for c in _COLUMNS if c != 'sky_centroid' and not c.startswith('psf_')]
    return QTable([np.zeros(0, int if c in ('label', 'flags') else float) for c in names],
                  names=names)


def _default_radius(fwhm):
    fwhm = np.asarray(fwhm, float)
    fwhm = fwhm[np.isfinite(fwhm) & (fwhm > 0)]
    return 2.0 * float(np.median(fwhm)) if fwhm.size else 3.0


def _extract_photutils(images, threshold, n_pixels, deblend, radius, kron_params,
                       local_bkg_width):
    from photutils.segmentation import SourceCatalog, deblend_sources
    from photutils.segmentation import detect_sources as photutils_detect_sources
    from photutils.utils.exceptions import NoDetectionsWarning

    with warnings.catch_warnings():  # "no sources found" is an answer, not a problem
        warnings.simplefilter('ignore', NoDetectionsWarning)
        segmentation = photutils_detect_sources(images.detection, threshold, n_pixels,
                                                mask=images.mask)
    if segmentation is None:
        return _empty_catalog(), None
    parents = segmentation
    if deblend:
        segmentation = deblend_sources(images.detection, segmentation, n_pixels,
                                       progress_bar=False)
    detection = SourceCatalog(images.detection, segmentation, mask=images.mask,
                              kron_params=kron_params + (0.0,))
    measured = SourceCatalog(images.measured, segmentation, error=images.rms,
                             mask=images.mask, local_bkg_width=local_bkg_width,
                             kron_params=kron_params + (0.0,), detection_catalog=detection)
    radius = _default_radius(detection.fwhm.value) if radius is None else float(radius)
    aperture_flux, aperture_err = measured.circular_photometry(radius)
    clipped = SourceCatalog(images.cleaned, segmentation, mask=images.mask,
                            detection_catalog=detection)
    clipped_flux, _ = clipped.circular_photometry(radius)

    x, y = np.asarray(detection.x_centroid), np.asarray(detection.y_centroid)
    flags = _edge_flags(x, y, radius, images.invalid)
    if deblend:
        split = np.isin(detection.labels, _deblended_labels(parents, segmentation))
        flags |= np.where(split, FLAG_DEBLENDED, 0)
    catalog = QTable()
    catalog['label'] = detection.labels
    catalog['x_centroid'] = x
    catalog['y_centroid'] = y
    catalog['area'] = np.asarray(detection.area.value)
    catalog['fwhm'] = np.asarray(detection.fwhm.value)
    catalog['segment_flux'] = np.asarray(measured.segment_flux)
    catalog['aperture_flux'] = np.asarray(aperture_flux)
    catalog['aperture_flux_err'] = np.asarray(aperture_err)
    catalog['kron_flux'] = np.asarray(measured.kron_flux)
    catalog['kron_flux_err'] = np.asarray(measured.kron_flux_err)
    catalog['local_background'] = np.asarray(measured.local_background)
    catalog['clipped_aperture_flux'] = np.asarray(clipped_flux)
    catalog['flags'] = flags
    catalog.meta['aperture_radius'] = radius
    return catalog, segmentation


def _deblended_labels(parents, segmentation):
    """Labels of the segments that deblending cut out of a larger parent segment."""
    inside = segmentation.data > 0
    # Every child lies within one parent: the distinct (child, parent) pairs.
    pairs = np.unique(np.column_stack([segmentation.data[inside], parents.data[inside]]),
                      axis=0)
    parent_labels, n_children = np.unique(pairs[:, 1], return_counts=True)
    return pairs[np.isin(pairs[:, 1], parent_labels[n_children > 1]), 0]


def _extract_sep(images, threshold, n_pixels, deblend, radius, kron_params, local_bkg_width):
    import sep
    from photutils.segmentation import SegmentationImage

    # sep needs native byte order, C-contiguous float64 (or float32) arrays.
    objects, segmap = sep.extract(
        images.detection, 1.0, err=threshold, mask=images.mask, minarea=n_pixels,
        filter_kernel=None, deblend_nthresh=32 if deblend else 1,
        deblend_cont=0.005 if deblend else 1.0, clean=False, segmentation_map=True)
    if len(objects) == 0:
        return _empty_catalog(), None
    x, y = objects['x'].astype(float), objects['y'].astype(float)
    fwhm = 2.0 * np.sqrt(np.log(2.0) * (objects['a'] ** 2 + objects['b'] ** 2))
    radius = _default_radius(fwhm) if radius is None else float(radius)
    bkgann = None
    if local_bkg_width:
        bkgann = (radius + 2.0, radius + 2.0 + local_bkg_width)
    aperture_flux, aperture_err, sep_flags = sep.sum_circle(
        images.measured, x, y, radius, err=images.rms, mask=images.invalid, bkgann=bkgann,
        subpix=5)
    clipped_flux, _, _ = sep.sum_circle(images.cleaned, x, y, radius, mask=images.invalid,
                                        subpix=5)
    a, b, theta = objects['a'], objects['b'], objects['theta']
    kron_radius, _ = sep.kron_radius(images.detection, x, y, a, b, theta, 6.0)
    # SExtractor's AUTO aperture: k Kron radii, at least r_min in units of a and b.
    kron_scale = np.maximum(kron_params[0] * np.nan_to_num(kron_radius), kron_params[1])
    kron_flux, kron_err, _ = sep.sum_ellipse(images.measured, x, y, a, b, theta, kron_scale,
                                             err=images.rms, mask=images.invalid, subpix=5)
    labels = np.arange(1, len(objects) + 1)
    segment_flux = np.bincount(segmap.ravel(), weights=images.measured.ravel(),
                               minlength=len(objects) + 1)[1:]
    local_background = np.zeros(len(objects))
    if local_bkg_width:
        enclosed = np.pi * radius ** 2
        raw, _, _ = sep.sum_circle(images.measured, x, y, radius, mask=images.invalid, subpix=5)
        local_background = (raw - aperture_flux) / enclosed
    flags = _edge_flags(x, y, radius, images.invalid)
    if deblend:
        flags |= np.where(objects['flag'] & sep.OBJ_MERGED, FLAG_DEBLENDED, 0)
    catalog = QTable()
    catalog['label'] = labels
    catalog['x_centroid'] = x
    catalog['y_centroid'] = y
    catalog['area'] = objects['npix'].astype(float)
    catalog['fwhm'] = fwhm
    catalog['segment_flux'] = segment_flux
    catalog['aperture_flux'] = aperture_flux
    catalog['aperture_flux_err'] = aperture_err
    catalog['kron_flux'] = kron_flux
    catalog['kron_flux_err'] = kron_err
    catalog['local_background'] = local_background
    catalog['clipped_aperture_flux'] = clipped_flux
    catalog['flags'] = flags | np.where(sep_flags & sep.APER_TRUNC, FLAG_EDGE, 0)
    catalog.meta['aperture_radius'] = radius
    return catalog, SegmentationImage(segmap.astype(np.int32))


def _edge_flags(x, y, radius, invalid):
    """FLAG_EDGE where a circle of ``radius`` leaves the image or hits invalid pixels."""
    ny, nx = invalid.shape
    flags = np.zeros(len(x), int)
    outside = (x - radius < -0.5) | (y - radius < -0.5) | (x + radius > nx - 0.5) | (
        y + radius > ny - 0.5)
    flags[outside] = FLAG_EDGE
    if invalid.any():
        from scipy.spatial import cKDTree

        bad_y, bad_x = np.nonzero(invalid)
        tree = cKDTree(np.column_stack([bad_x, bad_y]))
        near = tree.query(np.column_stack([x, y]), distance_upper_bound=radius + 0.5)[0]
        flags[np.isfinite(near)] = FLAG_EDGE
    return flags


def _aperture_correction(catalog, image, invalid, column='kron_flux', min_snr=50.0,
                         radius_factor=4.0, min_sources=3):
    """
    Median ratio of total to ``column`` flux of bright isolated point
    sources, the total being the sum of ``image`` in a circle of
    ``radius_factor`` PSF FWHM, and which sources are point-like.

    Returns
    -------
    correction : float
        1 when fewer than ``min_sources`` stars qualify.
    n_used : int
    point_like : `~numpy.ndarray` of bool
    """
    from photutils.aperture import CircularAperture, aperture_photometry

    use, point_like, psf_fwhm = _reference_stars(catalog, image.shape, min_snr, radius_factor)
    flux = np.asarray(catalog[column], float)
    use &= np.isfinite(flux) & (flux > 0)
    if use.sum() < min_sources:
        return 1.0, int(use.sum()), point_like
    x, y = np.asarray(catalog['x_centroid'], float), np.asarray(catalog['y_centroid'], float)
    apertures = CircularAperture(np.column_stack([x[use], y[use]]), radius_factor * psf_fwhm)
    total = np.asarray(aperture_photometry(image, apertures, mask=invalid)['aperture_sum'])
    return float(np.median(total / flux[use])), int(use.sum()), point_like


def _reference_stars(catalog, shape, min_snr, radius_factor):
    """
    Bright (Kron S/N above ``min_snr``), point-like (FWHM within 25% of the
    `_stellar_fwhm` of the more compact half of the bright sources),
    unflagged sources with no other source within ``2 * radius_factor``
    FWHM and at least ``radius_factor`` FWHM from the edges:
    ``(use, point_like, psf_fwhm)``, with the point-like sources of any
    brightness and that FWHM (NaN without bright sources).
    """
    from scipy.spatial import cKDTree

    x, y = np.asarray(catalog['x_centroid'], float), np.asarray(catalog['y_centroid'], float)
    with np.errstate(divide='ignore', invalid='ignore'):
        kron, kron_err = (np.asarray(catalog[c], float) for c in ('kron_flux', 'kron_flux_err'))
        snr = kron / kron_err
    fwhm = np.asarray(catalog['fwhm'], float)
    bright = (snr > min_snr) & np.isfinite(fwhm) & (fwhm > 0)
    if not bright.any():
        return np.zeros(len(catalog), bool), np.zeros(len(catalog), bool), np.nan
    # the more compact half (flux over FWHM squared): sky structure left in
    # the image makes bright, wide sources that can outnumber the stars
    compactness = kron[bright] / fwhm[bright] ** 2
    psf_fwhm = _stellar_fwhm(fwhm[bright][compactness >= np.median(compactness)])
    point_like = np.abs(fwhm / psf_fwhm - 1) < 0.25
    radius = radius_factor * psf_fwhm
    ny, nx = shape
    inside = (x > radius) & (y > radius) & (x < nx - 1 - radius) & (y < ny - 1 - radius)
    tree = cKDTree(np.column_stack([x, y]))
    isolated = np.array([len(n) == 1 for n in tree.query_ball_point(
        np.column_stack([x, y]), 2 * radius)], bool)
    use = bright & point_like & inside & isolated & (np.asarray(catalog['flags']) == 0)
    return use, point_like, psf_fwhm


def _stellar_fwhm(fwhm, tolerance=0.25, locus_width=0.1):
    """
    The FWHM of the point sources among positive ``fwhm`` values (those of
    bright sources): the mode, the value with the most others within
    ``locus_width`` (relative) of it (the smallest of equals; PSFEx also
    picks its stars around the FWHM mode), then the median of the values
    within ``tolerance`` of that mode.  The plain median misses the stellar
    locus where extended sources are the majority (galaxies, or sky
    structure left in the image: under structured sky it was 3-4 times the
    PSF's).
    """
    values = np.sort(np.asarray(fwhm, float))
    counts = (np.searchsorted(values, values * (1 + locus_width), side='left')
              - np.searchsorted(values, values * (1 - locus_width), side='right'))
    mode = values[np.argmax(counts)]
    return float(np.median(values[np.abs(values / mode - 1) < tolerance]))


def _finish_catalog(catalog, images, bkg, aperture_correction=False):
    catalog['flux'] = np.asarray(catalog['kron_flux'], float)
    catalog['flux_err'] = np.asarray(catalog['kron_flux_err'], float)
    if aperture_correction and len(catalog):
        factor, n_used, point_like = _aperture_correction(catalog, images.measured,
                                                          images.invalid)
        scale = np.where(point_like, factor, 1.0)
        catalog['flux'] = catalog['flux'] * scale
        catalog['flux_err'] = catalog['flux_err'] * scale
        catalog.meta['aperture_correction'] = factor
        catalog.meta['aperture_correction_sources'] = n_used
    with np.errstate(divide='ignore', invalid='ignore'):
        flux, flux_err = (np.asarray(catalog[name], float) for name in ('flux', 'flux_err'))
        catalog['snr'] = flux / flux_err
    if bkg.wcs is not None and getattr(bkg.wcs, 'has_celestial', False) and len(catalog):
        catalog['sky_centroid'] = bkg.wcs.pixel_to_world(catalog['x_centroid'],
                                                         catalog['y_centroid'])
    if bkg.unit is not None:
        for name in (c for c in _FLUX_COLUMNS if c in catalog.colnames):
            catalog[name] = np.asarray(catalog[name], float) << bkg.unit
    order = [c for c in _COLUMNS if c in catalog.colnames]
    return catalog[order]
