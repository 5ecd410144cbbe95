"""
Pre-processing shared by training and inference: median (or sky-plane)
subtraction and normalisation of the noise to unit standard deviation.

Two normalisations exist, named in a model card's ``normalization['method']``:

``'truncated_std'``
    One factor for the whole image, one over the noise standard deviation
    (`estimate_normalization`): right for Gaussian noise of constant
    variance, as in optical images.
``'poisson'``
    A factor per pixel, one over the square root of the smoothed counts
    (`poisson_normalization`): for count maps, whose Poisson noise variance
    equals the expected counts and so changes across the image.  It is
    linear, so ``sources + background`` stays a sum after normalisation
    (which the diffusion scheme needs), unlike the Anscombe transform.
"""

import numpy as np
from scipy.stats import norm

__all__ = ['estimate_normalization', 'fit_sky_plane', 'masked_median', 'poisson_normalization',
           'truncated_std_factor', 'NORMALIZATION_METHODS']

#: Normalisation methods a model card can name.
NORMALIZATION_METHODS = ('truncated_std', 'poisson')

#: Fraction of the brightest pixels left out of the noise estimate (BGRem).
EXCLUDE_BRIGHTEST = 0.1


def masked_median(data, mask=None):
    """
    Median of the unmasked, finite pixels of ``data``.

    Parameters
    ----------
    data : array_like
        The image.
    mask : array_like of bool, optional
        `True` marks pixels to leave out.

    Returns
    -------
    median : float

    Raises
    ------
    ValueError
        If no pixel is left.
    """
    values = _valid_values(data, mask)
    return float(np.median(values))


