"""Tests of the MeerLICHT-like optical field simulator."""

import dataclasses
import sys

import numpy as np
import pytest
from astropy import units as u
from astropy.wcs.utils import proj_plane_pixel_scales

pytest.importorskip('galsim')

from bgrem.simulate import (OpticalFieldConfig, SimulatedField,  # noqa: E402
                            simulate_optical_field, simulate_optical_tiles)

# Non-square on purpose: catches x/y (column/row) mix-ups.
SHAPE = (160, 224)


@pytest.fixture(scope='module')
def field():
    config = OpticalFieldConfig(shape=SHAPE, galaxy_density=6.0, star_density=15.0)
    return simulate_optical_field(config, seed=42)


def _float32_atol(*arrays):
    """A few float32 ulps of the largest value involved."""
    biggest = max(float(np.max(np.abs(a))) for a in arrays)
    return 4 * float(np.spacing(np.float32(biggest)))


def test_types_and_shapes(field):
    assert isinstance(field, SimulatedField)
    for name in ('observed', 'sources', 'background', 'sky', 'noise_sigma'):
        image = getattr(field, name)
        assert image.shape == SHAPE, name
        assert image.dtype == np.float32, name
        assert np.all(np.isfinite(image)), name
    assert field.shape == SHAPE
    assert np.all(field.sources >= 0)
    assert np.all(field.noise_sigma > 0)
    assert field.config.seeing_fwhm_range[0] <= field.seeing_fwhm <= \
        field.config.seeing_fwhm_range[1]
    assert field.seed == 42
    assert field.params['n_stars'] + field.params['n_galaxies'] == len(field.catalog)


def test_observed_is_sources_plus_background(field):
    ok = ~field.saturated_mask
    total = field.sources + field.background
    atol = _float32_atol(field.observed)
    np.testing.assert_allclose(field.observed[ok], total[ok], rtol=0, atol=atol)


@pytest.mark.parametrize('gain', [1.0, 2.5])
def test_background_noise_matches_noise_sigma(gain):
    config = OpticalFieldConfig(shape=(256, 256), gain=gain, read_noise=8.0,
                                star_density=5.0, galaxy_density=2.0,
                                large_galaxy_fraction=0.0)
    sim = simulate_optical_field(config, seed=7)
    residual = sim.background - sim.sky
    source_free = sim.sources < 0.01 * sim.noise_sigma
    assert source_free.mean() > 0.5
    z = residual[source_free] / sim.noise_sigma[source_free]
    assert abs(z.mean()) < 0.02
    assert z.std() == pytest.approx(1.0, rel=0.05)
    # Raw numbers, too: the std of background - sky is the predicted noise.
    assert residual[source_free].std() == pytest.approx(
        float(np.sqrt(np.mean(sim.noise_sigma[source_free] ** 2))), rel=0.05)
    # Including the pixels with sources (their Poisson noise is in the background).
    z_all = residual / sim.noise_sigma
    assert z_all.std() == pytest.approx(1.0, rel=0.05)


def test_noise_sigma_model():
    config = OpticalFieldConfig(shape=(64, 64), star_density=0.0, galaxy_density=0.0,
                                sky_gradient_range=(0.0, 0.0),
                                structure_amplitude_range=(0.0, 0.0),
                                sky_level_range=(500.0, 500.0), gain=2.0,
                                read_noise=5.0, dark_current=20.0, pedestal=300.0)
    sim = simulate_optical_field(config, seed=3)
    assert len(sim.catalog) == 0
    assert np.all(sim.sources == 0)
    np.testing.assert_allclose(sim.sky, (500.0 + 20.0) / 2.0 + 300.0, rtol=1e-6)
    np.testing.assert_allclose(sim.noise_sigma, np.sqrt(500.0 + 20.0 + 5.0 ** 2) / 2.0,
                               rtol=1e-6)


