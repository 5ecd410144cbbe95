import json

import numpy as np
import pytest

from bgrem.model.normalization import estimate_normalization
from bgrem.training.dataset import (BROAD_OPTICAL_MIXTURE, build_tile_dataset, cut_tiles,
                                    field_config, load_tile_dataset, normalize_field,
                                    split_fields)


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


def test_mixture_dataset_cycles_through_configs(tmp_path):
    pytest.importorskip('galsim')
    from bgrem.simulate import OpticalFieldConfig, simulate_optical_field

    base = OpticalFieldConfig(shape=(64, 64), star_density=200.0)
    configs = [base, base.replace(seeing_fwhm_range=(4.5, 5.0), sky_gradient_range=(0.3, 0.4))]
    build_tile_dataset(tmp_path / 'm.h5', 6, config=configs, tile_size=64, seed=7,
                       min_peak=0.0, noise_scale_range=(1, 1), progress_bar=False)
    tiles = {split: load_tile_dataset(tmp_path / 'm.h5', split) for split in
             ('train', 'validation', 'test')}
    attrs = tiles['train'].attrs
    seen = set()
    for data in tiles.values():
        for seed, y in zip(data.field_seed, data.sources):
            index = int(seed) - 7 * 100003
            config = field_config(attrs, seed)
            assert config == configs[index % 2]
            seen.add(index % 2)
            # the stored tile is the field simulated with that config
            field = simulate_optical_field(config, seed=int(seed))
            expected, _, _ = normalize_field(field.sources, field.background,
                                             field.saturated_mask)
            np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    assert seen == {0, 1}
    with pytest.raises(ValueError, match='not a field'):
        field_config(attrs, 7 * 100003 + 6)
    with pytest.raises(TypeError, match='OpticalFieldConfig'):
        build_tile_dataset(tmp_path / 'bad.h5', 2, config=[], progress_bar=False)


def test_workers_write_the_same_file(tmp_path):
    pytest.importorskip('galsim')
    from bgrem.simulate import OpticalFieldConfig

    config = OpticalFieldConfig(shape=(64, 64), star_density=200.0)
    for workers in (1, 2):
        build_tile_dataset(tmp_path / f'w{workers}.h5', 6, config=config, tile_size=32,
                           seed=3, workers=workers, progress_bar=False)
    for split in ('train', 'validation', 'test'):
        one, two = (load_tile_dataset(tmp_path / f'w{w}.h5', split) for w in (1, 2))
        assert len(one) > 0
        np.testing.assert_array_equal(one.sources, two.sources)
        np.testing.assert_array_equal(one.background, two.background)
        np.testing.assert_array_equal(one.field_seed, two.field_seed)
    with pytest.raises(ValueError, match='workers'):
        build_tile_dataset(tmp_path / 'w0.h5', 2, config=config, workers=0,
                           progress_bar=False)


def test_field_config_of_a_single_config_dataset(tmp_path):
    pytest.importorskip('galsim')
    from bgrem.simulate import OpticalFieldConfig

    config = OpticalFieldConfig(shape=(64, 64), star_density=200.0)
    build_tile_dataset(tmp_path / 's.h5', 3, config=config, tile_size=64, seed=1,
                       min_peak=0.0, progress_bar=False)
    attrs = load_tile_dataset(tmp_path / 's.h5', 'train').attrs
    assert field_config(attrs, 12345) == config


def test_broad_mixture_is_valid_and_covers_the_hard_conditions():
    pytest.importorskip('galsim')
    from bgrem.evaluation import FIELD_CONDITIONS
    from bgrem.simulate import OpticalFieldConfig

    configs = [OpticalFieldConfig().replace(**changes) for changes in BROAD_OPTICAL_MIXTURE]
    assert configs[0] == OpticalFieldConfig()
    for condition in ('gradients', 'poor_seeing', 'structured_sky'):
        for name, (low, high) in FIELD_CONDITIONS[condition].items():
            assert any(c.__dict__[name][0] <= low and c.__dict__[name][1] >= high
                       for c in configs), (condition, name)
    densities = {c.star_density for c in configs}
    assert {FIELD_CONDITIONS['crowded']['star_density'],
            FIELD_CONDITIONS['sparse']['star_density']} <= densities
    # large galaxies are seen on lumpy skies more often than by default
    assert any(c.large_galaxy_fraction > OpticalFieldConfig().large_galaxy_fraction
               and c.structure_amplitude_range[0] > 0 for c in configs)


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
