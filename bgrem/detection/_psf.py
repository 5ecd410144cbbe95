"""
PSF-fitting photometry of detected sources.

`bgrem.detect_sources` measures Kron and aperture fluxes by default.  Given
a photutils PSF model (`~photutils.psf.ImagePSF` from an image of the PSF,
`~photutils.psf.MoffatPSF`, a `~photutils.psf.GriddedPSFModel`, ...) it also
fits that model at every detected position with
`~photutils.psf.PSFPhotometry`.  For point sources the fitted flux is the
total flux without an aperture correction and is far less disturbed by faint
neighbours than an aperture sum.

Without a PSF model, `fit_moffat_psf` fits one pixel-integrated Moffat
profile, elliptical and with a Gaussian core where the stars ask for one,
to the bright isolated stars of the image (``psf_model='moffat'``).  On
simulated frames of 2048 x 2048 pixels (13-60 stars) it recovers the FWHM
within 0.5%; on frames with an elliptical Kolmogorov PSF its fluxes are
1% low (1.8% error, against 1.2% with the true PSF; one round Moffat gave
3%).  Fields of a few hundred pixels often hold fewer than the 5 stars it
needs, and a PSF from elsewhere (PSFEx, an optics model) may then be the
better choice.
"""

import warnings

import numpy as np

__all__ = ['fit_moffat_psf', 'pixel_integrated_moffat']

#: photutils fit flags (`photutils.psf.decode_psf_flags`) that make a PSF flux
#: unreliable: outside the image, non-positive flux, no convergence, no
#: covariance, no overlap, fully masked, too few pixels, non-finite position.
#: "fit box partly masked or off the image" (1) and "near a bound" (32) are not.
_BAD_FIT_FLAGS = 2 | 4 | 8 | 16 | 64 | 128 | 256 | 512


def model_fwhm(psf_model, max_radius=50):
    """
    Full width at half maximum of a PSF model, in pixels.

    Measured on the model sampled at pixel centres within ``max_radius``
    of its centre: the diameter of the circle with the area of the pixels
    above half the peak.

    Parameters
    ----------
    psf_model : `astropy.modeling.Fittable2DModel`
        A photutils PSF model (parameters ``flux``, ``x_0``, ``y_0``).
    max_radius : int, optional
        Half size of the sampled box.

    Returns
    -------
    fwhm : float
    """
    model = psf_model.copy()
    model.x_0, model.y_0, model.flux = 0.0, 0.0, 1.0
    y, x = np.mgrid[-max_radius:max_radius + 1, -max_radius:max_radius + 1]
    values = np.asarray(model(x, y), float)
    finite = values[np.isfinite(values)]
    peak = finite.max() if finite.size else np.nan
    if not peak > 0:
        raise ValueError('the PSF model has no positive peak near its centre')
    area = np.count_nonzero(values >= 0.5 * peak)
    return 2.0 * float(np.sqrt(area / np.pi))


def psf_fluxes(image, x, y, psf_model, error, mask=None, fit_shape=None):
    """
    Fit ``psf_model`` at the given positions and return fluxes and errors.

    Each source is fitted alone (no grouping of neighbours) in a box of
    ``fit_shape`` pixels, its position free within 2 pixels of the
    starting one, on ``image`` weighted by ``error``.

    Parameters
    ----------
    image, error : `~numpy.ndarray`
        Background-subtracted image and its 1-sigma noise (same shape).
    x, y : array_like
        Starting positions (0-based pixels).
    psf_model : `astropy.modeling.Fittable2DModel`
        A photutils PSF model; it is copied, not modified.
    mask : `~numpy.ndarray` of bool, optional
        Pixels left out of the fits.
    fit_shape : int or tuple of int, optional
        Odd size of the fit box; by default ``2 * ceil(1.5 * FWHM) + 1``.

    Returns
    -------
    flux, flux_err, qfit : `~numpy.ndarray`
        Fitted flux, its error and photutils' quality of fit (sum of the
        absolute residuals over the flux; 0 is a perfect fit).
    bad : `~numpy.ndarray` of bool
        Fits photutils flags as unreliable (see ``_BAD_FIT_FLAGS``).
    """
    from astropy.table import Table
    from photutils.psf import PSFPhotometry

    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size == 0:
        empty = np.zeros(0)
        return empty, empty, empty, np.zeros(0, bool)
    fwhm = model_fwhm(psf_model)
    if fit_shape is None:
        fit_shape = 2 * int(np.ceil(1.5 * fwhm)) + 1
    photometry = PSFPhotometry(psf_model.copy(), fit_shape, aperture_radius=fwhm,
                               xy_bounds=2.0, progress_bar=False)
    with warnings.catch_warnings():  # flagged fits are reported in the returned flags
        warnings.simplefilter('ignore')
        fitted = photometry(image, error=error, mask=mask,
                            init_params=Table({'x': x, 'y': y}))
    flux = np.asarray(fitted['flux_fit'], float)
    flux_err = np.asarray(fitted['flux_err'], float)
    qfit = np.asarray(fitted['qfit'], float)
    bad = (np.asarray(fitted['flags']) & _BAD_FIT_FLAGS) != 0
    return flux, flux_err, qfit, bad


