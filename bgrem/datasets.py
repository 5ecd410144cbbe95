"""
Small synthetic images with known truth, made with `photutils.datasets`
(no GalSim needed): for the demo, the documentation and quick checks.

For training data use `bgrem.simulate`, which models a real telescope.
"""

import numpy as np
from astropy.table import QTable

__all__ = ['make_demo_image']


def make_demo_image(shape=(512, 512), n_stars=150, *, noise_std=5.0, sky_level=100.0,
                    gradient=0.2, fwhm_range=(2.5, 4.0), flux_range=(60.0, 2.0e4),
                    galaxy=True, seed=0):
    """
    Make a star field with a sky gradient, Gaussian noise and, optionally,
    one large faint galaxy, with its truth.

    Star fluxes follow a power law ``dN/dF ~ F**-2`` between the limits of
    ``flux_range``.  The galaxy is a Sersic profile (n = 1) with a half-light
    radius of 25 pixels in the middle of the image.

    Parameters
    ----------
    shape : tuple of int, optional
        ``(ny, nx)``.
    n_stars : int, optional
        Number of stars.
    noise_std : float, optional
        Standard deviation of the Gaussian noise.
    sky_level : float, optional
        Mean sky level.
    gradient : float, optional
        Peak-to-peak sky variation along x, as a fraction of ``sky_level``.
    fwhm_range : tuple of float, optional
        Range of the stars' Gaussian FWHM (pixels).
    flux_range : tuple of float, optional
        Range of the stars' total fluxes.
    galaxy : bool, optional
        Add the extended galaxy.
    seed : int, optional
        Random seed; the same seed gives the same image.

    Returns
    -------
    data : `~numpy.ndarray`
        The observed image (float32).
    sources : `~numpy.ndarray`
        The noiseless source-only image (float32).
    truth : `~astropy.table.QTable`
        One row per source: ``id``, ``x_0``, ``y_0``, ``flux``, ``fwhm``
        (stars) and ``kind`` (``'star'`` or ``'galaxy'``).

    Examples
    --------
    >>> from bgrem.datasets import make_demo_image
    >>> data, sources, truth = make_demo_image((128, 128), n_stars=10)
    >>> data.shape, len(truth)
    ((128, 128), 11)
    """
    from astropy.modeling.models import Sersic2D
    from photutils.datasets import make_model_image, make_noise_image
    from photutils.psf import CircularGaussianPRF

    rng = np.random.default_rng(seed)
    ny, nx = shape
    low, high = flux_range
    # Inverse-CDF draw of dN/dF ~ F**-2.
    flux = 1.0 / (1.0 / low - rng.uniform(size=n_stars) * (1.0 / low - 1.0 / high))
    truth = QTable({'id': np.arange(1, n_stars + 1),
                    'x_0': rng.uniform(0, nx - 1, n_stars),
                    'y_0': rng.uniform(0, ny - 1, n_stars),
                    'flux': flux,
                    'fwhm': rng.uniform(*fwhm_range, n_stars),
                    'kind': np.full(n_stars, 'star', dtype='<U6')})
    sources = make_model_image(shape, CircularGaussianPRF(), truth,
                               bbox_factor=6.0, discretize_method='oversample',
                               discretize_oversample=4)
    if galaxy:
        yy, xx = np.mgrid[:ny, :nx]
        model = Sersic2D(amplitude=0.4 * noise_std, r_eff=25.0, n=1.0, x_0=nx / 2,
                         y_0=ny / 2, ellip=0.3, theta=0.5)
        galaxy_image = model(xx, yy)
        sources = sources + galaxy_image
        truth.add_row({'id': n_stars + 1, 'x_0': nx / 2, 'y_0': ny / 2,
                       'flux': galaxy_image.sum(), 'fwhm': np.nan, 'kind': 'galaxy'})
    sky = sky_level * (1.0 + gradient * (np.arange(nx) / max(nx - 1, 1) - 0.5))
    noise = make_noise_image(shape, mean=0.0, stddev=noise_std, seed=rng.integers(2**31))
    data = sources + sky[np.newaxis, :] + noise
    return data.astype(np.float32), sources.astype(np.float32), truth
