"""`Primitive`: how every differentiable op, built-in or user-written, enters the tape.

A subclass defines ``forward(ctx, *args)`` on NumPy arrays and ``backward(ctx,
*grads)`` on Tensors, the differentiable VJP; it may add ``vjp(ctx, *grads)`` on
arrays, the first-order fast path the engine prefers when the gradient is not
itself recorded (see ``Primitive.vjp``; ops/formula.py writes both from one
formula).  This is the array-level layer the built-in ops and kernel authors use;
``autograd.Function``, in custom_function.py, gives PyTorch's contract on top of it.  ``apply`` unwraps the Tensor arguments, runs ``forward``
and, when any input requires grad and grad mode is on, turns ``ctx`` into a tape
node: an instance of the subclass that holds the edges to the inputs' nodes, what
``forward`` saved, and the node's tape position ``seq``.  The ctx *is* the node
(as in PyTorch), so recording an op allocates one object.
"""
import functools
import itertools
import math
import sys
import weakref
from typing import NamedTuple

import numpy as np

from .grad_mode import STATE
from .tensor import Tensor, version_of

_tape_position = itertools.count()
_new = object.__new__


class TensorMeta(NamedTuple):
    """Shape and dtype of one output of a tape node."""
    shape: tuple
    dtype: np.dtype


class SavedTensorInfo(NamedTuple):
    """One value a node saved for backward (see ``Primitive.saved_tensor_info``)."""
    kind: str            # "input", "output" (one of the node's own) or "constant"
    output_nr: object    # which output, for kind "output"; else None
    shape: object        # tuple, or None for a constant that is not an array
    dtype: object        # np.dtype, or None likewise
    nbytes: int          # bytes of the array (0 for a non-array constant)
    value: object        # the saved array (or the constant itself); not a copy
    # True when a saved-tensor pack hook (autograd.graph) took it: ``value`` and
    # ``nbytes`` are then what the hook returned, and shape/dtype the original's
    packed: bool = False


