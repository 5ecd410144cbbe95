"""
Evaluation against the truth of simulated fields: source matching,
detection curves, the baseline background subtractions (photutils, sep,
SExtractor) and the suite that compares them with bgrem per field
condition.
"""

from .conditions import *  # noqa: F401,F403
from .conditions import __all__ as _conditions_all
from .detection import *  # noqa: F401,F403
from .detection import __all__ as _detection_all
from .gamma import *  # noqa: F401,F403
from .gamma import __all__ as _gamma_all
from .methods import *  # noqa: F401,F403
from .methods import __all__ as _methods_all
from .suite import *  # noqa: F401,F403
from .suite import __all__ as _suite_all

__all__ = _conditions_all + _detection_all + _gamma_all + _methods_all + _suite_all
