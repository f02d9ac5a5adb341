"""``torch.backends`` as CPU programs touch it: the flags exist and change nothing.

Published programs set ``torch.backends.cudnn.benchmark = True`` or ``deterministic``
and ask ``torch.backends.mps.is_available()``.  tapegrad has no cuDNN, MPS or oneDNN
(mkldnn), so those report unavailable and their flags are plain attributes; the
values are PyTorch's defaults on a CPU build.  Results here are deterministic anyway
(no atomics; threads split work in fixed blocks).
"""
import types


def _backend(available, **flags):
    ns = types.SimpleNamespace(**flags)
    ns.is_available = lambda: available
    return ns


cudnn = _backend(False, enabled=True, benchmark=False, deterministic=False, allow_tf32=True)
mps = _backend(False)
mps.is_built = lambda: False
mkldnn = _backend(False, enabled=True)
mkl = _backend(False)
openmp = _backend(True)
cuda = types.SimpleNamespace(is_built=lambda: False,
                             matmul=types.SimpleNamespace(allow_tf32=False,
                                                          allow_fp16_reduced_precision_reduction=True))
cpu = types.SimpleNamespace(get_cpu_capability=lambda: "DEFAULT")

__all__ = ["cpu", "cuda", "cudnn", "mkl", "mkldnn", "mps", "openmp"]
