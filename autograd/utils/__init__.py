"""``torch.utils`` as ported programs reach it: ``utils.data`` is ``autograd.data``;
``utils.checkpoint`` is activation checkpointing.

``from autograd.utils.data import DataLoader`` works too: the alias is registered as
a module.
"""
import sys

from .. import data
from . import benchmark, checkpoint

sys.modules[__name__ + ".data"] = data

__all__ = ["benchmark", "checkpoint", "data"]