#: Sub-pixel sample offsets (4 x 4 per pixel) that integrate a profile over
#: the pixel.
_SUBPIXEL = (np.arange(4) + 0.5) / 4 - 0.5


def pixel_integrated_moffat(x, y, flux, x_0, y_0, alpha, beta, e1=0.0, e2=0.0):
    """
    A Moffat profile integrated over unit pixels centred at ``(x, y)``.

    This is what a detector records of a Moffat PSF; sampling the profile at
    pixel centres instead (`~photutils.psf.MoffatPSF`) makes it about 2% too
    peaked for a FWHM of 4-5 pixels.  The integral is a mean over 4 x 4
    sub-pixel samples.

    Parameters
    ----------
    x, y : array_like
        Pixel centres (0-based pixels).
    flux : float
        Total flux.
    x_0, y_0 : float
        Centre of the profile.
    alpha, beta : float
        Core width (pixels) and wing slope, as in
        `~photutils.psf.MoffatPSF`: the profile is proportional to
        ``(1 + r**2 / alpha**2) ** -beta`` and its FWHM is
        ``2 * alpha * sqrt(2 ** (1 / beta) - 1)`` (for an elliptical
        profile, the geometric mean of the FWHM along the axes).
    e1, e2 : float, optional
        Ellipticity components, ``e * cos(2 * theta)`` and
        ``e * sin(2 * theta)`` with ``e = (a**2 - b**2) / (a**2 + b**2)``
        for axes ``a >= b`` and the major axis at ``theta`` from the x axis
        (GalSim's distortion).  The shape keeps the area ``pi * alpha**2``
        of the round profile and so its flux; ``e1**2 + e2**2`` must be
        below 1.

    Returns
    -------
    values : `~numpy.ndarray`
        Flux in each pixel, the broadcast shape of ``x`` and ``y``.

    Examples
    --------
    >>> import numpy as np
    >>> from bgrem.detection import pixel_integrated_moffat
    >>> y, x = np.mgrid[-50:51, -50:51]
    >>> image = pixel_integrated_moffat(x, y, 1000.0, 0.3, -0.2, 2.0, 3.0)
    >>> round(float(image.sum()), 1)
    1000.0
    """
    return flux * _moffat(_subpixel_r2(x, y, x_0, y_0, e1, e2), alpha, beta).mean(axis=-1)


def _moffat(r2, alpha, beta):
    """A Moffat of unit integral over the plane (photutils' MoffatPSF) at ``r**2``."""
    return (beta - 1) / (np.pi * alpha ** 2) * (1 + r2 / alpha ** 2) ** -beta


def _gaussian(r2, sigma):
    """A Gaussian of unit integral over the plane at ``r**2``."""
    return np.exp(-0.5 * r2 / sigma ** 2) / (2 * np.pi * sigma ** 2)