def test_sky_gradient_and_structure():
    config = OpticalFieldConfig(shape=(128, 128), star_density=0.0, galaxy_density=0.0,
                                sky_level_range=(1000.0, 1000.0), dark_current=0.0,
                                pedestal=0.0, sky_gradient_range=(0.2, 0.2),
                                structure_amplitude_range=(0.0, 0.0))
    sim = simulate_optical_field(config, seed=11)
    sky = sim.sky.astype(float)
    assert sky.mean() == pytest.approx(1000.0, rel=1e-3)
    # A plane: the second differences vanish.
    assert np.abs(np.diff(sky, 2, axis=0)).max() < 1e-2
    assert np.abs(np.diff(sky, 2, axis=1)).max() < 1e-2
    assert 0.1 * 1000 < sky.max() - sky.min() < 0.3 * 1000
    structured = simulate_optical_field(
        config.replace(sky_gradient_range=(0.0, 0.0), structure_amplitude_range=(0.05, 0.05),
                       structure_scale_range=(20.0, 40.0)), seed=11)
    assert structured.sky.std() / structured.sky.mean() == pytest.approx(0.05, rel=0.5)


def _isolated_bright(sim, half, kind='star'):
    """Index of the brightest object of ``kind`` at least ``half`` pixels from the
    edges and ``2 * half`` from any other object (None if there is none)."""
    cat = sim.catalog
    x, y = cat['x'].value, cat['y'].value
    ny, nx = sim.shape
    for i in np.argsort(cat['flux'].value)[::-1]:
        if cat['kind'][i] != kind:
            continue
        if not (half <= x[i] < nx - 1 - half and half <= y[i] < ny - 1 - half):
            continue
        others = np.hypot(x - x[i], y - y[i])
        others[i] = np.inf
        if others.min() > 2 * half:
            return i
    return None


def _find_isolated(config, half, kind):
    for seed in range(30):
        sim = simulate_optical_field(config, seed=seed)
        i = _isolated_bright(sim, half, kind)
        if i is not None:
            return sim, sim.catalog[i]
    pytest.fail(f'no isolated {kind} found')


def _box(image, row, half):
    ix, iy = int(round(row['x'].value)), int(round(row['y'].value))
    return image[iy - half:iy + half + 1, ix - half:ix + half + 1].astype(float), ix, iy


def test_star_flux_conserved_and_positioned():
    config = OpticalFieldConfig(shape=(192, 256), star_density=1.5, galaxy_density=0.0,
                                star_mag_range=(15.0, 16.0), seeing_fwhm_range=(2.0, 2.0),
                                moffat_beta_range=(3.0, 3.0))
    half = 30
    sim, star = _find_isolated(config, half, 'star')
    box, ix, iy = _box(sim.sources, star, half)
    assert box.sum() == pytest.approx(star['flux'].to_value(u.adu), rel=0.01)
    # numpy convention: x is the column, y the row.
    peak_row, peak_col = np.unravel_index(np.argmax(box), box.shape)
    assert (peak_row - half, peak_col - half) == (0, 0)
    yy, xx = np.mgrid[iy - half:iy + half + 1, ix - half:ix + half + 1]
    assert (box * xx).sum() / box.sum() == pytest.approx(star['x'].value, abs=0.02)
    assert (box * yy).sum() / box.sum() == pytest.approx(star['y'].value, abs=0.02)


def test_psf_model_reproduces_the_stars():
    from photutils.psf import MoffatPSF

    config = OpticalFieldConfig(shape=(192, 256), star_density=1.5, galaxy_density=0.0,
                                star_mag_range=(15.0, 16.0), seeing_fwhm_range=(1.0, 1.0),
                                moffat_beta_range=(3.0, 3.0))
    half = 20
    sim, star = _find_isolated(config, half, 'star')
    box, ix, iy = _box(sim.sources, star, half)
    yy, xx = np.mgrid[iy - half:iy + half + 1, ix - half:ix + half + 1]
    flux, x, y = star['flux'].to_value(u.adu), star['x'].value, star['y'].value

    psf = sim.psf_model()
    assert psf.oversampling.tolist() == [4, 4]
    assert (psf.x_0.value, psf.y_0.value, psf.flux.value) == (0, 0, 1)
    psf.x_0, psf.y_0, psf.flux = x, y, flux
    assert np.abs(psf(xx, yy) - box).max() < 1e-3 * box.max()
    # The same Moffat sampled at pixel centres is visibly too peaked.
    fwhm = sim.seeing_fwhm / config.pixel_scale
    moffat = MoffatPSF(flux=flux, x_0=x, y_0=y, beta=3.0,
                       alpha=fwhm / (2 * np.sqrt(2 ** (1 / 3.0) - 1)))
    assert np.abs(moffat(xx, yy) - box).max() > 1e-2 * box.max()
    # The default size is 5 FWHM; a smaller one only cuts the wings.
    small = sim.psf_model(oversampling=2, radius=3)
    assert small.data.shape == (13, 13)
    with pytest.raises(ValueError, match='oversampling'):
        sim.psf_model(oversampling=0)


