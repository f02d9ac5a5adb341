"""``torch.autograd.graph``: saved-tensor hooks, and the names PyTorch gives a node's
saved values.

Saved-tensor hooks.  Inside ``with saved_tensors_hooks(pack_hook, unpack_hook):``
every tensor a tape node saves for backward (by ``save_for_backward``, built-in ops
included: inputs, outputs and arrays computed in forward) is handed to ``pack_hook``
once, right after the op is recorded, and the node keeps only what the hook returned.
When backward (or an inspection such as ``_saved_self``) needs the value,
``unpack_hook`` gets that object back and must return a Tensor of the original's
shape and dtype; the node rewires it to the original's place in the graph (its
``grad_fn``, or its leaf), so a differentiable backward still reaches what the
original reached.  Nested contexts: the innermost wins.  Hooks are per thread.

Inspection.  A node answers ``_saved_self``, ``_saved_other``, ``_saved_result``
and ``_saved_<argument>`` as in PyTorch, from what it saved (no second store): a
primitive names its saved values in ``saved_names`` (see `_names`), and one-input
ops need not (their saved input is ``self``, their output ``result``).
``_raw_saved_<name>`` is a `SavedTensor`, whose ``register_hooks(pack, unpack)``
packs that one value.

``increment_version`` tells autograd about a write made behind its back (nn and
optim change parameters, buffers and gradients through ``Tensor.array``), so that a
node that saved the tensor refuses the stale value, as in PyTorch.
"""
import threading

from .function import (_CONST, _INPUT, _OUTPUT, _PACKED, AccumulateGrad, Primitive,
                       SavedTensorInfo, _memory, _modified_error, add_op_wrapper,
                       remove_op_wrapper)
from .grad_mode import STATE
from .tensor import Tensor

__all__ = ["saved_tensors_hooks", "save_on_cpu", "disable_saved_tensors_hooks",
           "increment_version", "Node", "AccumulateGrad", "SavedTensor"]

Node = Primitive        # what ``isinstance(t.grad_fn, torch.autograd.graph.Node)`` asks


def increment_version(tensor):
    """Record an in-place write to ``tensor``'s memory made outside autograd's ops."""
    tensor._version.value += 1


class _HookState(threading.local):
    def __init__(self):
        self.stack = []          # (pack_hook, unpack_hook), innermost last
        self.disabled = None     # the error message of disable_saved_tensors_hooks


_state = _HookState()
_lock = threading.Lock()
_open = [0]                      # hook contexts open in any thread


class saved_tensors_hooks:
    """Pack every tensor saved for backward inside the block with ``pack_hook`` and
    unpack it with ``unpack_hook`` when it is needed (see the module docstring)."""

    def __init__(self, pack_hook, unpack_hook):
        for name, hook in (("pack_hook", pack_hook), ("unpack_hook", unpack_hook)):
            if not callable(hook):
                raise TypeError(f"saved_tensors_hooks: {name} must be callable, got "
                                f"{type(hook).__name__}")
        self.pack_hook, self.unpack_hook = pack_hook, unpack_hook

    def __enter__(self):
        if _state.disabled is not None:
            raise RuntimeError(_state.disabled)
        _state.stack.append((self.pack_hook, self.unpack_hook))
        with _lock:
            _open[0] += 1
            if _open[0] == 1:
                add_op_wrapper(_pack_saved, innermost=True)
        return self

    def __exit__(self, *exc):
        _state.stack.pop()
        with _lock:
            _open[0] -= 1
            if _open[0] == 0:
                remove_op_wrapper(_pack_saved)


def _same(t):
    return t


class save_on_cpu(saved_tensors_hooks):
    """PyTorch's offload of saved tensors to CPU memory.  Every tensor of this library
    is already in CPU memory, so it keeps them as they are (``pin_memory`` and
    ``device_type`` are accepted and change nothing); as a hooks context it still
    takes precedence over outer ones, as in PyTorch."""

    def __init__(self, pin_memory=False, device_type="cuda"):
        super().__init__(_same, _same)


