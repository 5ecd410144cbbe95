"""
The attention U-Net of BGRem, written with Keras 3 (``keras.ops`` only) so
that it runs on the TensorFlow, JAX and PyTorch backends.

Importing this module imports Keras; `bgrem` imports it only when a model is
built or loaded.
"""

import math

from ._backend import import_keras

keras = import_keras()
layers = keras.layers
ops = keras.ops

__all__ = ['DEFAULT_ARCHITECTURE', 'build_network', 'SinusoidalEmbedding']

#: Hyper-parameters of the network described in the BGRem paper.
DEFAULT_ARCHITECTURE = {
    'widths': [16, 32, 64, 128, 256],
    'block_depth': 2,
    'embedding_dims': 32,
    'embedding_max_frequency': 1000.0,
    'negative_slope': 0.2,
    'attention_levels': [1, 2, 3],
}


@keras.saving.register_keras_serializable(package='bgrem')
class SinusoidalEmbedding(layers.Layer):
    """
    Sinusoidal embedding of the noise variance ``sigma**2``.

    The variance is multiplied by ``2 pi f`` for ``embedding_dims / 2``
    frequencies ``f`` spaced logarithmically between 1 and ``max_frequency``;
    the sines and cosines of these are the embedding.

    Parameters
    ----------
    embedding_dims : int
        Length of the embedding (even).
    max_frequency : float
        Highest frequency.
    """

    def __init__(self, embedding_dims=32, max_frequency=1000.0, **kwargs):
        super().__init__(**kwargs)
        if embedding_dims % 2:
            raise ValueError(f'embedding_dims must be even, got {embedding_dims}')
        self.embedding_dims = embedding_dims
        self.max_frequency = max_frequency

    def call(self, variance):
        half = self.embedding_dims // 2
        frequencies = ops.exp(ops.linspace(0.0, math.log(self.max_frequency), half))
        angular_speeds = ops.cast(2.0 * math.pi * frequencies, variance.dtype)
        angles = variance * angular_speeds
        return ops.concatenate([ops.sin(angles), ops.cos(angles)], axis=-1)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.embedding_dims,)

    def get_config(self):
        return {**super().get_config(), 'embedding_dims': self.embedding_dims,
                'max_frequency': self.max_frequency}


@keras.saving.register_keras_serializable(package='bgrem')
class _BroadcastLike(layers.Layer):
    """Broadcast a ``(batch, 1, 1, c)`` tensor to the spatial size of another."""

    def call(self, inputs):
        vector, like = inputs
        return ops.ones_like(like[..., :1]) * vector

    def compute_output_shape(self, input_shapes):
        vector, like = input_shapes
        return tuple(like[:-1]) + (vector[-1],)


def _conv_block(x, width, depth, slope, name):
    for i in range(depth):
        x = layers.Conv2D(width, 3, padding='same', name=f'{name}_conv{i}')(x)
        x = layers.LeakyReLU(negative_slope=slope, name=f'{name}_act{i}')(x)
    return x


