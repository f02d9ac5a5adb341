"""`Tensor`: a NumPy array plus what autograd needs to differentiate through it.

Ops are not defined here: each op module under ``autograd/ops`` attaches its
functions as methods with ``@tensor_method``, so an op's forward, VJP, samples and
method binding stay in one file.  This module holds the data model: flags,
gradient hooks, conversion and printing.
"""
import weakref

import numpy as np

from . import dtypes

_new = object.__new__


class VersionCounter:
    """Shared by a tensor and its views; bumped by every in-place write."""
    __slots__ = ("value",)

    def __init__(self):
        self.value = 0


def version_of(t):
    """``t``'s version without making its counter: a tensor without one has never been
    written in place nor viewed (both make it), so it is at version 0."""
    vc = t._vc
    return 0 if vc is None else vc.value


class Tensor:
    # Hot attributes are slots; rarely-set ones live in the instance dict with these
    # class defaults, so making a tensor (once per op) writes only five attributes.
    __slots__ = ("array", "_requires_grad", "grad_fn", "_output_nr", "_vc", "__dict__", "__weakref__")
    grad = None
    name = None
    _base = None            # the tensor whose memory this view shares
    _view = None            # (base, index) for views made by basic indexing
    _hooks = None
    _post_accumulate_grad_hooks = None
    _retains_grad = False
    _fw = None              # (dual level, tangent) under forward-mode AD (forward_ad.py)

    # Make NumPy defer to our reflected operators (np_array * tensor -> Tensor).
    __array_ufunc__ = None

    def __init__(self, data, dtype=None, requires_grad=False, name=None):
        """Same as ``autograd.tensor(data, dtype, requires_grad)``; copies ``data``."""
        self.array = _to_array(data, dtype, copy=True)
        self._init_meta()
        self.name = name
        if requires_grad:
            self.requires_grad = True

    def _init_meta(self):
        self._requires_grad = False
        self.grad_fn = self._vc = None
        self._output_nr = 0

    @staticmethod
    def _make(data, grad_fn=None, output_nr=0, version=None, base=None):
        """Fast internal constructor: wraps ``data`` without copying or checks.  A
        staticmethod over a bound ``object.__new__``: every op output comes through
        here, and a classmethod's binding and lookups cost a third more."""
        t = _new(Tensor)
        t.array = data
        t._requires_grad = grad_fn is not None
        t.grad_fn = grad_fn
        t._output_nr = output_nr
        t._vc = version
        if base is not None:
            t._base = base
        return t

    @property
    def _version(self):
        """The version counter, made on first use (most tensors never need one); see
        `version_of` for reading it without making one."""
        vc = self._vc
        if vc is None:
            vc = self._vc = VersionCounter()
        return vc

    # -- autograd flags ---------------------------------------------------------
    @property
    def requires_grad(self):
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, value):
        value = bool(value)
        if value and self.array.dtype.kind != "f":
            raise RuntimeError(
                f"only tensors of floating point dtype can require gradients; this tensor "
                f"has dtype {self.array.dtype} and shape {self.array.shape}. Convert it with "
                ".float() or .double() first.")
        if not value and self.grad_fn is not None:
            raise RuntimeError(
                "requires_grad can only be turned off on leaf tensors; use detach() to get "
                f"a tensor without history from this {self.grad_fn.name()} output.")
        self._requires_grad = value

    def requires_grad_(self, requires_grad=True):
        self.requires_grad = requires_grad
        return self

    @property
    def is_leaf(self):
        return self.grad_fn is None

    def detach(self):
        """A tensor sharing data (and version counter) with no history."""
        return Tensor._make(self.array, None, 0, self._version,
                            self._base if self._base is not None else self)

    @property
    def data(self):
        """PyTorch's ``.data``: a tensor without history sharing this tensor's memory.
        Unlike ``detach()`` it has its own version counter, so in-place changes made
        through it (``p.data.add_(u)``) are invisible to autograd, as in PyTorch.  The
        NumPy array itself is ``.array`` (or ``.numpy()``)."""
        return Tensor._make(self.array)

    @data.setter
    def data(self, value):
        # ``p.data = t`` rebinds p to t's memory (shape and dtype may change), keeping
        # p's identity, flags and gradient, as PyTorch does.
        if not isinstance(value, Tensor):
            raise TypeError(f"Tensor.data: expected a Tensor to assign, got {type(value).__name__}; "
                            "wrap arrays with autograd.as_tensor(...)")
        self.array = value.array

    def detach_(self):
        if self._base is not None and self._base.requires_grad:
            raise RuntimeError("detach_: cannot detach a view of a tensor that requires grad in place; use detach()")
        self.grad_fn = None
        self._requires_grad = False
        return self

    def retain_grad(self):
        """Keep ``.grad`` on a non-leaf after backward (leaves always keep it)."""
        if not self._requires_grad:
            raise RuntimeError("retain_grad: this tensor does not require grad")
        if self.grad_fn is not None and not self._retains_grad:
            self._retains_grad = True
            node_hooks(self.grad_fn).setdefault(("retain", self._output_nr), []).append(weakref.ref(self))

    @property
    def retains_grad(self):
        return self._retains_grad

    def register_hook(self, hook):
        """``hook(grad) -> Tensor or None`` runs when this tensor's gradient is computed;
        a returned tensor replaces the gradient.  Returns a handle with ``remove()``."""
        if not self._requires_grad:
            raise RuntimeError("register_hook: cannot register a hook on a tensor that doesn't require grad")
        if self.grad_fn is None:
            if self._hooks is None:
                self._hooks = []
            hooks = self._hooks
        else:
            hooks = node_hooks(self.grad_fn).setdefault(("hook", self._output_nr), [])
        hooks.append(hook)
        return _HookHandle(hooks, hook)

    def register_post_accumulate_grad_hook(self, hook):
        """``hook(tensor) -> None`` runs on a leaf once backward has accumulated its
        gradient into ``.grad`` (the gradient of this backward is final then, while
        the rest of the backward may still run).  Returns a handle with ``remove()``."""
        if self.grad_fn is not None:
            raise RuntimeError("register_post_accumulate_grad_hook: post accumulate grad hooks "
                               f"can only be registered on leaf tensors; this one is the output of "
                               f"{self.grad_fn.name()}")
        if not self._requires_grad:
            raise RuntimeError("register_post_accumulate_grad_hook: cannot register a hook on a "
                               "tensor that doesn't require grad")
        if self._post_accumulate_grad_hooks is None:
            self._post_accumulate_grad_hooks = []
        self._post_accumulate_grad_hooks.append(hook)
        return _HookHandle(self._post_accumulate_grad_hooks, hook)

    # -- metadata ---------------------------------------------------------------
    @property
    def shape(self):
        return self.array.shape

    @property
    def dtype(self):
        """PyTorch's ``torch.dtype`` (prints as ``torch.float32``); it equals the NumPy
        dtype ``self.array.dtype`` and NumPy accepts it wherever it takes a dtype."""
        return dtypes.public(self.array.dtype)

    @property
    def ndim(self):
        return self.array.ndim

    @property
    def device(self):
        return "cpu"

    def dim(self):
        return self.array.ndim

    ndimension = dim              # PyTorch's older spellings

    def size(self, dim=None):
        if dim is None:
            return Size(self.array.shape)
        if not -max(self.ndim, 1) <= dim < max(self.ndim, 1):
            raise IndexError(f"size: dim {dim} is out of range for a tensor of shape {self.array.shape}")
        return self.array.shape[dim]

    def numel(self):
        return self.array.size

    nelement = numel

    def element_size(self):
        return self.array.itemsize

    @property
    def nbytes(self):
        return self.array.nbytes

    def is_floating_point(self):
        return self.array.dtype.kind == "f"

    def is_contiguous(self):
        return self.array.flags.c_contiguous

    def data_ptr(self):
        return self.array.__array_interface__["data"][0]

    # -- conversion -------------------------------------------------------------
    def numpy(self):
        """The underlying array, not a copy.  Unlike PyTorch this is allowed when
        requires_grad is set; writing into it bypasses in-place tracking."""
        return self.array

    def __array__(self, dtype=None, copy=None):
        if dtype is not None and np.dtype(dtype) != self.array.dtype:
            return self.array.astype(dtype)
        return self.array.copy() if copy else self.array

    def item(self):
        if self.array.size != 1:
            raise RuntimeError(f"item(): a tensor with {self.array.size} elements (shape "
                               f"{self.array.shape}) cannot be converted to a Python scalar")
        return self.array.item()

    def tolist(self):
        return self.array.tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __index__(self):
        if self.array.dtype.kind not in "iub" or self.array.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return int(self.item())

    def __bool__(self):
        if self.array.size != 1:
            raise RuntimeError(f"Boolean value of a tensor with {self.array.size} elements "
                               f"(shape {self.array.shape}) is ambiguous")
        return bool(self.array.item())

    def __len__(self):
        if self.array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.array.shape[0]

    def __iter__(self):
        if self.array.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.array.shape[0]))

    __hash__ = object.__hash__

    def __format__(self, spec):
        """A 0-d tensor formats as its number (``f"{loss:.4f}"``); any other tensor
        takes only the empty spec, as in PyTorch."""
        if self.array.ndim == 0:
            return format(self.item(), spec)
        if spec:
            raise TypeError("unsupported format string passed to Tensor.__format__")
        return str(self)

    def __repr__(self):
        prefix = "tensor("
        if self.array.size == 0:
            body = f"[], size={self.array.shape}"
        else:
            # Booleans are padded to the widest one present (PyTorch), not always to "False".
            width = 5 if self.array.dtype == np.bool_ and not self.array.all() else 4
            body = np.array2string(self.array, separator=", ", prefix=prefix, precision=4,
                                   threshold=1000, edgeitems=3,
                                   formatter={"bool": lambda b: str(b).rjust(width)})
        extras = []
        if self.array.dtype not in (dtypes.get_default_dtype(), dtypes.int64, dtypes.bool_):
            extras.append(f"dtype={dtypes.torch_name(self.array.dtype)}")
        if self.grad_fn is not None:
            extras.append(f"grad_fn=<{self.grad_fn.name()}>")
        elif self._requires_grad:
            extras.append("requires_grad=True")
        if self.name:
            extras.append(f"name={self.name!r}")
        return prefix + ", ".join([body] + extras) + ")"


