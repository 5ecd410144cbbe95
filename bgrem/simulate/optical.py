"""
Simulated MeerLICHT-like optical fields with ground truth.

The simulator draws stars (Moffat point-spread function, power-law number
counts) and Sersic galaxies -- including a population of large, low surface
brightness galaxies -- with `GalSim <https://galsim-developers.github.io>`_
onto a spatially varying sky, then adds photon (Poisson) noise, read noise, a
bias pedestal and saturation.  Every component is returned separately so that
the images can serve as training pairs for the background diffusion model:

* ``observed = sources + background`` (except in saturated pixels), where
* ``sources`` is the noiseless, PSF-convolved light of the objects and
* ``background`` is everything else: sky, dark current, pedestal and *all*
  the noise, including the Poisson noise of the sources themselves.

All images are in ADU.  Internally the photon noise is computed in electrons
and converted with the gain (ADU = electrons / gain).

GalSim is only needed to *simulate*; importing this module works without it.
"""

import dataclasses
import importlib.util
import math
import numbers

import numpy as np
from astropy import units as u
from astropy.table import QTable
from astropy.wcs import WCS

__all__ = ['OpticalFieldConfig', 'SimulatedField', 'simulate_optical_field',
           'simulate_optical_tiles', 'HAS_GALSIM']

# The examples draw (small) fields, which needs GalSim.
__doctest_requires__ = {('simulate_optical_field', 'simulate_optical_tiles',
                         'SimulatedField'): ['galsim']}

#: Whether GalSim can be imported (it is needed to simulate, not to import).
HAS_GALSIM = importlib.util.find_spec('galsim') is not None

_GALSIM_MESSAGE = "GalSim is required for simulation: pip install 'bgrem[train]'"

# Sersic indices are rounded to this step so that GalSim can reuse its
# (expensive) per-index tables between galaxies.
_SERSIC_N_STEP = 0.05
# GalSim's limits on the Sersic index.
_SERSIC_N_LIMITS = (0.3, 6.2)
# Accuracy of the FFT drawing (fraction of flux allowed to fold/alias).
_FOLDING_THRESHOLD = 1e-3
#: PSF radial profiles the simulator draws.
_PSF_PROFILES = ('moffat', 'kolmogorov')
#: The stamps of a Kolmogorov PSF are sized as for a Moffat of this beta,
#: which leaves about as much flux as the Kolmogorov profile, or more,
#: outside 5-15 FWHM (GalSim: the Kolmogorov profile leaves 0.64%, 0.20% and
#: 0.10% outside 5, 10 and 15 FWHM; this Moffat 1.3%, 0.25% and 0.09%).
_KOLMOGOROV_WING_BETA = 2.2

_ARCSEC2_PER_ARCMIN2 = 3600.0


def _require_galsim():
    """Import and return GalSim, or raise an ImportError that says how to get it."""
    try:
        import galsim
    except ImportError as exc:
        raise ImportError(_GALSIM_MESSAGE) from exc
    return galsim


# ---------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------

def _as_range(name, value, *, lower=None, upper=None, lower_open=False):
    """Validate a ``(low, high)`` pair of finite floats within bounds."""
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f'{name} must be a (low, high) pair of numbers, got {value!r}') from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f'{name} must be finite, got {value!r}')
    if low > high:
        raise ValueError(f'{name} must have low <= high, got {value!r}')
    if lower is not None:
        if lower_open and low <= lower:
            raise ValueError(f'{name} must be > {lower}, got {value!r}')
        if not lower_open and low < lower:
            raise ValueError(f'{name} must be >= {lower}, got {value!r}')
    if upper is not None and high > upper:
        raise ValueError(f'{name} must be <= {upper}, got {value!r}')
    return (low, high)


def _as_float(name, value, *, lower=None, upper=None, lower_open=False):
    """Validate a finite float within bounds."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f'{name} must be a real number, got {value!r}')
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f'{name} must be finite, got {value!r}')
    if lower is not None:
        if lower_open and value <= lower:
            raise ValueError(f'{name} must be > {lower}, got {value!r}')
        if not lower_open and value < lower:
            raise ValueError(f'{name} must be >= {lower}, got {value!r}')
    if upper is not None and value > upper:
        raise ValueError(f'{name} must be <= {upper}, got {value!r}')
    return value


def _as_int(name, value, *, lower=None):
    """Validate an integer."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f'{name} must be an integer, got {value!r}')
    value = int(value)
    if lower is not None and value < lower:
        raise ValueError(f'{name} must be >= {lower}, got {value!r}')
    return value


def _as_shape(name, value, *, lower=8):
    """Validate a ``(ny, nx)`` pair of integers of at least ``lower``."""
    try:
        shape = tuple(value)
    except TypeError:
        raise ValueError(f'{name} must be a (ny, nx) pair, got {value!r}') from None
    if len(shape) != 2:
        raise ValueError(f'{name} must be a (ny, nx) pair, got {value!r}')
    return tuple(_as_int(f'{name}[{i}]', n, lower=lower) for i, n in enumerate(shape))


