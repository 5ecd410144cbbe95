import numpy as np
import pytest

keras = pytest.importorskip('keras')

from bgrem.model.network import (DEFAULT_ARCHITECTURE, SinusoidalEmbedding,  # noqa: E402
                                 build_network)


def test_default_parameter_count():
    network = build_network(**DEFAULT_ARCHITECTURE)
    assert network.count_params() == 1_055_924
    assert [i.shape[1:] for i in network.inputs] == [(None, None, 1), (1, 1, 1)]


@pytest.mark.parametrize('shape', [(16, 16), (32, 48), (64, 16)])
def test_fully_convolutional(shape):
    network = build_network(widths=[4, 8, 16, 32, 64], block_depth=1)
    images = np.zeros((2,) + shape + (1,), 'f4')
    out = network.predict_on_batch([images, np.ones((2, 1, 1, 1), 'f4')])
    assert out.shape == images.shape


def test_output_depends_on_the_variance():
    keras.utils.set_random_seed(0)
    network = build_network(widths=[4, 8], block_depth=1, attention_levels=[0])
    images = np.random.default_rng(0).normal(size=(1, 16, 16, 1)).astype('f4')
    low = network.predict_on_batch([images, np.full((1, 1, 1, 1), 0.04, 'f4')])
    high = network.predict_on_batch([images, np.full((1, 1, 1, 1), 1.0, 'f4')])
    assert not np.allclose(low, high)


def test_embedding_values():
    layer = SinusoidalEmbedding(4, 1000.0)
    out = keras.ops.convert_to_numpy(layer(np.full((1, 1, 1, 1), 0.25, 'f4')))
    speeds = 2 * np.pi * np.array([1.0, 1000.0])
    np.testing.assert_allclose(out.ravel(), np.concatenate([np.sin(0.25 * speeds),
                                                            np.cos(0.25 * speeds)]), atol=2e-4)
    with pytest.raises(ValueError, match='even'):
        SinusoidalEmbedding(5)


@pytest.mark.parametrize('kwargs, match', [
    ({'widths': [8]}, 'at least two'),
    ({'attention_levels': [4]}, 'outside'),
])
def test_bad_architecture(kwargs, match):
    with pytest.raises(ValueError, match=match):
        build_network(**kwargs)