def test_kolmogorov_and_elliptical_psfs():
    # An elliptical Kolmogorov PSF: the stars match the field's psf_model,
    # their second moments are elongated as asked, and the wings are wider
    # than those of a Moffat of the same FWHM.
    config = OpticalFieldConfig(shape=(192, 256), star_density=1.5, galaxy_density=0.0,
                                star_mag_range=(15.0, 16.0), seeing_fwhm_range=(1.5, 1.5),
                                psf_profile='kolmogorov', psf_ellipticity_range=(0.2, 0.2))
    half = 20
    sim, star = _find_isolated(config, half, 'star')
    assert sim.params['psf_ellipticity'] == 0.2
    box, ix, iy = _box(sim.sources, star, half)
    yy, xx = np.mgrid[iy - half:iy + half + 1, ix - half:ix + half + 1]
    flux, x, y = star['flux'].to_value(u.adu), star['x'].value, star['y'].value
    psf = sim.psf_model()
    psf.x_0, psf.y_0, psf.flux = x, y, flux
    assert np.abs(psf(xx, yy) - box).max() < 1e-3 * box.max()
    dx, dy = xx - x, yy - y
    moments = np.array([[(box * dx * dx).sum(), (box * dx * dy).sum()],
                        [(box * dx * dy).sum(), (box * dy * dy).sum()]]) / box.sum()
    minor, major = np.sqrt(np.linalg.eigvalsh(moments))
    assert minor / major == pytest.approx(0.8, abs=0.03)
    # Kolmogorov: 1.6% of the light beyond 3 FWHM; a Moffat of beta 3: 0.9%
    fwhm = sim.seeing_fwhm / config.pixel_scale
    assert box[np.hypot(dx, dy) > 3 * fwhm].sum() / flux > 0.012
    with pytest.raises(ValueError, match='psf_profile'):
        OpticalFieldConfig(psf_profile='airy')


def test_galaxy_flux_conserved():
    config = OpticalFieldConfig(shape=(256, 256), star_density=0.0, galaxy_density=2.0,
                                galaxy_hlr_range=(0.5, 1.5), ellipticity_range=(0.0, 0.3),
                                large_galaxy_fraction=0.0, seeing_fwhm_range=(2.0, 2.0),
                                moffat_beta_range=(3.0, 3.0))
    half = 40
    sim, galaxy = _find_isolated(config, half, 'galaxy')
    assert 0.5 <= galaxy['sersic_n'] <= 4.0
    box, ix, iy = _box(sim.sources, galaxy, half)
    assert box.sum() == pytest.approx(galaxy['flux'].to_value(u.adu), rel=0.01)
    yy, xx = np.mgrid[iy - half:iy + half + 1, ix - half:ix + half + 1]
    assert (box * xx).sum() / box.sum() == pytest.approx(galaxy['x'].value, abs=0.05)
    assert (box * yy).sum() / box.sum() == pytest.approx(galaxy['y'].value, abs=0.05)


def test_edge_objects_partially_in():
    config = OpticalFieldConfig(shape=(64, 64), star_density=40.0, galaxy_density=0.0,
                                star_mag_range=(16.0, 17.0))
    sim = simulate_optical_field(config, seed=8)
    cat = sim.catalog
    # Stars near the edge lose the part of their light that falls outside.
    assert sim.sources.sum(dtype=float) < cat['flux'].value.sum()
    assert sim.sources.sum(dtype=float) > 0.5 * cat['flux'].value.sum()


