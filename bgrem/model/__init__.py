"""
The BGRem model: network, diffusion schedule and sampler, tiling,
normalisation, and the registry of shipped models.

The network itself (`bgrem.model.network`) imports Keras and is imported
only when a model is built or loaded.
"""

from .card import *  # noqa: F401,F403
from .diffusion import *  # noqa: F401,F403
from .inference import *  # noqa: F401,F403
from .normalization import *  # noqa: F401,F403
from .registry import *  # noqa: F401,F403
from .tiling import *  # noqa: F401,F403
from . import card, diffusion, inference, normalization, registry, tiling

__all__ = (card.__all__ + diffusion.__all__ + inference.__all__ + normalization.__all__
           + registry.__all__ + tiling.__all__)