@dataclasses.dataclass(frozen=True)
class OpticalFieldConfig:
    """
    Parameters of a simulated MeerLICHT-like optical field.

    The defaults describe a 60 s MeerLICHT exposure (0.56 arcsec pixels) of a
    moderately crowded field.  Parameters given as ``(low, high)`` ranges are
    drawn uniformly per field (per object for object properties) unless
    stated otherwise.  Instances are immutable and validated on creation:
    invalid values raise `ValueError`.

    Parameters
    ----------
    shape : tuple of int
        ``(ny, nx)`` image size in pixels.
    pixel_scale : float
        Pixel scale in arcsec/pixel.
    seeing_fwhm_range : tuple of float
        Range of the PSF full width at half maximum in arcsec (one value per
        field).
    moffat_beta_range : tuple of float
        Range of the Moffat ``beta`` of the PSF (one value per field; > 1.1).
    psf_profile : {'moffat', 'kolmogorov'}
        Radial profile of the PSF: a Moffat of the drawn FWHM and beta, or
        the long-exposure atmospheric (Kolmogorov) profile of the drawn FWHM,
        whose wings fall as r^(-11/3), slower than any of these Moffats.
    psf_ellipticity_range : tuple of float
        Range of the ellipticity ``1 - b/a`` of the PSF (one value per field,
        at a random position angle; 0 gives a round PSF).
    gain : float
        Detector gain in electrons per ADU (``ADU = electrons / gain``).
    read_noise : float
        Read noise in electrons (Gaussian standard deviation per pixel).
    dark_current : float
        Dark current in electrons per pixel accumulated over the exposure.
    exposure_time : float
        Exposure time in seconds; converts magnitudes to electrons together
        with ``zeropoint``.
    zeropoint : float
        AB magnitude of a source giving 1 electron per second (in total).
    sky_level_range : tuple of float
        Range of the mean sky level in electrons per pixel over the exposure.
    sky_gradient_range : tuple of float
        Range of the linear sky gradient: the fractional change of the sky
        level from one edge of the field to the opposite edge (along a
        random direction; ``0.05`` = 5 per cent).
    structure_amplitude_range : tuple of float
        Range of the RMS of the smooth sky structure as a fraction of the sky
        level.
    structure_scale_range : tuple of float
        Range of the wavelengths, in arcsec, of the random Fourier modes that
        make up the smooth sky structure (log-uniform per mode).
    structure_n_modes : int
        Number of Fourier modes of the smooth sky structure.
    pedestal : float
        Bias/pedestal level in ADU added to every pixel.
    saturation_level : float
        Saturation level in ADU (pedestal included): pixels of the observed
        image above it are clipped to it.
    star_density : float
        Mean number of stars per square arcmin with magnitudes in
        ``star_mag_range`` (the number per field is Poisson distributed).
    star_mag_range : tuple of float
        Magnitude range (AB) of the stars.
    star_count_slope : float
        Slope ``a`` of the cumulative star counts, ``log10 N(<m) = a m + c``
        (per magnitude).
    galaxy_density : float
        Mean number of galaxies per square arcmin (normal and large ones).
    galaxy_mag_range : tuple of float
        Magnitude range (AB) of the normal galaxies.
    galaxy_count_slope : float
        Slope of the cumulative galaxy counts (per magnitude).
    sersic_n_range : tuple of float
        Range of the Sersic index of the normal galaxies (GalSim supports
        0.3 to 6.2).  Indices are rounded to steps of 0.05.
    galaxy_hlr_range : tuple of float
        Range of the half-light radius in arcsec of the normal galaxies
        (log-uniform).
    large_galaxy_fraction : float
        Fraction of the galaxies that are large, low surface brightness
        galaxies (extended emission that must not be removed as background).
    large_galaxy_hlr_range : tuple of float
        Range of the half-light radius in arcsec of the large galaxies
        (log-uniform).
    large_galaxy_sb_range : tuple of float
        Range of the mean surface brightness within the half-light radius,
        in AB mag/arcsec^2, of the large galaxies; sets their magnitude.
    large_galaxy_sersic_n_range : tuple of float
        Range of the Sersic index of the large galaxies (disc-like).
    ellipticity_range : tuple of float
        Range of the galaxy ellipticity ``1 - b/a``.
    sersic_truncation : float
        Galaxy profiles are truncated at this many half-light radii (the
        given flux and half-light radius refer to the truncated profile).
    stamp_flux_loss : float
        Largest fraction of a star's flux that may fall outside its postage
        stamp (sets the stamp size; the Moffat wings are infinite).
    stamp_threshold : float
        The stamps also reach out to where the PSF wings of the object fall
        below this surface brightness, in electrons per pixel.
    max_stamp_radius : int
        Largest half-size of a star's postage stamp in pixels.

    Examples
    --------
    >>> from bgrem.simulate import OpticalFieldConfig
    >>> config = OpticalFieldConfig(shape=(256, 256), galaxy_density=2.0)
    >>> config.shape
    (256, 256)
    >>> OpticalFieldConfig(gain=-1.0)
    Traceback (most recent call last):
    ...
    ValueError: gain must be > 0.0, got -1.0
    """

    shape: tuple = (1024, 1024)
    pixel_scale: float = 0.56
    seeing_fwhm_range: tuple = (1.5, 3.5)
    moffat_beta_range: tuple = (2.5, 4.5)
    psf_profile: str = 'moffat'
    psf_ellipticity_range: tuple = (0.0, 0.0)
    gain: float = 1.0
    read_noise: float = 10.0
    dark_current: float = 1.0
    exposure_time: float = 60.0
    zeropoint: float = 24.5
    sky_level_range: tuple = (300.0, 3000.0)
    sky_gradient_range: tuple = (0.0, 0.05)
    structure_amplitude_range: tuple = (0.0, 0.02)
    structure_scale_range: tuple = (60.0, 600.0)
    structure_n_modes: int = 8
    pedestal: float = 100.0
    saturation_level: float = 60000.0
    star_density: float = 12.0
    star_mag_range: tuple = (10.0, 24.0)
    star_count_slope: float = 0.3
    galaxy_density: float = 4.0
    galaxy_mag_range: tuple = (17.0, 24.5)
    galaxy_count_slope: float = 0.35
    sersic_n_range: tuple = (0.5, 4.0)
    galaxy_hlr_range: tuple = (0.5, 8.0)
    large_galaxy_fraction: float = 0.05
    large_galaxy_hlr_range: tuple = (8.0, 30.0)
    large_galaxy_sb_range: tuple = (22.5, 26.0)
    large_galaxy_sersic_n_range: tuple = (0.5, 1.5)
    ellipticity_range: tuple = (0.0, 0.7)
    sersic_truncation: float = 4.0
    stamp_flux_loss: float = 1e-3
    stamp_threshold: float = 0.1
    max_stamp_radius: int = 256

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        put('shape', _as_shape('shape', self.shape))

        put('pixel_scale', _as_float('pixel_scale', self.pixel_scale, lower=0.0, lower_open=True))
        put('seeing_fwhm_range', _as_range('seeing_fwhm_range', self.seeing_fwhm_range,
                                           lower=0.0, lower_open=True))
        put('moffat_beta_range', _as_range('moffat_beta_range', self.moffat_beta_range,
                                           lower=1.1, lower_open=True))
        if self.psf_profile not in _PSF_PROFILES:
            raise ValueError(f'psf_profile must be one of {_PSF_PROFILES}, '
                             f'got {self.psf_profile!r}')
        put('psf_ellipticity_range', _as_range('psf_ellipticity_range',
                                               self.psf_ellipticity_range,
                                               lower=0.0, upper=0.5))
        put('gain', _as_float('gain', self.gain, lower=0.0, lower_open=True))
        put('read_noise', _as_float('read_noise', self.read_noise, lower=0.0))
        put('dark_current', _as_float('dark_current', self.dark_current, lower=0.0))
        put('exposure_time', _as_float('exposure_time', self.exposure_time,
                                       lower=0.0, lower_open=True))
        put('zeropoint', _as_float('zeropoint', self.zeropoint))
        put('sky_level_range', _as_range('sky_level_range', self.sky_level_range, lower=0.0))
        put('sky_gradient_range', _as_range('sky_gradient_range', self.sky_gradient_range,
                                            lower=0.0, upper=1.0))
        put('structure_amplitude_range', _as_range(
            'structure_amplitude_range', self.structure_amplitude_range, lower=0.0, upper=0.5))
        put('structure_scale_range', _as_range('structure_scale_range',
                                               self.structure_scale_range,
                                               lower=0.0, lower_open=True))
        put('structure_n_modes', _as_int('structure_n_modes', self.structure_n_modes, lower=0))
        put('pedestal', _as_float('pedestal', self.pedestal))
        put('saturation_level', _as_float('saturation_level', self.saturation_level))
        if self.saturation_level <= self.pedestal:
            raise ValueError(f'saturation_level ({self.saturation_level}) must be above the '
                             f'pedestal ({self.pedestal})')
        for kind in ('star', 'galaxy'):
            put(f'{kind}_density', _as_float(f'{kind}_density', getattr(self, f'{kind}_density'),
                                             lower=0.0))
            put(f'{kind}_mag_range', _as_range(f'{kind}_mag_range',
                                               getattr(self, f'{kind}_mag_range')))
            put(f'{kind}_count_slope', _as_float(f'{kind}_count_slope',
                                                 getattr(self, f'{kind}_count_slope')))
        put('sersic_n_range', _as_range('sersic_n_range', self.sersic_n_range,
                                        lower=_SERSIC_N_LIMITS[0], upper=_SERSIC_N_LIMITS[1]))
        put('galaxy_hlr_range', _as_range('galaxy_hlr_range', self.galaxy_hlr_range,
                                          lower=0.0, lower_open=True))
        put('large_galaxy_fraction', _as_float('large_galaxy_fraction',
                                               self.large_galaxy_fraction, lower=0.0, upper=1.0))
        put('large_galaxy_hlr_range', _as_range('large_galaxy_hlr_range',
                                                self.large_galaxy_hlr_range,
                                                lower=0.0, lower_open=True))
        put('large_galaxy_sb_range', _as_range('large_galaxy_sb_range',
                                               self.large_galaxy_sb_range))
        put('large_galaxy_sersic_n_range', _as_range(
            'large_galaxy_sersic_n_range', self.large_galaxy_sersic_n_range,
            lower=_SERSIC_N_LIMITS[0], upper=_SERSIC_N_LIMITS[1]))
        put('ellipticity_range', _as_range('ellipticity_range', self.ellipticity_range,
                                           lower=0.0, upper=0.95))
        put('sersic_truncation', _as_float('sersic_truncation', self.sersic_truncation,
                                           lower=1.5))
        put('stamp_flux_loss', _as_float('stamp_flux_loss', self.stamp_flux_loss,
                                         lower=0.0, upper=0.1, lower_open=True))
        put('stamp_threshold', _as_float('stamp_threshold', self.stamp_threshold,
                                         lower=0.0, lower_open=True))
        put('max_stamp_radius', _as_int('max_stamp_radius', self.max_stamp_radius, lower=8))

    @property
    def area_arcmin2(self):
        """Area of the field in square arcmin."""
        ny, nx = self.shape
        return ny * nx * self.pixel_scale ** 2 / _ARCSEC2_PER_ARCMIN2

    def replace(self, **changes):
        """
        Return a copy with some parameters changed (and validated).

        Parameters
        ----------
        **changes
            New values of fields of this class.

        Returns
        -------
        config : OpticalFieldConfig
            The new configuration; this one is left unchanged.
        """
        return dataclasses.replace(self, **changes)


