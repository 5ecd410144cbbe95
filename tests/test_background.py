import warnings

import astropy.units as u
import numpy as np
import pytest
from astropy.nddata import CCDData, NDData
from astropy.utils.exceptions import AstropyUserWarning
from astropy.wcs import WCS

from bgrem import BGRemBackground


def make_wcs(shape):
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ['RA---TAN', 'DEC--TAN']
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [shape[1] / 2, shape[0] / 2]
    wcs.wcs.cdelt = [-0.56 / 3600, 0.56 / 3600]
    return wcs


def test_zero_model_returns_median_subtracted_data(noise_image, zero_model):
    bkg = BGRemBackground(noise_image, zero_model, clip_negative=False)
    expected = noise_image - np.median(noise_image)
    np.testing.assert_allclose(bkg.unclipped, expected, atol=1e-4)
    np.testing.assert_array_equal(bkg.cleaned, bkg.unclipped)
    np.testing.assert_allclose(bkg.background, np.median(noise_image), atol=1e-4)
    assert bkg.median == pytest.approx(np.median(noise_image), rel=1e-6)
    assert bkg.normalization == pytest.approx(1 / 3.0, rel=0.02)


def test_data_minus_background_is_cleaned(noise_image, zero_model):
    bkg = BGRemBackground(noise_image, zero_model)
    assert np.all(bkg.cleaned >= 0)
    assert np.any(bkg.unclipped < 0)
    np.testing.assert_allclose(noise_image - bkg.background, bkg.cleaned, atol=1e-4)


def test_background_rms_measures_the_noise(noise_image, everything_model):
    bkg = BGRemBackground(noise_image, everything_model)
    np.testing.assert_allclose(bkg.unclipped, 0.0, atol=1e-4)
    assert bkg.background_rms.shape == noise_image.shape
    assert bkg.background_rms_median == pytest.approx(3.0, rel=0.05)
    assert bkg.background_median == pytest.approx(100.0, abs=0.1)


def test_smooth_background_follows_sky_structure(noise_image, everything_model):
    # A sky ripple of 80-pixel wavelength and 4 noise sigma amplitude: the
    # smooth background follows it to a small fraction of the noise.
    yy, xx = np.mgrid[:noise_image.shape[0], :noise_image.shape[1]]
    ripple = 12.0 * np.sin(2 * np.pi * xx / 80.0) * np.cos(2 * np.pi * yy / 80.0)
    data = noise_image + ripple
    data[100:108, 150:158] += 1e4  # an artefact left in the removed component
    mask = np.zeros(data.shape, bool)
    mask[50:60, 50:60] = True
    coverage = np.zeros(data.shape, bool)
    coverage[:, -5:] = True
    bkg = BGRemBackground(data, everything_model, mask=mask, coverage_mask=coverage,
                          fill_value=-1.0)
    error = np.asarray(bkg.smooth_background) - (100.0 + ripple)
    # A Background2D of 64-pixel boxes misses this by 6 (2 noise sigma) RMS.
    assert np.std(error[:, :-5]) < 0.3 * 3.0 and abs(np.mean(error[:, :-5])) < 0.1 * 3.0
    assert np.all(np.abs(error[50:60, 50:60]) < 3.0)  # filled from the neighbours
    assert np.all(np.asarray(bkg.smooth_background)[:, -5:] == -1.0)
    # the artefact is clipped, not smeared over its surroundings (it would
    # add thousands); the gap it leaves is filled within 2 noise sigma
    assert np.all(np.abs(error[90:118, 140:168]) < 2 * 3.0)


def test_smooth_background_leaves_out_source_light():
    # A "network" that keeps in the cleaned image only what lies more than 2
    # noise sigma above the median: the lower 2 sigma of a bright star stay
    # in the removed component, a plateau over its footprint.  The smooth
    # sky leaves the star's pixels out and stays flat.
    from conftest import FunctionModel

    plateau = FunctionModel(lambda images, variances: np.minimum(images, 2.0), name='plateau')
    yy, xx = np.mgrid[:200, :200]
    star = 3000.0 * np.exp(-((xx - 100) ** 2 + (yy - 100) ** 2) / 18.0)
    data = 100.0 + star + np.random.default_rng(3).normal(0, 3.0, star.shape)
    bkg = BGRemBackground(data, plateau, normalization=1 / 3.0, median='global')
    removed = np.asarray(bkg.background)
    assert np.median(removed[95:106, 95:106]) > 104  # the plateau is there
    sky = np.asarray(bkg.smooth_background)
    assert np.abs(sky[80:121, 80:121] - 100.0).max() < 1.0


