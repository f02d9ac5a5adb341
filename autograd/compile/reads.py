"""Tensor data read in NumPy during a capture (``t.array``), and what became of it.

Code above the primitives (nn's layers, the ops' Python wrappers, the user's function)
may read a tensor's array and compute with it in NumPy: a comparison's ``x > 0``,
PReLU's ``input.array > 0``, an embedding's ``input.array`` as indices, InstanceNorm's
``running_var.array + eps``.  The tape never sees that arithmetic, so a value made that
way would reach a primitive as a constant, frozen at the capture's numbers.

While a capture runs, ``Tensor.array`` read from outside the engine's core gives a
`Watched` view instead.  NumPy on it (ufuncs and their reductions, NumPy functions,
``astype``, ``reshape``, basic indexing) gives `Watched` results, and the capture records
each such call as a plan entry (plan.NumpyStep), so the replay redoes the arithmetic on
the new data.  A plain view of a tensor's own array (an argument's indices) is that
tensor, read live.  What cannot be replayed is a graph break where it is used: a
Python number taken from data the capture did not follow (``bool``, ``float``,
``.item()``, iterating), or a
value from a call the capture does not follow (a data-dependent shape such as
``np.nonzero``, a NumPy view made otherwise) reaching a primitive.  A Python number
taken from a recorded value of the region's inputs (an index check's ``idx.min() < 0``)
becomes a *data guard* instead: the replay recomputes it first and runs the call
eagerly when it differs (capture.py, plan.DataGuard).  Reads of the shape,
dtype or strides make no array and stay free.
"""
import operator
import sys
import weakref

import numpy as np

from ..tensor import Tensor

# Modules whose reads of ``.array`` are the engine's own (apply's, the compiler's).
_CORE = ("autograd.function", "autograd.engine", "autograd.forward_ad", "autograd.compile")
_ARRAY = Tensor.__dict__["array"]          # the slot's descriptor
_METADATA = {np.shape, np.ndim, np.size, np.result_type, np.may_share_memory, np.shares_memory}
# NumPy functions whose result's shape depends on the data: not replayable as one plan
_DATA_SHAPED = {np.nonzero, np.flatnonzero, np.argwhere, np.unique, np.extract, np.compress}


