"""
Simulated Fermi-LAT-like gamma-ray count maps (1-2 GeV) with ground truth.

The simulator builds one synthetic gamma-ray sky per ``sky_seed`` -- an
all-sky map of the Galactic interstellar emission (IEM) plus an isotropic
component on a HEALPix grid, and a list of point sources (AGN and pulsars) --
and cuts many small patches out of it.  Each patch is returned with every
component separately so that it can serve as a training pair for the
background diffusion model:

* ``observed = sources + background``, where
* ``sources`` is the expected (noiseless) count map of the point sources,
  convolved with the point-spread function (PSF), and
* ``background`` is everything else: the expected diffuse counts plus *all*
  the Poisson noise (of the diffuse emission and of the sources) in the
  ``'poisson'`` flavour, or just the expected diffuse counts in the
  ``'expected'`` flavour (infinite statistics, no noise).

All maps are in counts (expected or observed) per patch pixel.  No data are
downloaded: the IEM is synthetic and only meant to look and behave like the
real one (bright, structured Galactic plane; faint, smooth high latitudes).

Model and assumptions
---------------------
*Units and exposure.*  Surface brightnesses of the diffuse components are
given in expected counts per reference pixel of ``(0.2 deg)**2`` =
1.2185e-5 sr (independently of the patch pixel size), for an exposure
roughly that of ~12 years of LAT survey data at 1-2 GeV (~3e11 cm^2 s).  The
exposure is assumed uniform over the sky; ``exposure_scale`` multiplies all
expected counts (diffuse and sources) and so sets the depth of the data.
Energy dispersion and the energy dependence of the PSF inside the 1-2 GeV
band are ignored (one band, one PSF).

*Diffuse emission* (HEALPix, RING ordering, Galactic frame) is the sum of

1. a gas disc (pion decay and bremsstrahlung on the gas):
   ``disc_level * L(l) * sech(b / disc_latitude_scale) * M``, with the
   longitude profile ``L(l) = r + (1 - r) / (1 + (l / disc_longitude_scale)**2)``
   (``l`` in -180..180 deg, ``r = disc_anticentre_ratio``), which peaks toward
   the inner Galaxy;
2. local gas, a slab seen from inside:
   ``local_level * sqrt((1 + s0**2) / (sin(b)**2 + s0**2)) * M`` with
   ``s0 = sin(local_min_latitude)`` (the ``1/|sin b|`` column density of a
   slab, capped near the plane; ``local_level`` is the value at the poles);
3. inverse-Compton emission, broad and smooth (not modulated), up to
   ``|b| ~ 20-30 deg``: ``ic_level / (1 + (l / ic_longitude_scale)**2) *
   sech(b / ic_latitude_scale)``;
4. an isotropic component (extragalactic background and residual cosmic
   rays), ``isotropic_level``.

The gas components are multiplied by a random modulation ``M`` that gives
the IEM its multi-scale, clumpy and filamentary structure:
``M = exp(structure_sigma * G) * (1 + filament_amplitude * exp(-H**2 / (2 *
filament_width**2)) * P)``, normalised to an all-sky mean of exactly 1.
``G``, ``H`` and ``K`` are independent, unit-variance, isotropic random
fields on the sphere, each a sum of octaves: white noise drawn on HEALPix
grids of ``nside = 1, 2, 4, ...`` (one octave per grid, of scale the grid's
pixel size ``58.6 deg / nside``, within ``structure_scale_range`` for ``G``
and ``filament_scale_range`` for ``H``), with an RMS per octave proportional
to ``scale**structure_slope`` (0.3 roughly mimics the ``P(k) ~ k**-2.6``
power spectrum of the interstellar medium), each smoothed by neighbour
averaging and bilinearly interpolated up to the next grid (so structure is
not finer than about one pixel of the finest grid used).  The zero contours
of ``H`` become thin, curved ridges (filaments) of width ~``filament_width``
times the smallest scale of ``H``; their brightness varies over the sky by
the log-normal factor ``P = exp(K - 1/2)``, where ``K`` (RMS 1) has scales
from 1 to 4 times the largest filament scale, so that filaments are
prominent in some regions and faint in others.  The sky is random but fully
determined by ``sky_seed``.

*Point sources* (expected total counts per source, drawn once per sky):
AGN are isotropic with a Poisson number of mean ``agn_density`` per deg^2
and fluxes from ``dN/dS ~ S**-agn_index`` between ``agn_flux_range``;
pulsars are a Poisson number of mean ``pulsar_number`` with Gaussian
latitudes (``pulsar_latitude_sigma``, clipped to +-90 deg), wrapped Gaussian
longitudes around ``l = 0`` (``pulsar_longitude_sigma``, toward the inner
Galaxy) and fluxes from ``dN/dS ~ S**-pulsar_index`` between
``pulsar_flux_range``.  Sources are not variable and have no extension.

*PSF.*  A King function (as used for the LAT), ``K(r) = (1 - 1/gamma) /
(2 pi sigma**2) * (1 + r**2 / (2 gamma sigma**2))**-gamma``, or a Gaussian,
truncated at ``psf_radius`` and renormalised, so that the pixels of a source
sum exactly to its flux (for sources farther than ``psf_radius`` from the
edges).  The defaults (``sigma = 0.2 deg``, ``gamma = 3``) give a 68 (95) per
cent containment radius of 0.43 (0.91) deg, close to the LAT's at 1-2 GeV
averaged over event types.  The PSF is drawn in patch pixel space,
integrated over the pixels (5 x 5 sub-samples) and pre-computed for source
positions on a grid of 1/10 pixel (the drawn centroid differs from the
catalogue position by at most 0.05 pixel); the small variation of the pixel
solid angle across a patch is neglected for the PSF.  The diffuse emission
is convolved with the same PSF (``convolve_diffuse``; reflecting edges,
which conserves its total counts).

*Patches* have a gnomonic (TAN) projection in Galactic coordinates
(``GLON-TAN``/``GLAT-TAN``, Galactic north up, longitude increasing to the
left), centred on the patch centre with ``pixel_size`` pixels there.  The
diffuse map is converted from counts per HEALPix pixel to counts per
steradian, interpolated bilinearly at the pixel centres with
`reproject.reproject_from_healpix` and multiplied by the exact solid angle of
each patch pixel, so that counts are conserved to the accuracy of the
interpolation.  Random centres are, with probability ``plane_fraction``,
uniform in longitude with ``|b| < plane_latitude`` (where the IEM matters),
otherwise uniform on the sphere.

*Speed* (measured on 2 cores, 2026-11-24, with another CPU job running):
building the sky at the default ``nside = 256`` takes 1.0-1.5 s (0.3-0.5 s
at ``nside = 64`` or 128); a 64 x 64 patch with the default sources (~135
per patch) takes about 6.5 ms in either flavour, so 12000 patches take
about 1.3 minutes.  The first patch of a configuration takes ~0.1 s more
(PSF tables).  The sky is cached per ``(config, sky_seed)`` (the last 4), so
re-creating a `GammaSky` is cheap.

`reproject` and `astropy-healpix` are needed to simulate, not to import.
"""