def _subpixel_r2(x, y, x_0, y_0, e1, e2):
    """
    Squared radius of the `_SUBPIXEL` samples of the pixels centred at
    ``(x, y)`` (last axis) in the frame where a profile of ellipticity
    ``(e1, e2)`` is round, by a transform of unit determinant (the area,
    and so the normalisation, is kept).
    """
    dy, dx = np.meshgrid(_SUBPIXEL, _SUBPIXEL, indexing='ij')
    u = np.asarray(x, float)[..., None] + dx.ravel() - x_0
    v = np.asarray(y, float)[..., None] + dy.ravel() - y_0
    scale = 1.0 / np.sqrt(1.0 - e1 ** 2 - e2 ** 2)
    return scale * ((1 - e1) * u ** 2 - 2 * e2 * u * v + (1 + e1) * v ** 2)


def fit_moffat_psf(image, error, x, y, fwhm_guess, mask=None, max_stars=60,
                   outlier_factor=2.0, oversampling=4, gaussian_core='auto'):
    """
    Fit a pixel-integrated Moffat PSF, with a Gaussian core where the stars
    need one, to several stars at once.

    Each star has its own flux and position; the shape is shared: the
    width ``alpha`` and wing slope ``beta`` of the Moffat, one ellipticity
    and, with a Gaussian core, its width and the fraction of the flux in
    it.  The fit is made on stamps of ``2 * ceil(2.5 * fwhm_guess) + 1``
    pixels weighted by ``error``, with a soft-L1 loss; stars whose mean
    absolute residual is more than ``outlier_factor`` times the median over
    stars (saturated cores, unresolved blends, galaxies) are dropped and
    the fit repeated once.  Atmospheric (Kolmogorov) PSFs have a
    near-Gaussian core and wider wings than one Moffat can follow: one
    Moffat then gives fluxes 2-3% low, Moffat and core about 1%.

    Parameters
    ----------
    image, error : `~numpy.ndarray`
        Sky-subtracted image and its 1-sigma noise.
    x, y : array_like
        Positions of bright, isolated point sources (0-based pixels); the
        first ``max_stars`` are used.
    fwhm_guess : float
        A first estimate of the FWHM (pixels).
    mask : `~numpy.ndarray` of bool, optional
        Pixels left out of the fit.
    oversampling : int, optional
        Oversampling of the returned model.
    gaussian_core : {'auto', True, False}, optional
        Whether the profile has a Gaussian core; 'auto' keeps the core when
        it lowers the chi-square both by more than the Bayesian information
        criterion asks for its two parameters (``2 * ln(n_pixels)``) and by
        more than 1.25% (see Notes).

    Returns
    -------
    psf : `~photutils.psf.ImagePSF`
        The fitted profile integrated over the pixel, sampled within 5 FWHM
        (of the Moffat) of its centre, unit flux, centred at ``(0, 0)``.
    fit : dict
        ``alpha`` and ``beta`` of the Moffat, ``fwhm`` of the whole profile
        (pixels, before the pixel response; the geometric mean over the
        axes), ``ellipticity`` (``1 - b / a``), ``angle`` (degrees, of the
        major axis from the x axis), ``gaussian_core`` (bool) with the
        core's ``core_sigma`` (pixels) and ``core_fraction`` of the flux
        (NaN and 0 without a core), and ``n_stars``, the number of stars in the
        final fit.

    Raises
    ------
    ValueError
        If no star is far enough from the edges, or ``gaussian_core`` is
        not 'auto', True or False.

    Notes
    -----
    The Bayesian information criterion alone assumes that noise is all the
    one Moffat leaves.  Leftover sky or the light of neighbours around the
    stars make any extra freedom in the wings "significant": on simulated
    frames of 2048 x 2048 pixels with Moffat stars it kept a core on 8 of
    23 (crowded, gradients, poor seeing, structured sky) and made the
    fluxes worse there, by up to 1.5 points.  On 17 such frames the core
    lowered the chi-square by at most 1.3%, on 18 frames with a Kolmogorov
    PSF by 1.6-26%, hence the 1.25%.  Sky residuals stronger than the noise
    and centred on the stars can still pass for a core.

    `bgrem.detect_sources` with ``psf_model='moffat'`` selects the stars
    and calls this function; call it yourself to fit the PSF on one image
    (e.g. with the positions of that catalogue's brightest isolated stars)
    and reuse it on others with ``psf_model=psf``.
    """
    from photutils.psf import ImagePSF

    if not (gaussian_core is True or gaussian_core is False or gaussian_core == 'auto'):
        raise ValueError(f"gaussian_core must be 'auto', True or False, got {gaussian_core!r}")
    stamps, weights, start = _star_stamps(image, error, x, y, int(np.ceil(2.5 * fwhm_guess)),
                                          mask, max_stars)
    moffat = [np.log(fwhm_guess / 2.0), np.log(1.5), 0.0, 0.0]  # log alpha, log(beta - 1), e1, e2
    shape, stars, cost, badness = _fit_stars(stamps, weights, moffat, start)
    keep = np.flatnonzero(badness <= outlier_factor * np.median(badness))
    if keep.size < len(stamps):
        stamps, weights = [stamps[k] for k in keep], [weights[k] for k in keep]
        shape, stars, cost, _ = _fit_stars(stamps, weights, shape, stars[keep])
    if gaussian_core is not False:
        # the Moffat starts 1.5 times as wide with beta = 2.5, the core with
        # half the flux and the width of the whole profile (the start that
        # converged fastest on Kolmogorov PSFs)
        fwhm = _PSFProfile(shape).fwhm
        cored = np.concatenate([[shape[0] + np.log(1.5), np.log(1.5)], shape[2:4],
                                [np.log(fwhm / 2.3548), 0.0]])
        cored, _, cost_cored, _ = _fit_stars(stamps, weights, cored, stars)
        # the soft-L1 cost is about half the chi-square
        gain = cost - cost_cored
        if gaussian_core is True or (gain > np.log(stamps[0].size * len(stamps))
                                     and gain > _MIN_CORE_GAIN * cost):
            shape = cored
    profile = _PSFProfile(shape)
    radius = int(np.ceil(5 * profile.moffat_fwhm))
    grid = np.arange(-radius * oversampling, radius * oversampling + 1) / oversampling
    gy, gx = np.meshgrid(grid, grid, indexing='ij')
    # Each sample is the flux a pixel centred there receives: photutils'
    # normalisation of an oversampled ImagePSF.
    psf = ImagePSF(profile(gx, gy, 1.0, 0.0, 0.0), oversampling=oversampling)
    return psf, dict(profile.describe(), n_stars=len(stamps))


