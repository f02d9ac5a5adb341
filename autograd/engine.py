"""The tape replay: reverse-mode differentiation over recorded nodes.

Every node carries its tape position ``_seq``; an input is always recorded before
the ops that consume it, so visiting the nodes reachable from the outputs in
decreasing ``_seq`` is a valid reverse topological order.  The replay is a loop,
not a recursion, so depth is limited only by memory.

For each node, in that order:
  1. the gradients that reached its outputs are summed (missing ones are zeros),
  2. hooks registered on the corresponding tensors run, and retained grads are set,
  3. its VJP maps them to one gradient per input,
  4. each gradient is added into the buffer of the input's node, or for a leaf,
     into a per-leaf sum.
A leaf's sum is complete once the last reachable node that uses the leaf (the one of
lowest position) has run: it is then accumulated into ``leaf.grad`` at once and the
leaf's post-accumulate-grad hooks run, while the rest of the replay goes on (so a
data-parallel wrapper can start communicating a gradient early, as in PyTorch).
Saved tensors are released after a node runs unless ``retain_graph``.

Gradients travel as NumPy arrays, and a node's array-only ``vjp`` runs when it has
one; only ``create_graph=True`` replays on Tensors through the differentiable
``backward``, so that the gradient is itself recorded.  A node without ``vjp`` gets
its array gradients wrapped as Tensors, with recording off.  Hooks and captured
gradients always see Tensors.
"""
import sys
from operator import attrgetter

import numpy as np

from .function import Primitive
from .grad_mode import STATE, set_grad_enabled
from .tensor import Tensor

_by_position = attrgetter("_seq")

# Called as ``wrapper(call_vjp, node, grads, create_graph)`` in place of each VJP
# call of a replay, which it must make (``call_vjp(node, grads, create_graph)``) and
# return the result of; the profiler times VJPs with it.  Read once per replay.
_vjp_wrapper = None


def set_vjp_wrapper(wrapper):
    """Install ``wrapper`` (or None) around every node's VJP; returns the previous one."""
    global _vjp_wrapper
    previous, _vjp_wrapper = _vjp_wrapper, wrapper
    return previous


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate gradients of ``tensors`` into the ``.grad`` of leaves (or of ``inputs``)."""
    tensors = _as_tuple(tensors)
    grads = _root_grads(tensors, grad_tensors, "backward")
    targets = None if inputs is None else _as_tuple(inputs)
    _replay(tensors, grads, retain_graph, create_graph, targets, accumulate=True)


def clear_grads(tensors, set_to_none=True):
    """What ``zero_grad`` does to each tensor's ``.grad``, as in PyTorch: drop it, or with
    ``set_to_none=False`` detach it from any graph and zero it in place."""
    for t in tensors:
        g = t.grad
        if g is None:
            continue
        if set_to_none:
            t.grad = None
        else:
            g.detach_()
            g.zero_()


def _tensor_backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate d(self)/d(leaf) into every reachable leaf's ``.grad``."""
    backward((self,), None if gradient is None else (gradient,), retain_graph, create_graph, inputs)


# Attached here, not defined in tensor.py: the engine sits on the tensor, not beside it.
Tensor.backward = _tensor_backward


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=False):
    """Return d(outputs)/d(inputs) (weighted by ``grad_outputs``) without touching ``.grad``."""
    outputs = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(f"autograd.grad: input {i} does not require grad")
    grads = _root_grads(outputs, grad_outputs, "autograd.grad")
    result = _replay(outputs, grads, retain_graph, create_graph, inputs, accumulate=False)
    for i, g in enumerate(result):
        if g is None and not allow_unused:
            raise RuntimeError(
                f"autograd.grad: input {i} (shape {tuple(inputs[i].shape)}) was not used to "
                "compute the outputs; pass allow_unused=True to get None for it")
    return tuple(result)


def _as_tuple(x):
    if isinstance(x, Tensor):
        return (x,)
    return tuple(x)


