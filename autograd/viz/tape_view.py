"""`tape(output)`: the entries backward will replay, printed as a table.

Each row is one tape node reachable from the output, in tape order: position,
op, module path, input and output shapes, bytes saved for backward and (after a
backward inside ``record_gradients()``) the norm of the gradient that reached it.
Totals say how many ops backward will run and how much memory the saved values
hold: this is where a learner sees what the graph costs.
"""
from dataclasses import dataclass

from ..engine import walk
from ..function import AccumulateGrad
from ..tensor import Tensor
from . import heat
from .graph import fmt_bytes, saved_bytes, shape_str
from .record import node_grad_stats


@dataclass
class TapeEntry:
    position: int            # the node's tape position (``sequence_nr()``)
    op: str                  # e.g. "Mul"
    module: str              # dotted module path, "" at top level
    input_shapes: list       # per Tensor argument: shape, or None (no gradient needed)
    output_shapes: list
    saved_bytes: object      # int, or None once backward released the saved values
    grad_norm: object        # float, or None when not recorded
    node: object = None
    packed: bool = False     # a saved-tensor hook (autograd.graph) packed what it saved


class Tape(list):
    """A list of TapeEntry that prints as a table."""

    @property
    def total_saved_bytes(self):
        # Saved values shared by several nodes (the same input saved twice) count once.
        return self._unique_saved

    def __str__(self):
        head = ["#", "op", "module", "inputs", "outputs", "saved", "|grad|"]
        rows = []
        for e in self:
            ins = ", ".join(shape_str(s) if s is not None else "-" for s in e.input_shapes)
            outs = ", ".join(shape_str(s) for s in e.output_shapes)
            saved = "released" if e.saved_bytes is None else fmt_bytes(e.saved_bytes)
            saved += " (packed)" if e.packed else ""
            grad = "-" if e.grad_norm is None else f"{e.grad_norm:.3e}"
            rows.append([str(e.position), e.op, e.module or "-", ins, outs, saved, grad])
        widths = [max([len(h)] + [len(r[i]) for r in rows]) for i, h in enumerate(head)]
        right = {0, 5, 6}

        def fmt(cells):
            return "  ".join(c.rjust(w) if i in right else c.ljust(w)
                             for i, (c, w) in enumerate(zip(cells, widths))).rstrip()
        lines = [fmt(head), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows]
        released = any(e.saved_bytes is None for e in self)
        lines.append(f"{len(self)} ops; saved for backward: {fmt_bytes(self.total_saved_bytes)}"
                     + (" (some released by backward)" if released else "")
                     + ("; (packed): a saved-tensor hook holds them, the bytes are what it "
                        "kept" if any(e.packed for e in self) else ""))
        return "\n".join(lines)

    __repr__ = __str__

    def _repr_pretty_(self, p, cycle):
        p.text(str(self))


def tape(*outputs):
    """The tape entries reachable from ``outputs``, in the order they were recorded."""
    if len(outputs) == 1 and isinstance(outputs[0], (list, tuple)):
        outputs = tuple(outputs[0])
    for i, o in enumerate(outputs):
        if not isinstance(o, Tensor):
            raise TypeError(f"tape: output {i} is a {type(o).__name__}, expected a Tensor")
    nodes, _ = walk(outputs)
    result = Tape()
    seen = {}
    for n in nodes:
        ins = []
        for edge in n.next_functions:
            if edge[0] is None:
                ins.append(None)
            elif isinstance(edge[0], AccumulateGrad):
                ins.append(tuple(edge[0].variable.shape))
            else:
                ins.append(tuple(edge[0].output_metadata[edge[1]].shape))
        stats = heat.combine(node_grad_stats(n) or ())
        result.append(TapeEntry(n.sequence_nr(), type(n).__name__, n.scope, ins,
                                [tuple(m.shape) for m in n.output_metadata], saved_bytes(n),
                                None if stats is None else stats.norm, n,
                                any(s.packed for s in n.saved_tensor_info or ())))
        for s in n.saved_tensor_info or ():
            if s.shape is not None:
                seen[id(s.value)] = s.nbytes
    result._unique_saved = sum(seen.values())
    return result
