"""
PSF-fitting photometry of detected sources with a PSF model you supply.

`bgrem.detect_sources` measures Kron and aperture fluxes by default.  Given
a photutils PSF model (`~photutils.psf.ImagePSF` from an image of the PSF,
`~photutils.psf.MoffatPSF`, a `~photutils.psf.GriddedPSFModel`, ...) it also
fits that model at every detected position with
`~photutils.psf.PSFPhotometry`.  For point sources the fitted flux is the
total flux without an aperture correction and is far less disturbed by faint
neighbours than an aperture sum.

The PSF is not estimated here: on fields of a few hundred pixels there are
too few bright isolated stars to fit its wings (the flux bias follows the
error of the wings), so it must come from elsewhere (PSFEx, an ePSF built
on a whole frame, an optics model).
"""

import warnings

import numpy as np

__all__ = []

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
