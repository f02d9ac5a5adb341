"""``nn.functional`` (imported as ``F``): stateless layers with PyTorch's names,
argument names and defaults, grouped by family in this package's modules."""
from .activations import *  # noqa: F401,F403
from .activations import __all__ as _a
from .attention import *  # noqa: F401,F403
from .attention import __all__ as _b
from .conv import *  # noqa: F401,F403
from .conv import __all__ as _c
from .linear import *  # noqa: F401,F403
from .linear import __all__ as _d
from .losses import *  # noqa: F401,F403
from .losses import __all__ as _e
from .normalization import *  # noqa: F401,F403
from .normalization import __all__ as _f
from .losses_more import *  # noqa: F401,F403
from .losses_more import __all__ as _losses_more
from .embedding_more import *  # noqa: F401,F403
from .embedding_more import __all__ as _embedding_more
from .spatial import *  # noqa: F401,F403
from .spatial import __all__ as _spatial

__all__ = _a + _b + _c + _d + _e + _f + _losses_more + _embedding_more + _spatial
