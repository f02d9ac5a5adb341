"""``torch.utils`` as ported programs reach it: ``utils.data`` is ``autograd.data``.

``from autograd.utils.data import DataLoader`` works too: the alias is registered as
a module.
"""
import sys

from .. import data

sys.modules[__name__ + ".data"] = data

__all__ = ["data"]