import dataclasses
import functools
import importlib.util
import math

import numpy as np
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.table import QTable
from astropy.wcs import WCS

from .optical import _as_float, _as_int, _as_range, _as_shape, _check_seed

__all__ = ['GammaSkyConfig', 'GammaSky', 'GammaPatch', 'simulate_gamma_patches',
           'HAS_REPROJECT']

# The examples build (small) skies, which needs reproject and astropy-healpix.
__doctest_requires__ = {('GammaSky', 'GammaSky.*', 'GammaPatch', 'simulate_gamma_patches'):
                        ['reproject', 'astropy_healpix']}

#: Whether reproject and astropy-healpix can be imported (needed to simulate).
HAS_REPROJECT = (importlib.util.find_spec('reproject') is not None
                 and importlib.util.find_spec('astropy_healpix') is not None)

_REPROJECT_MESSAGE = ('reproject and astropy-healpix are required to simulate gamma-ray '
                      'skies: pip install reproject astropy-healpix')

#: Solid angle of the reference pixel, (0.2 deg)**2, in sr: the unit of the diffuse levels.
REFERENCE_PIXEL_SR = math.radians(0.2) ** 2
# Pixel size in deg of a HEALPix grid of nside = 1 (divide by nside).
_HEALPIX_PIXEL_DEG = math.degrees(math.sqrt(4.0 * math.pi / 12.0))
_SQDEG_PER_SKY = 4.0 * math.pi * (180.0 / math.pi) ** 2
# Source positions are quantised to 1/_PSF_PHASES of a pixel for drawing.
_PSF_PHASES = 11
# Sub-samples per pixel and axis for integrating the PSF over the pixels.
_PSF_OVERSAMPLE = 5
_PSF_MODELS = ('king', 'gaussian')
_FLAVOURS = ('expected', 'poisson')
_KINDS = np.array(['agn', 'pulsar'])
_MAX_FIELD_DEG = 60.0
# The brightness of the filaments varies over the sky: log-normal with this
# RMS of its logarithm, on scales from the largest filament scale to this
# factor times it.
_PATCHINESS_SIGMA = 1.0
_PATCHINESS_SCALE_FACTOR = 4.0


def _require_reproject():
    """Import and return (astropy_healpix, reproject), or raise a helpful ImportError."""
    try:
        import astropy_healpix
        import reproject
    except ImportError as exc:
        raise ImportError(_REPROJECT_MESSAGE) from exc
    return astropy_healpix, reproject