class Watched(np.ndarray):
    """An ndarray holding tensor data read during a capture, or computed from it;
    ``_slot``: the plan value that holds it when computed by a recorded call."""
    _watch = None           # the ArrayReads of the capture
    _computed = False       # made by NumPy from watched data (else a view of a tensor's)
    _slot = None

    def __array_finalize__(self, obj):
        if self._watch is None:
            self._watch = getattr(obj, "_watch", None)
            self._computed = getattr(obj, "_computed", False)
            slot = getattr(obj, "_slot", None)        # a copy holds the same value
            if slot is not None and obj.shape == self.shape and obj.dtype == self.dtype and \
                    obj.strides == self.strides:
                self._slot = slot

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        fn = ufunc if method == "__call__" else getattr(ufunc, method)
        out = kwargs.get("out")
        if out is not None and all(o is None for o in out):
            del kwargs["out"]
        elif out is not None:          # writes into an array: not a value of the plan
            kwargs["out"] = tuple(_plain(o) for o in out)
            return getattr(ufunc, method)(*[_plain(x) for x in inputs], **kwargs)
        result = getattr(ufunc, method)(*[_plain(x) for x in inputs], **kwargs)
        return self._watch.taint(result, fn, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        result = func(*_plain_tree(args), **_plain_tree(kwargs))
        if func in _METADATA:
            return result
        return self._watch.taint(result, None if func in _DATA_SHAPED else func, args, kwargs)

    def __getitem__(self, index):
        basic = all(i is None or i is Ellipsis or isinstance(i, (int, slice))
                    for i in (index if type(index) is tuple else (index,)))
        return self._watch.taint(super().__getitem__(index), operator.getitem if basic else None,
                                 (self, index), {})

    def _method(self, name, args, kwargs):
        fn = getattr(np.ndarray, name)
        return self._watch.taint(fn(self.view(np.ndarray), *args, **kwargs), fn,
                                 (self,) + args, kwargs)

    def astype(self, *args, **kwargs):
        return self._method("astype", args, kwargs)

    def reshape(self, *args, **kwargs):
        return self._method("reshape", args, kwargs)

    def _number(self, what, to):
        value = to(self.view(np.ndarray))
        self._watch.number(what, self, to, value)
        return value

    def __bool__(self):
        return self._number("bool()", bool)

    def __float__(self):
        return self._number("float()", float)

    def __int__(self):
        return self._number("int()", int)

    def __index__(self):
        return self._number("use as an index", operator.index)

    def item(self, *args):
        return self._number("item()", lambda a: a.item(*args))

    def tolist(self):
        self._watch.number("tolist()")
        return self.view(np.ndarray).tolist()

    def __iter__(self):
        self._watch.number("iterating")
        return iter(self.view(np.ndarray))

    def __reduce__(self):
        return self.view(np.ndarray).__reduce__()


def _plain(x):
    return x.view(np.ndarray) if isinstance(x, Watched) else x


def _plain_tree(x):
    if type(x) in (list, tuple):
        return type(x)(_plain_tree(v) for v in x)
    if type(x) is dict:
        return {k: _plain_tree(v) for k, v in x.items()}
    return _plain(x)


def chain(arr):
    """``arr`` and the arrays it is a view of, innermost first, up to the first one
    NumPy computed from watched data."""
    a = arr
    while isinstance(a, np.ndarray):
        yield a
        if isinstance(a, Watched) and a._computed:
            return
        a = a.base


class ArrayReads:
    """While installed, ``Tensor.array`` read outside the core gives a `Watched` view.
    ``on_number(what, arr, convert, value)``: Python took a number from the data;
    ``on_call(fn, args, kwargs, result)``: the
    plan value recording a NumPy call on watched data, or None if it cannot."""

    def __init__(self, on_number, on_call):
        self.on_number, self.on_call = on_number, on_call
        self.in_step = False            # a primitive's forward runs: its arrays are its own
        # id(array) -> weak references (array, tensor) of each tensor read: weak, as the
        # capture's own records (capture.py), so that the reads keep nothing alive
        self.seen = {}
        self._trusted = {}

    def taint(self, result, fn, args, kwargs):
        """``result`` of ``fn(*args, **kwargs)`` on watched data, watched too (numbers as
        0-d arrays, so that Python taking one as a bool, int or float is seen)."""
        if self.in_step:
            return result
        if type(result) in (tuple, list):        # e.g. np.split: not followed
            return type(result)(self.taint(r, None, (), {}) for r in result)
        if isinstance(result, (bool, int, float, complex, np.generic)):
            result = np.asarray(result)
        if not isinstance(result, np.ndarray):
            return result
        # a copy owning its memory: NumPy collapses a view's base past views of another
        # type, so only an owner stays on the chain of a plain view made of it
        out = result.view(Watched).copy()
        out._watch, out._computed = self, True
        if fn is not None:
            self.in_step = True           # the recording's own NumPy is not the region's
            try:
                out._slot = self.on_call(fn, args, kwargs, out)
            finally:
                self.in_step = False
        return out

    def number(self, what, arr=None, convert=None, value=None):
        """Python took ``value = convert(arr)`` from watched data: a data guard if a
        recorded call computed ``arr`` (capture.py decides), else a graph break."""
        if not self.in_step:
            self.on_number(what, arr, convert, value)

    def _get(self, tensor):
        arr = _ARRAY.__get__(tensor)
        if self.in_step:
            return arr
        name = sys._getframe(1).f_globals.get("__name__", "")
        trusted = self._trusted.get(name)
        if trusted is None:
            trusted = self._trusted[name] = name.startswith(_CORE)
        if trusted or type(arr) is not np.ndarray:
            return arr
        self.seen[id(arr)] = (weakref.ref(arr), weakref.ref(tensor))
        out = arr.view(Watched)
        out._watch = self
        return out

    def install(self):
        Tensor.array = property(self._get, _ARRAY.__set__)

    @staticmethod
    def uninstall():
        Tensor.array = _ARRAY


def call_text(fn, args):
    """``fn(args...)`` as NumPy source, for the plan's code (codegen.py)."""
    if isinstance(fn, np.ufunc):
        return f"np.{fn.__name__}({', '.join(args)})"
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, np.ufunc):
        return f"np.{owner.__name__}.{fn.__name__}({', '.join(args)})"
    if fn is operator.getitem:
        return f"{args[0]}[{args[1]}]"
    if getattr(fn, "__objclass__", None) is np.ndarray:
        return f"{args[0]}.{fn.__name__}({', '.join(args[1:])})"
    return f"np.{fn.__name__}({', '.join(args)})"
