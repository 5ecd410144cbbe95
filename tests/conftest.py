"""Shared fixtures: small models that make the tests fast and exact."""

import numpy as np
import pytest

from bgrem.model.card import ModelCard
from bgrem.model.registry import BGRemModel

#: A small architecture: 3 levels (tiles must be multiples of 4), 3526 parameters.
TINY_ARCHITECTURE = {'widths': [4, 8, 16], 'block_depth': 1, 'attention_levels': [1]}


class FunctionModel(BGRemModel):
    """A model whose 'network' is a NumPy function: exact, and no Keras needed."""

    def __init__(self, function, name='function', default_steps=1, **card):
        super().__init__(None, ModelCard(name, 'none', default_steps=default_steps, **card))
        self.function = function
        self.calls = 0

    def __repr__(self):
        return f'<FunctionModel {self.name}>'

    def predict(self, images, variances):
        self.calls += 1
        return self.function(np.asarray(images), np.asarray(variances))


@pytest.fixture
def zero_model():
    """Predicts no background: the cleaned image is the normalised input."""
    return FunctionModel(lambda images, variances: np.zeros_like(images), name='zero')


@pytest.fixture
def everything_model():
    """Predicts that everything is background (at sigma = 1): the cleaned image is zero."""
    return FunctionModel(lambda images, variances: images / np.sqrt(variances), name='all')


@pytest.fixture(scope='session')
def tiny_model_path(tmp_path_factory):
    """A randomly initialised small network saved to disk; returns the card path."""
    import keras

    from bgrem.model.network import build_network
    from bgrem.model.registry import save_model

    keras.utils.set_random_seed(1234)
    network = build_network(**TINY_ARCHITECTURE)
    card = ModelCard('tiny', '', architecture=TINY_ARCHITECTURE, default_steps=2,
                     description='random weights, for tests')
    return save_model(network, tmp_path_factory.mktemp('models') / 'tiny', card)


@pytest.fixture(scope='session')
def tiny_model(tiny_model_path):
    from bgrem.model.registry import load_model

    return load_model(tiny_model_path)


@pytest.fixture
def noise_image():
    """Gaussian noise, mean 100, std 3, on a non-square, non-tile-multiple shape."""
    return np.random.default_rng(42).normal(100.0, 3.0, (231, 317))
