"""Tests of the Fermi-LAT-like gamma-ray sky simulator."""

import math

import numpy as np
import pytest
from astropy import units as u
from astropy.coordinates import SkyCoord
from astropy.wcs.utils import proj_plane_pixel_scales

pytest.importorskip('reproject')
ahp = pytest.importorskip('astropy_healpix')

from bgrem.simulate import (GammaPatch, GammaSky, GammaSkyConfig,  # noqa: E402
                            simulate_gamma_patches)
from bgrem.simulate import gamma  # noqa: E402

# Non-square on purpose: catches x/y (column/row) mix-ups.
SHAPE = (48, 64)
SMALL = GammaSkyConfig(nside=64, shape=SHAPE)
# No random structure: the diffuse emission follows the smooth profiles.
SMOOTH = SMALL.replace(structure_sigma=0.0, filament_amplitude=0.0)


@pytest.fixture(scope='module')
def sky():
    return GammaSky(SMALL, sky_seed=3)


@pytest.fixture(scope='module')
def smooth_sky():
    return GammaSky(SMOOTH, sky_seed=3)


def _tan_solid_angle(ny, nx, pixel_size):
    """Solid angle (sr) of a TAN image centred on its tangent point."""
    delta = math.radians(pixel_size)
    a, b = 0.5 * nx * delta, 0.5 * ny * delta  # half-sides in the tangent plane
    return 4 * math.atan(a * b / math.sqrt(1 + a * a + b * b))


def _galactic_vectors(glon, glat):
    lon, lat = np.radians(glon), np.radians(glat)
    return np.stack([np.cos(lat) * np.cos(lon), np.cos(lat) * np.sin(lon), np.sin(lat)], -1)


# ---------------------------------------------------------------------------
# Basic behaviour
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('flavour', ['expected', 'poisson'])
def test_types_and_shapes(sky, flavour):
    patch = sky.patch((10.0, 1.0), seed=1, flavour=flavour)
    assert isinstance(patch, GammaPatch)
    for name in ('observed', 'sources', 'diffuse', 'background'):
        image = getattr(patch, name)
        assert image.shape == SHAPE, name
        assert image.dtype == np.float32, name
        assert np.all(np.isfinite(image)), name
    assert patch.shape == SHAPE
    assert np.all(patch.diffuse > 0)
    assert np.all(patch.sources >= 0)
    assert patch.sources.max() > 0
    assert patch.flavour == flavour
    assert patch.seed == 1 and patch.sky_seed == 3
    assert patch.center == (10.0, 1.0)
    assert patch.config is SMALL
    assert patch.catalog.colnames == ['id', 'kind', 'x', 'y', 'glon', 'glat', 'flux',
                                      'patch_flux', 'inside']
    assert set(patch.catalog['kind']) <= {'agn', 'pulsar'}
    assert patch.catalog['inside'].sum() > 0
    # Observed = sources + background, to float32 rounding.
    atol = 4 * float(np.spacing(np.float32(patch.observed.max())))
    np.testing.assert_allclose(patch.observed, patch.sources + patch.background, rtol=0,
                               atol=atol)


def test_expected_flavour_has_no_noise(sky):
    patch = sky.patch((300.0, -2.0), seed=4, flavour='expected')
    np.testing.assert_allclose(patch.observed, patch.diffuse + patch.sources, rtol=1e-6)
    np.testing.assert_allclose(patch.background, patch.diffuse, rtol=1e-5)


def test_poisson_and_expected_share_the_model(sky):
    expected = sky.patch((45.0, 3.0), seed=8, flavour='expected')
    noisy = sky.patch((45.0, 3.0), seed=8, flavour='poisson')
    np.testing.assert_array_equal(noisy.diffuse, expected.diffuse)
    np.testing.assert_array_equal(noisy.sources, expected.sources)
    assert np.all(noisy.observed == np.round(noisy.observed))
    assert np.all(noisy.observed >= 0)
    assert not np.array_equal(noisy.observed, expected.observed)


