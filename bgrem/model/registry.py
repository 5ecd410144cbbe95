"""
Loading and saving models: shipped models by name, any model by path.

A model on disk is a ``NAME.weights.h5`` file and a ``NAME.json`` model card
(`~bgrem.model.card.ModelCard`) beside it.  Shipped models live in the
package data folder ``bgrem/model/data``.
"""

import functools
import hashlib
import importlib.resources
import pathlib

import numpy as np

from .card import ModelCard

__all__ = ['BGRemModel', 'available_models', 'load_model', 'save_model',
           'DEFAULT_MODEL']

#: Name of the model used when none is given.
DEFAULT_MODEL = 'optical'

_WEIGHTS_SUFFIX = '.weights.h5'


class BGRemModel:
    """
    A network together with its model card.

    Use `load_model` to get one; `predict` is the callable that the sampler
    needs.

    Parameters
    ----------
    network : `keras.Model`
        The attention U-Net.
    card : `~bgrem.model.card.ModelCard`
        Its description.
    """

    def __init__(self, network, card):
        self.network = network
        self.card = card

    def __repr__(self):
        return (f'<BGRemModel {self.card.name!r}: {self.network.count_params()} parameters, '
                f'{self.card.default_steps} default steps>')

    @property
    def name(self):
        """The model's name."""
        return self.card.name

    def predict(self, images, variances):
        """
        Predict the background-plus-noise of a batch of normalised tiles.

        Parameters
        ----------
        images : `~numpy.ndarray`
            Shape ``(batch, ny, nx)`` or ``(batch, ny, nx, 1)``.
        variances : `~numpy.ndarray`
            ``sigma**2`` per tile, any shape with ``batch`` elements.

        Returns
        -------
        background : `~numpy.ndarray`
            float32 array of the shape of ``images``.
        """
        images = np.asarray(images, dtype=np.float32)
        variances = np.asarray(variances, dtype=np.float32).reshape(-1, 1, 1, 1)
        result = self.network.predict_on_batch([images.reshape(images.shape[:3] + (1,)),
                                                variances])
        return np.asarray(result, dtype=np.float32).reshape(images.shape)


def available_models():
    """
    Names of the models shipped with bgrem.

    Returns
    -------
    names : list of str
    """
    return sorted(path.name[:-len('.json')] for path in _data_dir().iterdir()
                  if path.name.endswith('.json'))


def load_model(model=DEFAULT_MODEL):
    """
    Load a model by name or path.

    Parameters
    ----------
    model : str, path-like or `BGRemModel`
        The name of a shipped model (see `available_models`), the path of a
        model card (``.json``) or of a weights file (``.weights.h5``, with its
        ``.json`` card beside it), or an already loaded model, which is
        returned as it is.

    Returns
    -------
    model : `BGRemModel`

    Raises
    ------
    FileNotFoundError
        If no such model or file exists.
    ValueError
        If the card is invalid or the weights do not match it.
    """
    if isinstance(model, BGRemModel):
        return model
    if isinstance(model, str) and model in available_models():
        return _load_shipped(model)
    card_path, weights_path = _resolve_paths(pathlib.Path(model))
    return _load_files(card_path, weights_path)


def save_model(network, path, card):
    """
    Save a network and its card as ``PATH.weights.h5`` and ``PATH.json``.

    Parameters
    ----------
    network : `keras.Model`
        The network to save.
    path : path-like
        The destination without suffix (a ``.weights.h5`` or ``.json`` suffix
        is removed).
    card : `~bgrem.model.card.ModelCard`
        The card; its ``weights_file`` and ``sha256`` are filled in.  Only
        the network weights are saved, not an optimizer state.

    Returns
    -------
    card_path : `pathlib.Path`
        Where the card was written.
    """
    stem = _strip_suffix(pathlib.Path(path))
    stem.parent.mkdir(parents=True, exist_ok=True)
    weights_path = stem.with_name(stem.name + _WEIGHTS_SUFFIX)
    if getattr(network, 'optimizer', None) is not None:
        # A compiled network would also save its optimizer state (3x the size).
        from .network import build_network

        inference_network = build_network(**card.architecture)
        inference_network.set_weights(network.get_weights())
        network = inference_network
    network.save_weights(weights_path)
    card = card.replace(weights_file=weights_path.name, sha256=_sha256(weights_path))
    card_path = stem.with_name(stem.name + '.json')
    card.write(card_path)
    return card_path


def _data_dir():
    return importlib.resources.files('bgrem.model') / 'data'


@functools.lru_cache(maxsize=None)
def _load_shipped(name):
    with importlib.resources.as_file(_data_dir() / f'{name}.json') as card_path:
        card = ModelCard.read(card_path)
        with importlib.resources.as_file(_data_dir() / card.weights_file) as weights_path:
            return _load_files(card_path, weights_path)


def _strip_suffix(path):
    for suffix in (_WEIGHTS_SUFFIX, '.json'):
        if path.name.endswith(suffix):
            return path.with_name(path.name[:-len(suffix)])
    return path


def _resolve_paths(path):
    stem = _strip_suffix(path)
    card_path = stem.with_name(stem.name + '.json')
    if not card_path.is_file():
        if path == stem and not path.exists():
            raise FileNotFoundError(
                f'no model {str(path)!r}: not a shipped model ({", ".join(available_models())}) '
                'nor an existing file')
        raise FileNotFoundError(f'model card {card_path} not found (a model is a .weights.h5 '
                                'file with a .json card beside it)')
    card = ModelCard.read(card_path)
    weights_path = card_path.parent / card.weights_file
    if path.name.endswith(_WEIGHTS_SUFFIX) and path.resolve() != weights_path.resolve():
        raise ValueError(f'the card {card_path} names the weights {card.weights_file}, '
                         f'not {path.name}')
    return card_path, weights_path


def _load_files(card_path, weights_path):
    card = ModelCard.read(card_path)
    weights_path = pathlib.Path(weights_path)
    if not weights_path.is_file():
        raise FileNotFoundError(f'weights file {weights_path} named by {card_path} not found')
    if card.sha256 is not None and _sha256(weights_path) != card.sha256:
        raise ValueError(f'the checksum of {weights_path} does not match its model card: '
                         'the file is damaged or belongs to another card')
    from .network import build_network

    network = build_network(**card.architecture)
    try:
        network.load_weights(weights_path)
    except Exception as exc:  # Keras raises ValueError, KeyError or OSError
        raise ValueError(f'the weights in {weights_path} do not fit the architecture of '
                         f'{card_path}: {exc}') from None
    return BGRemModel(network, card)


def _sha256(path):
    digest = hashlib.sha256()
    with open(path, 'rb') as stream:
        for block in iter(lambda: stream.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()