# ---------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class GammaSkyConfig:
    """
    Parameters of a simulated Fermi-LAT-like gamma-ray sky (1-2 GeV) and its patches.

    The defaults describe roughly 12 years of LAT data at 1-2 GeV.  Diffuse
    levels are surface brightnesses in expected counts per ``(0.2 deg)**2``
    (1.2185e-5 sr), fluxes are expected total counts per source, both before
    ``exposure_scale``; angles are in degrees.  See the module docstring for
    the model.  Instances are immutable, hashable and validated on creation:
    invalid values raise `ValueError`.

    Parameters
    ----------
    nside : int
        HEALPix resolution of the all-sky diffuse map (a power of 2; 256
        gives 0.23 deg pixels and 786432 pixels).
    shape : tuple of int
        ``(ny, nx)`` size of the patches in pixels.
    pixel_size : float
        Patch pixel size in deg (at the patch centre).
    exposure_scale : float
        Multiplies all expected counts (diffuse and sources); 2 means twice
        the exposure.
    disc_level : float
        Gas disc surface brightness at ``l = b = 0`` (before the modulation).
    disc_latitude_scale : float
        Latitude scale of the gas disc: ``sech(b / scale)``.
    disc_longitude_scale : float
        Longitude scale of the gas disc's peak toward the inner Galaxy.
    disc_anticentre_ratio : float
        Gas disc brightness far from the inner Galaxy relative to ``l = 0``
        (0 to 1).
    local_level : float
        Surface brightness of the local gas slab at the Galactic poles
        (before the modulation).
    local_min_latitude : float
        Latitude below which the slab's ``1/|sin b|`` growth is capped.
    ic_level : float
        Inverse-Compton surface brightness at ``l = b = 0`` (smooth).
    ic_latitude_scale : float
        Latitude scale of the inverse-Compton emission: ``sech(b / scale)``.
    ic_longitude_scale : float
        Longitude scale of the inverse-Compton emission.
    isotropic_level : float
        Isotropic surface brightness.
    structure_sigma : float
        RMS of the logarithm of the multi-scale (log-normal) modulation of
        the gas.
    structure_scale_range : tuple of float
        Smallest and largest scale (deg) of the log-normal modulation.
    structure_slope : float
        RMS of each octave of the random fields is proportional to
        ``scale**structure_slope``.
    filament_amplitude : float
        Peak brightening of the gas on the filaments (1 doubles it; 0 gives
        no filaments).
    filament_width : float
        Width of the filaments in units of the RMS of their random field
        (smaller is thinner).
    filament_scale_range : tuple of float
        Smallest and largest scale (deg) of the field whose zero contours
        are the filaments.
    agn_density : float
        Mean number of AGN per deg^2 with fluxes in ``agn_flux_range``.
    agn_flux_range : tuple of float
        Range of the AGN fluxes in expected counts.
    agn_index : float
        Index of the AGN differential counts, ``dN/dS ~ S**-agn_index``.
    pulsar_number : float
        Mean number of pulsars on the whole sky.
    pulsar_flux_range : tuple of float
        Range of the pulsar fluxes in expected counts.
    pulsar_index : float
        Index of the pulsar differential counts.
    pulsar_latitude_sigma : float
        Standard deviation of the pulsar latitudes (deg; at most 30).
    pulsar_longitude_sigma : float
        Standard deviation of the pulsar longitudes around ``l = 0`` (deg;
        wrapped).
    psf_model : str
        ``'king'`` or ``'gaussian'``.
    psf_sigma : float
        ``sigma`` of the PSF in deg.
    psf_gamma : float
        ``gamma`` of the King PSF (> 1; larger is closer to a Gaussian).
    psf_radius : float
        Radius in deg at which the PSF is truncated (and renormalised).
    convolve_diffuse : bool
        Whether to convolve the diffuse emission of the patches with the PSF.
    plane_fraction : float
        Fraction of the random patch centres drawn near the Galactic plane.
    plane_latitude : float
        Those centres are uniform in ``|b| < plane_latitude`` (deg).

    Examples
    --------
    >>> from bgrem.simulate import GammaSkyConfig
    >>> config = GammaSkyConfig(nside=64, shape=(32, 32), exposure_scale=2.0)
    >>> config.shape, config.nside
    ((32, 32), 64)
    >>> GammaSkyConfig(nside=100)
    Traceback (most recent call last):
    ...
    ValueError: nside must be a power of 2, got 100
    """

    nside: int = 256
    shape: tuple = (64, 64)
    pixel_size: float = 0.2
    exposure_scale: float = 1.0
    disc_level: float = 120.0
    disc_latitude_scale: float = 2.0
    disc_longitude_scale: float = 30.0
    disc_anticentre_ratio: float = 0.15
    local_level: float = 1.5
    local_min_latitude: float = 5.0
    ic_level: float = 15.0
    ic_latitude_scale: float = 15.0
    ic_longitude_scale: float = 60.0
    isotropic_level: float = 1.0
    structure_sigma: float = 0.6
    structure_scale_range: tuple = (0.5, 30.0)
    structure_slope: float = 0.3
    filament_amplitude: float = 1.0
    filament_width: float = 0.2
    filament_scale_range: tuple = (0.5, 15.0)
    agn_density: float = 0.3
    agn_flux_range: tuple = (10.0, 1.0e4)
    agn_index: float = 2.5
    pulsar_number: float = 1500.0
    pulsar_flux_range: tuple = (10.0, 3000.0)
    pulsar_index: float = 2.0
    pulsar_latitude_sigma: float = 3.0
    pulsar_longitude_sigma: float = 40.0
    psf_model: str = 'king'
    psf_sigma: float = 0.2
    psf_gamma: float = 3.0
    psf_radius: float = 2.5
    convolve_diffuse: bool = True
    plane_fraction: float = 0.5
    plane_latitude: float = 10.0

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        def positive(name, **bounds):
            put(name, _as_float(name, getattr(self, name), lower=0.0, lower_open=True, **bounds))

        def non_negative(name, **bounds):
            put(name, _as_float(name, getattr(self, name), lower=0.0, **bounds))

        nside = _as_int('nside', self.nside, lower=1)
        if nside & (nside - 1):
            raise ValueError(f'nside must be a power of 2, got {nside}')
        if nside < 8:
            raise ValueError(f'nside must be >= 8, got {nside}')
        put('nside', nside)
        put('shape', _as_shape('shape', self.shape))
        positive('pixel_size')
        if max(self.shape) * self.pixel_size > _MAX_FIELD_DEG:
            raise ValueError(f'patches must be at most {_MAX_FIELD_DEG} deg wide, got '
                             f'{self.shape} pixels of {self.pixel_size} deg')
        positive('exposure_scale')
        for name in ('disc_level', 'local_level', 'ic_level', 'isotropic_level'):
            non_negative(name)
        for name in ('disc_latitude_scale', 'disc_longitude_scale', 'ic_latitude_scale',
                     'ic_longitude_scale'):
            positive(name)
        non_negative('disc_anticentre_ratio', upper=1.0)
        positive('local_min_latitude', upper=90.0)
        non_negative('structure_sigma', upper=3.0)
        put('structure_scale_range', _as_range('structure_scale_range',
                                               self.structure_scale_range,
                                               lower=0.0, lower_open=True, upper=180.0))
        put('structure_slope', _as_float('structure_slope', self.structure_slope,
                                         lower=-3.0, upper=3.0))
        non_negative('filament_amplitude')
        positive('filament_width', upper=10.0)
        put('filament_scale_range', _as_range('filament_scale_range', self.filament_scale_range,
                                              lower=0.0, lower_open=True, upper=180.0))
        non_negative('agn_density')
        non_negative('pulsar_number')
        for kind in ('agn', 'pulsar'):
            put(f'{kind}_flux_range', _as_range(f'{kind}_flux_range',
                                                getattr(self, f'{kind}_flux_range'),
                                                lower=0.0, lower_open=True))
            put(f'{kind}_index', _as_float(f'{kind}_index', getattr(self, f'{kind}_index'),
                                           lower=0.0, upper=10.0))
        positive('pulsar_latitude_sigma', upper=30.0)
        positive('pulsar_longitude_sigma', upper=360.0)
        if self.psf_model not in _PSF_MODELS:
            raise ValueError(f'psf_model must be one of {_PSF_MODELS}, got {self.psf_model!r}')
        positive('psf_sigma', upper=10.0)
        put('psf_gamma', _as_float('psf_gamma', self.psf_gamma, lower=1.0, lower_open=True))
        put('psf_radius', _as_float('psf_radius', self.psf_radius, lower=self.pixel_size,
                                    upper=20.0))
        if not isinstance(self.convolve_diffuse, (bool, np.bool_)):
            raise ValueError(f'convolve_diffuse must be a bool, got {self.convolve_diffuse!r}')
        put('convolve_diffuse', bool(self.convolve_diffuse))
        non_negative('plane_fraction', upper=1.0)
        positive('plane_latitude', upper=90.0)

    @property
    def psf_radius_pixels(self):
        """Half-size in pixels of the PSF stamps, ``ceil(psf_radius / pixel_size)``."""
        return int(math.ceil(self.psf_radius / self.pixel_size - 1e-9))

    def replace(self, **changes):
        """
        Return a copy with some parameters changed (and validated).

        Parameters
        ----------
        **changes
            New values of fields of this class.

        Returns
        -------
        config : GammaSkyConfig
            The new configuration; this one is left unchanged.
        """
        return dataclasses.replace(self, **changes)