def test_sky_attributes(sky):
    assert sky.diffuse_map.shape == (12 * 64 ** 2,)
    assert np.all(sky.diffuse_map > 0)
    assert not sky.diffuse_map.flags.writeable
    assert sky.healpix_pixel_area == pytest.approx(4 * np.pi / sky.diffuse_map.size)
    sources = sky.sources
    assert sources.colnames == ['id', 'kind', 'glon', 'glat', 'flux']
    assert np.all(sources['id'] == np.arange(len(sources)))
    assert sources['flux'].unit == u.ct
    assert 'nside=64' in repr(sky)


# ---------------------------------------------------------------------------
# Determinism
# ---------------------------------------------------------------------------

def test_determinism():
    gamma._build_sky.cache_clear()
    first = GammaSky(SMALL, sky_seed=11)
    gamma._build_sky.cache_clear()
    second = GammaSky(SMALL, sky_seed=11)
    assert first.diffuse_map is not second.diffuse_map  # really rebuilt
    np.testing.assert_array_equal(first.diffuse_map, second.diffuse_map)
    for column in ('glon', 'glat', 'flux', 'kind'):
        np.testing.assert_array_equal(first.sources[column], second.sources[column])

    for flavour in ('expected', 'poisson'):
        a = first.patch(seed=21, flavour=flavour)
        b = second.patch(seed=21, flavour=flavour)
        assert a.center == b.center
        for name in ('observed', 'sources', 'diffuse', 'background'):
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
        np.testing.assert_array_equal(a.catalog['id'], b.catalog['id'])

    # Another patch seed: another centre and other noise.
    c = first.patch(seed=22, flavour='poisson')
    assert c.center != a.center
    d = first.patch(a.center, seed=22, flavour='poisson')
    np.testing.assert_array_equal(d.diffuse, a.diffuse)
    assert not np.array_equal(d.observed, a.observed)

    # Another sky seed: another diffuse structure and other sources.
    other = GammaSky(SMALL, sky_seed=12)
    assert not np.allclose(other.diffuse_map, first.diffuse_map, rtol=1e-3)
    assert len(other.sources) != len(first.sources) or not np.array_equal(
        other.sources['glon'], first.sources['glon'])


def test_sources_do_not_depend_on_the_resolution():
    coarse = GammaSky(SMALL.replace(nside=32), sky_seed=5)
    fine = GammaSky(SMALL, sky_seed=5)
    np.testing.assert_array_equal(coarse.sources['glon'], fine.sources['glon'])
    np.testing.assert_array_equal(coarse.sources['flux'], fine.sources['flux'])


def test_simulate_gamma_patches():
    patches = simulate_gamma_patches(4, config=SMALL, sky_seed=3, seed=9, flavour='poisson')
    assert not isinstance(patches, list)  # lazy
    patches = list(patches)
    assert len(patches) == 4
    assert len({p.seed for p in patches}) == 4
    assert len({p.center for p in patches}) == 4
    again = list(simulate_gamma_patches(4, config=SMALL, sky_seed=3, seed=9,
                                        flavour='poisson'))
    for p, q in zip(patches, again):
        np.testing.assert_array_equal(p.observed, q.observed)
    # Each patch is reproduced from its attributes.
    p = patches[2]
    q = GammaSky(p.config, sky_seed=p.sky_seed).patch(p.center, seed=p.seed, flavour=p.flavour)
    np.testing.assert_array_equal(p.observed, q.observed)
    r = GammaSky(p.config, sky_seed=p.sky_seed).patch(seed=p.seed, flavour=p.flavour)
    np.testing.assert_array_equal(p.observed, r.observed)

    fixed = list(simulate_gamma_patches(2, config=SMALL, seed=1, center=(20.0, -3.0)))
    assert [p.center for p in fixed] == [(20.0, -3.0)] * 2
    np.testing.assert_array_equal(fixed[0].observed, fixed[1].observed)  # expected flavour
    assert list(simulate_gamma_patches(0, config=SMALL)) == []


