"""
Training the BGRem network in the supervised diffusion scheme of the paper.

For every tile a diffusion time ``t ~ U(0, 1)`` is drawn, the network sees
``x_t = y + sigma(t) x`` and ``sigma(t)**2`` and is trained to predict ``x``
with an L1 loss; AdamW (learning rate 1e-3, weight decay 1e-4), the learning
rate multiplied by 0.95 every epoch, early stopping after 10 epochs without
improvement of the validation loss.  Works with any Keras backend.
"""

import csv
import dataclasses
import datetime
import json
import pathlib
import platform
import time

import numpy as np

from ..model._backend import import_keras
from ..model.card import ModelCard
from ..model.diffusion import MAX_SIGNAL_RATE, noise_level
from ..model.registry import save_model
from .dataset import load_tile_dataset

keras = import_keras()

__all__ = ['TrainingConfig', 'train_model', 'DiffusionBatches']


@dataclasses.dataclass
class TrainingConfig:
    """
    Settings of a training run (the paper's values by default).

    Parameters
    ----------
    epochs : int
        Maximum number of epochs.
    batch_size : int
        Tiles per optimisation step.
    crop_size : int or None
        Train on random crops of this size (a multiple of 16) cut from the
        stored tiles; None trains on whole tiles.  The network is fully
        convolutional, so crops speed up CPU training.
    steps_per_epoch : int or None
        Batches per epoch; None covers the training set once.
    learning_rate, weight_decay : float
        AdamW settings.
    lr_decay : float
        Factor applied to the learning rate after every epoch.
    patience : int
        Early stopping after this many epochs without a better validation
        loss (the best weights are kept).
    seed : int
        Seed of the weights, the crops and the diffusion times.
    architecture : dict or None
        Keyword arguments of `~bgrem.model.network.build_network`; None for
        the default architecture.
    max_signal_rate : float
        Schedule parameter.
    time_limit : float or None
        Stop after the first epoch that ends past this many minutes of this
        session (the best weights are kept, as with early stopping); None
        for no limit.
    """

    epochs: int = 100
    batch_size: int = 16
    crop_size: int = None
    steps_per_epoch: int = None
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    lr_decay: float = 0.95
    patience: int = 10
    seed: int = 0
    architecture: dict = None
    max_signal_rate: float = MAX_SIGNAL_RATE
    time_limit: float = None

    def __post_init__(self):
        if self.crop_size is not None and self.crop_size % 16:
            raise ValueError(f'crop_size must be a multiple of 16, got {self.crop_size}')
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError('epochs and batch_size must be at least 1')
        if self.time_limit is not None and not self.time_limit > 0:
            raise ValueError(f'time_limit must be positive minutes, got {self.time_limit}')
        if self.architecture is None:
            from ..model.network import DEFAULT_ARCHITECTURE
            self.architecture = dict(DEFAULT_ARCHITECTURE)

    def to_dict(self):
        """The settings as a JSON-able dict."""
        return dataclasses.asdict(self)