# ---------------------------------------------------------------------------
# Result
# ---------------------------------------------------------------------------

@dataclasses.dataclass
class GammaPatch:
    """
    A simulated gamma-ray count map and its ground truth.

    All images are ``float32`` arrays of shape ``config.shape`` in counts
    per pixel.  The parameters are also the attributes.

    Parameters
    ----------
    observed : numpy.ndarray
        The observed counts: ``diffuse + sources`` (``'expected'`` flavour)
        or a Poisson realisation of it (``'poisson'``; integer counts).
    sources : numpy.ndarray
        Expected counts of the point sources (PSF-convolved).
    diffuse : numpy.ndarray
        Expected counts of the diffuse emission (IEM + isotropic,
        PSF-convolved if ``config.convolve_diffuse``).
    background : numpy.ndarray
        ``observed - sources``: the diffuse emission plus all the Poisson
        noise; the diffusion model's target.  Equals ``diffuse`` (up to
        float32 rounding) in the ``'expected'`` flavour.
    catalog : astropy.table.QTable
        One row per point source whose PSF reaches the patch, with columns
        ``id`` (index in `GammaSky.sources`), ``kind`` (``'agn'`` or
        ``'pulsar'``), ``x``, ``y`` (0-based pixel coordinates, ``x`` is the
        column; pix), ``glon``, ``glat`` (deg), ``flux`` (expected total
        counts, ct), ``patch_flux`` (expected counts falling in the patch,
        ct) and ``inside`` (the centre lies in the patch).
    wcs : astropy.wcs.WCS
        Galactic TAN WCS of the patch.
    flavour : str
        ``'expected'`` or ``'poisson'``.
    seed : int
        Seed that reproduces this patch with `GammaSky.patch`.
    sky_seed : int
        Seed of the sky the patch was cut from.
    center : tuple of float
        ``(glon, glat)`` of the patch centre in deg.
    config : GammaSkyConfig
        The configuration used.
    """

    observed: np.ndarray
    sources: np.ndarray
    diffuse: np.ndarray
    background: np.ndarray
    catalog: QTable
    wcs: WCS
    flavour: str
    seed: int
    sky_seed: int
    center: tuple
    config: GammaSkyConfig

    @property
    def shape(self):
        """``(ny, nx)`` shape of the images."""
        return self.observed.shape


# ---------------------------------------------------------------------------
# The all-sky model
# ---------------------------------------------------------------------------

def _octave_nside(scale_deg, nside):
    """The HEALPix grid (nside, power of 2 within 1..nside) whose pixels best match a scale."""
    k = round(math.log2(_HEALPIX_PIXEL_DEG / scale_deg))
    return 2 ** min(max(k, 0), int(math.log2(nside)))


def _smooth_healpix(ahp, values, nside):
    """One pass of neighbour averaging on a RING map (weights 1 centre, 1/2 neighbours)."""
    npix = values.shape[-1]
    with np.errstate(invalid='ignore'):  # astropy-healpix warns about missing neighbours
        neighbours = ahp.neighbours(np.arange(npix), nside, order='ring')
    valid = neighbours >= 0
    gathered = np.where(valid, values[..., neighbours], 0.0)
    return (values + 0.5 * gathered.sum(axis=-2)) / (1.0 + 0.5 * valid.sum(axis=0))


