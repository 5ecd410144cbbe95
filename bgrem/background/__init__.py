"""Background removal with the interface of photutils ``Background2D``."""

from .core import *  # noqa: F401,F403
from .core import __all__  # noqa: F401