# ---------------------------------------------------------------------------
# Result
# ---------------------------------------------------------------------------

@dataclasses.dataclass
class SimulatedField:
    """
    A simulated field and its ground truth.

    All images are ``float32`` arrays of shape ``config.shape`` in ADU.
    The parameters are also the attributes.

    Parameters
    ----------
    observed : numpy.ndarray
        The observed image: sources + sky + pedestal + dark current + photon
        and read noise, clipped at ``config.saturation_level``.
    sources : numpy.ndarray
        Noiseless, PSF-convolved, pixel-integrated light of the stars and
        galaxies.
    background : numpy.ndarray
        ``observed - sources`` *before* saturation: sky, pedestal, dark
        current and all the noise, including the Poisson noise of the sources.
        This is the diffusion model's target.  ``observed == sources +
        background`` up to float32 rounding in every pixel that is not
        saturated; in saturated pixels ``sources + background`` is the
        unclipped value, above ``observed``.
    sky : numpy.ndarray
        Noiseless smooth level: sky + dark current + pedestal.
    noise_sigma : numpy.ndarray or float
        Expected standard deviation of the noise of every pixel,
        ``sqrt(sky_e + dark + sources_e + read_noise**2) / gain``.
    catalog : astropy.table.QTable
        One row per object with columns ``id``, ``kind`` (``'star'`` or
        ``'galaxy'``), ``x``, ``y`` (0-based pixel coordinates of the
        centre, numpy convention: ``x`` is the column; pix), ``ra``, ``dec``
        (deg), ``flux`` (total flux, adu), ``mag`` (AB, mag),
        ``half_light_radius`` (circularised half-light radius of the intrinsic
        profile before the PSF, pix; 0 for stars), ``sersic_n`` (0 for
        stars), ``ellipticity`` (``1 - b/a``), ``position_angle`` (of the
        major axis, counter-clockwise from the +x axis; deg), ``large``
        (large low surface brightness galaxy) and ``saturated`` (a saturated
        pixel lies within the object's half-maximum core).  Objects centred
        near the edge are only partially in the image.
    config : OpticalFieldConfig
        The configuration used.
    seeing_fwhm : float
        FWHM of the PSF of this field in arcsec.
    seed : int
        Seed that reproduces this field with `simulate_optical_field`.
    wcs : astropy.wcs.WCS
        Celestial TAN WCS (north up, east left) at a random position.
    params : dict
        Other values drawn for this field: ``moffat_beta`` (unused by a
        Kolmogorov PSF), ``psf_ellipticity``, ``psf_angle`` (deg), ``sky_level``
        (e-/pixel), ``sky_gradient`` (fraction), ``sky_gradient_angle``
        (deg), ``structure_amplitude`` (fraction), ``n_stars``,
        ``n_galaxies``, ``n_large_galaxies``.
    """

    observed: np.ndarray
    sources: np.ndarray
    background: np.ndarray
    sky: np.ndarray
    noise_sigma: object
    catalog: QTable
    config: OpticalFieldConfig
    seeing_fwhm: float
    seed: int
    wcs: WCS
    params: dict = dataclasses.field(default_factory=dict)

    @property
    def shape(self):
        """``(ny, nx)`` shape of the images."""
        return self.observed.shape

    @property
    def saturated_mask(self):
        """Boolean image, `True` where the observed image is saturated."""
        return self.observed >= np.float32(self.config.saturation_level)

    def psf_model(self, oversampling=4, radius=None):
        """
        The point-spread function of this field as a photutils model.

        The field's PSF convolved with the pixel (as the stars were
        drawn), sampled ``oversampling`` times per pixel: fitting it gives
        unbiased fluxes, where a `~photutils.psf.MoffatPSF` of the same
        FWHM and beta, sampled at pixel centres, is about 2% too peaked at
        the scales of these images.

        Parameters
        ----------
        oversampling : int, optional
            Samples per pixel along each axis.
        radius : int, optional
            Half size of the model in pixels; by default 5 FWHM.  Outside
            it the model is zero (a little of the Moffat wings is cut off:
            the flux parameter stays the total flux).

        Returns
        -------
        psf : `~photutils.psf.ImagePSF`
            Centred at ``(0, 0)`` with unit flux.

        Raises
        ------
        ImportError
            If GalSim is not installed.
        """
        from photutils.psf import ImagePSF

        galsim = _require_galsim()
        oversampling = _as_int('oversampling', oversampling, lower=1)
        fwhm_pix = self.seeing_fwhm / self.config.pixel_scale
        radius = (int(math.ceil(5 * fwhm_pix)) if radius is None
                  else _as_int('radius', radius, lower=1))
        scale = self.config.pixel_scale
        pixel_response = galsim.Convolve(_field_psf(galsim, self.config, self.seeing_fwhm,
                                                    self.params),
                                         galsim.Pixel(scale))
        n = 2 * radius * oversampling + 1
        samples = pixel_response.drawImage(nx=n, ny=n, scale=scale / oversampling,
                                           method='no_pixel').array
        # Each sample is the flux a whole pixel centred there receives.
        return ImagePSF(samples * oversampling ** 2, oversampling=oversampling)


