import numpy as np
import pytest

from bgrem.model.tiling import TileGrid, iter_tile_batches, pad_for_tiling, place_tiles

SHAPES = [(1, 1), (7, 13), (200, 200), (201, 199), (256, 256), (257, 1), (97, 613), (450, 300)]


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('sizes', [(256, 200), (64, 32), (16, 16)])
def test_identity_round_trip_is_exact(shape, sizes):
    tile_size, keep_size = sizes
    image = np.random.default_rng(3).normal(size=shape).astype(np.float32)
    grid = TileGrid(shape, tile_size, keep_size)
    out = np.full(shape, np.nan, np.float32)
    seen = 0
    for indices, tiles in iter_tile_batches(pad_for_tiling(image, grid), grid, batch_size=5):
        assert tiles.shape == (len(indices), tile_size, tile_size)
        assert len(indices) <= 5
        place_tiles(out, grid, indices, tiles)
        seen += len(indices)
    assert seen == grid.count
    np.testing.assert_array_equal(out, image)


def test_every_pixel_written_once():
    grid = TileGrid((450, 300), 256, 200)
    counts = np.zeros(grid.shape, int)
    for index in range(grid.count):
        counts[grid.tile_slices(index)[1]] += 1
    assert np.all(counts == 1)


def test_grid_geometry():
    grid = TileGrid((450, 300))
    assert grid.margin == 28
    assert grid.n_tiles == (3, 2)
    assert grid.count == 6
    assert grid.padded_shape == (656, 456)
    source, target, centre = grid.tile_slices(5)  # last row, last column
    assert source == (slice(400, 656), slice(200, 456))
    assert target == (slice(400, 450), slice(200, 300))
    assert centre == (slice(28, 78), slice(28, 128))


def test_padding_is_a_reflection():
    image = np.arange(12, dtype=np.float32).reshape(3, 4)
    grid = TileGrid(image.shape, 8, 4)
    padded = pad_for_tiling(image, grid)
    m = grid.margin
    np.testing.assert_array_equal(padded[m:m + 3, m:m + 4], image)
    np.testing.assert_array_equal(padded[m - 1, m:m + 4], image[1])  # reflected row


@pytest.mark.parametrize('kwargs, match', [
    ({'shape': (0, 5)}, 'non-empty'),
    ({'shape': (5, 5, 5)}, '2-D'),
    ({'shape': (5, 5), 'keep_size': 300}, 'at most tile_size'),
    ({'shape': (5, 5), 'keep_size': 199}, 'even'),
])
def test_grid_validation(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TileGrid(**kwargs)


def test_batches_validation():
    grid = TileGrid((10, 10), 16, 8)
    with pytest.raises(ValueError, match='batch_size'):
        next(iter_tile_batches(pad_for_tiling(np.zeros((10, 10)), grid), grid, 0))
    with pytest.raises(ValueError, match='does not match'):
        pad_for_tiling(np.zeros((9, 10)), grid)
