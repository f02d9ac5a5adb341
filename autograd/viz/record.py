"""`record_gradients()`: watch a backward replay through the engine's observer hook.

Inside the context, every VJP the engine runs is reported here; we keep a compact
summary (sum of squares, size, finiteness) of the gradient that reached each
node's outputs, as ``node._grad_stats``, so that ``to_dot`` and ``tape`` can show
gradients of intermediate results after the fact without keeping the arrays.

The recorder also tags nodes created *by* a ``create_graph=True`` backward with
their derivative order (``node._grad_order``): a backward pass differentiates
nodes of order <= k and everything its VJPs record is of order k + 1.  A pass is
recognised by tape positions: within one replay they strictly decrease, so a
position larger than the previous one starts a new pass; its order is one more
than the highest order tagged on the graph it differentiates.
"""
from dataclasses import dataclass, field

from ..grad_mode import STATE
from ..tensor import Tensor
from .heat import stats_of


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
        if self._last_seq is None or node._seq > self._last_seq:
            # A new backward pass: its first node has the highest position and the
            # highest derivative order of the graph being differentiated.
            self._pass_order = _max_order(node) + 1
            self._pass_top = node._seq
        self._last_seq = node._seq
        out_stats = tuple(stats_of(g) for g in out_grads)
        node._grad_stats = out_stats
        step = Step(node, out_stats) if self.keep_steps else None
        for edge, g in zip(node._edges, in_grads):
            if edge is None or g is None:
                continue
            dst = edge[0]
            if isinstance(dst, Tensor):
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
            if n._seq <= self._pass_top or hasattr(n, "_grad_order"):
                continue
            n._grad_order = self._pass_order
            for edge in n._edges:
                if edge is not None and not isinstance(edge[0], Tensor):
                    stack.append(edge[0])


def _max_order(top):
    """Highest derivative order tagged on the graph below ``top`` (once per pass)."""
    best, seen, stack = 0, set(), [top]
    while stack:
        n = stack.pop()
        if id(n) in seen:
            continue
        seen.add(id(n))
        best = max(best, getattr(n, "_grad_order", 0))
        for edge in n._edges:
            if edge is not None and not isinstance(edge[0], Tensor):
                stack.append(edge[0])
    return best
