"""vmap's machinery: batched tensors, the vmap level, and the batching rules' helpers.

Inside ``vmap`` the user's function sees a `BatchedTensor`: a *logical* tensor, one
sample, that stands for ``inner``, the whole batch with the batch dim first (the
*physical* value), at one `VmapLevel`.  The level is an interpreter of function.py's
stack: ``Primitive.apply`` hands it every op; when an argument is batched at this level
it runs the primitive's ``batch_rule`` on the physical values, ONCE for the whole batch,
with the level closed, so the ops the rule calls go to the levels below (an outer vmap,
forward mode) and onto the tape like any other op.  That is why per-sample gradients
come from one backward: the tape holds the batched computation.

A rule is declared beside the primitive's forward, as ``batch_rule(b, *args)``: ``args``
are the primitive's arguments with each batched tensor replaced by its physical value
(batch dim 0), ``b`` a `Batch` (``b.size``, ``b.batched[k]``, ``b.cls``, helpers);
it returns the physical output (or tuple of outputs), batch dim first.  The generic
rules below cover families; a primitive without one runs once per sample, with a
one-time warning naming it (`FALLBACKS` lists those seen).

Why ``array`` is a `LogicalArray` over sample 0's memory: code between ops reads shapes,
dtypes and ranks from it to normalise dims and check arguments, and finds the logical
ones; reading its values (NumPy functions, indexing, ``item``, ``bool``) raises, as do
the tensor's own data reads, as in PyTorch: a value computed from one sample would be
silently wrong for the others.
"""
import warnings

import numpy as np

from ..function import _finish, interpreters, pop_interpreter, push_interpreter
from ..grad_mode import STATE
from ..tensor import Tensor
from .registry import REGISTRY

_new = object.__new__
FALLBACKS = set()        # primitives that ran without a batching rule (the per-sample loop)


def _value_read(what):
    raise RuntimeError(
        f"vmap: {what} reads a batched tensor's values from Python: they differ per sample, "
        "and Python cannot branch on them or compute with them inside vmap (PyTorch's rule). "
        "Rewrite it with tensor ops (e.g. torch.where instead of if), or move it outside vmap; "
        "an op that does this itself needs a batching rule")


_METADATA = {np.shape, np.ndim, np.size, np.result_type, np.iscomplexobj, np.isrealobj,
             np.can_cast, np.broadcast_shapes}


def values_of(t):
    """All the values a (possibly batched) tensor stands for, as one array: for checks
    that hold for every sample alike (an index in range), never for computing."""
    while type(t) is BatchedTensor:
        t = t._inner
    return t.array


