import numpy as np
import pytest

from bgrem.model.diffusion import (MAX_SIGNAL_RATE, diffuse, noise_level,
                                   reverse_diffusion, sampling_noise_levels)


def test_noise_level_end_points():
    # theta(0) = arccos(0.98): sigma = sqrt(1 - 0.98**2) = 0.198997...
    assert noise_level(0.0) == pytest.approx(np.sqrt(1 - 0.98 ** 2), rel=1e-12)
    assert noise_level(1.0) == pytest.approx(1.0, rel=1e-12)


def test_noise_level_midpoint_by_hand():
    theta = 0.5 * (np.arccos(0.98) + np.pi / 2)
    assert noise_level(0.5) == pytest.approx(np.sin(theta), rel=1e-12)
    assert noise_level(np.array([0.0, 0.5, 1.0])).shape == (3,)


@pytest.mark.parametrize('t', [-0.1, 1.1, np.nan])
def test_noise_level_rejects_times_outside_unit_interval(t):
    with pytest.raises(ValueError, match='diffusion times'):
        noise_level(t)


@pytest.mark.parametrize('rate', [0.0, 1.0, 1.5])
def test_noise_level_rejects_bad_signal_rate(rate):
    with pytest.raises(ValueError, match='max_signal_rate'):
        noise_level(0.5, rate)


def test_sampling_levels():
    sigmas = sampling_noise_levels(4)
    assert sigmas.shape == (5,)
    assert sigmas[0] == 1.0 and sigmas[-1] == 0.0
    assert np.all(np.diff(sigmas) < 0)
    # t = 1, 0.75, 0.5, 0.25
    np.testing.assert_allclose(sigmas[:-1], noise_level(np.array([1, 0.75, 0.5, 0.25])))
    assert sampling_noise_levels(1).tolist() == [1.0, 0.0]


@pytest.mark.parametrize('steps', [0, -1, 1.5, True])
def test_sampling_levels_reject_bad_steps(steps):
    with pytest.raises(ValueError, match='diffusion steps'):
        sampling_noise_levels(steps)


def test_diffuse():
    y = np.array([[1.0, 2.0]])
    x = np.array([[10.0, -10.0]])
    np.testing.assert_array_equal(diffuse(y, x, 0.5), [[6.0, -3.0]])


@pytest.mark.parametrize('steps', [1, 2, 6, 15])
def test_true_background_gives_sources_back(steps):
    rng = np.random.default_rng(0)
    y = np.maximum(rng.normal(0, 3, (3, 16, 16)), 0).astype('f4')
    x = rng.normal(0, 1, (3, 16, 16)).astype('f4')
    out = reverse_diffusion(lambda images, variances: x, diffuse(y, x, 1.0), steps)
    np.testing.assert_allclose(out, y, atol=2e-6)
    if steps == 1:
        np.testing.assert_array_equal(out, (y + x) - x)


def test_sampler_passes_the_variances_of_the_schedule():
    seen = []

    def predict(images, variances):
        assert variances.shape == (2, 1, 1)
        assert np.all(variances == variances.flat[0])
        seen.append(float(variances.flat[0]))
        return np.zeros_like(images)

    reverse_diffusion(predict, np.ones((2, 4, 4), 'f4'), 3)
    np.testing.assert_allclose(seen, sampling_noise_levels(3, MAX_SIGNAL_RATE)[:-1] ** 2,
                               rtol=1e-6)


def test_zero_background_is_identity():
    data = np.random.default_rng(1).normal(size=(2, 8, 8)).astype('f4')
    out = reverse_diffusion(lambda images, variances: np.zeros_like(images), data, 6)
    np.testing.assert_array_equal(out, data)