def _root_grads(tensors, grad_tensors, who):
    if grad_tensors is None:
        grad_tensors = (None,) * len(tensors)
    else:
        grad_tensors = _as_tuple(grad_tensors) if not isinstance(grad_tensors, (list, tuple)) else tuple(grad_tensors)
    if len(grad_tensors) != len(tensors):
        raise RuntimeError(f"{who}: got {len(tensors)} outputs but {len(grad_tensors)} gradients")
    grads = []
    for i, (t, g) in enumerate(zip(tensors, grad_tensors)):
        if not t.requires_grad:
            raise RuntimeError(
                f"{who}: element {i} of the outputs does not require grad and has no grad_fn "
                "(was it computed under no_grad, or from tensors without requires_grad=True?)")
        if g is None:
            if t.array.size != 1:
                raise RuntimeError(
                    f"{who}: grad can be implicitly created only for scalar outputs; output {i} "
                    f"has shape {tuple(t.shape)}. Pass gradient= (a tensor of that shape), or "
                    "reduce the output to a scalar first (e.g. .sum()).")
            g = Tensor._make(np.ones_like(t.array))
        else:
            g = g if isinstance(g, Tensor) else Tensor._make(np.asarray(g, dtype=t.array.dtype))
            if g.shape != t.shape:
                raise RuntimeError(f"{who}: gradient {i} has shape {tuple(g.shape)} but output "
                                   f"{i} has shape {tuple(t.shape)}")
        grads.append(g)
    return grads


def reachable_nodes(roots):
    """Nodes reachable from the ``roots`` tensors, in decreasing tape position."""
    return _traverse(roots)[0]


def _traverse(roots):
    """`reachable_nodes`, and the map node -> the leaves whose gradient sum is complete
    once that node has run: for each leaf, the node of lowest tape position among its
    users.  One walk finds both (a second pass over the edges was 3% of W1's
    instructions)."""
    seen = set()          # nodes hash by identity
    last = {}             # id(leaf) -> (its user of lowest position, leaf)
    stack = [t.grad_fn for t in roots if t.grad_fn is not None]
    while stack:
        node = stack.pop()
        if node in seen:
            continue
        seen.add(node)
        for edge in node._edges:
            if edge is None:
                continue
            dst = edge[0]
            if not isinstance(dst, Tensor):
                stack.append(dst)
                continue
            user = last.get(id(dst))
            if user is None or node._seq < user[0]._seq:
                last[id(dst)] = (node, dst)
    users = {}
    for node, leaf in last.values():
        users.setdefault(node, []).append(leaf)
    return sorted(seen, key=_by_position, reverse=True), users


def walk(outputs):
    """Op nodes reachable from ``outputs`` in tape order, and leaves in first-use order."""
    nodes = reachable_nodes(outputs)[::-1]
    leaves, leaf_ids = [], set()
    for n in nodes:
        for edge in n._edges:
            if edge is not None and isinstance(edge[0], Tensor) and id(edge[0]) not in leaf_ids:
                leaf_ids.add(id(edge[0]))
                leaves.append(edge[0])
    return nodes, leaves


def _prune(nodes, leaf_targets, node_targets):
    """Keep only the nodes from which some target can be reached (for autograd.grad)."""
    needed = {node_id for node_id, _ in node_targets}
    for node in reversed(nodes):               # increasing tape position
        for edge in node._edges:
            if edge is None:
                continue
            dst, nr = edge
            if (id(dst) in leaf_targets if isinstance(dst, Tensor)
                    else (id(dst) in needed or (id(dst), nr) in node_targets)):
                needed.add(id(node))
                break
    return [n for n in nodes if id(n) in needed]


def _replay(roots, root_grads, retain_graph, create_graph, targets, accumulate):
    retaining = STATE.retain_graph           # a replay inside another (a hook's backward)
    STATE.retain_graph = retain_graph = create_graph if retain_graph is None else retain_graph
    try:
        return _replay_nodes(roots, root_grads, retain_graph, create_graph, targets, accumulate)
    finally:
        STATE.retain_graph = retaining