class LogicalArray(np.ndarray):
    """A batched tensor's ``array``: the logical shape and dtype over one stand-in value
    (NaN, or the lowest integer), read-only.  Its shape, dtype and flags can be read;
    NumPy functions, ufuncs, indexing and conversions of its values raise (module
    docstring).  ``np.asarray`` alone cannot be refused by an ndarray subclass: it
    sees the stand-in, so a value read that slips through gives NaNs or an index
    error, never numbers that look right."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        _value_read(f"np.{ufunc.__name__}")

    def __array_function__(self, func, types, args, kwargs):
        if func in _METADATA:
            return func(*[np.ndarray.view(a, np.ndarray) if type(a) is LogicalArray else a
                          for a in args], **kwargs)
        _value_read(f"np.{func.__name__}")

    def __getitem__(self, index):
        _value_read("indexing an array")

    def __setitem__(self, index, value):
        _value_read("writing into an array")

    def __iter__(self):
        _value_read("iterating over an array")

    def item(self, *args):
        _value_read("array.item()")

    def tolist(self):
        _value_read("array.tolist()")

    def __bool__(self):
        _value_read("bool(array)")

    def __float__(self):
        _value_read("float(array)")

    def __int__(self):
        _value_read("int(array)")

    def __index__(self):
        _value_read("an array used as an index")


def _stand_in(dtype):
    if dtype.kind in "fc":
        return np.array(np.nan, dtype)
    if dtype.kind in "iu":
        return np.array(np.iinfo(dtype).min, dtype)
    return np.zeros((), dtype)


_STAND_INS = {}


def logical_array(shape, dtype):
    one = _STAND_INS.get(dtype)
    if one is None:
        one = _STAND_INS[dtype] = _stand_in(dtype)
    return np.broadcast_to(one, shape).view(LogicalArray)


class BatchedTensor(Tensor):
    """One sample's view of ``_inner`` (batch dim first) at ``_level``; see the module
    docstring.  Made only by `wrap`."""

    def _data_error(self, what):
        _value_read(what)

    def item(self):
        self._data_error("item()")

    def tolist(self):
        self._data_error("tolist()")

    def numpy(self):
        self._data_error("numpy()")

    def __array__(self, dtype=None, copy=None):
        self._data_error("np.asarray(tensor)")

    def __bool__(self):
        self._data_error("bool(tensor) (data-dependent control flow)")

    def __float__(self):
        self._data_error("float(tensor)")

    def __int__(self):
        self._data_error("int(tensor)")

    def __index__(self):
        self._data_error("using a tensor as a Python index")

    def backward(self, *args, **kwargs):
        raise RuntimeError("vmap: backward() called inside vmap; take gradients with "
                           "autograd.func.grad / vjp inside the vmapped function instead")

    def requires_grad_(self, requires_grad=True):
        raise RuntimeError("vmap: requires_grad_() on a batched tensor; differentiate inside "
                           "vmap with autograd.func.grad / vjp instead")

    def detach(self):
        return wrap(self._inner.detach(), self._level)

    @property
    def data(self):
        return wrap(self._inner.data, self._level)

    def __repr__(self):
        return (f"BatchedTensor(level={self._level.depth}, batch={self._level.size}, "
                f"shape={tuple(self.shape)}, inner={self._inner!r})")


def wrap(inner, level):
    """The logical tensor for ``inner`` (batch dim first) at ``level``."""
    t = _new(BatchedTensor)
    a = inner.array
    t.array = logical_array(a.shape[1:], a.dtype)
    t._requires_grad = inner._requires_grad
    t.grad_fn = inner.grad_fn
    t._output_nr = inner._output_nr
    t._vc = None
    t._inner = inner
    t._level = level
    return t


def physical(t, level):
    """``t``'s value for the whole batch at ``level`` (batch dim first), or None where
    ``t`` is not batched there."""
    return t._inner if type(t) is BatchedTensor and t._level is level else None


class Batch:
    """What a batching rule is told: the primitive, the batch size, which arguments are
    batched (their physical values have the batch dim first)."""
    __slots__ = ("cls", "size", "batched", "level")

    def __init__(self, cls, size, batched, level):
        self.cls, self.size, self.batched, self.level = cls, size, batched, level

    def expand(self, x):
        """An unbatched tensor as a batched physical value (a broadcast view)."""
        return x.unsqueeze(0).expand((self.size,) + tuple(x.shape))

    def logical(self, fn, *args):
        """``fn`` run on the logical values at this level (a rule that rewrites the op as
        other ops, each with its own rule); returns the physical result(s)."""
        level = self.level
        args = [wrap(a, level) if batched else a for a, batched in zip(args, self.batched)]
        top, STATE.interpreter = STATE.interpreter, level
        try:
            out = fn(*args)
        finally:
            STATE.interpreter = top
        if type(out) is tuple:
            return tuple(_to_physical(o, level, self.size) for o in out)
        return _to_physical(out, level, self.size)


def _to_physical(t, level, size):
    p = physical(t, level)
    if p is not None:
        return p
    return t.unsqueeze(0).expand((size,) + tuple(t.shape))


_level_depth = [0]


class VmapLevel:
    """One open ``vmap``: an interpreter of function.py's stack (module docstring)."""
    batches = True

    def __init__(self, size, randomness):
        self.size, self.randomness = size, randomness
        self.below = None
        self.depth = None

    def __enter__(self):
        _level_depth[0] += 1
        self.depth = _level_depth[0]
        push_interpreter(self)
        return self

    def __exit__(self, *exc):
        pop_interpreter(self)
        _level_depth[0] -= 1

    def apply(self, cls, ctx, args, arrays, needs, any_needs):
        batched = None
        for k, a in enumerate(args):
            if type(a) is BatchedTensor and a._level is self:
                if batched is None:
                    batched = [False] * len(args)
                    inner = list(args)
                batched[k] = True
                inner[k] = a._inner
        below = self.below
        STATE.interpreter = below
        try:
            if batched is None:                   # not batched here: as if not open
                if below is not None:
                    return below.apply(cls, ctx, args, arrays, needs, any_needs)
                return _finish(ctx, args, arrays, needs, any_needs, cls.forward(ctx, *arrays))
            b = Batch(cls, self.size, batched, self)
            rule = cls.batch_rule
            out = per_sample(b, *inner) if rule is None else rule(b, *inner)
        finally:
            STATE.interpreter = self
        if type(out) is tuple:
            for o in out:
                _mark(o)
            return tuple([wrap(o, self) for o in out])
        _mark(out)
        return wrap(out, self)