def test_smooth_sky_is_a_local_quadratic_fit():
    from bgrem.background._sky import local_quadratic, smooth_sky

    yy, xx = np.mgrid[:203, :157].astype(float)  # not whole 4 x 4 bins
    quadratic = 3 + 0.1 * xx - 0.05 * yy + 1e-3 * xx ** 2 - 2e-3 * xx * yy + 5e-4 * yy ** 2
    valid = np.ones(quadratic.shape, bool)
    valid[80:120, 60:100] = False  # a hole of 40 x 40 pixels
    fitted = local_quadratic(quadratic, valid, 8.0, ridge=0.0)
    # exact up to the binning (values taken at the bin centres) and the spline
    assert np.abs(fitted - quadratic)[10:-10, 10:-10].max() < 0.02
    assert np.isnan(local_quadratic(quadratic, np.zeros_like(valid), 8.0)).all()
    # valid pixels on one line, in one bin, or one alone: no singular fit
    for few in (np.s_[100, :], np.s_[:, 50], np.s_[100:102, 50:52], np.s_[100, 50]):
        valid = np.zeros(quadratic.shape, bool)
        valid[few] = True
        fitted = local_quadratic(quadratic, valid, 8.0)
        assert np.isfinite(fitted[valid]).all()
        assert np.abs(fitted[valid] - quadratic[valid]).max() < 1.0

    # A sky bump of 4 noise sigma with its top hidden under a star's hole of
    # 10 pixels radius: the fit carries the curvature across, a plain
    # Gaussian average of the pixels around the hole flattens the top.  So
    # would the wide fit alone (error 1.1 sigma): the bump must be seen as
    # structure for the narrow fit to be taken (0.6 sigma).
    from scipy.ndimage import gaussian_filter

    sky = 12.0 * np.cos(2 * np.pi * (xx - 80) / 80.0) * np.cos(2 * np.pi * (yy - 100) / 80.0)
    hole = (xx - 80) ** 2 + (yy - 100) ** 2 < 10 ** 2
    noisy = sky + np.random.default_rng(5).normal(0, 3.0, sky.shape)
    noisy[hole] += 500.0  # the star: left out by valid
    estimate = smooth_sky(noisy, np.full(sky.shape, 3.0), ~hole)
    average = (gaussian_filter(np.where(hole, 0.0, noisy), 4.0)
               / gaussian_filter((~hole).astype(float), 4.0))
    error = np.abs(estimate - sky)[hole].mean()
    assert error < 0.75 * 3.0 and error < 0.7 * np.abs(average - sky)[hole].mean()
    assert np.sqrt(np.mean((estimate - sky)[10:-10, 10:-10] ** 2)) < 0.2 * 3.0


def test_smooth_sky_widens_its_window_under_large_holes_of_a_smooth_sky():
    # Holes of 18 pixels radius (the bright stars of 4-5 arcsec seeing) in
    # a plane of sky: across them the narrow quadratic fit extrapolates
    # noise, the wide fit that smooth_sky takes there averages it down.
    from bgrem.background._sky import smooth_sky

    yy, xx = np.mgrid[:256, :256].astype(float)
    sky = 5 + 0.02 * xx - 0.01 * yy
    holes = np.zeros(sky.shape, bool)
    for cy in (64, 128, 192):
        for cx in (64, 128, 192):
            holes |= (xx - cx) ** 2 + (yy - cy) ** 2 < 18 ** 2
    noisy = sky + np.random.default_rng(0).normal(0, 3.0, sky.shape)
    estimate = smooth_sky(noisy, 3.0, ~holes)
    narrow = smooth_sky(noisy, 3.0, ~holes, wide=False)  # the 8-pixel fit alone

    def error(fitted):
        return np.sqrt(np.mean((fitted - sky)[holes] ** 2))

    assert error(estimate) < 0.15 * 3.0
    assert error(estimate) < 0.6 * error(narrow)