def test_determinism(field):
    again = simulate_optical_field(field.config, seed=42)
    for name in ('observed', 'sources', 'background', 'sky', 'noise_sigma'):
        np.testing.assert_array_equal(getattr(again, name), getattr(field, name), err_msg=name)
    for name in field.catalog.colnames:
        np.testing.assert_array_equal(np.asarray(again.catalog[name]),
                                      np.asarray(field.catalog[name]), err_msg=name)
    assert again.seeing_fwhm == field.seeing_fwhm
    assert again.wcs.to_header() == field.wcs.to_header()
    other = simulate_optical_field(field.config, seed=43)
    assert not np.array_equal(other.observed, field.observed)
    assert not np.array_equal(other.background, field.background)


def test_random_seed_is_recorded():
    config = OpticalFieldConfig(shape=(32, 32))
    sim = simulate_optical_field(config)
    assert isinstance(sim.seed, int) and sim.seed >= 0
    again = simulate_optical_field(config, seed=sim.seed)
    np.testing.assert_array_equal(again.observed, sim.observed)


def test_saturation():
    level = 5000.0
    config = OpticalFieldConfig(shape=(192, 192), star_density=6.0, galaxy_density=0.0,
                                star_mag_range=(11.0, 20.0), star_count_slope=0.1,
                                saturation_level=level)
    sim = simulate_optical_field(config, seed=2)
    unclipped = sim.sources + sim.background
    above = unclipped >= level
    assert above.any()
    assert sim.observed.max() <= level
    np.testing.assert_array_equal(sim.observed[above], np.float32(level))
    np.testing.assert_array_equal(sim.saturated_mask, above)
    # Elsewhere observed is untouched.
    np.testing.assert_allclose(sim.observed[~above], unclipped[~above], rtol=0,
                               atol=_float32_atol(sim.observed))
    cat = sim.catalog
    assert cat['saturated'].dtype == bool
    assert cat['saturated'].any()
    assert not cat['saturated'].all()
    brightest = np.argmax(cat['flux'].value)
    assert cat['saturated'][brightest]
    # Every flagged object has a saturated pixel close to its centre ...
    ny, nx = sim.shape
    rows, cols = np.nonzero(sim.saturated_mask)
    for row in cat[cat['saturated']]:
        distance = np.hypot(cols - row['x'].value, rows - row['y'].value)
        assert distance.min() < 10
    # ... and faint objects far from any saturated pixel are not flagged.
    for row in cat[~cat['saturated']]:
        x, y = row['x'].value, row['y'].value
        if 0 <= x < nx - 1 and 0 <= y < ny - 1:
            assert not sim.saturated_mask[int(round(y)), int(round(x))]


def test_catalog_columns_units_dtypes(field):
    cat = field.catalog
    expected = ['id', 'kind', 'x', 'y', 'ra', 'dec', 'flux', 'mag', 'half_light_radius',
                'sersic_n', 'ellipticity', 'position_angle', 'large', 'saturated']
    assert cat.colnames == expected
    assert cat['x'].unit == u.pix and cat['y'].unit == u.pix
    assert cat['half_light_radius'].unit == u.pix
    assert cat['flux'].unit == u.adu
    assert cat['mag'].unit == u.mag
    assert cat['ra'].unit == u.deg and cat['dec'].unit == u.deg
    assert cat['position_angle'].unit == u.deg
    assert cat['id'].dtype == np.int64
    assert cat['kind'].dtype.kind == 'U'
    assert cat['large'].dtype == bool and cat['saturated'].dtype == bool
    for name in ('x', 'y', 'flux', 'mag', 'half_light_radius', 'sersic_n', 'ellipticity'):
        assert np.asarray(cat[name]).dtype == np.float64, name
    assert set(cat['kind']) == {'star', 'galaxy'}
    stars = cat[cat['kind'] == 'star']
    galaxies = cat[cat['kind'] == 'galaxy']
    assert np.all(stars['half_light_radius'] == 0 * u.pix)
    assert np.all(stars['sersic_n'] == 0)
    assert np.all(galaxies['half_light_radius'] > 0 * u.pix)
    assert np.all((galaxies['ellipticity'] >= 0) & (galaxies['ellipticity'] <= 0.7))
    ny, nx = SHAPE
    assert np.all((cat['x'].value >= -0.5) & (cat['x'].value <= nx - 0.5))
    assert np.all((cat['y'].value >= -0.5) & (cat['y'].value <= ny - 0.5))
    assert np.all(cat['flux'].value > 0)
    # mag and flux agree: flux_e = exptime * 10**(-0.4 (mag - zp)).
    config = field.config
    flux_e = config.exposure_time * 10 ** (-0.4 * (cat['mag'].value - config.zeropoint))
    np.testing.assert_allclose(cat['flux'].value * config.gain, flux_e, rtol=1e-10)
    # Star magnitudes within the configured range.
    assert np.all((stars['mag'].value >= config.star_mag_range[0])
                  & (stars['mag'].value <= config.star_mag_range[1]))