# ---------------------------------------------------------------------------
# Simulation
# ---------------------------------------------------------------------------

def _power_law_mags(rng, n, mag_range, slope):
    """Draw ``n`` magnitudes with ``dN/dm ~ 10**(slope * m)`` in ``mag_range``."""
    m1, m2 = mag_range
    uniform = rng.random(n)
    if slope == 0 or m1 == m2:
        return m1 + (m2 - m1) * uniform
    span = math.expm1(slope * (m2 - m1) * math.log(10.0))
    return m1 + np.log10(1.0 + uniform * span) / slope


def _log_uniform(rng, n, value_range):
    """Draw ``n`` values log-uniformly in ``value_range``."""
    low, high = np.log(value_range)
    return np.exp(rng.uniform(low, high, n))


def _mag_to_electrons(mag, config):
    """Total electrons collected from sources of AB magnitude ``mag``."""
    mag = np.asarray(mag, dtype=float)
    return config.exposure_time * 10.0 ** (-0.4 * (mag - config.zeropoint))


def _moffat_radius(flux_e, beta, fwhm_pix, config):
    """
    Radius in pixels beyond which a Moffat of flux ``flux_e`` (electrons) is
    negligible: it encloses all but ``stamp_flux_loss`` of the flux and its
    surface brightness has fallen below ``stamp_threshold``.
    """
    r_d = fwhm_pix / (2.0 * math.sqrt(2.0 ** (1.0 / beta) - 1.0))
    # Fraction outside r: (1 + (r/r_d)^2)^(1 - beta).
    r_flux = r_d * math.sqrt(config.stamp_flux_loss ** (1.0 / (1.0 - beta)) - 1.0)
    peak = flux_e * (beta - 1.0) / (math.pi * r_d ** 2)
    ratio = peak / config.stamp_threshold
    r_sb = r_d * math.sqrt(ratio ** (1.0 / beta) - 1.0) if ratio > 1 else 0.0
    return max(r_flux, r_sb, 3.0 * fwhm_pix)