def _random_fields(ahp, rng, nside, scale_ranges, slope):
    """
    Independent, unit-variance multi-scale random fields on a RING map.

    One field per ``(smallest, largest)`` scale range (deg); returns an
    array of shape ``(n_fields, 12 * nside**2)``.
    """
    ranges = [(_octave_nside(high, nside), _octave_nside(low, nside))
              for low, high in scale_ranges]
    start = min(first for first, _ in ranges)
    finest = max(last for _, last in ranges)
    fields = None
    level = start
    while level <= nside:
        npix = 12 * level * level
        if fields is None:
            fields = np.zeros((len(ranges), npix))
        else:
            lon, lat = ahp.healpix_to_lonlat(np.arange(npix), level, order='ring')
            index, weight = ahp.bilinear_interpolation_weights(lon, lat, level // 2,
                                                               order='ring')
            fields = np.einsum('fkn,kn->fn', fields[:, index], weight)
        if level <= finest:
            scale = _HEALPIX_PIXEL_DEG / level
            amplitude = np.array([(scale / (_HEALPIX_PIXEL_DEG / first)) ** slope
                                  if first <= level <= last else 0.0
                                  for first, last in ranges])
            fields += amplitude[:, None] * rng.standard_normal((len(ranges), npix))
            fields = _smooth_healpix(ahp, fields, level)
        level *= 2
    fields -= fields.mean(axis=1, keepdims=True)
    std = fields.std(axis=1, keepdims=True)
    return fields / np.where(std > 0, std, 1.0)


def _power_law(rng, n, flux_range, index):
    """Draw ``n`` values with ``dN/dS ~ S**-index`` in ``flux_range``."""
    s1, s2 = flux_range
    uniform = rng.random(n)
    if s1 == s2:
        return np.full(n, s1)
    if abs(index - 1.0) < 1e-12:
        return s1 * (s2 / s1) ** uniform
    a = 1.0 - index
    return (s1 ** a + uniform * (s2 ** a - s1 ** a)) ** (1.0 / a)


def _wrap180(lon_deg):
    """Longitudes wrapped to -180..180 deg."""
    return (np.asarray(lon_deg) + 180.0) % 360.0 - 180.0


def _diffuse_intensity(config, lon_deg, lat_deg, modulation):
    """Diffuse surface brightness in counts per reference pixel (before exposure_scale)."""
    l_wrapped = _wrap180(lon_deg)
    b_rad = np.radians(lat_deg)
    ratio = config.disc_anticentre_ratio
    disc = (config.disc_level
            * (ratio + (1.0 - ratio) / (1.0 + (l_wrapped / config.disc_longitude_scale) ** 2))
            / np.cosh(lat_deg / config.disc_latitude_scale))
    s0 = math.sin(math.radians(config.local_min_latitude))
    local = config.local_level * np.sqrt((1.0 + s0 ** 2) / (np.sin(b_rad) ** 2 + s0 ** 2))
    ic = (config.ic_level / (1.0 + (l_wrapped / config.ic_longitude_scale) ** 2)
          / np.cosh(lat_deg / config.ic_latitude_scale))
    return (disc + local) * modulation + ic + config.isotropic_level


def _draw_sources(rng_agn, rng_psr, config):
    """Positions (deg), fluxes (counts, exposure included) and kind codes of all sources."""
    n_agn = int(rng_agn.poisson(config.agn_density * _SQDEG_PER_SKY))
    glon_agn = rng_agn.uniform(0.0, 360.0, n_agn)
    glat_agn = np.degrees(np.arcsin(rng_agn.uniform(-1.0, 1.0, n_agn)))
    flux_agn = _power_law(rng_agn, n_agn, config.agn_flux_range, config.agn_index)

    n_psr = int(rng_psr.poisson(config.pulsar_number))
    glon_psr = rng_psr.normal(0.0, config.pulsar_longitude_sigma, n_psr) % 360.0
    glat_psr = np.clip(rng_psr.normal(0.0, config.pulsar_latitude_sigma, n_psr), -90.0, 90.0)
    flux_psr = _power_law(rng_psr, n_psr, config.pulsar_flux_range, config.pulsar_index)

    glon = np.concatenate([glon_agn, glon_psr])
    glat = np.concatenate([glat_agn, glat_psr])
    flux = np.concatenate([flux_agn, flux_psr]) * config.exposure_scale
    kind = np.concatenate([np.zeros(n_agn, np.int8), np.ones(n_psr, np.int8)])
    return glon, glat, flux, kind


def _unit_vectors(glon_deg, glat_deg):
    """Cartesian unit vectors, shape ``(..., 3)``."""
    lon, lat = np.radians(glon_deg), np.radians(glat_deg)
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)],
                    axis=-1)


def _psf_density(config, r_deg):
    """PSF surface density (per deg^2) at radius ``r_deg``, normalised over the plane."""
    sigma2 = config.psf_sigma ** 2
    if config.psf_model == 'gaussian':
        return np.exp(-0.5 * r_deg ** 2 / sigma2) / (2.0 * np.pi * sigma2)
    gamma = config.psf_gamma
    return ((1.0 - 1.0 / gamma) / (2.0 * np.pi * sigma2)
            * (1.0 + r_deg ** 2 / (2.0 * gamma * sigma2)) ** -gamma)


@functools.lru_cache(maxsize=4)
def _psf_stamps(config):
    """
    Pixel-integrated, truncated PSF stamps, each normalised to a sum of 1.

    Shape ``(P, P, 2R + 1, 2R + 1)``: the PSF centred at ``(dy, dx)`` pixels
    from the central pixel, with ``dy, dx = -0.5 + i / (P - 1)``.
    """
    radius = config.psf_radius_pixels
    size = 2 * radius + 1
    n_sub = _PSF_OVERSAMPLE
    # Sub-sample positions relative to the central pixel's centre, in pixels.
    sub = (np.arange(size * n_sub) + 0.5) / n_sub - 0.5 - radius
    phases = np.linspace(-0.5, 0.5, _PSF_PHASES)
    stamps = np.empty((_PSF_PHASES, _PSF_PHASES, size, size))
    scale = config.pixel_size
    for i, dy in enumerate(phases):
        ry2 = ((sub - dy) * scale) ** 2
        for j, dx in enumerate(phases):
            r2 = ry2[:, None] + ((sub - dx) * scale)[None, :] ** 2
            density = np.where(r2 <= config.psf_radius ** 2,
                               _psf_density(config, np.sqrt(r2)), 0.0)
            stamp = density.reshape(size, n_sub, size, n_sub).sum(axis=(1, 3))
            stamps[i, j] = stamp / stamp.sum()
    stamps.setflags(write=False)
    return stamps


