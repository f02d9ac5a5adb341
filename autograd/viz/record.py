"""`record_gradients()`: watch a backward replay through the engine's observer hook.

Inside the context, every VJP the engine runs is reported here; we keep a compact
summary (sum of squares, size, finiteness) of the gradient that reached each
node's outputs (``node_grad_stats(node)``), so that ``to_dot`` and ``tape`` can show
gradients of intermediate results after the fact without keeping the arrays.

The recorder also tags nodes created *by* a ``create_graph=True`` backward with
their derivative order (``grad_order(node)``): a backward pass differentiates
nodes of order <= k and everything its VJPs record is of order k + 1.  A pass is
recognised by tape positions: within one replay they strictly decrease, so a
position larger than the previous one starts a new pass; its order is one more
than the highest order tagged on the graph it differentiates.

Both annotations live in maps of this module keyed weakly by node (viewers read the
tape, never write to it), so they go when the graph goes.
"""
import weakref
from dataclasses import dataclass, field

from ..function import AccumulateGrad
from ..grad_mode import STATE
from .heat import stats_of

_STATS_BY_NODE = weakref.WeakKeyDictionary()   # node -> GradStats per output
_ORDER_BY_NODE = weakref.WeakKeyDictionary()   # node -> derivative order (> 0)
_TANGENTS_BY_NODE = weakref.WeakKeyDictionary()  # node -> GradStats per output's tangent


def node_tangent_stats(node):
    """GradStats per output of the forward-mode tangent ``node``'s outputs carried,
    recorded inside ``record_tangents()``; None when none was recorded."""
    return _TANGENTS_BY_NODE.get(node)


class record_tangents:
    """Context manager: ``with record_tangents(), forward_ad.dual_level(): ...``.

    Every recorded op run on dual tensors keeps a summary of its outputs' tangents,
    so ``to_dot(out, show_tangent=True)`` colours the graph by them, as it colours
    it by gradients after ``record_gradients()``.  Ops are recorded (and drawn) only
    when some input requires grad."""

    def __enter__(self):
        self._prev = STATE.tangent_observer
        prev = self._prev

        def observe(node, outputs):
            if prev is not None:
                prev(node, outputs)
            fw = [o._fw for o in outputs]
            _TANGENTS_BY_NODE[node] = tuple(stats_of(f[1].array) if f is not None else None for f in fw)
        STATE.tangent_observer = observe
        return self

    def __exit__(self, *exc):
        STATE.tangent_observer = self._prev


def node_grad_stats(node):
    """GradStats per output of the gradient that last reached ``node`` inside a
    ``record_gradients()``; None when none was recorded."""
    return _STATS_BY_NODE.get(node)


def grad_order(node):
    """Derivative order of a node recorded by a ``create_graph=True`` backward inside
    ``record_gradients()`` (1 for the first such backward); 0 for other nodes."""
    return _ORDER_BY_NODE.get(node, 0)


@dataclass
class Step:
    """One VJP of the replay: the node, the gradients that reached its outputs, and
    for each leaf that received a gradient, the running sum so far."""
    node: object
    out_stats: tuple
    leaf_stats: list = field(default_factory=list)    # [(leaf, GradStats of running sum)]
    sent_to: list = field(default_factory=list)       # destinations (nodes or leaves)


class record_gradients:
    """Context manager: ``with record_gradients() as rec: loss.backward()``.

    Afterwards ``to_dot(loss)`` colours every op by its output gradient, and
    ``rec.steps`` lists the replay step by step (used by ``backprop_frames``).
    ``keep_steps=False`` keeps only the per-node summaries (for large models).
    """

    def __init__(self, keep_steps=True):
        self.keep_steps = keep_steps
        self.steps = []
        self.leaf_sums = {}          # id(leaf) -> [leaf, summed gradient array]
        self._last_seq = None
        self._pass_order = 1
        self._pass_top = None

    def __enter__(self):
        self._prev = STATE.backward_observer
        STATE.backward_observer = self._observe
        return self

    def __exit__(self, *exc):
        STATE.backward_observer = self._prev

    def leaf_grad_stats(self, leaf):
        entry = self.leaf_sums.get(id(leaf))
        return stats_of(entry[1]) if entry is not None else None

    def _observe(self, node, out_grads, in_grads):
        if self._prev is not None:
            self._prev(node, out_grads, in_grads)
        seq = node.sequence_nr()
        if self._last_seq is None or seq > self._last_seq:
            # A new backward pass: its first node has the highest position and the
            # highest derivative order of the graph being differentiated.
            self._pass_order = _max_order(node) + 1
            self._pass_top = seq
        self._last_seq = seq
        out_stats = tuple(stats_of(g) for g in out_grads)
        _STATS_BY_NODE[node] = out_stats
        step = Step(node, out_stats) if self.keep_steps else None
        for edge, g in zip(node.next_functions, in_grads):
            dst = edge[0]
            if dst is None or g is None:
                continue
            if isinstance(dst, AccumulateGrad):
                dst = dst.variable
                entry = self.leaf_sums.get(id(dst))
                if entry is None:
                    self.leaf_sums[id(dst)] = entry = [dst, g.array.copy()]
                else:
                    entry[1] = entry[1] + g.array
                if step is not None:
                    step.leaf_stats.append((dst, stats_of(entry[1])))
            if step is not None:
                step.sent_to.append(dst)
            if g.grad_fn is not None:
                self._tag_new_nodes(g.grad_fn)
        if step is not None:
            self.steps.append(step)

    def _tag_new_nodes(self, start):
        """Nodes recorded by this pass's VJPs (positions above the pass's first node,
        not tagged yet) get the pass's derivative order."""
        stack = [start]
        while stack:
            n = stack.pop()
            if n.sequence_nr() <= self._pass_top or n in _ORDER_BY_NODE:
                continue
            _ORDER_BY_NODE[n] = self._pass_order
            for edge in n.next_functions:
                if edge[0] is not None and not isinstance(edge[0], AccumulateGrad):
                    stack.append(edge[0])


def _max_order(top):
    """Highest derivative order tagged on the graph below ``top`` (once per pass)."""
    best, seen, stack = 0, set(), [top]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        best = max(best, grad_order(n))
        for edge in n.next_functions:
            if edge[0] is not None and not isinstance(edge[0], AccumulateGrad):
                stack.append(edge[0])
    return best