def _replay_nodes(roots, root_grads, retain_graph, create_graph, targets, accumulate):
    record = create_graph
    # Inside a forward-mode dual level the VJPs run on Tensors, so that tangents reach
    # the gradients (forward over reverse); they are recorded only under create_graph.
    create_graph = create_graph or STATE.dual_level is not None
    # target -> the positions it holds in `targets` (a tensor may be listed twice)
    leaf_targets, node_targets = {}, {}
    if targets is not None:
        for i, t in enumerate(targets):
            if t.grad_fn is None:
                leaf_targets.setdefault(id(t), []).append(i)
            else:
                node_targets.setdefault((id(t.grad_fn), t._output_nr), []).append(i)
    captured = [None] * (len(targets) if targets is not None else 0)

    buffers = {}      # node -> its per-output gradient list
    leaf_sums = {}    # id(leaf) -> [leaf, summed gradient]
    if not create_graph:
        root_grads = [g.array for g in root_grads]
    for t, g in zip(roots, root_grads):
        _send(t.grad_fn if t.grad_fn is not None else t, t._output_nr, g, buffers, leaf_sums)
    root_grads = g = None            # see _finish_leaf: the engine holds no stray references

    nodes, finishers = _traverse(roots)
    if targets is not None:
        nodes = _prune(nodes, leaf_targets, node_targets)
    # Leaves are finished early only by backward() without inputs=; the other paths
    # need every leaf sum at the end.  A leaf whose last user is skipped (it got no
    # gradient) is finished after the loop.
    if not accumulate or targets is not None:
        finishers = None
    observer = STATE.backward_observer
    around = _vjp_wrapper
    with set_grad_enabled(record):
        for node in nodes:
            grads = buffers.pop(node, None)
            if grads is None:
                continue
            if len(grads) != 1 or grads[0] is None:     # most ops: one output, reached
                grads = _complete(node, grads, create_graph)
            if node._tensor_hooks:
                grads = _run_tensor_hooks(node, node._tensor_hooks, grads, create_graph)
            if node_targets:
                for nr, g in enumerate(grads):
                    for i in node_targets.get((id(node), nr), ()):
                        captured[i] = _as_tensor(g)
            if around is None:
                in_grads = _call_vjp(node, grads, create_graph)
            else:
                in_grads = around(_call_vjp, node, grads, create_graph)
            if observer is not None:
                observer(node, [_as_tensor(g) for g in grads], _observed_inputs(node, in_grads))
            for edge, g in zip(node._edges, in_grads):
                if g is not None:
                    _send(edge[0], edge[1], g, buffers, leaf_sums)
            if not retain_graph and node._saved is not None:
                node.release()      # a node that saved nothing can run again, as in PyTorch
            if finishers is not None:
                done = finishers.pop(node, None)
                if done is not None:
                    grads = in_grads = g = None
                    for leaf in done:
                        if id(leaf) in leaf_sums:
                            _finish_leaf(leaf_sums, leaf, create_graph)

    for key in list(leaf_sums):
        leaf = leaf_sums[key][0]
        if targets is not None:
            positions = leaf_targets.get(id(leaf))
            if positions is None:
                continue
            if not accumulate:
                g = _run_leaf_hooks(leaf, leaf_sums.pop(key)[1])
                for i in positions:
                    captured[i] = _as_tensor(g)
                continue
        _finish_leaf(leaf_sums, leaf, create_graph)
    if targets is not None and accumulate:
        done = set()
        for t in targets:            # non-leaf inputs= of backward(): accumulate too
            if t.grad_fn is not None and id(t) not in done:
                done.add(id(t))
                g = captured[node_targets[(id(t.grad_fn), t._output_nr)][0]]
                if g is not None:
                    _accumulate(t, g if create_graph else g.array, create_graph)
    return captured


def _observed_inputs(node, in_grads):
    """The input gradients a backward observer sees: as Tensors, one per entry of
    ``next_functions`` (a Tensor argument)."""
    if node._tensor_args is not None:
        in_grads = [g for g, is_tensor in zip(in_grads, node._tensor_args) if is_tensor]
    return [_as_tensor(g) for g in in_grads]