def test_normalization_given(noise_image, zero_model):
    bkg = BGRemBackground(noise_image, zero_model, normalization=0.5)
    assert bkg.normalization == 0.5
    for bad in (0, -1, np.nan, 'fast'):
        with pytest.raises(ValueError, match='normalization'):
            BGRemBackground(noise_image, zero_model, normalization=bad)


def test_input_is_not_modified(noise_image, zero_model):
    data = noise_image.copy()
    data[3, 4] = np.nan
    before = data.copy()
    mask = np.zeros(data.shape, bool)
    mask[10:20, 10:20] = True
    mask_before = mask.copy()
    with pytest.warns(AstropyUserWarning, match='non-finite'):
        BGRemBackground(data, zero_model, mask=mask)
    np.testing.assert_array_equal(data, before)
    np.testing.assert_array_equal(mask, mask_before)


@pytest.mark.parametrize('dtype', ['>f8', '<f4', '>i4', 'u2'])
def test_dtypes_and_byte_order(zero_model, dtype):
    data = (np.random.default_rng(0).normal(1000, 5, (64, 80))).astype(dtype)
    bkg = BGRemBackground(data, zero_model, clip_negative=False)
    assert bkg.cleaned.dtype == np.float32
    np.testing.assert_allclose(bkg.cleaned, data.astype(float) - np.median(data), atol=1e-3)


def test_quantity_in_quantity_out(noise_image, zero_model):
    bkg = BGRemBackground(noise_image * u.electron, zero_model)
    for name in ('cleaned', 'unclipped', 'background', 'background_rms',
                 'background_median', 'background_rms_median'):
        assert getattr(bkg, name).unit == u.electron, name


@pytest.mark.parametrize('container', ['nddata', 'ccddata', 'masked'])
def test_nddata_mask_unit_wcs_meta_kept(noise_image, zero_model, container):
    mask = np.zeros(noise_image.shape, bool)
    mask[:5] = True
    wcs = make_wcs(noise_image.shape)
    if container == 'nddata':
        data = NDData(noise_image, mask=mask, unit='adu', wcs=wcs, meta={'OBJECT': 'M1'})
    elif container == 'ccddata':
        data = CCDData(noise_image, mask=mask, unit='adu', wcs=wcs, meta={'OBJECT': 'M1'})
    else:
        data = np.ma.MaskedArray(noise_image, mask=mask)
    bkg = BGRemBackground(data, zero_model)
    np.testing.assert_array_equal(bkg.mask, mask)
    ccd = bkg.to_ccddata()
    assert isinstance(ccd, CCDData)
    assert ccd.header['BGRMODEL'] == 'zero'
    assert ccd.header['BGRSTEPS'] == 1
    assert ccd.header['BGRNORM'] == pytest.approx(bkg.normalization)
    assert ccd.header['BGRKIND'] == 'cleaned'
    np.testing.assert_array_equal(ccd.data, np.asarray(bkg.cleaned))
    assert ccd.uncertainty.array.shape == noise_image.shape
    if container != 'masked':
        assert ccd.unit == u.adu
        assert ccd.header['OBJECT'] == 'M1'
        assert ccd.wcs.wcs.compare(wcs.wcs)
    else:
        assert ccd.unit == u.dimensionless_unscaled


def test_masked_pixels_are_left_out_of_the_statistics(zero_model):
    data = np.random.default_rng(5).normal(0.0, 1.0, (100, 100))
    data[:40] = 1e5  # a saturated region, masked
    mask = data > 1e4
    bkg = BGRemBackground(data, zero_model, mask=mask)
    assert bkg.normalization == pytest.approx(1.0, rel=0.05)
    assert abs(bkg.median) < 0.1