def _attention_gate(skip, gate, slope, name):
    """Additive attention gate (Oktay et al. 2018) on a skip connection."""
    inter = max(skip.shape[-1] // 2, 1)
    theta = layers.Conv2D(inter, 1, name=f'{name}_skip_proj')(skip)
    phi = layers.Conv2D(inter, 1, name=f'{name}_gate_proj')(gate)
    joint = layers.LeakyReLU(negative_slope=slope, name=f'{name}_act')(
        layers.Add(name=f'{name}_add')([theta, phi]))
    alpha = layers.Conv2D(1, 1, activation='sigmoid', name=f'{name}_coefficients')(joint)
    return layers.Multiply(name=f'{name}_apply')([skip, alpha])


def build_network(widths=(16, 32, 64, 128, 256), block_depth=2, embedding_dims=32,
                  embedding_max_frequency=1000.0, negative_slope=0.2,
                  attention_levels=(1, 2, 3), name='bgrem_attention_unet'):
    """
    Build the BGRem attention U-Net.

    The network maps a noisy image ``x_t`` (``(batch, ny, nx, 1)``) and the
    noise variance ``sigma**2`` (``(batch, 1, 1, 1)``) to the predicted
    background-plus-noise image ``x`` of the shape of ``x_t``.  It is fully
    convolutional: any ``ny`` and ``nx`` that are multiples of
    ``2**(len(widths) - 1)`` work.

    Layout: a 1x1 convolution lifts the image to ``widths[0]`` channels, to
    which the sinusoidal embedding of ``sigma**2`` is concatenated at every
    pixel.  Each encoder level applies ``block_depth`` 3x3 convolutions with
    LeakyReLU and halves the resolution by average pooling.  The bottleneck
    (``widths[-1]`` channels) uses depthwise-separable 3x3 convolutions,
    which keeps the network near the paper's 0.8 M parameters.  Each decoder
    level upsamples bilinearly, reduces the channels with a 1x1 convolution,
    concatenates the skip connection, gated by an additive attention gate on
    the levels listed in ``attention_levels`` (0 is full resolution), and
    applies ``block_depth`` 3x3 convolutions.  A linear 1x1 convolution gives
    the output.

    Parameters
    ----------
    widths : sequence of int
        Channels per resolution level; the last is the bottleneck.
    block_depth : int
        Convolutions per level.
    embedding_dims : int
        Length of the noise-variance embedding.
    embedding_max_frequency : float
        Highest frequency of the embedding.
    negative_slope : float
        Slope of the LeakyReLU for negative inputs.
    attention_levels : sequence of int
        Levels whose skip connections get an attention gate.
    name : str
        Name of the Keras model.

    Returns
    -------
    network : `keras.Model`
        Inputs ``[noisy_image, noise_variance]``, output the predicted
        background.

    Examples
    --------
    >>> from bgrem.model.network import build_network
    >>> build_network().count_params()
    1055924
    """
    widths = [int(w) for w in widths]
    if len(widths) < 2 or min(widths) < 1 or block_depth < 1:
        raise ValueError('widths needs at least two positive entries and block_depth >= 1')
    levels = len(widths) - 1
    bad = set(attention_levels) - set(range(levels))
    if bad:
        raise ValueError(f'attention_levels {sorted(bad)} outside the {levels} skip levels')

    image = keras.Input((None, None, 1), name='noisy_image')
    variance = keras.Input((1, 1, 1), name='noise_variance')
    x = layers.Conv2D(widths[0], 1, name='lift')(image)
    embedding = SinusoidalEmbedding(embedding_dims, embedding_max_frequency,
                                    name='variance_embedding')(variance)
    x = layers.Concatenate(name='with_embedding')([x, _BroadcastLike(name='broadcast')(
        [embedding, x])])

    skips = []
    for level, width in enumerate(widths[:-1]):
        x = _conv_block(x, width, block_depth, negative_slope, f'down{level}')
        skips.append(x)
        x = layers.AveragePooling2D(2, name=f'down{level}_pool')(x)

    for i in range(block_depth):
        x = layers.SeparableConv2D(widths[-1], 3, padding='same', name=f'bottleneck_conv{i}')(x)
        x = layers.LeakyReLU(negative_slope=negative_slope, name=f'bottleneck_act{i}')(x)

    for level in reversed(range(levels)):
        width = widths[level]
        x = layers.UpSampling2D(2, interpolation='bilinear', name=f'up{level}_upsample')(x)
        x = layers.Conv2D(width, 1, name=f'up{level}_reduce')(x)
        skip = skips[level]
        if level in attention_levels:
            skip = _attention_gate(skip, x, negative_slope, f'up{level}_attention')
        x = layers.Concatenate(name=f'up{level}_concat')([x, skip])
        x = _conv_block(x, width, block_depth, negative_slope, f'up{level}')

    output = layers.Conv2D(1, 1, name='background')(x)
    return keras.Model([image, variance], output, name=name)