@functools.lru_cache(maxsize=4)
def _pixel_solid_angles(shape, pixel_size):
    """Solid angle (sr) of each pixel of a TAN patch centred on its tangent point."""
    ny, nx = shape
    delta = math.radians(pixel_size)
    x = (np.arange(nx) - 0.5 * (nx - 1)) * delta
    y = (np.arange(ny) - 0.5 * (ny - 1)) * delta
    omega = delta ** 2 / (1.0 + y[:, None] ** 2 + x[None, :] ** 2) ** 1.5
    omega.setflags(write=False)
    return omega


@functools.lru_cache(maxsize=4)
def _build_sky(config, sky_seed):
    """The diffuse map (counts per HEALPix pixel) and sources of one sky (cached)."""
    ahp, _ = _require_reproject()
    rng_fields, rng_agn, rng_psr = (np.random.default_rng(s)
                                    for s in np.random.SeedSequence(sky_seed).spawn(3))
    nside = config.nside
    npix = 12 * nside * nside
    largest = config.filament_scale_range[1]
    structure, filaments, patchiness = _random_fields(
        ahp, rng_fields, nside, [config.structure_scale_range, config.filament_scale_range,
                                 (largest, _PATCHINESS_SCALE_FACTOR * largest)],
        config.structure_slope)
    ridges = np.exp(-0.5 * (filaments / config.filament_width) ** 2)
    ridges *= np.exp(_PATCHINESS_SIGMA * patchiness - 0.5 * _PATCHINESS_SIGMA ** 2)
    modulation = np.exp(config.structure_sigma * structure)
    modulation *= 1.0 + config.filament_amplitude * ridges
    modulation /= modulation.mean()
    del structure, filaments, patchiness, ridges

    lon, lat = ahp.healpix_to_lonlat(np.arange(npix), nside, order='ring')
    intensity = _diffuse_intensity(config, lon.to_value(u.deg), lat.to_value(u.deg),
                                   modulation)
    pixel_area = 4.0 * math.pi / npix
    diffuse_map = intensity * (config.exposure_scale * pixel_area / REFERENCE_PIXEL_SR)
    diffuse_map.setflags(write=False)

    glon, glat, flux, kind = _draw_sources(rng_agn, rng_psr, config)
    arrays = {'glon': glon, 'glat': glat, 'flux': flux, 'kind': kind,
              'vectors': _unit_vectors(glon, glat)}
    for value in arrays.values():
        value.setflags(write=False)
    return diffuse_map, arrays


def _parse_center(center):
    """``(glon, glat)`` in deg from a SkyCoord or a pair of numbers (deg) or Quantities."""
    if isinstance(center, SkyCoord):
        if not center.isscalar:
            raise ValueError('center must be a single position')
        galactic = center.transform_to('galactic')
        glon, glat = float(galactic.l.deg), float(galactic.b.deg)
    else:
        try:
            glon, glat = center
            glon, glat = (float(v.to_value(u.deg)) if isinstance(v, u.Quantity) else float(v)
                          for v in (glon, glat))
        except (TypeError, ValueError, u.UnitsError):
            raise ValueError(f'center must be a SkyCoord or a (glon, glat) pair in deg, '
                             f'got {center!r}') from None
    if not (math.isfinite(glon) and math.isfinite(glat)) or abs(glat) > 90.0:
        raise ValueError(f'center must have a finite glon and |glat| <= 90 deg, got {center!r}')
    return glon % 360.0, glat


def _patch_wcs(glon, glat, config):
    """Galactic TAN WCS centred on ``(glon, glat)``, Galactic north up."""
    ny, nx = config.shape
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['GLON-TAN', 'GLAT-TAN']
    wcs.wcs.cunit = ['deg', 'deg']
    wcs.wcs.crpix = [0.5 * (nx + 1), 0.5 * (ny + 1)]
    wcs.wcs.crval = [glon, glat]
    wcs.wcs.cdelt = [-config.pixel_size, config.pixel_size]
    wcs.wcs.set()
    return wcs


def _check_flavour(flavour):
    if flavour not in _FLAVOURS:
        raise ValueError(f'flavour must be one of {_FLAVOURS}, got {flavour!r}')
    return flavour