class DiffusionBatches(keras.utils.PyDataset):
    """
    Batches ``([x_t, sigma**2], x)`` drawn from a `TileDataset`.

    Every batch is a pure function of ``(seed, epoch, index)`` (the
    training loop sets ``epoch``), so a run is repeatable and a resumed run
    sees the batches it would have seen.  With ``fixed=True`` (validation)
    the batches ignore the epoch and each tile is used once with a fixed
    diffusion time.

    Parameters
    ----------
    dataset : `~bgrem.training.dataset.TileDataset`
        The tiles.
    batch_size : int
        Tiles per batch.
    crop_size : int, optional
        Random crops of this size (training only).
    steps : int, optional
        Batches per epoch; by default one pass over the tiles.
    seed : int, optional
        Random seed.
    fixed : bool, optional
        Validation mode.
    max_signal_rate : float, optional
        Schedule parameter.
    """

    def __init__(self, dataset, batch_size, *, crop_size=None, steps=None, seed=0,
                 fixed=False, max_signal_rate=MAX_SIGNAL_RATE):
        super().__init__()
        self.dataset = dataset
        self.batch_size = batch_size
        self.crop_size = crop_size
        self.seed = seed
        self.fixed = fixed
        self.max_signal_rate = max_signal_rate
        self.epoch = 0
        full = int(np.ceil(len(dataset) / batch_size))
        self.steps = full if steps is None or fixed else int(steps)
        if len(dataset) == 0:
            raise ValueError('the dataset split is empty')

    def __len__(self):
        return self.steps

    def __getitem__(self, index):
        rng = np.random.default_rng([self.seed, 0 if self.fixed else self.epoch, index])
        n = len(self.dataset)
        if self.fixed:
            picks = np.arange(index * self.batch_size, min((index + 1) * self.batch_size, n))
        else:
            picks = rng.integers(0, n, self.batch_size)
        y = self.dataset.sources[picks]
        x = self.dataset.background[picks]
        if self.crop_size is not None and self.crop_size < y.shape[-1]:
            size = y.shape[-1]
            y0, x0 = rng.integers(0, size - self.crop_size + 1, (2, len(picks)))
            y = np.stack([t[a:a + self.crop_size, b:b + self.crop_size]
                          for t, a, b in zip(y, y0, x0)])
            x = np.stack([t[a:a + self.crop_size, b:b + self.crop_size]
                          for t, a, b in zip(x, y0, x0)])
        if not self.fixed:  # the 8 symmetries of the square
            k = rng.integers(0, 4)
            y, x = np.rot90(y, k, axes=(1, 2)), np.rot90(x, k, axes=(1, 2))
            if rng.integers(0, 2):
                y, x = y[:, :, ::-1], x[:, :, ::-1]
        sigma = noise_level(rng.uniform(0, 1, len(picks)), self.max_signal_rate)
        sigma = sigma.astype(np.float32)[:, None, None]
        noisy = y + sigma * x
        return ((noisy[..., None].astype(np.float32),
                 (sigma ** 2)[..., None, None].reshape(-1, 1, 1, 1).astype(np.float32)),
                np.ascontiguousarray(x[..., None], dtype=np.float32))


def train_model(dataset_path, output_dir, *, config=None, name='optical', description='',
                resume=True, init_from=None, verbose=2):
    """
    Train a network on a tile dataset and save it as a model with its card.

    Checkpoints (weights and epoch) are written to ``output_dir`` after every
    epoch; with ``resume`` an interrupted run continues from the last one.
    The losses of every epoch are appended to ``output_dir/history.csv``.

    Parameters
    ----------
    dataset_path : path-like
        HDF5 file from `~bgrem.training.dataset.build_tile_dataset`.
    output_dir : path-like
        Folder for checkpoints, history and the final model
        ``NAME.weights.h5`` + ``NAME.json``.
    config : `TrainingConfig`, optional
        Settings; the paper's by default.
    name, description : str, optional
        Name and description written to the model card.
    resume : bool, optional
        Continue from the checkpoint in ``output_dir`` if there is one.
    init_from : str or path-like, optional
        Start from the weights of this model (a name of
        `~bgrem.model.available_models` or a card path): fine-tuning.  Its
        architecture must be ``config.architecture``.  A checkpoint to
        resume from takes precedence.
    verbose : int, optional
        Keras verbosity (0 silent, 1 progress bar, 2 one line per epoch).

    Returns
    -------
    card_path : `pathlib.Path`
        The saved model card.
    """
    from ..model.network import build_network

    config = TrainingConfig() if config is None else config
    output_dir = pathlib.Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    keras.utils.set_random_seed(config.seed)
    train = load_tile_dataset(dataset_path, 'train')
    validation = load_tile_dataset(dataset_path, 'validation')
    train_batches = DiffusionBatches(
        train, config.batch_size, crop_size=config.crop_size, steps=config.steps_per_epoch,
        seed=config.seed, max_signal_rate=config.max_signal_rate)
    validation_batches = DiffusionBatches(
        validation, config.batch_size, seed=config.seed + 1, fixed=True,
        max_signal_rate=config.max_signal_rate)

    network = build_network(**config.architecture)
    start_card = None
    if init_from is not None:
        start_card = _load_initial_weights(network, init_from, config.architecture)
    network.compile(optimizer=keras.optimizers.AdamW(learning_rate=config.learning_rate,
                                                     weight_decay=config.weight_decay),
                    loss='mean_absolute_error')
    history_path = output_dir / 'history.csv'
    if not resume and history_path.exists():
        history_path.unlink()
    callbacks = [
        keras.callbacks.LearningRateScheduler(
            lambda epoch: config.learning_rate * config.lr_decay ** epoch),
        keras.callbacks.EarlyStopping(monitor='val_loss', patience=config.patience,
                                      restore_best_weights=True),
        keras.callbacks.CSVLogger(str(history_path), append=True),
        keras.callbacks.LambdaCallback(
            on_epoch_begin=lambda epoch, logs: setattr(train_batches, 'epoch', epoch)),
    ]
    if resume:
        callbacks.append(keras.callbacks.BackupAndRestore(str(output_dir / 'checkpoint'),
                                                          delete_checkpoint=False))
    start = time.perf_counter()
    time_limit = None if config.time_limit is None else _TimeLimit(start, config.time_limit)
    if time_limit is not None:
        callbacks.append(time_limit)
    network.fit(train_batches, validation_data=validation_batches, epochs=config.epochs,
                callbacks=callbacks, verbose=verbose)
    minutes = (time.perf_counter() - start) / 60
    history = _read_history(history_path)
    card = ModelCard(
        name, '', architecture=config.architecture, max_signal_rate=config.max_signal_rate,
        description=description, **_inference_settings(train.attrs),
        training={
            'dataset': _dataset_summary(dataset_path, train, validation),
            'initialised_from': None if start_card is None else start_card.name,
            'settings': config.to_dict(),
            'epochs_run': len(history),
            'stopped_by_time_limit': time_limit is not None and time_limit.stopped,
            'best_epoch': int(np.argmin([row['val_loss'] for row in history])) + 1
            if history else None,
            'final_train_loss': history[-1]['loss'] if history else None,
            'best_val_loss': min(row['val_loss'] for row in history) if history else None,
            'minutes_last_session': round(minutes, 1),
            'date': datetime.date.today().isoformat(),
            'backend': keras.backend.backend(),
            'keras': keras.__version__,
            'hardware': f'{platform.machine()} {platform.processor()}'.strip(),
        })
    return save_model(network, output_dir / name, card)


