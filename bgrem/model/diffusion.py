"""
The noise schedule and the deterministic sampler of the BGRem diffusion scheme.

The observed image is modelled as ``x_t = y + sigma_t * x`` where ``y`` is the
source-only image and ``x`` the background-plus-noise image.  The network is
trained to predict ``x`` from ``(x_t, sigma_t**2)``.  At inference the
observed image is ``x_t`` at ``sigma = 1`` and the reverse iteration below
walks the noise level down to the smallest trained value.

Everything here is pure NumPy; the network enters only as a callable.
"""

import numpy as np

__all__ = ['MAX_SIGNAL_RATE', 'noise_level', 'sampling_noise_levels',
           'diffuse', 'reverse_diffusion']

#: ``cos(theta)`` at ``t = 0``: the smallest noise level is
#: ``sin(arccos(0.98)) ~ 0.199``.
MAX_SIGNAL_RATE = 0.98


def noise_level(t, max_signal_rate=MAX_SIGNAL_RATE):
    """
    Noise level ``sigma(t) = sin(theta(t))`` of the diffusion schedule.

    ``theta`` is linear in ``t`` from ``arccos(max_signal_rate)`` at
    ``t = 0`` to ``pi / 2`` at ``t = 1``.

    Parameters
    ----------
    t : float or array_like
        Diffusion time(s) in ``[0, 1]``.
    max_signal_rate : float, optional
        ``cos(theta)`` at ``t = 0``; must be in ``(0, 1)``.

    Returns
    -------
    sigma : float or `~numpy.ndarray`
        The noise level(s), between ``sqrt(1 - max_signal_rate**2)`` and 1.

    Raises
    ------
    ValueError
        If ``t`` is outside ``[0, 1]`` or ``max_signal_rate`` outside
        ``(0, 1)``.

    Examples
    --------
    >>> from bgrem.model.diffusion import noise_level
    >>> float(noise_level(1.0))
    1.0
    >>> round(float(noise_level(0.0)), 4)
    0.199
    """
    if not 0 < max_signal_rate < 1:
        raise ValueError('max_signal_rate must be between 0 and 1 (exclusive), '
                         f'got {max_signal_rate}')
    t = np.asarray(t, dtype=float)
    if np.any((t < 0) | (t > 1)) or not np.all(np.isfinite(t)):
        raise ValueError('diffusion times must lie in [0, 1]')
    start = np.arccos(max_signal_rate)
    theta = start + t * (np.pi / 2 - start)
    sigma = np.sin(theta)
    return float(sigma) if sigma.ndim == 0 else sigma


def sampling_noise_levels(n_steps, max_signal_rate=MAX_SIGNAL_RATE):
    """
    Noise levels visited by the reverse iteration with ``n_steps`` steps.

    The diffusion times are ``t_i = 1 - i / n_steps`` for ``i = 0 ...
    n_steps - 1`` (so the first level is always ``sigma = 1``, the observed
    image), and a final level of 0 marks the clean output.

    Parameters
    ----------
    n_steps : int
        Number of network evaluations, at least 1.
    max_signal_rate : float, optional
        See `noise_level`.

    Returns
    -------
    sigmas : `~numpy.ndarray`
        ``n_steps + 1`` decreasing noise levels, the last one 0.

    Examples
    --------
    >>> from bgrem.model.diffusion import sampling_noise_levels
    >>> sampling_noise_levels(2).round(3).tolist()
    [1.0, 0.774, 0.0]
    """
    n_steps = _check_steps(n_steps)
    times = 1.0 - np.arange(n_steps) / n_steps
    return np.append(noise_level(times, max_signal_rate), 0.0)


def diffuse(sources, background, sigma):
    """
    Forward diffusion: ``x_t = sources + sigma * background``.

    Parameters
    ----------
    sources : array_like
        Source-only image(s) ``y``.
    background : array_like
        Background-plus-noise image(s) ``x`` of the same shape.
    sigma : float or array_like
        Noise level(s), broadcastable against the images (for a batch of
        shape ``(n, ny, nx)`` use shape ``(n, 1, 1)``).

    Returns
    -------
    noisy : `~numpy.ndarray`
        The diffused image(s).
    """
    return np.asarray(sources) + np.asarray(sigma) * np.asarray(background)


def reverse_diffusion(predict, observed, n_steps,
                      max_signal_rate=MAX_SIGNAL_RATE):
    """
    Remove the background from ``observed`` by the deterministic reverse
    iteration of BGRem.

    Starting from ``x = observed`` at ``sigma_0 = 1``, each step predicts the
    background ``x_hat = predict(x, sigma_i**2)``, forms the clean estimate
    ``y_hat = x - sigma_i * x_hat`` and re-noises it to the next level,
    ``x = y_hat + sigma_{i+1} * x_hat``.  The last ``y_hat`` is returned.

    Parameters
    ----------
    predict : callable
        ``predict(images, variances) -> background`` where ``images`` has
        the shape of ``observed`` and ``variances`` is an array of shape
        ``(len(images), 1, 1, ..., 1)`` holding ``sigma**2`` for every image.
    observed : `~numpy.ndarray`
        A batch of normalised images, first axis the batch.
    n_steps : int
        Number of network evaluations.
    max_signal_rate : float, optional
        See `noise_level`.

    Returns
    -------
    clean : `~numpy.ndarray`
        The source-only estimate, unclipped, float32.

    Examples
    --------
    A network that knows the true background gives back the sources exactly:

    >>> import numpy as np
    >>> from bgrem.model.diffusion import reverse_diffusion
    >>> y = np.zeros((1, 4, 4), 'f4'); y[0, 1, 2] = 5.0
    >>> x = np.ones((1, 4, 4), 'f4')
    >>> out = reverse_diffusion(lambda images, var: x, y + x, n_steps=1)
    >>> bool(np.array_equal(out, y))
    True
    """
    sigmas = sampling_noise_levels(n_steps, max_signal_rate)
    noisy = np.asarray(observed, dtype=np.float32)
    var_shape = (noisy.shape[0],) + (1,) * (noisy.ndim - 1)
    clean = noisy
    for sigma, sigma_next in zip(sigmas[:-1], sigmas[1:]):
        variances = np.full(var_shape, sigma ** 2, dtype=np.float32)
        background = np.asarray(predict(noisy, variances), dtype=np.float32)
        background = background.reshape(noisy.shape)
        clean = noisy - np.float32(sigma) * background
        noisy = clean + np.float32(sigma_next) * background
    return clean


def _check_steps(n_steps):
    if isinstance(n_steps, bool) or int(n_steps) != n_steps or n_steps < 1:
        raise ValueError(f'the number of diffusion steps must be an integer >= 1, '
                         f'got {n_steps!r}')
    return int(n_steps)