class GammaSky:
    """
    A synthetic gamma-ray sky: all-sky diffuse map and point sources.

    The sky is built once per ``(config, sky_seed)`` (and cached), so that
    many patches can be cut from it quickly with `GammaSky.patch`.

    Parameters
    ----------
    config : GammaSkyConfig, optional
        Parameters of the sky and patches; the defaults if not given.
    sky_seed : int, optional
        Seed of the sky (diffuse structure and sources); the same seed gives
        the same sky.  A random seed (recorded in ``sky_seed``) if `None`.

    Attributes
    ----------
    config : GammaSkyConfig
        The configuration.
    sky_seed : int
        The seed of the sky.
    diffuse_map : numpy.ndarray
        Read-only HEALPix map (RING ordering, Galactic frame, ``nside =
        config.nside``) of the expected diffuse counts per HEALPix pixel,
        exposure included.
    sources : astropy.table.QTable
        All point sources: ``id``, ``kind`` (``'agn'`` or ``'pulsar'``),
        ``glon``, ``glat`` (deg) and ``flux`` (expected counts, exposure
        included).

    Raises
    ------
    ImportError
        If reproject or astropy-healpix is not installed.
    ValueError
        If ``sky_seed`` is not a non-negative integer or `None`.
    TypeError
        If ``config`` is not a `GammaSkyConfig`.

    Examples
    --------
    >>> from bgrem.simulate import GammaSky, GammaSkyConfig
    >>> sky = GammaSky(GammaSkyConfig(nside=32, shape=(32, 32)), sky_seed=1)
    >>> sky.diffuse_map.shape
    (12288,)
    >>> patch = sky.patch((0.0, 0.0), seed=2, flavour='poisson')
    >>> patch.observed.shape, patch.observed.dtype
    ((32, 32), dtype('float32'))
    """

    def __init__(self, config=None, *, sky_seed=0):
        if config is None:
            config = GammaSkyConfig()
        if not isinstance(config, GammaSkyConfig):
            raise TypeError(f'config must be a GammaSkyConfig, got {type(config).__name__}')
        self.config = config
        self.sky_seed = _check_seed(sky_seed)
        self.diffuse_map, self._sources = _build_sky(config, self.sky_seed)
        self._healpix_area = 4.0 * math.pi / self.diffuse_map.size
        # Counts per steradian: what is interpolated onto the patches.
        self._intensity = self.diffuse_map / self._healpix_area
        self._sources_table = None

    def __repr__(self):
        return (f'<GammaSky nside={self.config.nside} sky_seed={self.sky_seed} '
                f'sources={self._sources["flux"].size}>')

    @property
    def sources(self):
        """All point sources as a QTable (see the class docstring)."""
        if self._sources_table is None:
            src = self._sources
            table = QTable()
            table['id'] = np.arange(src['flux'].size, dtype=np.int64)
            table['kind'] = _KINDS[src['kind']]
            table['glon'] = src['glon'] * u.deg
            table['glat'] = src['glat'] * u.deg
            table['flux'] = src['flux'] * u.ct
            self._sources_table = table
        return self._sources_table

    @property
    def healpix_pixel_area(self):
        """Solid angle of a HEALPix pixel of `GammaSky.diffuse_map` in sr."""
        return self._healpix_area

    def random_center(self, rng):
        """
        Draw a random patch centre.

        With probability ``config.plane_fraction`` uniform in longitude and in
        ``|b| < config.plane_latitude``, otherwise uniform on the sphere.

        Parameters
        ----------
        rng : numpy.random.Generator
            Source of the random numbers.

        Returns
        -------
        center : tuple of float
            ``(glon, glat)`` in deg.
        """
        plane, glon, unit = rng.random(), rng.uniform(0.0, 360.0), rng.uniform(-1.0, 1.0)
        if plane < self.config.plane_fraction:
            glat = unit * self.config.plane_latitude
        else:
            glat = math.degrees(math.asin(unit))
        return float(glon), float(glat)

    def _diffuse_patch(self, wcs):
        """Expected diffuse counts per patch pixel (float64)."""
        _, reproject = _require_reproject()
        config = self.config
        intensity, _ = reproject.reproject_from_healpix(
            (self._intensity, 'galactic'), wcs,
            shape_out=config.shape, nested=False, order='bilinear')
        diffuse = intensity * _pixel_solid_angles(config.shape, config.pixel_size)
        if config.convolve_diffuse:
            from scipy.signal import fftconvolve
            stamps = _psf_stamps(config)
            kernel = stamps[_PSF_PHASES // 2, _PSF_PHASES // 2]
            radius = config.psf_radius_pixels
            padded = np.pad(diffuse, radius, mode='symmetric')
            diffuse = np.maximum(fftconvolve(padded, kernel, mode='valid'), 0.0)
        return diffuse

    def _sources_patch(self, wcs, glon, glat):
        """Expected source counts per patch pixel (float64) and the catalogue."""
        config = self.config
        ny, nx = config.shape
        radius = config.psf_radius_pixels
        src = self._sources
        # Sources whose PSF may reach the patch: an angular pre-selection ...
        reach = (math.hypot(nx, ny) * 0.5 + radius + 2) * config.pixel_size
        cos_reach = math.cos(math.radians(min(reach, 89.0)))
        near = np.flatnonzero(src['vectors'] @ _unit_vectors(glon, glat) > cos_reach)
        x, y = wcs.wcs_world2pix(src['glon'][near], src['glat'][near], 0)
        ix, iy = np.round(x).astype(int), np.round(y).astype(int)
        # ... then the exact one on the pixel grid.
        keep = (ix >= -radius) & (ix <= nx - 1 + radius) & (iy >= -radius) & (iy <= ny - 1 + radius)
        near, x, y, ix, iy = near[keep], x[keep], y[keep], ix[keep], iy[keep]
        flux = src['flux'][near]
        steps = _PSF_PHASES - 1
        px = np.clip(np.round((x - ix + 0.5) * steps).astype(int), 0, steps)
        py = np.clip(np.round((y - iy + 0.5) * steps).astype(int), 0, steps)

        stamps = _psf_stamps(config)
        size = 2 * radius + 1
        canvas = np.zeros((ny + 4 * radius, nx + 4 * radius))
        patch_flux = np.empty(near.size)
        for k in range(near.size):
            stamp = flux[k] * stamps[py[k], px[k]]
            row, col = iy[k] + radius, ix[k] + radius
            canvas[row:row + size, col:col + size] += stamp
            # Part of the stamp inside the patch.
            r0, c0 = max(0, -(iy[k] - radius)), max(0, -(ix[k] - radius))
            r1 = size - max(0, iy[k] + radius - (ny - 1))
            c1 = size - max(0, ix[k] + radius - (nx - 1))
            patch_flux[k] = stamp[r0:r1, c0:c1].sum()
        sources = canvas[2 * radius:2 * radius + ny, 2 * radius:2 * radius + nx]

        catalog = QTable()
        catalog['id'] = near.astype(np.int64)
        catalog['kind'] = _KINDS[src['kind'][near]]
        catalog['x'] = x * u.pix
        catalog['y'] = y * u.pix
        catalog['glon'] = src['glon'][near] * u.deg
        catalog['glat'] = src['glat'][near] * u.deg
        catalog['flux'] = flux * u.ct
        catalog['patch_flux'] = patch_flux * u.ct
        catalog['inside'] = (x >= -0.5) & (x < nx - 0.5) & (y >= -0.5) & (y < ny - 0.5)
        return sources, catalog

    def patch(self, center=None, *, seed=None, flavour='expected'):
        """
        Cut a patch out of the sky.

        Parameters
        ----------
        center : tuple of float or astropy.coordinates.SkyCoord, optional
            Centre of the patch, ``(glon, glat)`` in deg (numbers or angle
            Quantities) or a SkyCoord in any frame; drawn at random (see
            `GammaSky.random_center`) from ``seed`` if not given.
        seed : int, optional
            Seed of the random centre and of the Poisson noise; the same seed
            gives bit-identical results.  A random seed (recorded in the
            result) if not given.
        flavour : {'expected', 'poisson'}, optional
            ``'expected'``: observed = diffuse + sources (no noise);
            ``'poisson'``: observed = Poisson realisation of it.

        Returns
        -------
        patch : GammaPatch
            The images (counts per pixel), catalogue and WCS.

        Raises
        ------
        ValueError
            If ``center``, ``seed`` or ``flavour`` is invalid.

        Examples
        --------
        >>> import numpy as np
        >>> from bgrem.simulate import GammaSky, GammaSkyConfig
        >>> sky = GammaSky(GammaSkyConfig(nside=32, shape=(32, 32)), sky_seed=0)
        >>> patch = sky.patch(seed=5, flavour='poisson')
        >>> bool(np.all(patch.observed == np.round(patch.observed)))
        True
        >>> bool(np.allclose(patch.observed, patch.sources + patch.background, atol=1e-3))
        True
        """
        flavour = _check_flavour(flavour)
        seed = _check_seed(seed)
        rng_center, rng_noise = (np.random.default_rng(s)
                                 for s in np.random.SeedSequence(seed).spawn(2))
        if center is None:
            glon, glat = self.random_center(rng_center)
        else:
            glon, glat = _parse_center(center)
        wcs = _patch_wcs(glon, glat, self.config)
        diffuse = self._diffuse_patch(wcs)
        sources, catalog = self._sources_patch(wcs, glon, glat)
        expected = diffuse + sources
        if flavour == 'poisson':
            observed = rng_noise.poisson(expected).astype(np.float64)
        else:
            observed = expected
        background = observed - sources
        catalog.meta.update({'seed': seed, 'sky_seed': self.sky_seed, 'flavour': flavour,
                             'glon': glon, 'glat': glat})
        return GammaPatch(observed=observed.astype(np.float32),
                          sources=sources.astype(np.float32),
                          diffuse=diffuse.astype(np.float32),
                          background=background.astype(np.float32),
                          catalog=catalog, wcs=wcs, flavour=flavour, seed=seed,
                          sky_seed=self.sky_seed, center=(glon, glat), config=self.config)


def simulate_gamma_patches(n, *, config=None, sky_seed=0, seed=None, flavour='expected',
                           center=None):
    """
    Simulate ``n`` patches of one synthetic gamma-ray sky.

    The sky (``config``, ``sky_seed``) is built once; the patches are cut
    from it at random centres (or all at ``center``) with their own seeds,
    derived from ``seed``.  Each patch's seed is in its ``seed`` attribute,
    so that ``GammaSky(p.config, sky_seed=p.sky_seed).patch(p.center,
    seed=p.seed, flavour=p.flavour)`` reproduces it.  The patches are
    produced lazily.

    Parameters
    ----------
    n : int
        Number of patches.
    config : GammaSkyConfig, optional
        Parameters of the sky and patches (the defaults if not given).
    sky_seed : int, optional
        Seed of the sky.
    seed : int, optional
        Seed from which the seeds of the patches are derived (random if not
        given).
    flavour : {'expected', 'poisson'}, optional
        Noiseless expected counts or Poisson counts (see `GammaSky.patch`).
    center : tuple of float or astropy.coordinates.SkyCoord, optional
        A fixed centre for all patches (random centres if not given).

    Returns
    -------
    patches : iterator of GammaPatch
        Use ``list(...)`` to get them all at once.

    Raises
    ------
    ImportError
        If reproject or astropy-healpix is not installed.
    ValueError
        If ``n``, a seed, ``flavour`` or ``center`` is invalid.

    Examples
    --------
    >>> from bgrem.simulate import GammaSkyConfig, simulate_gamma_patches
    >>> config = GammaSkyConfig(nside=32, shape=(16, 16))
    >>> patches = list(simulate_gamma_patches(3, config=config, seed=4))
    >>> [p.observed.shape for p in patches]
    [(16, 16), (16, 16), (16, 16)]
    """
    n = _as_int('n', n, lower=0)
    flavour = _check_flavour(flavour)
    if center is not None:
        center = _parse_center(center)
    sky = GammaSky(config, sky_seed=sky_seed)
    seed = _check_seed(seed)
    seeds = np.random.default_rng(seed).integers(0, 2 ** 63 - 1, size=n, dtype=np.int64)

    def generate():
        for patch_seed in seeds:
            yield sky.patch(center, seed=int(patch_seed), flavour=flavour)

    return generate()