class Primitive:
    """Base class of all ops.  See the module docstring; PyTorch's
    ``torch.autograd.Function`` with NumPy arrays in ``forward``."""

    materialize_grads = True     # outputs that got no gradient reach backward as zeros
    # The optional first-order VJP on arrays: ``vjp(ctx, *grad_arrays)`` returns one
    # array (or None) per forward input and reads ``ctx.saved_arrays``.  The engine
    # calls it whenever the gradient itself need not be recorded (no create_graph);
    # ``backward`` stays the differentiable VJP, on Tensors.
    vjp = None
    # The tangent rule for forward mode (forward_ad.py): ``jvp(ctx, *tangents)`` returns
    # one tangent Tensor (or None) per output from one Tensor (or None) per input; or
    # ``forward_ad.derived_jvp``, which derives it from ``backward``.  None: no rule.
    jvp = None
    # The batching rule for vmap (ops/batching.py): ``batch_rule(b, *args)`` runs the op
    # once on the whole batch (batched arguments with the batch dim first) and returns
    # the outputs likewise.  None: vmap runs the op once per sample, with a warning.
    batch_rule = None
    # PyTorch's names of what forward saved, for ``node._saved_<name>`` (graph.py):
    # one name (or None) per ``save_for_backward`` argument, or a dict name -> index
    # or ctx attribute.  None: a one-input op's saved input is "self", its output "result".
    saved_names = None
    # Node state, set per instance only when it differs (most ops save nothing, have
    # one differentiable output and no hooks): the hot path writes fewer attributes.
    _to_save = _non_diff = None
    _saved = _saved_outputs = None
    _tensor_hooks = None
    _out_tangents = None     # output nr -> (dual level, tangent), see _saved_output
    _released = False
    _tensor_args = None      # which arguments were Tensors, where some were not
    # How many leading dims of the outputs are vmap batch dims: set by a vmap level on
    # the nodes its batching rules made (ops/batching.py), read by the graph tools.
    batch_dims = 0

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        names = cls.__dict__.get("saved_names")
        for name in (names if isinstance(names, dict) else [n for n in names or () if n]):
            _add_saved_properties(cls, name)

    # -- ctx API used inside forward/backward ---------------------------------
    def save_for_backward(self, *arrays):
        """Keep inputs/outputs (or other arrays) for backward.  Inputs and outputs
        are recognised by identity and come back from ``saved_tensors`` as the
        graph-connected Tensors, so backward stays differentiable."""
        self._to_save = arrays

    def mark_non_differentiable(self, *arrays):
        self._non_diff = arrays

    @property
    def saved_tensors(self):
        """What forward saved, as graph-connected Tensors (for ``backward``)."""
        return self._unpack_saved(False)

    @property
    def saved_arrays(self):
        """What forward saved, as NumPy arrays (for the array-only ``vjp``)."""
        return self._unpack_saved(True)

    def _unpack_saved(self, as_arrays):
        saved = self._saved
        if saved is None:
            if self._released:
                raise RuntimeError(
                    f"{self.name()}: trying to backward through the graph a second time "
                    "(or to read saved tensors after they were freed). Saved values are "
                    "released after backward; pass retain_graph=True to the first "
                    "backward() or autograd.grad() call if you need to backward again.")
            return ()
        out = []
        for k, (kind, obj, version) in enumerate(saved):
            if kind is _INPUT:
                data, now = obj.array, version_of(obj)
            elif kind is _OUTPUT:    # one of this node's own outputs, see _resolve_saved
                data, counter = self._saved_outputs[obj]
                now = counter.value
            elif kind is _CONST:
                out.append(obj.array if as_arrays and type(obj) is Tensor else obj)
                continue
            else:                    # taken by a pack hook (autograd.graph)
                out.append(obj.unpack(self, k, as_arrays))
                continue
            if now != version:
                _modified_error(self, k, obj if kind is _INPUT else None, data, now, version)
            if as_arrays:
                out.append(data)
            else:
                out.append(self._saved_output(data, obj, counter) if kind is _OUTPUT else obj)
        return tuple(out)

    # -- node API: the public, read-only view of a tape node ---------------------
    # The viewers (viz, the tape table, gradcheck_tape) read nodes only through these;
    # they never write to a node.  The engine uses the private fields directly.
    @classmethod
    def name(cls):
        return cls.__name__ + "Backward"

    @property
    def scope(self):
        """The dotted module path the op ran in ('' at top level)."""
        return ".".join(self._scope)

    @property
    def scope_path(self):
        """The same path as a tuple, one entry per open ``name_scope``."""
        return self._scope

    def sequence_nr(self):
        """The node's tape position: nodes recorded later have larger numbers, so
        backward runs them in decreasing order (PyTorch's ``_sequence_nr()``)."""
        return self._seq

    @property
    def next_functions(self):
        """PyTorch's: one ``(node, output_nr)`` pair per Tensor argument of forward, where
        the node is the input's ``grad_fn``, an `AccumulateGrad` for a leaf, or None
        (with 0) for an input that needs no gradient."""
        edges = self._edges
        if self._tensor_args is not None:       # PyTorch lists tensor arguments only
            edges = [e for e, is_tensor in zip(edges, self._tensor_args) if is_tensor]
        return tuple([_NO_EDGE if e is None else
                      (accumulate_grad_node(e[0]), 0) if isinstance(e[0], Tensor) else e
                      for e in edges])

    @property
    def output_metadata(self):
        """One ``TensorMeta(shape, dtype)`` per forward output."""
        return tuple([TensorMeta(shape, dtype) for shape, dtype in self._out_meta])

    @property
    def saved_tensor_info(self):
        """What forward saved for backward, one ``SavedTensorInfo`` per saved value, in
        the order given to ``save_for_backward``; None once backward released them.
        Reading it runs no version check and builds no tensors (unlike
        ``saved_tensors``); ``value`` is the saved array itself: read it, never write."""
        saved = self._saved
        if saved is None:
            return None if self._released else ()
        out = []
        for kind, obj, _version in saved:
            if kind is _PACKED:
                out.append(obj.info)
                continue
            if kind is _OUTPUT:
                data = self._saved_outputs[obj][0]
                out.append(SavedTensorInfo("output", obj, data.shape, data.dtype, _memory(data), data))
                continue
            data = obj.array if isinstance(obj, Tensor) else obj
            public = "input" if kind is _INPUT else "constant"
            if isinstance(data, np.ndarray):
                out.append(SavedTensorInfo(public, None, data.shape, data.dtype, _memory(data), data))
            else:
                out.append(SavedTensorInfo(public, None, None, None, 0, data))
        return tuple(out)

    @property
    def call_site(self):
        """'file:line' of the user's code that ran the op, recorded only under
        ``detect_anomaly()``; None otherwise."""
        return getattr(self, "_trace", None)

    def _saved_output(self, data, nr, counter):
        """Output ``nr`` rebuilt for ``backward``, with its forward-mode tangent if it had
        one (forward over reverse: forward_ad.py)."""
        t = Tensor._make(data, self, nr, counter)
        if self._out_tangents is not None and nr in self._out_tangents:
            t._fw = self._out_tangents[nr]
        return t

    def _save_output(self, nr, t):
        """Keep output ``nr`` (the tensor ``t``) for backward; returns its saved entry.
        The node stores the data and the counter, not the Tensor (output -> node ->
        output would be a reference cycle), so it shares t's counter from now on."""
        if self._saved_outputs is None:
            self._saved_outputs = {}
        counter = t._version
        self._saved_outputs[nr] = (t.array, counter)
        return (_OUTPUT, nr, counter.value)

    def release(self):
        self._saved = None
        self._saved_outputs = None
        self._released = True

    # -- recording -------------------------------------------------------------
    @classmethod
    def apply(cls, *args):
        # The hot path of the whole library: every op, and every op inside a VJP,
        # comes through here.  Hence the plain loops and local variables, and the
        # one-output case of _record written out (W1 runs 200 tiny ops a step).
        ctx = _new(cls)
        if STATE.grad_enabled:
            arrays = []
            needs = []
            any_needs = False
            for a in args:
                if isinstance(a, Tensor):
                    arrays.append(a.array)
                    if a._requires_grad:
                        needs.append(True)
                        any_needs = True
                    else:
                        needs.append(False)
                else:
                    arrays.append(a)
                    needs.append(False)
        else:   # e.g. the ops inside a VJP during a normal backward
            arrays = [a.array if isinstance(a, Tensor) else a for a in args]
            needs = [False] * len(args)
            any_needs = False
        ctx.needs_input_grad = needs
        if _op_observer is not None:          # a profiler or saved-tensor hooks
            return _op_observer(cls, ctx, args, arrays, needs, any_needs)
        if STATE.interpreter is not None:     # a transform: vmap, forward AD, capture
            return STATE.interpreter.apply(cls, ctx, args, arrays, needs, any_needs)
        out = cls.forward(ctx, *arrays)
        # _finish, written out (one call fewer per op)
        if not any_needs:
            if type(out) is tuple:
                return tuple([_wrap_output(o, args, arrays) for o in out])
            return _wrap_output(out, args, arrays)
        return _record(ctx, args, arrays, needs, out)

    @staticmethod
    def forward(ctx, *args):
        raise NotImplementedError(f"{type(ctx).__name__} must implement forward(ctx, *args)")

    @staticmethod
    def backward(ctx, *grads):
        raise NotImplementedError(f"{type(ctx).__name__} must implement backward(ctx, *grads)")

    def __repr__(self):
        return f"<{self.name()}>"