def _smooth_structure(rng, config, ny, nx):
    """Sum of random Fourier modes with unit expected RMS (vectorised)."""
    n_modes = config.structure_n_modes
    structure = np.zeros((ny, nx))
    if n_modes == 0:
        return structure
    wavelengths = _log_uniform(rng, n_modes, config.structure_scale_range) / config.pixel_scale
    angles = rng.uniform(0.0, 2.0 * np.pi, n_modes)
    phases = rng.uniform(0.0, 2.0 * np.pi, n_modes)
    amplitudes = rng.standard_normal(n_modes)
    x = np.arange(nx, dtype=float)
    y = np.arange(ny, dtype=float)
    for lam, angle, phase, amp in zip(wavelengths, angles, phases, amplitudes):
        k = 2.0 * np.pi / lam
        arg_x = k * math.cos(angle) * x + phase
        arg_y = k * math.sin(angle) * y
        # cos(a + b) = cos a cos b - sin a sin b, as outer products.
        structure += amp * (np.outer(np.cos(arg_y), np.cos(arg_x))
                            - np.outer(np.sin(arg_y), np.sin(arg_x)))
    norm = math.sqrt(0.5 * float(np.sum(amplitudes ** 2)))
    if norm > 0:
        structure /= norm
    return structure


def _sky_electrons(rng, config):
    """Noiseless sky in electrons per pixel and the values drawn for it."""
    ny, nx = config.shape
    level = rng.uniform(*config.sky_level_range)
    gradient = rng.uniform(*config.sky_gradient_range)
    angle = rng.uniform(0.0, 2.0 * np.pi)
    amplitude = rng.uniform(*config.structure_amplitude_range)
    u_x = (np.arange(nx) - 0.5 * (nx - 1)) / nx
    u_y = (np.arange(ny) - 0.5 * (ny - 1)) / ny
    relative = gradient * (math.sin(angle) * u_y[:, None] + math.cos(angle) * u_x[None, :])
    relative = relative + amplitude * _smooth_structure(rng, config, ny, nx)
    sky = np.maximum(level * (1.0 + relative), 0.0)
    params = {'sky_level': float(level), 'sky_gradient': float(gradient),
              'sky_gradient_angle': float(np.degrees(angle)),
              'structure_amplitude': float(amplitude)}
    return sky, params


