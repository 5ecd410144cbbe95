import csv

import numpy as np
import pytest

keras = pytest.importorskip('keras')

from bgrem.model.registry import load_model  # noqa: E402
from bgrem.training.dataset import TileDataset  # noqa: E402
from bgrem.training.train import DiffusionBatches, TrainingConfig, train_model  # noqa: E402

TINY = {'widths': [4, 8, 16], 'block_depth': 1, 'attention_levels': [1]}


@pytest.fixture(scope='module')
def dataset_path(tmp_path_factory):
    """Synthetic tiles: point sources on a gradient with unit noise (no GalSim)."""
    import h5py

    rng = np.random.default_rng(0)
    path = tmp_path_factory.mktemp('data') / 'tiles.h5'
    with h5py.File(path, 'w') as h5:
        h5.attrs['tile_size'] = 32
        for split, n in (('train', 48), ('validation', 8), ('test', 4)):
            y = np.zeros((n, 32, 32), np.float32)
            idx = rng.integers(2, 30, (n, 6, 2))
            for k in range(n):
                y[k, idx[k, :, 0], idx[k, :, 1]] = rng.uniform(5, 40, 6)
            ramp = np.linspace(-2, 2, 32, dtype=np.float32)[None, None, :]
            x = rng.normal(0, 1, (n, 32, 32)).astype(np.float32) + ramp * rng.uniform(
                0, 1, (n, 1, 1)).astype(np.float32)
            group = h5.create_group(split)
            group['sources'] = y
            group['background'] = x
            group['field_seed'] = np.arange(n)
    return path


def test_batches_are_deterministic_and_consistent(dataset_path):
    from bgrem.model.diffusion import noise_level
    from bgrem.training.dataset import load_tile_dataset

    data = load_tile_dataset(dataset_path, 'train')
    batches = DiffusionBatches(data, 5, crop_size=16, steps=3, seed=1)
    (noisy, variance), target = batches[2]
    assert noisy.shape == (5, 16, 16, 1) and variance.shape == (5, 1, 1, 1)
    assert target.shape == noisy.shape
    sigma = np.sqrt(variance)
    assert np.all((sigma >= noise_level(0.0) - 1e-6) & (sigma <= 1 + 1e-6))
    again = batches[2]
    np.testing.assert_array_equal(again[0][0], noisy)
    batches.epoch = 1
    assert not np.array_equal(batches[2][0][0], noisy)
    # the noisy input is y + sigma * x with x the target: y >= 0 everywhere
    assert np.all(noisy - sigma * target >= -1e-5)
    validation = DiffusionBatches(load_tile_dataset(dataset_path, 'validation'), 3, fixed=True)
    assert len(validation) == 3 and len(validation[2][1]) == 2


def test_tiny_training_lowers_the_loss_and_saves_a_loadable_model(dataset_path, tmp_path):
    config = TrainingConfig(epochs=4, batch_size=8, steps_per_epoch=6, learning_rate=3e-3,
                            architecture=TINY, seed=2)
    card_path = train_model(dataset_path, tmp_path, config=config, name='tiny-trained',
                            verbose=0)
    with open(tmp_path / 'history.csv') as stream:
        history = list(csv.DictReader(stream))
    assert len(history) == 4
    assert float(history[-1]['val_loss']) < float(history[0]['val_loss'])
    model = load_model(card_path)
    assert model.card.training['epochs_run'] == 4
    assert model.card.training['stopped_by_time_limit'] is False
    assert model.card.training['settings']['learning_rate'] == 3e-3
    assert model.card.architecture == TINY
    assert np.isclose(float(history[1]['learning_rate']), 3e-3 * 0.95, rtol=1e-5)