def _add_saved_properties(cls, name):
    """``_saved_<name>`` and ``_raw_saved_<name>`` on ``cls``, read by ``Primitive._saved_value``
    (graph.py attaches it).  Properties, not a ``__getattr__``: a class with one makes
    every attribute read of its instances slower (W1: +8% instructions)."""
    setattr(cls, "_saved_" + name, property(lambda self: self._saved_value(name, False),
                                            doc=f"PyTorch's _saved_{name} (autograd.graph)"))
    setattr(cls, "_raw_saved_" + name, property(lambda self: self._saved_value(name, True),
                                                doc=f"PyTorch's _raw_saved_{name} (autograd.graph)"))


for _name in ("self", "other", "result"):       # the names most ops use
    _add_saved_properties(Primitive, _name)


def _modified_error(node, k, t, data, now, version):
    """Saved tensor ``k`` of ``node`` (the input ``t``, or None) changed since it was saved."""
    name = f" '{t.name}'" if t is not None and t.name else ""
    raise RuntimeError(
        f"{node.name()}: one of the variables needed for gradient computation "
        f"has been modified by an in-place operation: saved tensor {k}{name} "
        f"(shape {tuple(data.shape)}, {data.dtype}) is at version {now}; "
        f"expected version {version}. Use an out-of-place op or clone() "
        "before modifying it.")


# -- observing every op: the profiler and saved-tensor hooks ----------------------
# ``apply`` hands each op to ``_op_observer`` while one is set (one check per op
# otherwise): the chain of the added wrappers, each called as
# ``wrapper(run, cls, ctx, args, arrays, needs, any_needs)``, where ``run`` (same
# arguments but the first) runs the op (the next wrapper, then `_run_op`) and
# returns its outputs.
_op_wrappers = []
_op_observer = None


