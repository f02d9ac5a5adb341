"""``torch.utils`` as ported programs reach it: ``utils.data`` is ``autograd.data``;
``utils.checkpoint`` is activation checkpointing; ``utils.tensorboard.SummaryWriter``
writes TensorBoard logs (the tensorboard package is imported when a writer is made).

``from autograd.utils.data import DataLoader`` works too: the alias is registered as
a module.
"""
import sys

from .. import data
from . import benchmark, checkpoint, tensorboard

sys.modules[__name__ + ".data"] = data

__all__ = ["benchmark", "checkpoint", "data", "tensorboard"]
