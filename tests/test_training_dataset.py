import json

import numpy as np
import pytest

from bgrem.model.normalization import estimate_normalization
from bgrem.training.dataset import (build_tile_dataset, cut_tiles, load_tile_dataset,
                                    normalize_field, split_fields)


def test_split_is_by_field_and_complete():
    splits = split_fields(23, (0.8, 0.1, 0.1), seed=3)
    together = np.concatenate(list(splits.values()))
    assert sorted(together.tolist()) == list(range(23))
    assert [len(v) for v in splits.values()] == [19, 2, 2]
    small = split_fields(3, (0.8, 0.1, 0.1))
    assert all(len(v) == 1 for v in small.values())
    with pytest.raises(ValueError, match='fractions'):
        split_fields(5, (1, -1, 0))


def test_cut_tiles_order():
    image = np.arange(6 * 9).reshape(6, 9)
    tiles = cut_tiles(image, 3)
    assert tiles.shape == (6, 3, 3)
    np.testing.assert_array_equal(tiles[1], image[0:3, 3:6])
    np.testing.assert_array_equal(tiles[3], image[3:6, 0:3])
    with pytest.raises(ValueError, match='smaller than a tile'):
        cut_tiles(image, 7)


def test_normalize_field_matches_inference():
    rng = np.random.default_rng(0)
    sources = np.zeros((64, 64))
    sources[10, 10] = 500.0
    background = 1000.0 + rng.normal(0, 4.0, (64, 64))
    y, x, factor = normalize_field(sources, background)
    observed = sources + background
    assert factor == pytest.approx(estimate_normalization(observed - np.median(observed)))
    assert factor == pytest.approx(0.25, rel=0.05)
    np.testing.assert_allclose(y + x, (observed - np.median(observed)) * factor, atol=1e-4)
    assert y[10, 10] == pytest.approx(500 * factor, rel=1e-6)


def test_build_dataset(tmp_path):
    pytest.importorskip('galsim')
    from bgrem.simulate import OpticalFieldConfig

    config = OpticalFieldConfig(shape=(64, 64), star_density=200.0)
    counts = build_tile_dataset(tmp_path / 'd.h5', 10, config=config, tile_size=32, seed=4,
                                progress_bar=False)
    assert sum(counts.values()) > 0 and counts['train'] > counts['test']
    train = load_tile_dataset(tmp_path / 'd.h5', 'train')
    test = load_tile_dataset(tmp_path / 'd.h5', 'test')
    assert train.sources.shape[1:] == (32, 32)
    assert not set(train.field_seed) & set(test.field_seed)  # split by field
    assert np.all(train.sources.max(axis=(1, 2)) >= 3.0 * 0.8)  # min_peak, scaled
    # noise of the normalised background is about 1 (times the random scale)
    assert 0.7 < np.median(train.background.std(axis=(1, 2))) < 1.4
    splits = json.loads(train.attrs['split_fields'])
    assert set(test.field_seed) <= set(splits['test'])
    with pytest.raises(ValueError, match='split'):
        load_tile_dataset(tmp_path / 'd.h5', 'holdout')


def test_normalize_field_poisson_method():
    from bgrem.model.normalization import poisson_normalization

    rng = np.random.default_rng(0)
    sources = np.zeros((64, 64))
    sources[30:34, 30:34] = 50.0
    background = rng.poisson(np.full((64, 64), 20.0)).astype(float)
    y, x, factor = normalize_field(sources, background,
                                   normalization={'method': 'poisson', 'smoothing': 2.0})
    assert np.allclose(factor, poisson_normalization(sources + background, smoothing=2.0))
    assert np.allclose(y, sources * factor, atol=1e-5)
    assert np.allclose(x, (background - np.median(sources + background)) * factor, atol=1e-5)
    with pytest.raises(ValueError, match='normalization method'):
        normalize_field(sources, background, normalization={'method': 'anscombe'})


def test_build_gamma_dataset_splits_by_sky(tmp_path):
    pytest.importorskip('reproject')
    from bgrem.simulate import GammaSkyConfig
    from bgrem.training.dataset import build_gamma_dataset

    path = tmp_path / 'gamma.h5'
    counts = build_gamma_dataset(path, 20, config=GammaSkyConfig(nside=64), seed=1,
                                 sky_seeds=(4, 5, 6), progress_bar=False)
    assert counts == {'train': 16, 'validation': 2, 'test': 2}
    train = load_tile_dataset(path, 'train')
    assert train.sources.shape == (16, 64, 64)
    assert json.loads(train.attrs['sky_seeds']) == [4, 5, 6]
    assert json.loads(train.attrs['normalization'])['method'] == 'poisson'
    test_seeds = set(load_tile_dataset(path, 'test').field_seed)
    assert not test_seeds & set(train.field_seed)
    with pytest.raises(ValueError, match='three different'):
        build_gamma_dataset(path, 10, sky_seeds=(1, 1, 2), progress_bar=False)
