"""Source detection and photometry on bgrem-cleaned images."""

from ._highpass import *  # noqa: F401,F403
from ._highpass import __all__ as _highpass_all
from ._psf import *  # noqa: F401,F403
from ._psf import __all__ as _psf_all
from .core import *  # noqa: F401,F403
from .core import __all__ as _core_all
from .output import *  # noqa: F401,F403
from .output import __all__ as _output_all

__all__ = _core_all + _highpass_all + _psf_all + _output_all
