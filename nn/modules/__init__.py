"""PyTorch's module paths: ``torch.nn.modules.<file>.<Class>``, so that a port of
``from torch.nn.modules.loss import _Loss`` is ``from nn.modules.loss import _Loss``.
Each file names where tapegrad keeps those classes (nn/layers, nn/containers.py);
tests/test_porting.py checks every class against PyTorch's layout."""
from . import adaptive, distance  # noqa: F401
from . import (activation, batchnorm, container, conv, dropout, flatten, instancenorm,  # noqa: F401
               linear, loss, module, normalization, pooling, rnn, sparse, transformer, upsampling,
               utils)
from . import channelshuffle, fold, padding, pixelshuffle  # noqa: F401  (issue 27's spatial family)
from .module import Module  # noqa: F401