def test_exposure_scale_multiplies_everything(sky):
    deeper = GammaSky(SMALL.replace(exposure_scale=2.5), sky_seed=3)
    a = sky.patch((5.0, 2.0), seed=3)
    b = deeper.patch((5.0, 2.0), seed=3)
    np.testing.assert_allclose(b.diffuse, 2.5 * a.diffuse, rtol=1e-5)
    np.testing.assert_allclose(b.sources, 2.5 * a.sources, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(deeper.sources['flux'], 2.5 * sky.sources['flux'])


# ---------------------------------------------------------------------------
# Flux conservation
# ---------------------------------------------------------------------------

def _isolated_source(sky, min_separation=15.0):
    """Index of a source with no other source within ``min_separation`` deg."""
    vectors = _galactic_vectors(sky.sources['glon'].value, sky.sources['glat'].value)
    cos_sep = vectors @ vectors.T
    np.fill_diagonal(cos_sep, -1.0)
    isolated = np.flatnonzero(cos_sep.max(axis=1) < math.cos(math.radians(min_separation)))
    assert isolated.size > 0
    return int(isolated[0])


@pytest.mark.parametrize('psf_model', ['king', 'gaussian'])
def test_point_source_flux_and_position(psf_model):
    config = SMALL.replace(agn_density=0.002, pulsar_number=0.0, psf_model=psf_model,
                           psf_sigma=0.2, psf_gamma=3.0, psf_radius=2.5)
    sky = GammaSky(config, sky_seed=7)
    index = _isolated_source(sky)
    source = sky.sources[index]
    # Centre the patch a fraction of a pixel away from the source.
    center = (float(source['glon'].value) + 1.37 * 0.2,
              float(source['glat'].value) - 2.61 * 0.2)
    patch = sky.patch(center, seed=0)
    catalog = patch.catalog
    assert list(catalog['id']) == [index]
    row = catalog[0]
    assert row['kind'] == 'agn' and row['inside']
    flux = row['flux'].to_value(u.ct)
    assert flux == pytest.approx(source['flux'].value)
    # The source is well inside: all its (truncated, renormalised) PSF is in the patch.
    assert float(patch.sources.sum(dtype=np.float64)) == pytest.approx(flux, rel=1e-3)
    assert row['patch_flux'].to_value(u.ct) == pytest.approx(flux, rel=1e-6)

    # Its light is centred on its catalogue position (0.05 pixel quantisation).
    image = patch.sources.astype(np.float64)
    yy, xx = np.indices(image.shape)
    x0 = float((image * xx).sum() / image.sum())
    y0 = float((image * yy).sum() / image.sum())
    assert x0 == pytest.approx(row['x'].value, abs=0.06)
    assert y0 == pytest.approx(row['y'].value, abs=0.06)
    # 68 per cent containment radius: 1.51 sigma (Gaussian), 2.15 sigma (King, gamma=3).
    r = np.hypot(xx - x0, yy - y0).ravel() * config.pixel_size
    order = np.argsort(r)
    enclosed = np.cumsum(image.ravel()[order]) / image.sum()
    r68 = r[order][np.searchsorted(enclosed, 0.68)]
    expected_r68 = 0.2 * (1.51 if psf_model == 'gaussian'
                          else math.sqrt(2 * 3.0 * (0.32 ** (1 / (1 - 3.0)) - 1)))
    assert r68 == pytest.approx(expected_r68, rel=0.15)


def test_source_image_matches_catalogue(sky):
    patch = sky.patch((0.0, 0.0), seed=2)
    catalog = patch.catalog
    assert len(catalog) > 20
    # Every pixel of the source image belongs to a catalogued source.
    assert float(catalog['patch_flux'].sum().value) == pytest.approx(
        float(patch.sources.sum(dtype=np.float64)), rel=1e-5)
    # Sources far from the edges have all their flux in the patch.
    radius = SMALL.psf_radius_pixels
    ny, nx = SHAPE
    x, y = catalog['x'].value, catalog['y'].value
    interior = (x > radius + 1) & (x < nx - radius - 2) & (y > radius + 1) & (y < ny - radius - 2)
    assert interior.any()
    np.testing.assert_allclose(catalog['patch_flux'][interior].value,
                               catalog['flux'][interior].value, rtol=1e-6)
    partial = ~catalog['inside']
    assert np.all(catalog['patch_flux'][partial] < catalog['flux'][partial])


def test_constant_sky_gives_exact_patch_counts():
    # Only the isotropic component: the patch holds exactly its solid angle.
    config = GammaSkyConfig(nside=32, shape=(40, 72), pixel_size=0.25, disc_level=0.0,
                            local_level=0.0, ic_level=0.0, isotropic_level=3.0,
                            agn_density=0.0, pulsar_number=0.0, exposure_scale=1.5)
    patch = GammaSky(config).patch((123.0, 45.0), seed=0)
    expected = 3.0 * 1.5 * _tan_solid_angle(40, 72, 0.25) / gamma.REFERENCE_PIXEL_SR
    assert float(patch.diffuse.sum(dtype=np.float64)) == pytest.approx(expected, rel=1e-4)
    assert np.all(patch.sources == 0) and len(patch.catalog) == 0
    # Pixels far from the centre are smaller (TAN): fewer counts.
    assert patch.diffuse[0, 0] < patch.diffuse[20, 36]


@pytest.mark.parametrize('center', [(0.0, 0.0), (30.0, 2.0), (300.0, -1.0), (120.0, 40.0),
                                    (200.0, -60.0), (10.0, 89.9)])
@pytest.mark.parametrize('convolve', [False, True])
def test_diffuse_flux_conservation(center, convolve):
    config = GammaSkyConfig(nside=128, convolve_diffuse=convolve)
    sky = GammaSky(config, sky_seed=2)
    patch = sky.patch(center, seed=1)
    # Integral of the HEALPix map over the footprint: the pixels whose centre is in it.
    nside = config.nside
    lon, lat = ahp.healpix_to_lonlat(np.arange(sky.diffuse_map.size), nside, order='ring')
    lon, lat = lon.to_value(u.deg), lat.to_value(u.deg)
    front = _galactic_vectors(lon, lat) @ _galactic_vectors(*center) > 0.5
    x, y = patch.wcs.wcs_world2pix(lon[front], lat[front], 0)
    ny, nx = patch.shape
    inside = (x >= -0.5) & (x < nx - 0.5) & (y >= -0.5) & (y < ny - 0.5)
    assert inside.sum() > 500
    reference = sky.diffuse_map[front][inside].sum()
    assert float(patch.diffuse.sum(dtype=np.float64)) == pytest.approx(reference, rel=0.04)


# ---------------------------------------------------------------------------
# Noise
# ---------------------------------------------------------------------------

def test_poisson_statistics(sky):
    residuals = []
    for seed in range(12):
        patch = sky.patch(seed=100 + seed, flavour='poisson')
        expected = patch.diffuse.astype(np.float64) + patch.sources
        # observed - sources = diffuse + noise of mean 0 and variance diffuse + sources.
        noise = patch.background - patch.diffuse.astype(np.float64)
        residuals.append((noise / np.sqrt(expected)).ravel())
    z = np.concatenate(residuals)
    assert z.size == 12 * SHAPE[0] * SHAPE[1]
    assert abs(z.mean()) < 0.02
    assert z.var() == pytest.approx(1.0, abs=0.04)


def test_poisson_counts_are_poisson_at_low_rates():
    # A faint, flat sky: the fraction of empty pixels is exp(-mean).
    config = GammaSkyConfig(nside=16, shape=(64, 64), disc_level=0.0, local_level=0.0,
                            ic_level=0.0, isotropic_level=0.7, agn_density=0.0,
                            pulsar_number=0.0, convolve_diffuse=False)
    patch = GammaSky(config).patch((0.0, 50.0), seed=5, flavour='poisson')
    mean = float(patch.diffuse.mean())
    assert mean == pytest.approx(0.7 * _tan_solid_angle(64, 64, 0.2) / 64 ** 2
                                 / gamma.REFERENCE_PIXEL_SR, rel=1e-4)
    empty = float(np.mean(patch.observed == 0))
    assert empty == pytest.approx(math.exp(-mean), abs=0.03)


# ---------------------------------------------------------------------------
# Physics of the sky
# ---------------------------------------------------------------------------

def test_plane_is_much_brighter_than_high_latitudes(sky):
    plane = sky.patch((0.0, 0.0), seed=0).diffuse.mean()
    for center in [(0.0, 60.0), (0.0, -60.0), (180.0, 60.0), (90.0, -75.0)]:
        high = sky.patch(center, seed=0).diffuse.mean()
        assert plane > 10 * high, center


def test_inner_galaxy_is_brighter_than_anticentre(smooth_sky):
    inner = smooth_sky.patch((0.0, 0.0), seed=0).diffuse.mean()
    anticentre = smooth_sky.patch((180.0, 0.0), seed=0).diffuse.mean()
    assert inner > 3 * anticentre
    # The smooth profile is symmetric in latitude and longitude.
    north = smooth_sky.patch((30.0, 20.0), seed=0).diffuse.mean()
    south = smooth_sky.patch((330.0, -20.0), seed=0).diffuse.mean()
    assert north == pytest.approx(south, rel=0.02)


def test_diffuse_structure_is_random(sky, smooth_sky):
    structured = sky.patch((60.0, 1.0), seed=0).diffuse
    smooth = smooth_sky.patch((60.0, 1.0), seed=0).diffuse
    # Rows at the same latitude: flat in the smooth sky, structured otherwise.
    row_scatter = lambda image: float(np.mean(image.std(axis=1) / image.mean(axis=1)))  # noqa
    assert row_scatter(smooth) < 0.05
    assert row_scatter(structured) > 2 * row_scatter(smooth)


def test_gas_modulation_is_multiscale_lognormal(sky, smooth_sky):
    # The structured sky = gas * modulation + (inverse Compton + isotropic).
    no_gas = GammaSky(SMALL.replace(disc_level=0.0, local_level=0.0), sky_seed=3).diffuse_map
    modulation = (sky.diffuse_map - no_gas) / (smooth_sky.diffuse_map - no_gas)
    assert modulation.mean() == pytest.approx(1.0, rel=1e-9)
    log_modulation = np.log(modulation)
    assert 0.4 < log_modulation.std() < 1.0
    # Power at every scale: averaging over nested blocks of 4 pixels (twice
    # the scale) removes a good part of the variance at each step from 0.9
    # to 15 deg.
    nested = log_modulation[ahp.HEALPix(64, order='ring').nested_to_ring(
        np.arange(modulation.size))]
    variances = np.array([nested.reshape(-1, 4 ** k).mean(axis=1).var() for k in range(6)])
    assert np.all(-np.diff(variances) > 0.015)
    # Another sky seed: another, independent modulation.
    other = GammaSky(SMALL, sky_seed=4).diffuse_map
    other_modulation = (other - no_gas) / (smooth_sky.diffuse_map - no_gas)
    correlation = np.corrcoef(log_modulation, np.log(other_modulation))[0, 1]
    assert abs(correlation) < 0.2


def test_image_orientation(smooth_sky):
    # Galactic north up (rows = latitude) and longitude increasing to the left.
    patch = smooth_sky.patch((30.0, 0.0), seed=0)
    diffuse = patch.diffuse
    ny, nx = diffuse.shape
    rows = diffuse.mean(axis=1)
    assert np.argmax(rows) in (ny // 2 - 1, ny // 2)
    # Left (larger l, farther from the Galactic centre) is fainter.
    assert diffuse[:, :5].mean() < diffuse[:, -5:].mean()


def test_source_populations(sky):
    sources = sky.sources
    glat = sources['glat'].to_value(u.deg)
    glon = (sources['glon'].to_value(u.deg) + 180.0) % 360.0 - 180.0
    agn = sources['kind'] == 'agn'
    pulsar = sources['kind'] == 'pulsar'
    n_agn_expected = SMALL.agn_density * 4 * np.pi * (180 / np.pi) ** 2
    assert abs(agn.sum() - n_agn_expected) < 5 * math.sqrt(n_agn_expected)
    assert abs(pulsar.sum() - SMALL.pulsar_number) < 5 * math.sqrt(SMALL.pulsar_number)
    # AGN isotropic: 10 per cent of the sphere has |sin b| < 0.1, a third |l| < 60.
    low = np.abs(np.sin(np.radians(glat))) < 0.1
    assert low[agn].mean() == pytest.approx(0.1, abs=0.01)
    assert (np.abs(glon[agn]) < 60).mean() == pytest.approx(1 / 3, abs=0.015)
    assert np.mean(glat[agn] > 0) == pytest.approx(0.5, abs=0.015)
    # Pulsars in the plane (sigma_b = 3 deg) and toward the inner Galaxy.
    assert low[pulsar].mean() > 0.9
    assert (np.abs(glon[pulsar]) < 60).mean() > 0.8
    # Fluxes: power laws within the ranges; maximum-likelihood index of the AGN.
    flux_agn = sources['flux'][agn].to_value(u.ct)
    s_min, s_max = SMALL.agn_flux_range
    assert flux_agn.min() >= s_min and flux_agn.max() <= s_max
    index = 1 + flux_agn.size / np.log(flux_agn / s_min).sum()
    assert index == pytest.approx(SMALL.agn_index, abs=0.06)
    flux_psr = sources['flux'][pulsar].to_value(u.ct)
    assert flux_psr.min() >= SMALL.pulsar_flux_range[0]
    assert flux_psr.max() <= SMALL.pulsar_flux_range[1]


def test_random_centres(sky):
    rng = np.random.default_rng(0)
    plane_sky = GammaSky(SMALL.replace(plane_fraction=1.0, plane_latitude=5.0), sky_seed=3)
    centres = np.array([plane_sky.random_center(rng) for _ in range(2000)])
    assert np.all(np.abs(centres[:, 1]) <= 5.0)
    assert centres[:, 0].min() >= 0 and centres[:, 0].max() < 360
    assert np.mean(centres[:, 0] < 180) == pytest.approx(0.5, abs=0.05)
    iso_sky = GammaSky(SMALL.replace(plane_fraction=0.0), sky_seed=3)
    centres = np.array([iso_sky.random_center(rng) for _ in range(4000)])
    low = np.abs(np.sin(np.radians(centres[:, 1]))) < 0.1
    assert low.mean() == pytest.approx(0.1, abs=0.02)
    # Default: half of the patches near the plane.
    centres = np.array([sky.random_center(rng) for _ in range(4000)])
    near = np.abs(centres[:, 1]) < SMALL.plane_latitude
    expected = 0.5 + 0.5 * math.sin(math.radians(SMALL.plane_latitude))
    assert near.mean() == pytest.approx(expected, abs=0.03)


# ---------------------------------------------------------------------------
# WCS
# ---------------------------------------------------------------------------

def test_wcs_round_trip(sky):
    patch = sky.patch((350.0, -4.0), seed=6)
    catalog = patch.catalog
    assert len(catalog) > 5
    world = patch.wcs.pixel_to_world(catalog['x'].value, catalog['y'].value)
    truth = SkyCoord(catalog['glon'], catalog['glat'], frame='galactic')
    assert world.separation(truth).max() < 1e-3 * u.arcsec
    # The centre and the pixel size.
    ny, nx = SHAPE
    centre = patch.wcs.pixel_to_world((nx - 1) / 2, (ny - 1) / 2).galactic
    assert centre.separation(SkyCoord(350.0, -4.0, unit='deg', frame='galactic')) < 1e-6 * u.deg
    np.testing.assert_allclose(proj_plane_pixel_scales(patch.wcs), [0.2, 0.2])
    assert patch.wcs.wcs.ctype[0] == 'GLON-TAN' and patch.wcs.wcs.ctype[1] == 'GLAT-TAN'
    # The brightest source inside is drawn where the catalogue says.
    inside = catalog[catalog['inside']]
    brightest = inside[np.argmax(inside['flux'])]
    ix, iy = int(round(brightest['x'].value)), int(round(brightest['y'].value))
    assert patch.sources[iy, ix] == patch.sources[max(iy - 1, 0):iy + 2,
                                                  max(ix - 1, 0):ix + 2].max()


def test_centre_as_skycoord(sky):
    coord = SkyCoord(ra=266.4 * u.deg, dec=-28.9 * u.deg, frame='icrs')
    patch = sky.patch(coord, seed=0)
    galactic = coord.galactic
    assert patch.center[0] == pytest.approx(galactic.l.deg)
    assert patch.center[1] == pytest.approx(galactic.b.deg)
    quantity = sky.patch((galactic.l, galactic.b), seed=0)
    np.testing.assert_array_equal(quantity.diffuse, patch.diffuse)


# ---------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------

@pytest.mark.parametrize('changes', [
    {'nside': 100}, {'nside': 4}, {'nside': 64.0}, {'shape': (4, 64)}, {'shape': (64,)},
    {'shape': (512, 512)}, {'pixel_size': 0.0}, {'exposure_scale': -1.0},
    {'disc_level': -1.0}, {'disc_anticentre_ratio': 1.5}, {'disc_latitude_scale': 0.0},
    {'isotropic_level': float('nan')}, {'structure_sigma': -0.1},
    {'structure_scale_range': (0.0, 10.0)}, {'structure_scale_range': (10.0, 1.0)},
    {'filament_width': 0.0}, {'agn_density': -1.0}, {'agn_flux_range': (10.0, 1.0)},
    {'agn_flux_range': (0.0, 10.0)}, {'pulsar_number': -5.0},
    {'pulsar_latitude_sigma': 0.0}, {'pulsar_latitude_sigma': 45.0},
    {'psf_model': 'airy'}, {'psf_sigma': 0.0}, {'psf_gamma': 1.0}, {'psf_radius': 0.01},
    {'convolve_diffuse': 'yes'}, {'plane_fraction': 2.0}, {'plane_latitude': 0.0},
    {'exposure_scale': True},
])
def test_config_validation(changes):
    with pytest.raises(ValueError):
        GammaSkyConfig(**changes)
    with pytest.raises(ValueError):
        SMALL.replace(**changes)


def test_config_is_normalised_and_hashable():
    config = GammaSkyConfig(nside=np.int64(64), shape=[32, 48], agn_flux_range=[5, 50])
    assert config.nside == 64 and type(config.nside) is int
    assert config.shape == (32, 48)
    assert config.agn_flux_range == (5.0, 50.0)
    assert hash(config) == hash(GammaSkyConfig(nside=64, shape=(32, 48),
                                               agn_flux_range=(5.0, 50.0)))
    assert config.psf_radius_pixels == math.ceil(config.psf_radius / config.pixel_size)


def test_bad_arguments(sky):
    with pytest.raises(TypeError):
        GammaSky(object())
    with pytest.raises(ValueError):
        GammaSky(SMALL, sky_seed=-1)
    for seed in (-1, 1.5, True):
        with pytest.raises(ValueError):
            sky.patch(seed=seed)
    with pytest.raises(ValueError):
        sky.patch(seed=0, flavour='gaussian')
    for center in [(0.0, 95.0), 'abc', (1.0, 2.0, 3.0), (float('nan'), 0.0),
                   (1 * u.s, 0 * u.deg)]:
        with pytest.raises(ValueError):
            sky.patch(center, seed=0)
    with pytest.raises(ValueError):
        simulate_gamma_patches(-1, config=SMALL)
    with pytest.raises(ValueError):
        simulate_gamma_patches(2, config=SMALL, flavour='noisy')