def test_nonfinite_pixels(noise_image, zero_model):
    data = noise_image.copy()
    data[50:60, 70:90] = np.nan
    data[0, 0] = np.inf
    with pytest.warns(AstropyUserWarning, match='201 unmasked non-finite'):
        bkg = BGRemBackground(data, zero_model)
    for name in ('cleaned', 'unclipped', 'background'):
        value = getattr(bkg, name)
        assert np.all(np.isnan(value[50:60, 70:90])) and np.isnan(value[0, 0])
        assert np.isfinite(value[~np.isfinite(data)].size)
        assert np.all(np.isfinite(value[np.isfinite(data)]))
    assert np.all(np.isfinite(bkg.background_rms))
    assert bkg.to_ccddata().mask[55, 75]


def test_masked_nonfinite_pixels_do_not_warn(noise_image, zero_model):
    data = noise_image.copy()
    data[5, 5] = np.nan
    mask = np.zeros(data.shape, bool)
    mask[5, 5] = True
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        BGRemBackground(data, zero_model, mask=mask)


def test_coverage_mask_gets_fill_value(noise_image, zero_model):
    coverage = np.zeros(noise_image.shape, bool)
    coverage[:, :30] = True
    data = noise_image.copy()
    data[:, :30] = np.nan  # no data outside the coverage: no warning either
    bkg = BGRemBackground(data, zero_model, coverage_mask=coverage, fill_value=-1.0)
    for name in ('cleaned', 'unclipped', 'background', 'background_rms'):
        np.testing.assert_array_equal(getattr(bkg, name)[:, :30], -1.0)
    assert np.all(np.isfinite(bkg.cleaned))


def test_all_masked_raises(zero_model):
    with pytest.raises(ValueError, match='all pixels'):
        BGRemBackground(np.zeros((10, 10)), zero_model, mask=np.ones((10, 10), bool))
    with pytest.raises(ValueError, match='all pixels'), pytest.warns(AstropyUserWarning):
        BGRemBackground(np.full((10, 10), np.nan), zero_model)


@pytest.mark.parametrize('data, kwargs, error, match', [
    (np.zeros((2, 8, 8)), {}, ValueError, '2-D'),
    (np.zeros(8), {}, ValueError, '2-D'),
    (np.zeros((0, 8)), {}, ValueError, 'empty'),
    (np.array([['a', 'b']]), {}, TypeError, 'real-valued'),
    (np.zeros((8, 8)), {'mask': np.zeros((4, 4), bool)}, ValueError, 'mask shape'),
    (np.zeros((8, 8)), {'coverage_mask': np.zeros(8, bool)}, ValueError, 'coverage_mask shape'),
    (np.ones((8, 8)), {'diffusion_steps': 0}, ValueError, 'diffusion steps'),
    (np.ones((8, 8)), {'median': 'mean'}, ValueError, 'median'),
    (np.ones((8, 8)), {'tile_size': 250, 'keep_size': 200}, ValueError, 'multiple of 16'),
])
def test_bad_input(zero_model, data, kwargs, error, match):
    with pytest.raises(error, match=match):
        BGRemBackground(data, zero_model, **kwargs)


def test_unknown_model_raises(noise_image):
    with pytest.raises(FileNotFoundError, match='no model'):
        BGRemBackground(noise_image, 'no-such-model')


def test_steps_and_model_defaults(noise_image):
    from conftest import FunctionModel

    model = FunctionModel(lambda images, variances: np.zeros_like(images), default_steps=4)
    BGRemBackground(noise_image, model)
    assert model.calls == 4  # 2 x 2 tiles in one batch, 4 steps
    model.calls = 0
    bkg = BGRemBackground(noise_image, model, diffusion_steps=3, batch_size=3)
    assert bkg.diffusion_steps == 3 and model.calls == 2 * 3  # batches of 3 and 1