class disable_saved_tensors_hooks:
    """Inside, opening a ``saved_tensors_hooks`` context raises ``RuntimeError(error_message)``."""

    def __init__(self, error_message):
        self.error_message = str(error_message)

    def __enter__(self):
        self.prev = _state.disabled
        _state.disabled = self.error_message
        return self

    def __exit__(self, *exc):
        _state.disabled = self.prev


def _pack_saved(run, cls, ctx, args, arrays, needs, any_needs):
    """The op wrapper (function.add_op_wrapper) installed while a hooks context is
    open: once the op is recorded, the innermost hooks take what it saved."""
    out = run(cls, ctx, args, arrays, needs, any_needs)
    stack = _state.stack
    if stack and any_needs and ctx._saved:
        pack, unpack = stack[-1]
        for k in range(len(ctx._saved)):
            _pack_one(ctx, k, pack, unpack)
    return out


def _pack_one(node, k, pack, unpack):
    """Replace saved value ``k`` of ``node`` (a tensor: input, output or array made in
    forward) by what ``pack`` returns for it."""
    saved = node._saved
    kind, obj, version = saved[k]
    if kind is _OUTPUT:
        data, counter = node._saved_outputs[obj]
        t = Tensor._make(data, node, obj, counter)
    elif kind is _INPUT or (kind is _CONST and type(obj) is Tensor):
        t = obj
    else:                       # nothing saved, a Python constant, or packed already
        return
    packed = _Packed(node, kind, t, pack, unpack, version)
    saved = node._saved = list(saved)
    saved[k] = (_PACKED, packed, version)
    if kind is _OUTPUT and not any(e[0] is _OUTPUT and e[1] == obj for e in saved):
        del node._saved_outputs[obj]


class _Packed:
    """A saved tensor held as its pack hook's result, with what is needed to give it
    back: shape and dtype to check, its place in the graph and its version counter."""
    __slots__ = ("kind", "packed", "unpack_hook", "shape", "dtype", "version", "counter",
                 "grad_fn", "output_nr", "leaf", "info")

    def __init__(self, node, kind, t, pack, unpack, version):
        a = t.array
        self.kind, self.shape, self.dtype, self.version = kind, a.shape, a.dtype, version
        self.unpack_hook = unpack
        self.grad_fn = self.leaf = self.counter = None
        self.output_nr = t._output_nr
        if kind is _OUTPUT:
            self.counter = t._vc
        elif kind is _INPUT:
            self.counter = t._version
            if t.grad_fn is not None:
                self.grad_fn = t.grad_fn
            elif t._requires_grad:
                self.leaf = t
        self.packed = packed = pack(t)
        held = packed.array if isinstance(packed, Tensor) else packed
        nbytes = _memory(held) if hasattr(held, "strides") else 0
        public = "constant" if kind is _CONST else kind
        self.info = SavedTensorInfo(public, self.output_nr if kind is _OUTPUT else None,
                                    a.shape, a.dtype, nbytes, packed, True)

    def unpack(self, node, k, as_arrays):
        t = self.unpack_hook(self.packed)
        if not isinstance(t, Tensor):
            raise TypeError(
                f"{node.name()}: the unpack hook returned a {type(t).__name__} for saved "
                f"tensor {k}; expected a Tensor (shape {tuple(self.shape)}, {self.dtype})")
        a = t.array
        if a.shape != self.shape or a.dtype != self.dtype:
            raise RuntimeError(
                f"{node.name()}: the unpack hook returned a tensor of shape "
                f"{tuple(a.shape)} and dtype {a.dtype} for saved tensor {k}, but the saved "
                f"tensor had shape {tuple(self.shape)} and dtype {self.dtype}")
        if self.counter is not None and self.counter.value != self.version:
            _modified_error(node, k, None, a, self.counter.value, self.version)
        if as_arrays:
            return a
        if self.kind is _OUTPUT:
            return Tensor._make(a, node, self.output_nr, self.counter)
        if self.grad_fn is not None:
            if t.grad_fn is self.grad_fn and t._output_nr == self.output_nr:
                return t
            return Tensor._make(a, self.grad_fn, self.output_nr, self.counter)
        if self.leaf is not None and t is not self.leaf:
            return _SavedLeaf.apply(self.leaf, a) if STATE.grad_enabled else Tensor._make(a)
        return t if not t._requires_grad or t is self.leaf else Tensor._make(a)