def _random_wcs(rng, config):
    """North-up TAN WCS centred on a random position observable from Sutherland."""
    ny, nx = config.shape
    ra = rng.uniform(0.0, 360.0)
    # Uniform on the sphere for -90 < Dec < +30 deg.
    dec = float(np.degrees(np.arcsin(rng.uniform(-1.0, 0.5))))
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    wcs.wcs.cunit = ['deg', 'deg']
    wcs.wcs.crpix = [0.5 * (nx + 1), 0.5 * (ny + 1)]
    wcs.wcs.crval = [ra, dec]
    scale = config.pixel_scale / 3600.0
    wcs.wcs.cdelt = [-scale, scale]
    wcs.wcs.radesys = 'ICRS'
    wcs.wcs.equinox = 2000.0
    wcs.wcs.set()
    return wcs


def _field_psf(galsim, config, fwhm, params):
    """
    The GalSim PSF of a field (FWHM in arcsec; ``params`` with
    ``moffat_beta``, ``psf_ellipticity`` and ``psf_angle``), before the pixel.
    """
    gsparams = galsim.GSParams(folding_threshold=_FOLDING_THRESHOLD)
    if config.psf_profile == 'kolmogorov':
        psf = galsim.Kolmogorov(fwhm=fwhm, gsparams=gsparams)
    else:
        psf = galsim.Moffat(beta=params['moffat_beta'], fwhm=fwhm, gsparams=gsparams)
    ellipticity = params.get('psf_ellipticity', 0.0)
    if ellipticity > 0:
        psf = psf.shear(q=1.0 - ellipticity, beta=params['psf_angle'] * galsim.degrees)
    return psf


def _wing_beta(config, beta):
    """The Moffat beta whose wings bound those of the field's PSF (stamp sizes)."""
    return _KOLMOGOROV_WING_BETA if config.psf_profile == 'kolmogorov' else beta


def _draw_objects(galsim, config, objects, psf, beta, fwhm_pix):
    """
    Draw the objects into a noiseless image (electrons per pixel).

    Returns the image (float64, ``(ny, nx)``) and, per object, the flat
    indices of its half-maximum core pixels inside the image.
    """
    ny, nx = config.shape
    scale = config.pixel_scale
    full = galsim.ImageD(galsim.BoundsI(0, nx - 1, 0, ny - 1), scale=scale)
    cores = []
    for obj in objects:
        flux_e = obj['flux_e']
        r_psf = _moffat_radius(flux_e, beta, fwhm_pix, config)
        if obj['kind'] == 'star':
            profile = psf.withFlux(flux_e)
            radius = min(r_psf, config.max_stamp_radius)
        else:
            hlr = obj['hlr_arcsec']
            q = 1.0 - obj['ellipticity']
            # A unit-size profile dilated to the half-light radius: GalSim then
            # reuses its tables for all galaxies with the same index.
            galaxy = galsim.Sersic(n=obj['sersic_n'], half_light_radius=1.0,
                                   trunc=config.sersic_truncation, flux=flux_e,
                                   gsparams=psf.gsparams)
            galaxy = galaxy.dilate(hlr).shear(q=q, beta=obj['position_angle'] * galsim.degrees)
            profile = galsim.Convolve(galaxy, psf)
            # The shear keeps the area: the major semi-axis is r / sqrt(q).
            radius = config.sersic_truncation * hlr / scale / math.sqrt(q) + r_psf
        radius = int(math.ceil(radius)) + 1
        ix, iy = int(round(obj['x'])), int(round(obj['y']))
        bounds = galsim.BoundsI(ix - radius, ix + radius, iy - radius, iy + radius)
        overlap = bounds & full.bounds
        if not overlap.isDefined():
            cores.append(np.empty(0, dtype=np.intp))
            continue
        stamp = galsim.ImageD(bounds, scale=scale)
        profile.drawImage(image=stamp, center=galsim.PositionD(obj['x'], obj['y']),
                          method='fft')
        full[overlap] += stamp[overlap]
        part = stamp[overlap].array
        rows, cols = np.nonzero(part >= 0.5 * stamp.array.max())
        cores.append((rows + overlap.ymin) * nx + (cols + overlap.xmin))
    return full.array, cores


