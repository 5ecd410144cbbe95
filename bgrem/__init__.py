"""
bgrem: remove the background (sky level and noise) from astronomical images
with a diffusion model, so that source detection finds more real sources and
fewer false ones.

Importing bgrem does not import TensorFlow; that happens when a model is
loaded.
"""

try:
    from ._version import version as __version__
except ImportError:  # not installed, e.g. a source tree on PYTHONPATH
    try:
        from importlib.metadata import version as _version

        __version__ = _version('bgrem')
    except Exception:
        __version__ = '0.0.0'

from .background import BGRemBackground
from .detection import detect_sources
from .model.registry import available_models, load_model

__all__ = ['BGRemBackground', 'available_models', 'detect_sources', 'load_model',
           '__version__']
