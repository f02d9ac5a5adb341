"""Data-parallel training across processes (``torch.nn.parallel``); the process group
is ``nn.distributed``."""
from .data_parallel import DistributedDataParallel

__all__ = ["DistributedDataParallel"]