def _make_objects(rng_stars, rng_gals, config):
    """Draw the star and galaxy parameters; returns a list of dicts (stars first)."""
    ny, nx = config.shape
    area = config.area_arcmin2
    objects = []

    n_stars = int(rng_stars.poisson(config.star_density * area))
    x = rng_stars.uniform(-0.5, nx - 0.5, n_stars)
    y = rng_stars.uniform(-0.5, ny - 0.5, n_stars)
    mags = _power_law_mags(rng_stars, n_stars, config.star_mag_range, config.star_count_slope)
    for i in range(n_stars):
        objects.append({'kind': 'star', 'x': x[i], 'y': y[i], 'mag': mags[i], 'large': False,
                        'hlr_arcsec': 0.0, 'sersic_n': 0.0, 'ellipticity': 0.0,
                        'position_angle': 0.0})

    n_gals = int(rng_gals.poisson(config.galaxy_density * area))
    x = rng_gals.uniform(-0.5, nx - 0.5, n_gals)
    y = rng_gals.uniform(-0.5, ny - 0.5, n_gals)
    large = rng_gals.random(n_gals) < config.large_galaxy_fraction
    mags = _power_law_mags(rng_gals, n_gals, config.galaxy_mag_range, config.galaxy_count_slope)
    hlr = _log_uniform(rng_gals, n_gals, config.galaxy_hlr_range)
    sersic_n = rng_gals.uniform(*config.sersic_n_range, n_gals)
    # Large, low surface brightness galaxies: size, surface brightness and
    # index from their own ranges; mag = <mu>_e - 2.5 log10(2 pi hlr^2).
    hlr_large = _log_uniform(rng_gals, n_gals, config.large_galaxy_hlr_range)
    sb_large = rng_gals.uniform(*config.large_galaxy_sb_range, n_gals)
    n_large = rng_gals.uniform(*config.large_galaxy_sersic_n_range, n_gals)
    hlr = np.where(large, hlr_large, hlr)
    mags = np.where(large, sb_large - 2.5 * np.log10(2.0 * np.pi * hlr_large ** 2), mags)
    sersic_n = np.where(large, n_large, sersic_n)
    sersic_n = np.clip(np.round(np.round(sersic_n / _SERSIC_N_STEP) * _SERSIC_N_STEP, 2),
                       *_SERSIC_N_LIMITS)
    ellipticity = rng_gals.uniform(*config.ellipticity_range, n_gals)
    position_angle = rng_gals.uniform(0.0, 180.0, n_gals)
    for i in range(n_gals):
        objects.append({'kind': 'galaxy', 'x': x[i], 'y': y[i], 'mag': mags[i],
                        'large': bool(large[i]), 'hlr_arcsec': hlr[i],
                        'sersic_n': float(sersic_n[i]), 'ellipticity': ellipticity[i],
                        'position_angle': position_angle[i]})

    fluxes = _mag_to_electrons([obj['mag'] for obj in objects], config)
    for obj, flux in zip(objects, fluxes):
        obj['flux_e'] = float(flux)
    return objects, n_stars, n_gals, int(np.count_nonzero(large))


def _build_catalog(objects, cores, saturated, wcs, config):
    """Assemble the catalog QTable."""
    n = len(objects)

    def column(key, dtype=float):
        return np.array([obj[key] for obj in objects], dtype=dtype).reshape(n)

    x, y = column('x'), column('y')
    ra, dec = wcs.pixel_to_world_values(x, y) if n else (np.zeros(0), np.zeros(0))
    flat_saturated = saturated.ravel()
    catalog = QTable()
    catalog['id'] = np.arange(n, dtype=np.int64)
    catalog['kind'] = np.array([obj['kind'] for obj in objects], dtype='<U6').reshape(n)
    catalog['x'] = x * u.pix
    catalog['y'] = y * u.pix
    catalog['ra'] = np.asarray(ra, dtype=float) * u.deg
    catalog['dec'] = np.asarray(dec, dtype=float) * u.deg
    catalog['flux'] = column('flux_e') / config.gain * u.adu
    catalog['mag'] = column('mag') * u.mag
    catalog['half_light_radius'] = column('hlr_arcsec') / config.pixel_scale * u.pix
    catalog['sersic_n'] = column('sersic_n')
    catalog['ellipticity'] = column('ellipticity')
    catalog['position_angle'] = column('position_angle') * u.deg
    catalog['large'] = column('large', bool)
    catalog['saturated'] = np.array([bool(flat_saturated[idx].any()) for idx in cores],
                                    dtype=bool).reshape(n)
    return catalog


def _check_seed(seed):
    """Return a non-negative integer seed (a fresh random one for `None`)."""
    if seed is None:
        return int(np.random.SeedSequence().entropy % (2 ** 63))
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f'seed must be a non-negative integer or None, got {seed!r}')
    return int(seed)