class _SavedLeaf(Primitive):
    """A leaf's saved value as an unpack hook gave it back, joined to the leaf so that
    a differentiable backward (create_graph) still reaches it: y = data, dy/dleaf = 1."""

    @staticmethod
    def forward(ctx, leaf, data):
        return data

    @staticmethod
    def backward(ctx, g):
        return g, None

    jvp = None


# -- PyTorch's names for saved values ------------------------------------------------

def _names(node):
    """name -> index into what ``node`` saved, or the name of a ctx attribute.  From the
    primitive's ``saved_names`` (a tuple, one name or None per ``save_for_backward``
    argument; or a dict name -> index or attribute), else from what a one-input op saved."""
    declared = getattr(type(node), "saved_names", None)
    if isinstance(declared, dict):
        return declared
    if declared is not None:
        return {n: i for i, n in enumerate(declared) if n is not None}
    info = node.saved_tensor_info or ()
    names = {}
    if len(node.needs_input_grad) == 1:
        for i, s in enumerate(info):
            key = {"input": "self", "output": "result"}.get(s.kind)
            if key is not None:
                names.setdefault(key, i)
    return names


def _saved_value(node, name, raw):
    """``node._saved_<name>`` (``raw``: ``node._raw_saved_<name>``), see function.py's
    ``_add_saved_properties``."""
    attr = ("_raw_saved_" if raw else "_saved_") + name
    where = _names(node).get(name)
    if where is None:
        raise AttributeError(f"'{node.name()}' object has no attribute '{attr}': this node "
                             f"saved {sorted('_saved_' + n for n in _names(node))}")
    if isinstance(where, str):          # a value kept on the ctx, e.g. a Python exponent
        if raw:
            raise AttributeError(f"'{node.name()}': _saved_{name} is not a tensor, so it has "
                                 "no raw saved tensor")
        return getattr(node, where)
    if raw:
        return SavedTensor(node, where)
    if node._saved is None and node._released:
        node.saved_tensors          # raises the released-graph error
    kind = node._saved[where][0]
    if kind is _CONST and node._saved[where][1] is None:
        return None
    return node.saved_tensors[where]


Primitive._saved_value = _saved_value


class SavedTensor:
    """One value a node saved, as PyTorch's ``_raw_saved_<name>`` gives it."""

    def __init__(self, node, index):
        self._node, self._index = node, index

    def register_hooks(self, pack_hook, unpack_hook):
        """Pack this saved value now with ``pack_hook``; backward unpacks it with ``unpack_hook``."""
        node = self._node
        if node._saved is None:
            raise RuntimeError(f"{node.name()}: cannot register hooks on a saved tensor after "
                               "backward released it")
        kind, obj = node._saved[self._index][:2]
        if kind is _PACKED:
            raise RuntimeError(f"{node.name()}: hooks have already been set on this saved tensor")
        if kind is _CONST and type(obj) is not Tensor:
            raise RuntimeError(f"{node.name()}: this saved value is undefined (None), so it "
                               "takes no hooks")
        for name, hook in (("pack_hook", pack_hook), ("unpack_hook", unpack_hook)):
            if not callable(hook):
                raise TypeError(f"register_hooks: {name} must be callable, got "
                                f"{type(hook).__name__}")
        _pack_one(node, self._index, pack_hook, unpack_hook)

    def __repr__(self):
        return f"<SavedTensor {self._index} of {self._node.name()}>"
