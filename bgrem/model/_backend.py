"""Import Keras on whichever backend is available, TensorFlow first."""

import contextlib
import importlib.util
import os
import sys

__all__ = []

_BACKEND_ORDER = ('tensorflow', 'jax', 'torch')


def import_keras():
    """
    Import and return `keras`, choosing a backend that is installed.

    An explicit ``KERAS_BACKEND`` environment variable is respected.
    Otherwise TensorFlow is used when installed, then JAX, then PyTorch.

    Raises
    ------
    ImportError
        If Keras or every backend is missing.
    """
    if 'KERAS_BACKEND' not in os.environ:
        for backend in _BACKEND_ORDER:
            if importlib.util.find_spec(backend) is not None:
                os.environ['KERAS_BACKEND'] = backend
                break
        else:
            raise ImportError('bgrem needs Keras 3 with one of TensorFlow, JAX or PyTorch '
                              'installed: pip install tensorflow')
    os.environ.setdefault('TF_CPP_MIN_LOG_LEVEL', '2')
    try:
        with _quiet_native_stderr():
            import keras
            if keras.backend.backend() == 'tensorflow':
                # TensorFlow looks for GPUs on first use and logs a CUDA error
                # on machines without one; do it here, silenced.
                import tensorflow
                tensorflow.config.list_physical_devices()
    except ImportError as exc:
        raise ImportError(f'bgrem needs Keras 3 ({exc}): '
                          'pip install "keras>=3" tensorflow') from exc
    if int(keras.__version__.split('.')[0]) < 3:
        raise ImportError(f'bgrem needs Keras 3, found {keras.__version__}')
    return keras


@contextlib.contextmanager
def _quiet_native_stderr():
    """
    Silence what native code writes to file descriptor 2 (TensorFlow's
    start-up log lines and its CUDA errors on machines without a GPU, which
    no environment variable turns off).
    Python exceptions are unaffected.
    """
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (e.g. captured)
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, 'w') as devnull:
            os.dup2(devnull.fileno(), fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
