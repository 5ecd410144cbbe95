import numpy as np
import pytest

from bgrem.model.inference import clean_image


@pytest.mark.parametrize('shape', [(1, 1), (5, 300), (256, 256), (401, 263)])
def test_zero_background_network_reproduces_input_bit_for_bit(shape):
    image = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    out = clean_image(image, lambda images, variances: np.zeros_like(images), 6)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, image)


def test_constant_background_is_removed_exactly():
    rng = np.random.default_rng(1)
    sources = np.zeros((300, 420), np.float32)
    sources[rng.integers(0, 300, 50), rng.integers(0, 420, 50)] = 40.0
    level = np.float32(3.0)
    # An oracle that knows the background is the constant `level` (at sigma = 1).
    out = clean_image(sources + level, lambda images, variances: np.full_like(images, level), 4)
    np.testing.assert_allclose(out, sources, atol=1e-5)


def test_batches_and_tile_sizes_do_not_change_the_result():
    image = np.random.default_rng(2).normal(size=(150, 90)).astype(np.float32)

    def predict(images, variances):  # pixel-wise, so tiling cannot matter
        return 0.5 * images * variances

    reference = clean_image(image, predict, 3, batch_size=1)
    for kwargs in ({'batch_size': 7}, {'tile_size': 64, 'keep_size': 32}):
        np.testing.assert_array_equal(clean_image(image, predict, 3, **kwargs), reference)


def test_tile_median_removes_offsets():
    image = np.full((40, 40), 12.0, np.float32)
    out = clean_image(image, lambda images, variances: np.zeros_like(images), 1,
                      tile_size=32, keep_size=16, tile_median=True)
    np.testing.assert_array_equal(out, 0.0)


def test_batches_are_bounded():
    sizes = []

    def predict(images, variances):
        sizes.append(len(images))
        return np.zeros_like(images)

    clean_image(np.zeros((1000, 1000), np.float32), predict, 1, batch_size=4)
    assert max(sizes) == 4 and sum(sizes) == 25


def test_rejects_non_finite_and_non_2d():
    with pytest.raises(ValueError, match='finite'):
        clean_image(np.full((4, 4), np.nan), np.zeros_like, 1)
    with pytest.raises(ValueError, match='2-D'):
        clean_image(np.zeros((2, 4, 4)), np.zeros_like, 1)