def add_op_wrapper(wrapper, innermost=False):
    """Run every op applied from now on (any thread) through ``wrapper``, see above:
    around the wrappers added before, or inside them with ``innermost`` (saved-tensor
    hooks pack inside a profiler's wrapper, so that it sees what the tape keeps)."""
    if innermost:
        _op_wrappers.insert(0, wrapper)
    else:
        _op_wrappers.append(wrapper)
    _chain_op_wrappers()


def remove_op_wrapper(wrapper):
    _op_wrappers.remove(wrapper)
    _chain_op_wrappers()


def _chain_op_wrappers():
    global _op_observer
    run = _run_op
    for w in _op_wrappers:
        run = functools.partial(w, run)
    _op_observer = run if _op_wrappers else None


def _run_op(cls, ctx, args, arrays, needs, any_needs):
    """What ``apply`` does after reading its arguments, for the observed path."""
    if STATE.interpreter is not None:
        return STATE.interpreter.apply(cls, ctx, args, arrays, needs, any_needs)
    return _finish(ctx, args, arrays, needs, any_needs, cls.forward(ctx, *arrays))


# -- the transform stack -----------------------------------------------------------
# ``STATE.interpreter`` is the top of a linked stack of interpreters, each with
# ``apply(cls, ctx, args, arrays, needs, any_needs)`` (what ``apply`` hands it) and
# ``below`` (the next one down, or None): functorch's design, with ONE check on the
# eager path whatever is open.  vmap levels (``batches = True``) always sit above a
# forward-mode level or a compile capture, whatever order they were opened in: a
# batching rule turns one op on logical values into ops on the whole batch, and
# tangents, like the tape, are linear per element, so they ride on those physical
# ops and the batch commutes with them.
def push_interpreter(level):
    """Open ``level`` on top (a vmap level), or under the vmap levels (the others)."""
    above, below = None, STATE.interpreter
    if not getattr(level, "batches", False):
        while below is not None and getattr(below, "batches", False):
            above, below = below, below.below
    level.below = below
    if above is None:
        STATE.interpreter = level
    else:
        above.below = level


def pop_interpreter(level):
    """Close ``level``, wherever it sits in the stack."""
    above, cur = None, STATE.interpreter
    while cur is not None and cur is not level:
        above, cur = cur, cur.below
    if cur is None:
        raise RuntimeError(f"{type(level).__name__}: closed, but it is not open")
    if above is None:
        STATE.interpreter = level.below
    else:
        above.below = level.below


def interpreters():
    """The open interpreters, top first."""
    out, cur = [], STATE.interpreter
    while cur is not None:
        out.append(cur)
        cur = cur.below
    return out


class AccumulateGrad:
    """What ``next_functions`` shows for a leaf, as in PyTorch: the node that adds the
    leaf's gradient into ``.grad``.  The engine itself keeps the leaf in the edge;
    this stands for it, one object per leaf while any reference to it lives."""
    __slots__ = ("variable", "__weakref__")
    next_functions = ()

    def __init__(self, variable):
        self.variable = variable

    @staticmethod
    def name():
        return "torch::autograd::AccumulateGrad"

    def __repr__(self):
        return f"<AccumulateGrad of a leaf of shape {tuple(self.variable.shape)}>"


_accumulators = weakref.WeakValueDictionary()     # id(leaf) -> its AccumulateGrad
_NO_EDGE = (None, 0)


def accumulate_grad_node(leaf):
    """The `AccumulateGrad` of ``leaf`` (the same object while one is referenced: it
    holds the leaf, so the id cannot be reused meanwhile)."""
    node = _accumulators.get(id(leaf))
    if node is None:
        node = _accumulators[id(leaf)] = AccumulateGrad(leaf)
    return node


def _finish(ctx, args, arrays, needs, any_needs, out):
    """The outputs of ``forward`` as Tensors, recorded as a tape node if an input needs grad."""
    if not any_needs:
        if type(out) is tuple:
            return tuple([_wrap_output(o, args, arrays) for o in out])
        return _wrap_output(out, args, arrays)
    return _record(ctx, args, arrays, needs, out)