def _mark(t):
    """One more leading batch dim on the node that made ``t`` (for the graph tools)."""
    node = t.grad_fn
    if node is not None and t._output_nr == 0:
        node.batch_dims += 1


def per_sample(b, *args):
    """The fallback: the primitive once per sample, the results stacked (a loop of
    ``b.size`` calls: correct, slow, and announced once per primitive)."""
    cls = b.cls
    if cls not in FALLBACKS:
        FALLBACKS.add(cls)
        warnings.warn(f"vmap: {cls.__name__} has no batching rule, so vmap runs it once per "
                      f"sample (a Python loop over the batch of {b.size})", stacklevel=4)
    outs = [cls.apply(*[a[i] if batched else a for a, batched in zip(args, b.batched)])
            for i in range(b.size)]
    stack = REGISTRY["stack"].op
    if type(outs[0]) is tuple:
        return tuple(stack(list(col), 0) for col in zip(*outs))
    return stack(outs, 0)


# -- generic rules --------------------------------------------------------------------
def logical_ndim(b, k, a):
    """The rank argument ``k`` (the value ``a`` as the rule sees it) has per sample."""
    return a.ndim - 1 if b.batched[k] else a.ndim


def elementwise_batch_rule(b, *args):
    """Elementwise and broadcasting ops: the batch dim goes first, and each batched
    argument of a lower rank than the result gets size-1 dims after it, so that NumPy's
    right-aligned broadcasting pairs logical dims with logical dims.  Unbatched
    arguments broadcast against the batch as they are."""
    return b.cls.apply(*_broadcastable(args, b.batched))


def _broadcastable(args, batched):
    ranks = [a.ndim - k for a, k in zip(args, batched) if isinstance(a, Tensor)]
    rank = max(ranks)
    padded = list(args)
    for k, a in enumerate(args):
        if batched[k]:
            r = a.ndim - 1
            if r < rank:
                padded[k] = a.reshape((a.shape[0],) + (1,) * (rank - r) + tuple(a.shape[1:]))
    return padded


# -- functions of values that make no node (comparisons, isnan, argmax, any) ------------
def _innermost(args):
    levels = [a._level for a in args if type(a) is BatchedTensor]
    return max(levels, key=lambda level: level.depth)


def batched_values(fn, *args):
    """``fn(*args)``, an elementwise function of values that records no node (a
    comparison, ``isnan``), where some argument is batched: ``fn`` on the physical
    values of the innermost level, broadcast as `elementwise_batch_rule` does."""
    level = _innermost(args)
    batched = [type(a) is BatchedTensor and a._level is level for a in args]
    inner = [a._inner if k else a for a, k in zip(args, batched)]
    with closed_levels([level]):
        out = fn(*_broadcastable(inner, batched))
    return wrap(out, level)


def batched_reduction(fn, x, dim, keepdim):
    """``fn(x, dim, keepdim)`` for a reduction of values that records no node (argmax,
    all, any) on a batched ``x``; ``dim=None`` reduces all of a sample's dims."""
    level = x._level
    ndim = x.ndim
    with closed_levels([level]):
        p = x._inner
        if dim is None:
            out = fn(p.reshape(p.shape[0], -1), 1, False)
            out = out.reshape((p.shape[0],) + (1,) * ndim) if keepdim else out
        else:
            out = fn(p, shift_dims(dim, ndim), keepdim)
    return wrap(out, level)