class _TimeLimit(keras.callbacks.Callback):
    """Stop training after the epoch that ends past ``minutes`` from ``start``."""

    def __init__(self, start, minutes):
        super().__init__()
        self.start, self.minutes = start, minutes
        self.stopped = False  # whether it ended the run before its last epoch

    def on_epoch_end(self, epoch, logs=None):
        if (time.perf_counter() - self.start) / 60 >= self.minutes:
            self.model.stop_training = True
            self.stopped = epoch + 1 < self.params['epochs']


def _load_initial_weights(network, model, architecture):
    """Put the weights of a saved model into ``network``; return its card."""
    from ..model.registry import load_model

    start = load_model(model)
    if start.card.architecture != architecture:
        raise ValueError(f'model {start.name!r} has architecture {start.card.architecture}, '
                         f'not the training architecture {architecture}')
    network.set_weights(start.network.get_weights())
    return start.card


def _read_history(path):
    if not path.exists():
        return []
    with open(path) as stream:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(stream)]


def _inference_settings(attrs):
    """Card fields the dataset fixes: its normalisation and, for small tiles, the tiling."""
    settings = {}
    if 'normalization' in attrs:
        settings['normalization'] = json.loads(attrs['normalization'])
    tile_size = int(attrs.get('tile_size', 256))
    if tile_size < 256:  # e.g. 64x64 gamma-ray patches: tiles of the patch size
        settings['tile_size'] = tile_size
        settings['keep_size'] = tile_size * 3 // 4
    return settings


def _dataset_summary(path, train, validation):
    attrs = train.attrs
    return {'file': pathlib.Path(path).name, 'train_tiles': len(train),
            'validation_tiles': len(validation), 'tile_size': int(attrs.get('tile_size', 0)),
            'n_fields': int(attrs.get('n_fields', 0)), 'seed': int(attrs.get('seed', 0)),
            'simulator_config': json.loads(attrs.get('config', '{}')),
            **{key: json.loads(attrs[key]) for key in ('sky_seeds', 'flavours') if key in attrs},
            'kind': str(attrs.get('kind', 'optical'))}