def simulate_optical_field(config=None, *, seed=None):
    """
    Simulate a MeerLICHT-like optical field with its ground truth.

    Steps: draw the seeing (Moffat PSF) and sky of the field; draw stars with
    power-law number counts and Sersic galaxies (normal and large, low surface
    brightness ones), each into a postage stamp with GalSim (FFT,
    pixel-integrated) that is added to the noiseless source image (objects
    near the edges are partially in); build the sky as a constant plus a
    linear gradient plus smooth Fourier-mode structure; add Poisson noise of
    sky + dark current + sources and Gaussian read noise in electrons;
    convert to ADU with the gain, add the pedestal and clip at the saturation
    level.

    Parameters
    ----------
    config : OpticalFieldConfig, optional
        Parameters of the field; the defaults if not given.
    seed : int, optional
        Seed of the random numbers; the same seed gives bit-identical
        results.  A random seed (recorded in the result) if not given.

    Returns
    -------
    field : SimulatedField
        The images (ADU), the catalog of the objects and the values drawn.

    Raises
    ------
    ImportError
        If GalSim is not installed.
    ValueError
        If ``seed`` is not a non-negative integer.
    TypeError
        If ``config`` is not an `OpticalFieldConfig`.

    Examples
    --------
    >>> import numpy as np
    >>> from bgrem.simulate import OpticalFieldConfig, simulate_optical_field
    >>> field = simulate_optical_field(OpticalFieldConfig(shape=(64, 64)), seed=1)
    >>> field.observed.shape, field.observed.dtype
    ((64, 64), dtype('float32'))
    >>> ok = ~field.saturated_mask
    >>> bool(np.allclose(field.observed[ok], (field.sources + field.background)[ok],
    ...                  rtol=1e-6, atol=1e-3))
    True
    """
    galsim = _require_galsim()
    if config is None:
        config = OpticalFieldConfig()
    if not isinstance(config, OpticalFieldConfig):
        raise TypeError(f'config must be an OpticalFieldConfig, got {type(config).__name__}')
    seed = _check_seed(seed)
    rng_field, rng_stars, rng_gals, rng_sky, rng_noise, rng_wcs = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(6))

    # PSF of this field.
    fwhm = float(rng_field.uniform(*config.seeing_fwhm_range))
    beta = float(rng_field.uniform(*config.moffat_beta_range))
    psf_shape = {'psf_ellipticity': float(rng_field.uniform(*config.psf_ellipticity_range)),
                 'psf_angle': float(rng_field.uniform(0.0, 180.0))}
    psf = _field_psf(galsim, config, fwhm, {'moffat_beta': beta, **psf_shape})

    # Objects.
    objects, n_stars, n_gals, n_large = _make_objects(rng_stars, rng_gals, config)
    sources_e, cores = _draw_objects(galsim, config, objects, psf, _wing_beta(config, beta),
                                     fwhm / config.pixel_scale)

    # Sky and noise, in electrons.
    sky_e, sky_params = _sky_electrons(rng_sky, config)
    sky_e += config.dark_current
    expected_e = sky_e + sources_e
    counts = rng_noise.poisson(expected_e).astype(float)
    if config.read_noise > 0:
        counts += rng_noise.normal(0.0, config.read_noise, config.shape)

    # To ADU.
    gain = config.gain
    unclipped = (counts / gain + config.pedestal).astype(np.float32)
    sources = (sources_e / gain).astype(np.float32)
    background = unclipped - sources
    saturation = np.float32(config.saturation_level)
    saturated = unclipped >= saturation
    observed = np.minimum(unclipped, saturation)
    sky = (sky_e / gain + config.pedestal).astype(np.float32)
    noise_sigma = (np.sqrt(expected_e + config.read_noise ** 2) / gain).astype(np.float32)

    wcs = _random_wcs(rng_wcs, config)
    catalog = _build_catalog(objects, cores, saturated, wcs, config)
    params = {'moffat_beta': beta, **psf_shape, 'n_stars': n_stars, 'n_galaxies': n_gals,
              'n_large_galaxies': n_large, **sky_params}
    catalog.meta.update({'seed': seed, 'seeing_fwhm': fwhm, **params})
    return SimulatedField(observed=observed, sources=sources, background=background, sky=sky,
                          noise_sigma=noise_sigma, catalog=catalog, config=config,
                          seeing_fwhm=fwhm, seed=seed, wcs=wcs, params=params)


def simulate_optical_tiles(n, shape=(256, 256), *, seed=None, config=None):
    """
    Simulate ``n`` independent fields of size ``shape``.

    Each tile is a full simulation (its own seeing, sky, objects and noise)
    of ``config`` with its ``shape`` replaced; convenient for building
    training sets.  The tiles are produced lazily.

    Parameters
    ----------
    n : int
        Number of tiles.
    shape : tuple of int, optional
        ``(ny, nx)`` size of each tile in pixels.
    seed : int, optional
        Seed from which the seeds of the tiles are derived; each tile's own
        seed is in its ``seed`` attribute, so that
        ``simulate_optical_field(tile.config, seed=tile.seed)`` reproduces it.
    config : OpticalFieldConfig, optional
        Parameters of the fields (the defaults if not given).

    Returns
    -------
    tiles : iterator of SimulatedField
        Use ``list(...)`` to get them all at once.

    Raises
    ------
    ImportError
        If GalSim is not installed.
    ValueError
        If ``n``, ``shape`` or ``seed`` are invalid.

    Examples
    --------
    >>> from bgrem.simulate import simulate_optical_tiles
    >>> tiles = list(simulate_optical_tiles(2, (32, 32), seed=3))
    >>> [tile.observed.shape for tile in tiles]
    [(32, 32), (32, 32)]
    """
    _require_galsim()
    n = _as_int('n', n, lower=0)
    if config is None:
        config = OpticalFieldConfig()
    if not isinstance(config, OpticalFieldConfig):
        raise TypeError(f'config must be an OpticalFieldConfig, got {type(config).__name__}')
    config = config.replace(shape=shape)
    seed = _check_seed(seed)
    seeds = np.random.default_rng(seed).integers(0, 2 ** 63 - 1, size=n, dtype=np.int64)

    def generate():
        for tile_seed in seeds:
            yield simulate_optical_field(config, seed=int(tile_seed))

    return generate()