def _record(ctx, args, arrays, needs, out):
    """Make ``ctx`` a tape node: edges to the inputs, outputs that point back to it."""
    ctx._seq = next(_tape_position)
    ctx._scope = STATE.scope
    edges = []
    plain = False       # an argument that is not a Tensor (a dim, a flag)
    for a, n in zip(args, needs):
        if not n:
            edges.append(None)
            plain = plain or not isinstance(a, Tensor)
        elif a.grad_fn is not None:
            edges.append((a.grad_fn, a._output_nr))
        else:
            edges.append((a, 0))
    ctx._edges = edges
    if plain:
        ctx._tensor_args = [isinstance(a, Tensor) for a in args]
    if type(out) is np.ndarray and ctx._non_diff is None:     # one output: most ops
        # a fresh array (the usual case) needs no search for the input it views
        t = Tensor._make(out) if out.base is None else _wrap_output(out, args, arrays)
        if out.dtype.kind == "f":
            t._requires_grad = True
            t.grad_fn = ctx
        ctx._out_meta = ((out.shape, out.dtype),)
        res = (t,)
        outs = (out,)
    else:
        res, outs = _record_outputs(ctx, args, arrays, out)
    if ctx._to_save is not None:
        ctx._saved = _resolve_saved(ctx, args, arrays, outs, res)
        ctx._to_save = None
    if STATE.anomaly:
        _anomaly_forward_check(ctx, res)
    if STATE.forward_observer is not None:
        STATE.forward_observer(ctx, args, res)
    return res[0] if type(out) is not tuple else res


def _record_outputs(ctx, args, arrays, out):
    """The general case of `_record`: several outputs, or some non-differentiable."""
    outs = (out,) if type(out) is not tuple else out
    non_diff = ctx._non_diff
    res = []
    meta = []
    for i, o in enumerate(outs):
        t = _wrap_output(o, args, arrays)
        d = t.array
        if d.dtype.kind == "f" and not (non_diff and any(o is nd for nd in non_diff)):
            t._requires_grad = True
            t.grad_fn = ctx
            t._output_nr = i
        res.append(t)
        meta.append((d.shape, d.dtype))
    ctx._out_meta = tuple(meta)
    return tuple(res), outs


def _memory(a):
    """Bytes ``a`` holds: a broadcast stand-in (a zero stride, e.g. matmul's saved shape
    in linalg.shape_only) holds one element along that dim, not ``a.nbytes``."""
    if a.size == 0 or all(a.strides):
        return a.nbytes
    return a.itemsize * math.prod(n for n, step in zip(a.shape, a.strides) if step)


def _wrap_output(o, args, arrays):
    if type(o) is not np.ndarray:
        o = np.asarray(o)
    base = o.base
    if base is not None:
        # A view of an input shares the input's version counter, so in-place writes
        # through either are seen by saved-tensor checks on the other.
        for a, arr in zip(args, arrays):
            if isinstance(a, Tensor) and (base is arr or base is arr.base):
                return Tensor._make(o, None, 0, a._version, a._base if a._base is not None else a)
    return Tensor._make(o)


_INPUT, _OUTPUT, _CONST, _PACKED = "input", "output", "const", "packed"
_NOTHING = (_CONST, None, None)


def _resolve_saved(ctx, args, arrays, outs, res):
    """Map what forward saved back to tensors: inputs and outputs by identity (so
    backward sees graph-connected tensors), anything else as a constant.  Each input
    is saved with its version (`version_of`: no counter is made for it)."""
    saved = []
    for s in ctx._to_save:
        if s is None:            # e.g. mul's operand whose gradient is not needed
            saved.append(_NOTHING)
            continue
        for i, arr in enumerate(arrays):
            if s is arr and isinstance(args[i], Tensor):
                a = args[i]
                saved.append((_INPUT, a, version_of(a)))
                break
        else:
            for j, o in enumerate(outs):
                if s is o:
                    t = res[j]
                    if t.grad_fn is ctx:
                        saved.append(ctx._save_output(j, t))
                    else:
                        saved.append((_INPUT, t, version_of(t)))
                    break
            else:   # a Python scalar or an array computed in forward: a constant
                const = Tensor._make(s) if isinstance(s, np.ndarray) else s
                saved.append((_CONST, const, None))
    return saved


def _user_frame():
    """The innermost stack frame outside this package (the user's call site)."""
    pkg = __name__.rsplit(".", 1)[0]
    f = sys._getframe(0)      # this frame is in the package (or, compiled, has none)
    while f is not None and f.f_globals.get("__name__", "").split(".")[0] in (pkg, "nn", "optim"):
        f = f.f_back
    return f"{f.f_code.co_filename}:{f.f_lineno}" if f is not None else "<unknown>"


def _anomaly_forward_check(ctx, outputs):
    ctx._trace = _user_frame()
    for i, t in enumerate(outputs):
        if t.array.dtype.kind == "f" and not np.isfinite(t.array).all():
            raise FloatingPointError(
                f"detect_anomaly: {type(ctx).__name__} produced NaN/Inf in output {i} "
                f"(shape {t.array.shape}) in module '{ctx.scope or '<top>'}', "
                f"called at {ctx._trace}")
