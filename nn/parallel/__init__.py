"""Data-parallel training across processes (``torch.nn.parallel``); the process group
is ``nn.distributed``."""
from .data_parallel import DataParallel, DistributedDataParallel

__all__ = ["DataParallel", "DistributedDataParallel"]