def _as_tensor(g):
    """What hooks and callers see: a gradient as a Tensor (arrays wrapped, no copy)."""
    return g if g is None or isinstance(g, Tensor) else Tensor._make(g)


def _run_hooks(hooks, g):
    """Run ``hook(grad)`` hooks on a Tensor view of ``g``; a returned tensor replaces
    it.  The result has ``g``'s kind (array, or Tensor under create_graph)."""
    array_mode = not isinstance(g, Tensor)
    t = _as_tensor(g)
    for hook in hooks:
        out = hook(t)
        if out is not None:
            t = out
    return t.array if array_mode else t


def _run_leaf_hooks(leaf, g):
    return _run_hooks(leaf._hooks, g) if leaf._hooks else g


def _refs_of_a_local():
    a = np.empty(0)
    return sys.getrefcount(a)


# What sys.getrefcount reports for an array that only one local variable holds (2 on
# CPython: the variable and the call's argument), measured once rather than assumed.
_SOLE = _refs_of_a_local()


def _finish_leaf(leaf_sums, leaf, create_graph):
    """Run the leaf's hooks on its summed gradient, accumulate it into ``.grad`` and
    run the post-accumulate hooks.  As in PyTorch, the array itself becomes ``.grad``
    when nothing else refers to it (no hook, caller, retained grad or pending node
    kept it; the replay drops its own references first), else a copy does."""
    g = _run_leaf_hooks(leaf, leaf_sums.pop(id(leaf))[1])
    owned = not create_graph and sys.getrefcount(g) <= _SOLE
    _accumulate(leaf, g, create_graph, owned)
    if leaf._post_accumulate_grad_hooks:
        for hook in leaf._post_accumulate_grad_hooks:
            hook(leaf)


def _send(dst, nr, g, buffers, leaf_sums):
    if isinstance(dst, Tensor):
        entry = leaf_sums.get(id(dst))
        if entry is None:
            leaf_sums[id(dst)] = [dst, g]
        else:
            entry[1] = _summed(entry[1], g)
        return
    buf = buffers.get(dst)
    if buf is None:
        buf = buffers[dst] = [None] * len(dst._out_meta)
    buf[nr] = g if buf[nr] is None else _summed(buf[nr], g)


def _summed(total, g):
    """total + g, two gradients of one tensor (so of its shape and dtype, see
    _call_vjp): arrays, or Tensors recorded under create_graph.  The sum is taken in
    place when the slot holding ``total`` is its only reference (a weight used at
    every step of an RNN sums 50 gradients; a fresh 256 KB array per sum costs page
    faults)."""
    if type(total) is np.ndarray and total.base is None and total.flags.writeable \
            and sys.getrefcount(total) <= _SOLE + 1:      # + 1: the slot
        return np.add(total, g, out=total)
    return total + g


def _complete(node, grads, create_graph):
    for nr, g in enumerate(grads):
        if g is None and node.materialize_grads:
            shape, dtype = node._out_meta[nr]
            zeros = np.zeros(shape, dtype)
            grads[nr] = Tensor._make(zeros) if create_graph else zeros
    return grads


def _run_tensor_hooks(node, hooks, grads, create_graph):
    for nr in range(len(grads)):
        hook_list = hooks.get(("hook", nr))
        if hook_list and grads[nr] is not None:
            grads[nr] = _run_hooks(hook_list, grads[nr])
        for ref in hooks.get(("retain", nr), ()):
            t = ref()
            if t is not None:
                g = grads[nr] if create_graph else Tensor._make(grads[nr])
                t.grad = g if t.grad is None else t.grad + g
    return grads