def test_tiny_network_end_to_end(tiny_model):
    data = np.random.default_rng(6).normal(50.0, 2.0, (130, 270))
    data[60:64, 100:104] += 200.0
    bkg = BGRemBackground(CCDData(data, unit='adu', wcs=make_wcs(data.shape)), tiny_model)
    assert bkg.diffusion_steps == 2
    assert np.all(np.isfinite(bkg.unclipped))
    assert bkg.cleaned.unit == u.adu
    np.testing.assert_allclose(data - bkg.background.value, bkg.cleaned.value, atol=1e-3)
    assert 'tiny' in repr(bkg)
    assert bkg.to_ccddata('background').header['BGRKIND'] == 'background'
    with pytest.raises(ValueError, match='kind'):
        bkg.to_ccddata('sources')


def test_results_are_deterministic(tiny_model):
    data = np.random.default_rng(7).normal(50.0, 2.0, (100, 100))
    data[:3] = np.nan
    with pytest.warns(AstropyUserWarning):
        first = BGRemBackground(data, tiny_model).unclipped
    with pytest.warns(AstropyUserWarning):
        second = BGRemBackground(data, tiny_model).unclipped
    np.testing.assert_array_equal(first, second)


def test_poisson_normalization_model_uses_a_map(zero_model):
    """A count-map model normalises per pixel; an identity network gives data - median back."""
    from conftest import FunctionModel

    counts = np.random.default_rng(2).poisson(
        np.outer(np.linspace(3, 200, 96), np.ones(80))).astype(float)
    model = FunctionModel(lambda images, variances: np.zeros_like(images), name='counts',
                          normalization={'method': 'poisson', 'smoothing': 1.5, 'floor': 1.0,
                                         'median': 'global'})
    bkg = BGRemBackground(counts, model, clip_negative=False)
    assert bkg.normalization_map is not None and bkg.normalization_map.shape == counts.shape
    assert bkg.normalization_map[0].mean() > 3 * bkg.normalization_map[-1].mean()
    assert np.allclose(bkg.unclipped, counts - np.median(counts), atol=1e-3)
    scalar = BGRemBackground(counts, model, normalization=0.5)  # a given factor wins
    assert scalar.normalization_map is None and scalar.normalization == 0.5


def test_plane_subtraction_removes_a_gradient_before_the_network(zero_model):
    """With a network that removes nothing, the output is what the level subtraction left."""
    yy, xx = np.mgrid[:120, :170]
    sky = 300.0 + 0.5 * xx + 0.25 * yy
    data = sky + np.random.default_rng(5).normal(0, 2.0, sky.shape)
    planar = BGRemBackground(data, zero_model, median='plane', clip_negative=False)
    flat = BGRemBackground(data, zero_model, clip_negative=False)
    assert planar.median_mode == 'plane' and flat.median_mode == 'global'
    assert flat.sky_plane is None
    assert np.abs(planar.sky_plane - sky).max() < 0.5
    assert np.std(np.asarray(planar.unclipped) - (data - sky)) < 0.1
    assert np.std(flat.unclipped) > 10 * np.std(planar.unclipped) / 2  # the gradient stays
    assert planar.provenance()['BGRMEDMO'][0] == 'plane'
    assert np.allclose(data - planar.background, planar.cleaned, atol=1e-3)  # float32


def _faint_galaxy_on_a_curved_sky(seed=8):
    """
    A galaxy of 30 pixels radius, 2 noise sigma at its centre, on a curved
    sky: the data, the galaxy, the sky and the mask (a circle of 32 pixels).
    """
    yy, xx = np.mgrid[:200, :240]
    sky = 100.0 + 0.02 * (xx - 120) + 2e-4 * (yy - 80) ** 2
    r2 = ((xx - 120) ** 2 + (yy - 100) ** 2) / 30.0 ** 2
    galaxy = 6.0 * np.clip(1 - r2, 0, None) ** 2
    data = sky + galaxy + np.random.default_rng(seed).normal(0, 3.0, sky.shape)
    inside = r2 < (32 / 30) ** 2
    return data, galaxy, sky, inside