def test_wcs(field):
    wcs = field.wcs
    assert wcs.wcs.ctype[0] == 'RA---TAN' and wcs.wcs.ctype[1] == 'DEC--TAN'
    scales = proj_plane_pixel_scales(wcs) * 3600
    np.testing.assert_allclose(scales, field.config.pixel_scale, rtol=1e-10)
    # The catalog's sky positions come from the pixel positions through the WCS.
    cat = field.catalog[:5]
    ra, dec = wcs.pixel_to_world_values(cat['x'].value, cat['y'].value)
    np.testing.assert_allclose(cat['ra'].value, ra)
    np.testing.assert_allclose(cat['dec'].value, dec)
    assert -90 <= wcs.wcs.crval[1] <= 30


def test_config_is_frozen_and_normalised():
    config = OpticalFieldConfig(shape=[64, 48], seeing_fwhm_range=[2, 3])
    assert config.shape == (64, 48)
    assert config.seeing_fwhm_range == (2.0, 3.0)
    assert hash(config) == hash(OpticalFieldConfig(shape=(64, 48), seeing_fwhm_range=(2, 3)))
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.gain = 2.0
    assert config.replace(gain=2.0).gain == 2.0
    assert config.area_arcmin2 == pytest.approx(64 * 48 * 0.56 ** 2 / 3600)


@pytest.mark.parametrize('changes, match', [
    ({'gain': -1.0}, 'gain must be > 0'),
    ({'gain': 0}, 'gain must be > 0'),
    ({'read_noise': -0.1}, 'read_noise must be >= 0'),
    ({'shape': (0, 10)}, r'shape\[0\] must be >= 8'),
    ({'shape': (10,)}, 'shape must be a'),
    ({'shape': (10.5, 10)}, 'must be an integer'),
    ({'pixel_scale': 0.0}, 'pixel_scale must be > 0'),
    ({'seeing_fwhm_range': (3.0, 2.0)}, 'low <= high'),
    ({'seeing_fwhm_range': 2.0}, 'seeing_fwhm_range must be a'),
    ({'moffat_beta_range': (1.0, 3.0)}, 'moffat_beta_range must be > 1.1'),
    ({'sersic_n_range': (0.5, 8.0)}, 'sersic_n_range must be <= 6.2'),
    ({'ellipticity_range': (0.0, 1.0)}, 'ellipticity_range must be <= 0.95'),
    ({'large_galaxy_fraction': 1.5}, 'large_galaxy_fraction must be <= 1'),
    ({'star_density': -1.0}, 'star_density must be >= 0'),
    ({'saturation_level': 50.0}, 'must be above the pedestal'),
    ({'exposure_time': float('nan')}, 'exposure_time must be finite'),
    ({'sky_level_range': (-1.0, 10.0)}, 'sky_level_range must be >= 0'),
])
def test_config_validation(changes, match):
    with pytest.raises(ValueError, match=match):
        OpticalFieldConfig(**changes)