class _HookHandle:
    def __init__(self, hooks, hook):
        self._hooks, self._hook = hooks, hook

    def remove(self):
        if self._hook in self._hooks:
            self._hooks.remove(self._hook)


def node_hooks(node):
    """Per-output hooks of a non-leaf tensor live on its node (a tensor may be
    garbage even though its gradient still flows through the node)."""
    hooks = getattr(node, "_tensor_hooks", None)
    if hooks is None:
        hooks = node._tensor_hooks = {}
    return hooks


def tensor_method(fn=None, *, name=None):
    """Attach ``fn`` to Tensor (under ``name`` or its own name) and return it unchanged."""
    def attach(f):
        setattr(Tensor, name or f.__name__, f)
        return f
    return attach(fn) if fn is not None else attach


def _to_array(data, dtype=None, copy=True):
    dtype = dtypes.as_dtype(dtype)
    if isinstance(data, Tensor):
        arr = data.array
    elif isinstance(data, np.ndarray):
        arr = data
    else:
        try:
            arr = np.array(data)
        except ValueError as e:
            raise ValueError(f"tensor(): data must be a number or a (nested) sequence of numbers "
                             f"of a regular shape, got {type(data).__name__} ({e})") from None
        # Python floats default to float32 (PyTorch), not NumPy's float64.
        if dtype is None and arr.dtype == dtypes.float64:
            arr = arr.astype(dtypes.get_default_dtype())
        copy = False
    if arr.dtype.kind not in "biuf":
        raise TypeError(f"tensor(): unsupported data of dtype {arr.dtype}; expected numbers or booleans")
    if dtype is not None and arr.dtype != dtype:
        return arr.astype(dtype)
    return arr.copy() if copy else arr




class Size(tuple):
    """PyTorch's ``torch.Size``: a tuple of ints that prints as ``torch.Size([2, 3])``
    (``x.size()`` returns one; ``x.shape`` stays a plain tuple, the cheaper of the two)."""

    def __repr__(self):
        return f"torch.Size({list(self)})"

    def numel(self):
        n = 1
        for s in self:
            n *= s
        return n
