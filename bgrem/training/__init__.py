"""
Training: tile datasets built from simulated fields, and the training loop.

`bgrem.training.dataset` needs h5py and (to build) GalSim;
`bgrem.training.train` imports Keras.
"""

from .dataset import *  # noqa: F401,F403
from .dataset import __all__  # noqa: F401