def _call_vjp(node, grads, create_graph):
    """The node's gradients per input: Tensors from ``backward`` under create_graph,
    else arrays, from ``vjp`` where the node has one."""
    cls = type(node)
    if create_graph:
        out = cls.backward(node, *grads)
    elif cls.vjp is not None:
        out = cls.vjp(node, *grads)
    else:
        out = cls.backward(node, *[None if g is None else Tensor._make(g) for g in grads])
    if not isinstance(out, tuple):
        out = (out,)
    edges = node._edges
    if len(out) != len(edges):
        raise RuntimeError(
            f"{cls.__name__}.backward returned {len(out)} gradient(s), expected {len(edges)} "
            "(one per argument of forward, None for arguments that need no gradient)")
    checked = create_graph or STATE.anomaly
    result = []
    for i, g in enumerate(out):
        edge = edges[i]
        if g is None or edge is None:
            result.append(None)
            continue
        dst, nr = edge
        if isinstance(dst, Tensor):
            want = dst.array
            shape, dtype = want.shape, want.dtype
        else:
            shape, dtype = dst._out_meta[nr]
        if not checked and type(g) is np.ndarray and g.shape == shape and g.dtype is dtype:
            result.append(g)        # the usual case: an array of the input's shape and dtype
        else:
            result.append(_conform(node, i, g, shape, dtype, create_graph))
    return result


def _conform(node, i, g, shape, dtype, create_graph):
    """Gradient ``g`` of input ``i`` as the engine passes it on (a Tensor under
    create_graph, else an array) in the input's dtype; a wrong shape is the VJP's bug."""
    if create_graph:
        if not isinstance(g, Tensor):
            g = _first_order_only(node, np.asarray(g))
        array = g.array
    elif type(g) is np.ndarray:
        array = g
    else:
        array = g = g.array if isinstance(g, Tensor) else np.asarray(g)
    if array.shape != shape:
        raise RuntimeError(
            f"{type(node).__name__}.backward returned a gradient of shape {tuple(array.shape)} "
            f"for input {i}, but that input has shape {tuple(shape)}")
    if array.dtype != dtype:
        g = g.to(dtype) if create_graph else g.astype(dtype)
    if STATE.anomaly and not np.isfinite(array).all():
        raise FloatingPointError(
            f"detect_anomaly: {node.name()} returned NaN/Inf in the gradient of input {i} "
            f"(module '{node.scope or '<top>'}'); the op was called at "
            f"{getattr(node, '_trace', '<not recorded: enable detect_anomaly during forward>')}")
    return g


class _FirstOrderBackward(Primitive):
    """Stands for a gradient computed by a backward that returned NumPy arrays:
    it has no derivative of its own, so differentiating through it is an error."""

    @staticmethod
    def backward(ctx, g):
        raise RuntimeError(
            f"{ctx.op_name}.backward returned NumPy arrays, so it supports first derivatives "
            "only; write its backward with Tensor operations to differentiate it twice")


def _first_order_only(node, g):
    """Wrap an array gradient so that a second backward through it raises clearly."""
    anchor = [e for e in node._edges if e is not None]
    out = Tensor._make(g)
    fake = _FirstOrderBackward.__new__(_FirstOrderBackward)
    fake.op_name = type(node).__name__
    fake._seq = node._seq
    fake._scope = node._scope
    fake._edges = tuple(anchor) + (None,)
    fake._out_meta = ((g.shape, g.dtype),)
    fake._saved = None
    fake.needs_input_grad = [True] * len(anchor) + [False]
    out.grad_fn, out._requires_grad = fake, True
    return out


def _accumulate(t, g, create_graph, owned=False):
    """Add the gradient ``g`` (a Tensor under create_graph, else an array) into ``t.grad``."""
    if create_graph:
        t.grad = g if t.grad is None else t.grad + g
    elif t.grad is None:
        # A copy unless the array is ours alone (``owned``, and not a view of another):
        # otherwise g may alias a user's tensor (the `gradient` passed in) or another
        # tensor's gradient, and later accumulation writes into .grad in place.
        keep = owned and g.base is None and g.flags.writeable
        t.grad = Tensor._make(g if keep else g.copy())
    elif t.grad.grad_fn is None and t.grad.shape == g.shape:
        np.add(t.grad.array, g, out=t.grad.array)
        t.grad._version.value += 1
    else:
        t.grad = t.grad + Tensor._make(g)