def _star_stamps(image, error, x, y, half, mask, max_stars):
    """
    Stamps of ``2 * half + 1`` pixels around the stars far enough from the
    edges, their weights (0 where masked) and start parameters (flux,
    offsets from the central pixel) per star.
    """
    ny, nx = image.shape
    stamps, weights, start = [], [], []
    for xs, ys in zip(np.asarray(x, float)[:max_stars], np.asarray(y, float)[:max_stars]):
        ix, iy = int(round(xs)), int(round(ys))
        if ix < half or iy < half or ix >= nx - half or iy >= ny - half:
            continue
        cut = (slice(iy - half, iy + half + 1), slice(ix - half, ix + half + 1))
        weight = 1.0 / np.asarray(error[cut], float)
        if mask is not None:
            weight = np.where(mask[cut], 0.0, weight)
        stamps.append(np.asarray(image[cut], float))
        weights.append(weight)
        start.append([stamps[-1].sum(), xs - ix, ys - iy])
    if not stamps:
        raise ValueError('no star is far enough from the edges to fit the PSF')
    return stamps, weights, np.array(start)


def _fit_stars(stamps, weights, shape, stars, max_nfev=200):
    """
    Least-squares fit of a `_PSFProfile` with parameters ``shape`` (shared)
    and ``stars`` (flux, x and y offset each) to the stamps: ``(shape,
    stars, cost, badness)`` with the soft-L1 cost and each star's mean
    absolute weighted residual.
    """
    from scipy.optimize import least_squares
    from scipy.sparse import lil_matrix

    n, n_shape = len(stamps), len(shape)
    half = stamps[0].shape[0] // 2
    yy, xx = np.mgrid[-half:half + 1, -half:half + 1]
    size = xx.size

    def residuals(p):
        profile = _PSFProfile(p[:n_shape])
        stars = p[n_shape:].reshape(n, 3)
        return np.concatenate([((stamps[k] - profile(xx, yy, *stars[k])) * weights[k]).ravel()
                               for k in range(n)])

    sparsity = lil_matrix((n * size, n_shape + 3 * n), dtype=int)
    sparsity[:, :n_shape] = 1
    for k in range(n):
        sparsity[k * size:(k + 1) * size, n_shape + 3 * k:n_shape + 3 * k + 3] = 1
    bounds = np.full((2, n_shape + 3 * n), np.inf)
    bounds[0] = -np.inf
    bounds[:, 2:4] = [[-_MAX_DISTORTION] * 2, [_MAX_DISTORTION] * 2]  # e1, e2
    start = np.concatenate([shape, np.ravel(stars)])
    start[2:4] = np.clip(start[2:4], -0.9 * _MAX_DISTORTION, 0.9 * _MAX_DISTORTION)
    solution = least_squares(residuals, start, loss='soft_l1', f_scale=3.0, bounds=bounds,
                             jac_sparsity=sparsity, x_scale='jac', max_nfev=max_nfev)
    badness = np.mean(np.abs(residuals(solution.x).reshape(n, size)), axis=1)
    return (solution.x[:n_shape], solution.x[n_shape:].reshape(n, 3), float(solution.cost),
            badness)