def batched_fold(fn, *args):
    """``fn(*args)`` for a PUBLIC composition on (N, ...) tensors that treats each of
    the N alike and reads values in Python between its ops (grid_sample's tap indices),
    where some argument is batched: the innermost level's batch folds into N (unbatched
    tensors broadcast to it), ``fn`` runs once on the physical values with the level
    closed (its ops reach the tape and the outer levels), and the batch unfolds from the
    output's N (each output's, for a tuple)."""
    level = _innermost(args)
    with closed_levels([level]):
        size = level.size
        folded = []
        for a in args:
            if isinstance(a, Tensor):
                p = physical(a, level)
                p = a.unsqueeze(0).expand((size,) + tuple(a.shape)) if p is None else p
                a = p.reshape((size * p.shape[1],) + tuple(p.shape[2:]))
            folded.append(a)
        out = fn(*folded)
        unfold = lambda o: wrap(o.reshape((size, o.shape[0] // size) + tuple(o.shape[1:])), level)  # noqa: E731
        return tuple(unfold(o) for o in out) if type(out) is tuple else unfold(out)


def shift_dims(dims, ndim):
    """Logical dims (an int, a tuple, or None for all ``ndim`` of them) as the physical
    dims behind a leading batch dim."""
    if dims is None:
        return tuple(range(1, ndim + 1))
    if isinstance(dims, (tuple, list)):
        return tuple(d % max(ndim, 1) + 1 for d in dims)
    return dims % max(ndim, 1) + 1


def dims_batch_rule(*positions):
    """The rule of a one-tensor op whose arguments at ``positions`` are dims of its
    input (an int, a tuple, or None for all): each moves one place right, past the
    batch dim (reductions, softmax, cumsum, flip, ...)."""
    def rule(b, x, *params):
        ndim = x.ndim - 1
        params = list(params)
        for p in positions:
            params[p - 1] = shift_dims(params[p - 1], ndim)
        return b.cls.apply(x, *params)
    return rule


def batch_as_leading_dim_rule(b, *args):
    """Ops that already map over any leading dims of their first input (the others
    unbatched): the batch is one more leading dim (linear's x, layer_norm over its last
    dims)."""
    if any(b.batched[1:]):
        return per_sample(b, *args)
    return b.cls.apply(*args)


def fold_batch_rule(b, x, *params):
    """Ops on an (N, C, ...) input that treat each of the N alike (pooling, padding):
    the batch folds into N, and unfolds from the output's N."""
    if any(b.batched[1:]):
        return per_sample(b, x, *params)
    B, N = x.shape[0], x.shape[1]
    out = b.cls.apply(x.reshape((B * N,) + tuple(x.shape[2:])), *params)
    if type(out) is tuple:
        return tuple(o.reshape((B, N) + tuple(o.shape[1:])) for o in out)
    return out.reshape((B, N) + tuple(out.shape[1:]))


# -- crossing levels: for the transforms that differentiate inside vmap (autograd/func) --
def open_levels():
    """The open vmap levels, outermost first."""
    return [i for i in reversed(interpreters()) if getattr(i, "batches", False)]


def to_physical(t, levels):
    """``t``'s value with one leading dim per level of ``levels`` (outermost first), the
    same order the levels nest in: batched levels unwrapped, the others broadcast (an
    unbatched value is the same for every sample of that level).  Call it with those
    levels closed (`closed_levels`): it runs ops on the values below them."""
    if not levels:
        return t
    top = levels[-1]
    if type(t) is BatchedTensor and t._level is top:
        return to_physical(t._inner, levels[:-1])
    p = to_physical(t, levels[:-1])
    k = len(levels) - 1
    return p.unsqueeze(k).expand(tuple(p.shape[:k]) + (top.size,) + tuple(p.shape[k:]))


def from_physical(p, levels):
    """The logical tensor of ``p`` (one leading dim per level, outermost first)."""
    for level in levels:
        p = wrap(p, level)
    return p


class closed_levels:
    """``with closed_levels(levels):`` runs ops below ``levels`` (the innermost of them is
    on top of the stack): on the values `to_physical` gives."""

    def __init__(self, levels):
        self.levels = levels

    def __enter__(self):
        self.top = STATE.interpreter
        if self.levels:
            STATE.interpreter = self.levels[0].below

    def __exit__(self, *exc):
        STATE.interpreter = self.top


def all_batched_rule(b, *args):
    """Ops that broadcast the leading dims of all their tensor arguments (matrix ops on
    the last two dims, pooling's adjoints): every tensor gets the batch dim (unbatched
    ones as broadcast views), then size-1 dims after it up to the highest rank."""
    ranks = [logical_ndim(b, k, a) for k, a in enumerate(args) if isinstance(a, Tensor)]
    rank = max(ranks)
    out = []
    for a, batched in zip(args, b.batched):
        if isinstance(a, Tensor):
            a = a if batched else b.expand(a)
            pad = rank - (a.ndim - 1)
            if pad:
                a = a.reshape((a.shape[0],) + (1,) * pad + tuple(a.shape[1:]))
        out.append(a)
    return b.cls.apply(*out)


def batch_operand(b, a, k):
    """Argument ``k`` (``a``) as a batched physical value: a tensor, or an array."""
    if b.batched[k]:
        return a
    if isinstance(a, Tensor):
        return b.expand(a)
    a = np.asarray(a)
    return np.broadcast_to(a, (b.size,) + a.shape)