def test_training_is_deterministic(dataset_path, tmp_path):
    config = TrainingConfig(epochs=1, batch_size=4, steps_per_epoch=2, architecture=TINY)
    weights = []
    for run in ('a', 'b'):
        model = load_model(train_model(dataset_path, tmp_path / run, config=config, verbose=0))
        weights.append(model.network.get_weights())
    for a, b in zip(*weights):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_resume_continues_from_the_checkpoint(dataset_path, tmp_path):
    config = TrainingConfig(epochs=2, batch_size=4, steps_per_epoch=2, architecture=TINY)
    train_model(dataset_path, tmp_path, config=config, verbose=0)
    config.epochs = 3
    train_model(dataset_path, tmp_path, config=config, verbose=0)
    with open(tmp_path / 'history.csv') as stream:
        epochs = [int(row['epoch']) for row in csv.DictReader(stream)]
    assert epochs == [0, 1, 2]


def test_init_from_starts_at_the_given_weights(dataset_path, tmp_path):
    config = TrainingConfig(epochs=1, batch_size=4, steps_per_epoch=2, architecture=TINY)
    start = train_model(dataset_path, tmp_path / 'start', config=config, name='start',
                        verbose=0)
    # zero epochs of change: a learning rate of 0 keeps the initial weights
    frozen = TrainingConfig(epochs=1, batch_size=4, steps_per_epoch=2, architecture=TINY,
                            learning_rate=0.0, seed=5)
    tuned = load_model(train_model(dataset_path, tmp_path / 'tuned', config=frozen,
                                   init_from=start, verbose=0))
    for a, b in zip(load_model(start).network.get_weights(), tuned.network.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert tuned.card.training['initialised_from'] == 'start'
    fresh = load_model(train_model(dataset_path, tmp_path / 'fresh', config=frozen, verbose=0))
    assert fresh.card.training['initialised_from'] is None
    assert not all(np.allclose(a, b) for a, b in zip(fresh.network.get_weights(),
                                                     tuned.network.get_weights()))
    other = TrainingConfig(epochs=1, batch_size=4, steps_per_epoch=2,
                           architecture=dict(TINY, widths=[4, 8, 8]))
    with pytest.raises(ValueError, match='architecture'):
        train_model(dataset_path, tmp_path / 'other', config=other, init_from=start, verbose=0)


def test_time_limit_stops_after_the_first_late_epoch(dataset_path, tmp_path):
    config = TrainingConfig(epochs=5, batch_size=4, steps_per_epoch=2, architecture=TINY,
                            time_limit=1e-6)
    model = load_model(train_model(dataset_path, tmp_path, config=config, verbose=0))
    with open(tmp_path / 'history.csv') as stream:
        assert len(list(csv.DictReader(stream))) == 1
    assert model.card.training['epochs_run'] == 1
    assert model.card.training['stopped_by_time_limit'] is True
    assert model.card.training['settings']['time_limit'] == 1e-6


def test_bad_settings():
    with pytest.raises(ValueError, match='multiple of 16'):
        TrainingConfig(crop_size=20)
    with pytest.raises(ValueError, match='at least 1'):
        TrainingConfig(epochs=0)
    with pytest.raises(ValueError, match='time_limit'):
        TrainingConfig(time_limit=0)
    with pytest.raises(ValueError, match='empty'):
        DiffusionBatches(TileDataset(np.zeros((0, 16, 16)), np.zeros((0, 16, 16)),
                                     np.zeros(0), {}), 2)


def test_train_command_passes_its_settings(dataset_path, tmp_path, capsys):
    from bgrem.scripts.main import main

    assert main(['train', str(dataset_path), '-o', str(tmp_path), '--name', 'cli',
                 '--epochs', '3', '--batch-size', '4', '--steps-per-epoch', '2',
                 '--learning-rate', '2e-3', '--time-limit', '1e-6']) == 0
    assert 'model saved' in capsys.readouterr().out
    card = load_model(tmp_path / 'cli.json').card
    assert card.training['settings']['learning_rate'] == 2e-3
    assert card.training['epochs_run'] == 1 and card.training['stopped_by_time_limit']