def test_bad_arguments():
    with pytest.raises(ValueError, match='seed'):
        simulate_optical_field(OpticalFieldConfig(shape=(16, 16)), seed=-1)
    with pytest.raises(ValueError, match='seed'):
        simulate_optical_field(OpticalFieldConfig(shape=(16, 16)), seed=1.5)
    with pytest.raises(TypeError, match='OpticalFieldConfig'):
        simulate_optical_field({'shape': (16, 16)})
    with pytest.raises(ValueError, match='n must be'):
        simulate_optical_tiles(-1)


def test_large_galaxies():
    scale = 0.56
    config = OpticalFieldConfig(shape=(192, 192), pixel_scale=scale, star_density=0.0,
                                galaxy_density=3.0, large_galaxy_fraction=0.5)
    sim = simulate_optical_field(config, seed=4)
    cat = sim.catalog
    large = cat[cat['large']]
    assert len(large) > 0
    assert np.all(large['kind'] == 'galaxy')
    assert np.any(large['half_light_radius'].value > 8.0 / scale)
    assert np.all(large['half_light_radius'].value >= 8.0 / scale)
    assert np.all(large['half_light_radius'].value <= 30.0 / scale)
    assert np.all((large['sersic_n'] >= 0.5) & (large['sersic_n'] <= 1.5))
    normal = cat[~cat['large']]
    assert np.all(normal['half_light_radius'].value <= 8.0 / scale + 1e-9)
    # Low surface brightness: mean surface brightness within the half-light radius.
    hlr_arcsec = large['half_light_radius'].value * scale
    sb = large['mag'].value + 2.5 * np.log10(2 * np.pi * hlr_arcsec ** 2)
    assert np.all((sb >= 22.5 - 1e-9) & (sb <= 26.0 + 1e-9))
    # Their light is really extended: a large galaxy adds flux far from its centre.
    biggest = large[np.argmax(large['half_light_radius'])]
    ix, iy = int(round(biggest['x'].value)), int(round(biggest['y'].value))
    offset = int(biggest['half_light_radius'].value)
    ny, nx = sim.shape
    points = [(iy, ix + offset), (iy, ix - offset), (iy + offset, ix), (iy - offset, ix)]
    samples = [sim.sources[y, x] for y, x in points if 0 <= y < ny and 0 <= x < nx]
    assert samples and max(samples) > 0

    none = simulate_optical_field(config.replace(large_galaxy_fraction=0.0), seed=4)
    assert not none.catalog['large'].any()
    assert np.all(none.catalog['half_light_radius'].value <= 8.0 / scale + 1e-9)


def test_tiles():
    config = OpticalFieldConfig(star_density=5.0, galaxy_density=2.0)
    tiles = simulate_optical_tiles(3, (64, 96), seed=9, config=config)
    assert not isinstance(tiles, list)
    tiles = list(tiles)
    assert len(tiles) == 3
    assert all(t.observed.shape == (64, 96) for t in tiles)
    assert all(t.config.shape == (64, 96) for t in tiles)
    assert all(t.config.star_density == 5.0 for t in tiles)
    assert len({t.seed for t in tiles}) == 3
    assert not np.array_equal(tiles[0].observed, tiles[1].observed)
    again = list(simulate_optical_tiles(3, (64, 96), seed=9, config=config))
    for a, b in zip(tiles, again):
        np.testing.assert_array_equal(a.observed, b.observed)
    redo = simulate_optical_field(tiles[2].config, seed=tiles[2].seed)
    np.testing.assert_array_equal(redo.background, tiles[2].background)
    assert list(simulate_optical_tiles(0, seed=1)) == []


def test_missing_galsim_message(monkeypatch):
    monkeypatch.setitem(sys.modules, 'galsim', None)
    with pytest.raises(ImportError, match=r"GalSim is required for simulation: "
                                          r"pip install 'bgrem\[train\]'"):
        simulate_optical_field(OpticalFieldConfig(shape=(16, 16)), seed=0)
    with pytest.raises(ImportError, match='GalSim is required'):
        simulate_optical_tiles(1)
    # The configuration needs no GalSim.
    assert OpticalFieldConfig(shape=(16, 16)).shape == (16, 16)
