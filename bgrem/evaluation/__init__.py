"""
Evaluation against the truth of simulated fields: source matching,
detection curves (true vs false positives as the threshold sweeps).
"""

from .detection import *  # noqa: F401,F403
from .detection import __all__  # noqa: F401
