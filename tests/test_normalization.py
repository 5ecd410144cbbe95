import numpy as np
import pytest

from bgrem.model.normalization import (estimate_normalization, fit_sky_plane, masked_median,
                                       truncated_std_factor)


def test_truncated_factor_matches_a_large_sample():
    sample = np.random.default_rng(0).standard_normal(2_000_000)
    kept = sample[sample <= np.quantile(sample, 0.9)]
    assert truncated_std_factor(0.1) == pytest.approx(kept.std(), rel=2e-3)
    assert truncated_std_factor(0.0) == 1.0


@pytest.mark.parametrize('sigma', [0.01, 3.0, 250.0])
def test_known_noise_gives_unit_std(sigma):
    data = np.random.default_rng(1).normal(1000.0, sigma, (300, 300))
    assert estimate_normalization(data) == pytest.approx(1 / sigma, rel=0.01)
    # Without the correction the factor is that of the truncated distribution.
    assert estimate_normalization(data, gaussian_correction=False) == pytest.approx(
        1 / (0.8439 * sigma), rel=0.01)


def test_sources_and_zeros_are_left_out():
    rng = np.random.default_rng(2)
    data = rng.normal(0.0, 2.0, (300, 300))
    data[::10, ::10] += 500.0        # 1% bright source pixels
    data[:50] = 0.0                  # missing data, exactly zero
    assert estimate_normalization(data) == pytest.approx(0.5, rel=0.02)


def test_mask_is_respected():
    data = np.random.default_rng(3).normal(0.0, 1.0, (100, 100))
    data[:, :50] *= 100
    mask = np.zeros(data.shape, bool)
    mask[:, :50] = True
    assert estimate_normalization(data, mask) == pytest.approx(1.0, rel=0.05)
    assert masked_median(np.where(mask, 1e6, 5.0), mask) == 5.0


def test_input_not_modified():
    data = np.random.default_rng(4).normal(0.0, 1.0, (50, 50))
    copy = data.copy()
    estimate_normalization(data)
    np.testing.assert_array_equal(data, copy)


def test_errors():
    with pytest.raises(ValueError, match='no spread'):
        estimate_normalization(np.full((10, 10), 7.0))
    with pytest.raises(ValueError, match='too few'):
        estimate_normalization(np.zeros((10, 10)))
    with pytest.raises(ValueError, match='no unmasked'):
        masked_median(np.full((3, 3), np.nan))
    with pytest.raises(ValueError, match='exclude_brightest'):
        truncated_std_factor(1.0)


def test_poisson_normalization_whitens_counts():
    from bgrem.model.normalization import poisson_normalization

    rng = np.random.default_rng(3)
    expected = np.outer(np.linspace(2, 300, 200), np.ones(150))  # 2 to 300 counts per pixel
    counts = rng.poisson(expected).astype(float)
    original = counts.copy()
    factor = poisson_normalization(counts, smoothing=3.0)
    assert factor.dtype == np.float32 and factor.shape == counts.shape
    assert np.array_equal(counts, original)
    whitened = (counts - expected) * factor
    for rows in (slice(2, 14), slice(184, 198)):  # faint and bright parts
        assert np.std(whitened[rows]) == pytest.approx(1.0, abs=0.1)
    # a single factor cannot do that: the noise std changes by a factor of about 4.5
    assert np.std((counts - expected)[184:198]) / np.std((counts - expected)[2:14]) > 4


def test_poisson_normalization_floor_mask_and_errors():
    from bgrem.model.normalization import poisson_normalization

    empty = np.zeros((40, 40))
    assert np.all(poisson_normalization(empty, floor=4.0) == np.float32(0.5))
    counts = np.full((40, 40), 100.0)
    mask = np.zeros_like(counts, bool)
    counts[10:20, 10:20], mask[10:20, 10:20] = 1e6, True  # masked hot region is ignored
    assert np.allclose(poisson_normalization(counts, mask), 0.1, rtol=1e-4)
    with pytest.raises(ValueError, match='positive'):
        poisson_normalization(counts, smoothing=0)
    with pytest.raises(ValueError, match='no unmasked'):
        poisson_normalization(counts, np.ones_like(mask))


def test_sky_plane_ignores_sources_masks_and_nan():
    yy, xx = np.mgrid[:150, :230]
    sky = 50.0 + 0.3 * xx - 0.2 * yy
    data = sky + np.random.default_rng(3).normal(0, 2.0, sky.shape)
    data[20:60, 30:90] += 400.0      # a large bright galaxy
    data[100:110, 200:210] = np.nan  # bad pixels
    mask = np.zeros(sky.shape, bool)
    mask[:, :10] = True
    data[:, :10] = -1e4              # masked garbage
    before = data.copy()
    plane = fit_sky_plane(data, mask)
    np.testing.assert_array_equal(data, before)  # input not modified
    assert plane.dtype == np.float32 and plane.shape == sky.shape
    assert np.abs(plane - sky).max() < 0.5  # gradient of 115 across, noise 2
    # a median would be off by the gradient
    assert np.abs(np.nanmedian(data) - sky).max() > 30


def test_sky_plane_of_small_and_thin_images():
    rng = np.random.default_rng(4)
    for shape in [(10, 10), (5, 300), (2, 2)]:
        sky = 5 + 0.1 * np.arange(shape[1])[None, :] + np.zeros(shape)
        assert np.abs(fit_sky_plane(sky + rng.normal(0, 0.01, shape)) - sky).max() < 0.1
    thin = 5 + 0.1 * np.arange(50.0)[None, :]
    plane = fit_sky_plane(thin)  # one row of blocks: no gradient can be fitted
    assert np.allclose(plane, np.median(thin))  # float32


def test_sky_plane_errors():
    with pytest.raises(ValueError, match='2-D'):
        fit_sky_plane(np.ones(10))
    with pytest.raises(ValueError, match='too few valid pixels'):
        fit_sky_plane(np.full((40, 40), np.nan))
