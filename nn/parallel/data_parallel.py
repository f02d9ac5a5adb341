"""`DistributedDataParallel`: one model replica per process, gradients averaged.

    import nn.distributed as dist
    from nn.parallel import DistributedDataParallel as DDP
    dist.init_process_group()
    model = DDP(model)           # parameters and buffers now equal rank 0's
    loss_fn(model(x), y).backward()   # .grad holds the average over the ranks
    opt.step()

PyTorch's semantics: the wrapped module is ``model.module`` and ``state_dict`` keys
carry the ``module.`` prefix; each forward broadcasts the buffers (BatchNorm running
statistics) from rank 0 (``broadcast_buffers=True``), while batch statistics stay
local to each rank's batch (no SyncBatchNorm); ``no_sync()`` skips the averaging for
gradient accumulation, and the next synced backward averages what has accumulated.
"""
from contextlib import contextmanager

import autograd as ag

from .. import distributed as dist
from ..module import Module
from .reducer import Reducer


class DistributedDataParallel(Module):
    def __init__(self, module, broadcast_buffers=True, bucket_cap_mb=25, find_unused_parameters=False):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected an nn.Module, got {type(module).__name__}")
        if find_unused_parameters:
            raise NotImplementedError("DistributedDataParallel: find_unused_parameters=True is not "
                                      "supported; every parameter that requires grad must contribute "
                                      "to the loss (freeze the others with requires_grad_(False))")
        if not bucket_cap_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_cap_mb must be positive, got {bucket_cap_mb}")
        dist.get_world_size()                       # fails clearly without a process group
        self.module = module
        self.broadcast_buffers = broadcast_buffers
        self.require_backward_grad_sync = True
        _check_same_model(module)
        dist.broadcast_coalesced([t for _, t in _named_state(module)])
        named = [(n, p) for n, p in module.named_parameters() if p.requires_grad]
        # With one rank the local gradients are already the average: nothing to send.
        self.reducer = Reducer(named, bucket_cap_mb) if dist.get_world_size() > 1 else None

    def forward(self, *args, **kwargs):
        if self.broadcast_buffers:
            dist.broadcast_coalesced(list(self.module.buffers()))
        if self.reducer is not None and ag.is_grad_enabled():
            self.reducer.prepare_for_backward(sync=self.require_backward_grad_sync)
        return self.module(*args, **kwargs)

    @contextmanager
    def no_sync(self):
        """Backward passes of forwards run inside this block only accumulate local
        gradients; the first synced backward after it averages the sum."""
        previous = self.require_backward_grad_sync
        self.require_backward_grad_sync = False
        try:
            yield
        finally:
            self.require_backward_grad_sync = previous


def _named_state(module):
    """Parameters then buffers, in registration order (the same order on every rank)."""
    return list(module.named_parameters()) + list(module.named_buffers())


def _check_same_model(module):
    """Every rank must wrap a model of the same parameter/buffer names, shapes and dtypes."""
    mine = [(name, tuple(t.shape), str(t.dtype)) for name, t in _named_state(module)]
    everyone = [None] * dist.get_world_size()
    dist.all_gather_object(everyone, mine)
    for rank, theirs in enumerate(everyone[1:], start=1):
        if theirs == everyone[0]:
            continue
        for i in range(max(len(theirs), len(everyone[0]))):
            a = everyone[0][i] if i < len(everyone[0]) else "nothing"
            b = theirs[i] if i < len(theirs) else "nothing"
            if a != b:
                break
        raise RuntimeError(
            f"DistributedDataParallel: the models differ across ranks: entry {i} of the parameters "
            f"and buffers is {a} (name, shape, dtype) on rank 0 but {b} on rank {rank}; every rank "
            "must build the same model")



class DataParallel(Module):
    """``torch.nn.DataParallel`` on a machine without GPUs: ``device_ids`` is empty and
    the module runs as it is, as PyTorch's does there; ``state_dict`` keys carry the
    ``module.`` prefix.  For several processes, use DistributedDataParallel."""

    def __init__(self, module, device_ids=None, output_device=None, dim=0):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DataParallel: expected an nn.Module, got {type(module).__name__}")
        if device_ids:
            raise RuntimeError(f"DataParallel: device_ids {list(device_ids)} name GPUs, but tapegrad "
                               "runs on the CPU only")
        self.module = module
        self.device_ids = []
        self.output_device = None
        self.dim = dim

    def forward(self, *inputs, **kwargs):
        return self.module(*inputs, **kwargs)
