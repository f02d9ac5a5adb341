"""Devices, as far as a CPU library has them.

PyTorch programs name devices everywhere (``torch.device("cpu")``, ``x.to(device)``,
``zeros(3, device=device)``, ``torch.cuda.is_available()``), so those names exist here
and the CPU is accepted wherever PyTorch accepts a device.  A device of another type
can be named (``device = torch.device("cuda" if torch.cuda.is_available() else "cpu")``
must work) but putting anything on it fails with a message saying why.
"""
import functools

from .tensor import Tensor


class device:
    """``device("cpu")``, ``device("cpu", 0)``, ``device("cuda:1")`` (nameable, not usable)."""
    __slots__ = ("type", "index")

    def __init__(self, type, index=None):
        if isinstance(type, device):
            type, index = type.type, type.index
        if not isinstance(type, str):
            raise TypeError(f"device: expected a string such as 'cpu', got {type!r}")
        kind, _, idx = type.partition(":")
        if idx:
            if index is not None or not idx.isdigit():
                raise ValueError(f"device: invalid device string {type!r}")
            index = int(idx)
        if not kind.isidentifier():
            raise ValueError(f"device: invalid device string {type!r}")
        self.type, self.index = kind, index

    def __repr__(self):
        extra = "" if self.index is None else f", index={self.index}"
        return f"device(type='{self.type}'{extra})"

    def __str__(self):
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __eq__(self, other):
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self):
        return hash((self.type, self.index))


CPU = device("cpu")


def is_device(value):
    """Whether ``value`` names a device (a ``device``, or a string like 'cpu' or 'cuda:0')."""
    if isinstance(value, device):
        return True
    if not isinstance(value, str):
        return False
    try:
        device(value)
    except ValueError:
        return False
    return value.partition(":")[0] in ("cpu", "cuda", "mps", "xpu", "meta", "hip", "xla")


def check_device(value, who):
    """Accept None, 'cpu' or a CPU device; refuse anything else, naming ``who``."""
    if value is None:
        return
    d = device(value) if not isinstance(value, device) else value
    if d.type != "cpu":
        raise RuntimeError(f"{who}: tapegrad runs on the CPU only, so device '{d}' is not "
                           "available; use 'cpu' (torch.cuda.is_available() is False here)")


def to_arguments(args, dtype=None, device=None):
    """PyTorch's positional ``to(...)`` arguments (a device, a dtype, or a tensor whose
    dtype is taken, in any order) sorted into ``(dtype, device)``; the device is checked."""
    for a in args:
        if isinstance(a, Tensor):
            dtype = a.dtype
        elif is_device(a):
            device = a
        elif a is not None:
            dtype = a
    check_device(device, "to")
    return dtype, device


def accepts_device(factory):
    """Give a tensor factory PyTorch's ``device=`` (and ``pin_memory=``, a no-op here)."""
    @functools.wraps(factory)
    def with_device(*args, device=None, pin_memory=False, **kwargs):
        check_device(device, factory.__name__)
        return factory(*args, **kwargs)
    return with_device


class _NoAccelerator:
    """``torch.cuda`` and ``torch.accelerator`` of a machine without one."""

    def __init__(self, name):
        self.__name__ = name

    @staticmethod
    def is_available():
        return False

    @staticmethod
    def device_count():
        return 0

    @staticmethod
    def current_accelerator():
        return None

    @staticmethod
    def manual_seed(seed):
        """Nothing to seed (PyTorch also ignores it without CUDA)."""

    manual_seed_all = manual_seed

    @staticmethod
    def synchronize(device=None):
        """Nothing to wait for."""

    def __repr__(self):
        return f"<{self.__name__}: not available (tapegrad runs on the CPU)>"


cuda = _NoAccelerator("autograd.cuda")
accelerator = _NoAccelerator("autograd.accelerator")