def fit_sky_plane(data, mask=None, *, block_size=16, sigma=3.0, n_iterations=5):
    """
    A plane fitted to the sky of an image, robust to sources.

    The unmasked, finite pixels are reduced to the medians of blocks of
    ``block_size`` pixels (which also keeps the fit fast on large images;
    smaller on images under twice that size);
    a plane is fitted to the block medians by linear least squares, the
    blocks further than ``sigma`` standard deviations from it (sources) are
    left out and the fit repeated (`astropy.modeling.fitting.FittingWithOutlierRemoval`).
    Subtracting it before the network removes a sky gradient that the
    network would otherwise mistake, in part, for extended emission.

    Parameters
    ----------
    data : array_like
        The 2-D image.
    mask : array_like of bool, optional
        `True` marks pixels to leave out.
    block_size : int, optional
        Side of the blocks, in pixels.
    sigma : float, optional
        Clipping threshold in standard deviations of the block medians.
    n_iterations : int, optional
        Rounds of clipping and refitting.

    Returns
    -------
    plane : `~numpy.ndarray`
        The plane, float32, of the shape of ``data``; a constant level when
        the valid blocks do not span two columns and two rows (images of
        fewer than 4 pixels on a side, or masked nearly everywhere).

    Raises
    ------
    ValueError
        If fewer than 3 blocks hold a valid pixel.

    Examples
    --------
    >>> import numpy as np
    >>> from bgrem.model import fit_sky_plane
    >>> yy, xx = np.mgrid[:128, :128]
    >>> sky = 100 + 0.2 * xx - 0.1 * yy
    >>> data = sky + np.random.default_rng(0).normal(0, 1, sky.shape)
    >>> data[40:50, 60:70] += 500  # a source
    >>> bool(np.abs(fit_sky_plane(data) - sky).max() < 0.5)
    True
    """
    import warnings

    from astropy.modeling import fitting, models
    from astropy.stats import sigma_clip

    data = np.array(data, dtype=float)
    if data.ndim != 2:
        raise ValueError(f'data must be 2-D, got shape {data.shape}')
    invalid = ~np.isfinite(data)
    if mask is not None:
        invalid |= np.asarray(mask, bool)
    data[invalid] = np.nan
    ny, nx = data.shape
    # Smaller blocks on small images, so that there are several to fit.
    size = max(1, min(int(block_size), ny // 2, nx // 2))
    by, bx = ny // size, nx // size
    blocks = data[:by * size, :bx * size].reshape(by, size, bx, size)
    with warnings.catch_warnings():  # all-NaN blocks are expected (masks, edges)
        warnings.simplefilter('ignore', RuntimeWarning)
        medians = np.nanmedian(blocks, axis=(1, 3))
    y, x = np.mgrid[:by, :bx] * size + (size - 1) / 2.0
    good = np.isfinite(medians)
    if good.sum() < 3:
        raise ValueError('too few valid pixels to fit a sky plane')
    level = float(np.median(medians[good]))
    if len(np.unique(x[good])) < 2 or len(np.unique(y[good])) < 2:
        return np.full(data.shape, level, np.float32)  # a gradient needs two blocks each way
    fitter = fitting.FittingWithOutlierRemoval(fitting.LinearLSQFitter(), sigma_clip,
                                               niter=int(n_iterations), sigma=float(sigma))
    plane, _ = fitter(models.Planar2D(intercept=level), x[good], y[good], medians[good])
    # evaluated on broadcast row and column coordinates: no full-size grids
    return np.asarray(plane(np.arange(nx)[np.newaxis, :], np.arange(ny)[:, np.newaxis]),
                      np.float32)


def truncated_std_factor(exclude_brightest=EXCLUDE_BRIGHTEST):
    """
    Standard deviation of a unit normal distribution whose top
    ``exclude_brightest`` fraction has been cut away.

    Dividing the standard deviation of the kept pixels by this factor turns
    it into an unbiased estimate of the noise for pure Gaussian noise.

    Parameters
    ----------
    exclude_brightest : float, optional
        Fraction in ``[0, 1)``.

    Returns
    -------
    factor : float
        1 for ``exclude_brightest = 0``; about 0.844 for the default 0.1.

    Examples
    --------
    >>> from bgrem.model.normalization import truncated_std_factor
    >>> round(truncated_std_factor(0.1), 3)
    0.844
    """
    if not 0 <= exclude_brightest < 1:
        raise ValueError(f'exclude_brightest must be in [0, 1), got {exclude_brightest}')
    if exclude_brightest == 0:
        return 1.0
    kept = 1.0 - exclude_brightest
    b = norm.ppf(kept)
    ratio = norm.pdf(b) / kept
    return float(np.sqrt(1.0 - b * ratio - ratio ** 2))


def estimate_normalization(data, mask=None, *, exclude_brightest=EXCLUDE_BRIGHTEST,
                           gaussian_correction=True):
    """
    Estimate the factor that scales the noise of ``data`` to unit standard
    deviation.

    Following BGRem, the brightest ``exclude_brightest`` fraction of the
    pixels (where the sources are) and pixels that are exactly zero (missing
    data, detector failures) are left out, and the factor is one over the
    standard deviation of the rest.  With ``gaussian_correction`` that
    standard deviation is divided by `truncated_std_factor`, so that for pure
    Gaussian noise of standard deviation ``s`` the factor is ``1 / s``
    rather than ``1 / (0.844 s)``.

    Parameters
    ----------
    data : array_like
        The image, background included; a constant offset does not matter.
    mask : array_like of bool, optional
        `True` marks pixels to leave out.
    exclude_brightest : float, optional
        Fraction of the brightest pixels to leave out.
    gaussian_correction : bool, optional
        Correct for the truncation of the noise distribution.

    Returns
    -------
    factor : float
        Multiply the median-subtracted data by this factor.

    Raises
    ------
    ValueError
        If fewer than two pixels are usable or their spread is zero.

    Examples
    --------
    >>> import numpy as np
    >>> from bgrem.model.normalization import estimate_normalization
    >>> noise = np.random.default_rng(0).normal(100.0, 5.0, (256, 256))
    >>> round(estimate_normalization(noise), 2)
    0.2
    """
    values = _valid_values(data, mask)
    values = values[values != 0]
    if values.size < 2:
        raise ValueError('too few non-zero unmasked pixels to estimate the noise')
    cut = np.quantile(values, 1.0 - exclude_brightest)
    kept = values[values <= cut] if exclude_brightest > 0 else values
    std = float(np.std(kept, dtype=np.float64))
    if gaussian_correction:
        std /= truncated_std_factor(exclude_brightest)
    if not std > 0:
        raise ValueError('the pixel values have no spread; cannot estimate a '
                         'normalisation factor: give one explicitly')
    return 1.0 / std


def poisson_normalization(counts, mask=None, *, smoothing=1.5, floor=1.0):
    """
    Per-pixel factor that scales the Poisson noise of a count map to unit
    standard deviation.

    The expected counts of each pixel are estimated by smoothing the map
    with a Gaussian of ``smoothing`` pixels (masked and non-finite pixels
    left out, by normalised convolution); the factor is one over the square
    root of that, with the estimate kept at least ``floor`` so that empty
    regions are not blown up.

    Parameters
    ----------
    counts : array_like
        Observed (or expected) counts per pixel, not median-subtracted.
    mask : array_like of bool, optional
        `True` marks pixels to leave out of the estimate.
    smoothing : float, optional
        Gaussian sigma in pixels.
    floor : float, optional
        Smallest expected count used (counts per pixel).

    Returns
    -------
    factor : `~numpy.ndarray`
        float32 map of the shape of ``counts``.

    Raises
    ------
    ValueError
        If ``smoothing`` or ``floor`` is not positive, or no pixel is usable.

    Examples
    --------
    >>> import numpy as np
    >>> from bgrem.model.normalization import poisson_normalization
    >>> counts = np.random.default_rng(0).poisson(np.linspace(4, 400, 128) * np.ones((128, 1)))
    >>> factor = poisson_normalization(counts, smoothing=3.0)
    >>> noise = (counts - np.linspace(4, 400, 128)) * factor
    >>> round(float(noise[:, :64].std()), 1), round(float(noise[:, 64:].std()), 1)
    (1.0, 1.0)
    """
    from scipy.ndimage import gaussian_filter

    if not smoothing > 0 or not floor > 0:
        raise ValueError(f'smoothing and floor must be positive, got {smoothing}, {floor}')
    counts = np.asarray(counts, dtype=np.float64)
    good = np.isfinite(counts)
    if mask is not None:
        good &= ~np.asarray(mask, dtype=bool)
    if not good.any():
        raise ValueError('no unmasked finite pixels')
    weight = gaussian_filter(good.astype(float), smoothing, mode='reflect')
    level = gaussian_filter(np.where(good, counts, 0.0), smoothing, mode='reflect')
    with np.errstate(invalid='ignore', divide='ignore'):
        level = np.where(weight > 1e-3, level / weight, np.nan)
    level[~np.isfinite(level)] = np.median(counts[good])
    return (1.0 / np.sqrt(np.maximum(level, floor))).astype(np.float32)


def _valid_values(data, mask):
    data = np.asarray(data)
    good = np.isfinite(data)
    if mask is not None:
        good &= ~np.asarray(mask, dtype=bool)
    values = data[good]
    if values.size == 0:
        raise ValueError('no unmasked finite pixels')
    return values