#: Smallest relative drop of the fit's cost for which ``gaussian_core='auto'``
#: keeps the core (see `fit_moffat_psf`).
_MIN_CORE_GAIN = 0.0125

#: Largest fitted ellipticity component (distortion): an axis ratio of 0.5.
_MAX_DISTORTION = 0.6


class _PSFProfile:
    """
    A pixel-integrated Moffat, alone or with a Gaussian core of the same
    ellipticity, from the fit parameters ``(log alpha, log(beta - 1), e1,
    e2)`` and, for the core, ``(log sigma, logit fraction)``.
    """

    def __init__(self, params):
        params = np.asarray(params, float)
        self.alpha, self.beta = float(np.exp(params[0])), 1.0 + float(np.exp(params[1]))
        self.e1, self.e2 = (float(value) for value in params[2:4])
        self.sigma, self.core_fraction = np.nan, 0.0
        if params.size > 4:
            self.sigma = float(np.exp(params[4]))
            self.core_fraction = float(1.0 / (1.0 + np.exp(-params[5])))

    def __call__(self, x, y, flux, x_0, y_0):
        """The flux in the unit pixels centred at ``(x, y)``."""
        r2 = _subpixel_r2(x, y, x_0, y_0, self.e1, self.e2)
        values = flux * (1 - self.core_fraction) * _moffat(r2, self.alpha, self.beta).mean(axis=-1)
        if self.core_fraction:
            values = values + flux * self.core_fraction * _gaussian(r2, self.sigma).mean(axis=-1)
        return values

    def round_profile(self, r2):
        """The profile (unit flux, before the pixel) at round radius ``sqrt(r2)``."""
        values = (1 - self.core_fraction) * _moffat(r2, self.alpha, self.beta)
        if self.core_fraction:
            values = values + self.core_fraction * _gaussian(r2, self.sigma)
        return values

    @property
    def moffat_fwhm(self):
        return 2 * self.alpha * np.sqrt(2 ** (1 / self.beta) - 1)

    @property
    def fwhm(self):
        from scipy.optimize import brentq

        half = 0.5 * self.round_profile(0.0)
        far = 10 * max(self.moffat_fwhm, np.nan_to_num(3 * self.sigma))
        return 2 * brentq(lambda r: self.round_profile(r ** 2) - half, 0.0, far)

    def describe(self):
        distortion = float(np.hypot(self.e1, self.e2))
        axis_ratio = np.sqrt((1 - distortion) / (1 + distortion))
        return {'alpha': self.alpha, 'beta': self.beta, 'fwhm': float(self.fwhm),
                'ellipticity': float(1 - axis_ratio),
                'angle': float(np.degrees(0.5 * np.arctan2(self.e2, self.e1))),
                'gaussian_core': bool(self.core_fraction), 'core_sigma': self.sigma,
                'core_fraction': self.core_fraction}