def test_source_mask_keeps_the_light_of_known_sources(everything_model):
    # A "network" that takes everything for background keeps none of the
    # galaxy; with its outline known, the sky under it comes from around it
    # and the galaxy's light goes back to the cleaned image, smoothed (its
    # noise stays in the background).
    data, galaxy, sky, inside = _faint_galaxy_on_a_curved_sky()
    plain = BGRemBackground(data, everything_model)
    kept = BGRemBackground(data, everything_model, source_mask=inside)
    true_flux = galaxy[inside].sum()  # 5650; the noise of the sum is 170
    assert abs(np.asarray(plain.unclipped)[inside].sum()) < 0.05 * true_flux
    # 0.88-1.14 over 12 noise seeds: the sky under the mask is known to 0.1 ADU
    assert np.asarray(kept.unclipped)[inside].sum() == pytest.approx(true_flux, rel=0.2)
    np.testing.assert_array_equal(kept.source_mask, inside)
    # outside the mask nothing changes; inside, data = background + cleaned
    np.testing.assert_array_equal(np.asarray(kept.unclipped)[~inside],
                                  np.asarray(plain.unclipped)[~inside])
    np.testing.assert_allclose(np.asarray(kept.background) + kept.cleaned, data, atol=1e-3)
    residual = np.asarray(kept.unclipped) - galaxy
    assert np.std(residual[inside]) < 0.2 * 3.0  # smooth: not the data's noise
    # the smooth sky under the galaxy is the interpolated one, not the galaxy
    assert np.abs(np.asarray(kept.smooth_background) - sky)[inside].max() < 1.0
    noise = np.asarray(kept.background) - np.asarray(kept.smooth_background)
    assert np.std(noise[inside]) == pytest.approx(3.0, rel=0.1)
    assert kept.background_rms_median == pytest.approx(3.0, rel=0.05)


def test_source_mask_with_nonfinite_and_uncovered_pixels(everything_model):
    data, galaxy, sky, inside = _faint_galaxy_on_a_curved_sky()
    data[100, 100:110] = np.nan
    coverage = np.zeros(data.shape, bool)
    coverage[:, :90] = True  # touches the mask, whose left edge is at x = 85
    bkg = BGRemBackground(data, everything_model, mask=~np.isfinite(data),
                          coverage_mask=coverage, fill_value=-1.0, source_mask=inside)
    for name in ('cleaned', 'unclipped', 'background', 'smooth_background'):
        value = np.asarray(getattr(bkg, name))
        assert np.all(value[coverage] == -1.0), name
        assert np.all(np.isfinite(value[~coverage & np.isfinite(data)])), name
    assert np.all(np.isnan(np.asarray(bkg.cleaned)[100, 100:110]))
    # the fill value is not taken for sky: the sky under the mask stays close
    assert np.abs(np.asarray(bkg.smooth_background) - sky)[inside & ~coverage].max() < 1.5


def test_source_mask_from_regions(noise_image, zero_model):
    from regions import CirclePixelRegion, CircleSkyRegion, PixCoord, Regions

    from bgrem.background._input import regions_mask

    shape = noise_image.shape
    wcs = make_wcs(shape)
    circle = CirclePixelRegion(PixCoord(150.0, 100.0), 20.0)
    expected = circle.to_mask(mode='center').to_image(shape, dtype=bool)
    assert expected.sum() > 1200
    off_image = CirclePixelRegion(PixCoord(-100.0, 100.0), 20.0)
    np.testing.assert_array_equal(regions_mask(Regions([circle, off_image]), shape), expected)
    bkg = BGRemBackground(noise_image, zero_model, source_mask=circle)
    np.testing.assert_array_equal(bkg.source_mask, expected)
    on_sky = circle.to_sky(wcs)
    assert isinstance(on_sky, CircleSkyRegion)
    bkg = BGRemBackground(NDData(noise_image, wcs=wcs), zero_model, source_mask=[on_sky])
    placed = on_sky.to_pixel(wcs).to_mask(mode='center').to_image(shape, dtype=bool)
    np.testing.assert_array_equal(bkg.source_mask, placed)
    assert np.count_nonzero(placed != expected) < 0.01 * expected.sum()  # pixels on the edge
    with pytest.raises(ValueError, match='celestial WCS'):
        BGRemBackground(noise_image, zero_model, source_mask=on_sky)
    with pytest.raises(ValueError, match='source_mask shape'):
        BGRemBackground(noise_image, zero_model, source_mask=np.zeros((4, 4), bool))
