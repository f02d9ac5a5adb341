"""The drawing model shared by the DOT exporter and the built-in SVG layout.

``build(outputs, ...)`` walks the tape from the outputs and produces plain data:
nodes (ops, leaves, collapsed modules, notes) with label lines, a module path for
clustering and gradient statistics; edges in the chosen direction; and the legend.
Keeping this separate from graphviz lets the fallback layout and the backprop
frames draw exactly the same graph.
"""
from collections import Counter
from dataclasses import dataclass, field

import numpy as np

from ..engine import walk
from ..function import AccumulateGrad
from ..tensor import Tensor
from . import heat
from .record import grad_order, node_grad_stats, node_tangent_stats

ORDER_COLOURS = {1: "#1f77b4", 2: "#ff7f0e", 3: "#2ca02c"}   # derivative orders > 0


@dataclass
class VNode:
    key: str
    kind: str                      # "op" | "leaf" | "module" | "note"
    lines: list
    scope: tuple = ()
    stats: object = None           # heat.GradStats of the tensor this node stands for
    order: int = 0                 # derivative order (create_graph backward)
    output: bool = False           # one of the exported outputs
    tooltip: str = ""
    fill: str = heat.NO_GRAD_COLOUR


@dataclass
class VEdge:
    src: str
    dst: str
    label: str = ""


@dataclass
class Model:
    nodes: dict = field(default_factory=dict)       # key -> VNode, in tape order
    edges: list = field(default_factory=list)
    notes: list = field(default_factory=list)       # shown under the graph
    legend: list = field(default_factory=list)      # (label, fill)
    heat_range: tuple = None
    direction: str = "forward"
    title: str = ""
    key_of: dict = field(default_factory=dict)
    quantity: str = "gradient"      # what the heat shows: "gradient", or "tangent" (forward mode)


def shape_str(shape, batch_dims=0):
    """``(2, 3)``; with vmap batch dims first, ``[64] (2, 3)``: a batch of 64 of (2, 3)."""
    shape = tuple(shape)
    inner = "(" + ", ".join(str(s) for s in shape[batch_dims:]) + ")"
    if not batch_dims:
        return inner
    return "[" + ", ".join(str(s) for s in shape[:batch_dims]) + "] " + inner


def dtype_str(dtype):
    """One spelling for every dtype in the pictures: NumPy's short name (float32)."""
    return np.dtype(dtype).name


def fmt_bytes(n):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def saved_entries(node):
    """[(description, bytes)] of what the node saved for backward; None if released."""
    saved = node.saved_tensor_info
    if saved is None:
        return None
    out = []
    for s in saved:
        if s.value is None:              # a slot forward left empty (its VJP is not needed)
            continue
        # a value a saved-tensor hook packed: its bytes are those of what the hook kept
        hook = ", packed by a hook" if s.packed else ""
        if s.output_nr is not None:
            out.append((f"{s.kind} {s.output_nr} {shape_str(s.shape)} {dtype_str(s.dtype)}{hook}", s.nbytes))
        elif s.shape is not None:
            out.append((f"{s.kind} {shape_str(s.shape)} {dtype_str(s.dtype)}{hook}", s.nbytes))
        else:
            out.append((f"{s.kind} {type(s.value).__name__} {s.value!r:.20}", 0))
    return out


def saved_bytes(node):
    entries = saved_entries(node)
    return None if entries is None else sum(b for _, b in entries)


def node_stats(node):
    stats = node_grad_stats(node)
    return heat.combine(stats) if stats else None


def _tangent_stats(node):
    stats = node_tangent_stats(node)
    return heat.combine(stats) if stats else None


def build(outputs, params=None, direction="forward", show_saved=False, collapse=None,
          max_nodes=400, heat_range=None, grad_of=None, leaf_grad_of=None, grad_lines=True,
          quantity="gradient"):
    """The drawing model of the graph behind ``outputs`` (see to_dot for arguments).

    ``grad_of(node)`` / ``leaf_grad_of(leaf)`` override where gradient statistics
    come from (backprop frames show partial gradients this way).  ``quantity=
    "tangent"`` shows the forward-mode tangents kept by ``record_tangents()`` instead
    (a leaf has none: its dual is the first node after it)."""
    if quantity == "tangent":
        model = build(outputs, params, direction, show_saved, collapse, max_nodes, heat_range,
                      _tangent_stats, lambda leaf: None, grad_lines)
        model.quantity = "tangent"
        for node in model.nodes.values():
            node.lines = [line.replace("|grad|", "|tangent|", 1) for line in node.lines]
        return model
    if direction not in ("forward", "backward"):
        raise ValueError(f"to_dot: direction must be 'forward' or 'backward', not {direction!r}")
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    for i, o in enumerate(outputs):
        if not isinstance(o, Tensor):
            raise TypeError(f"to_dot: output {i} is a {type(o).__name__}, expected a Tensor")
    grad_of = grad_of or node_stats
    leaf_grad_of = leaf_grad_of or (lambda leaf: heat.stats_of(leaf.grad))
    names = {}
    for name, p in (params.items() if isinstance(params, dict) else (params or ())):
        names[id(p)] = name
    model = Model(direction=direction)
    nodes, leaves = walk(outputs)
    _add_graphless_outputs(model, outputs, names, leaf_grad_of, grad_lines)

    consumers = {}                  # id(leaf) -> set of scopes of the ops using it
    for n in nodes:
        for edge in n.next_functions:
            if isinstance(edge[0], AccumulateGrad):
                consumers.setdefault(id(edge[0].variable), set()).add(tuple(n.scope_path))

    depth = collapse
    n_leaves = len(leaves)
    if depth is None and len(nodes) + n_leaves > max_nodes:
        depth = _auto_collapse(nodes, max_nodes)
        if depth is not None:
            model.notes.append(f"{len(nodes)} ops: too many to draw one by one, so modules "
                               f"are collapsed below depth {depth} (pass collapse= or max_nodes=)")
    if depth is not None and depth < 1:
        raise ValueError(f"to_dot: collapse must be a depth >= 1 (or None), not {collapse}")

    box_keys = {}                   # module path -> node key (DOT-safe, so no dots)

    def box_of(scope):
        if depth is None or len(scope) < depth:
            return None
        return box_keys.setdefault(tuple(scope[:depth]), f"mod{len(box_keys)}")

    orders = _orders(nodes)
    key_of = {}
    out_nodes = {id(o.grad_fn): o for o in outputs if o.grad_fn is not None}
    modules = {}                    # key -> list of member op nodes
    for n in nodes:
        box = box_of(n.scope_path)
        if box is not None:
            key_of[id(n)] = box
            modules.setdefault(box, []).append(n)
            continue
        if hasattr(n, "captured_ops"):             # a compiled region: its ops, clustered
            key_of[id(n)] = _region_nodes(model, n)
            continue
        key = key_of[id(n)] = f"op{n.sequence_nr()}"
        model.nodes[key] = _op_node(key, n, direction, show_saved, grad_of(n), out_nodes,
                                    grad_lines, orders[id(n)])
    module_params = {}
    for leaf in leaves:
        scopes = consumers[id(leaf)]
        scope = next(iter(scopes)) if len(scopes) == 1 else ()
        box = box_of(scope)
        if box is not None:         # a parameter used only inside a collapsed module
            key_of[id(leaf)] = box
            module_params.setdefault(box, []).append(leaf)
            continue
        key = key_of[id(leaf)] = f"leaf{len(key_of)}"
        label = names.get(id(leaf)) or leaf.name
        stats = leaf_grad_of(leaf)
        lines = ([label] if label else []) + [f"{shape_str(leaf.shape)} {dtype_str(leaf.dtype)}"]
        if grad_lines:
            lines.append(heat.describe(stats))
        model.nodes[key] = VNode(key, "leaf", lines, scope, stats,
                                 tooltip=f"leaf tensor{' ' + label if label else ''}")
    paths = {k: p for p, k in box_keys.items()}
    for box, members in modules.items():
        model.nodes[box] = _module_node(box, paths[box], members, module_params.get(box, ()), key_of,
                                        grad_of, out_nodes, grad_lines)

    _connect(model, nodes, key_of, direction)
    if len(model.nodes) > max_nodes:
        return _summary(model, nodes, leaves, max_nodes)
    _colour(model, heat_range)
    model.key_of = key_of           # id(node or leaf) -> drawn key (frames highlight by it)
    return model


def _add_graphless_outputs(model, outputs, names, leaf_grad_of, grad_lines):
    """An output without a graph is drawn alone with a note saying why."""
    for i, o in enumerate(outputs):
        if o.grad_fn is not None:
            continue
        why = ("a leaf tensor (requires_grad=True, but no op produced it)" if o.requires_grad
               else "not part of any graph (requires_grad is False: computed under no_grad, "
               "or from tensors that do not require grad)")
        key = f"out{i}"
        label = names.get(id(o)) or o.name or f"output {i}"
        stats = leaf_grad_of(o) if o.requires_grad else None
        lines = [label, f"{shape_str(o.shape)} {dtype_str(o.dtype)}"] + ([heat.describe(stats)] if grad_lines else [])
        model.nodes[key] = VNode(key, "leaf", lines, (), stats, output=True)
        model.notes.append(f"{label} is {why}: nothing to draw behind it")


def _orders(nodes):
    """Derivative order each node belongs to: the order ``record_gradients`` tagged
    it with (recorded by a VJP), or the highest order among its inputs (computed by
    the user from such results).  ``nodes`` are in tape order, inputs first."""
    eff = {}
    for n in nodes:
        k = grad_order(n)
        for edge in n.next_functions:
            if edge[0] is not None and not isinstance(edge[0], AccumulateGrad):
                k = max(k, eff.get(id(edge[0]), 0))
        eff[id(n)] = k
    return eff


def _op_node(key, n, direction, show_saved, stats, out_nodes, grad_lines, order):
    op = type(n).__name__ if direction == "forward" else n.name()
    lines = [op]
    out = out_nodes.get(id(n))
    if out is not None and out.name:
        lines[0] += f" -> {out.name}"
    lines += [", ".join(f"{shape_str(s, getattr(n, 'batch_dims', 0))} {d}" for s, d in n.output_metadata)]
    if grad_lines:
        lines.append(heat.describe(stats))
    tip = [f"tape position {n.sequence_nr()}", f"module {n.scope or '<top>'}"]
    if n.call_site:
        tip.append(f"called at {n.call_site}")
    if show_saved:
        entries = saved_entries(n)
        if entries is None:
            lines.append("saved: released by backward")
        elif entries:
            lines += [f"saved {d}: {fmt_bytes(b)}" for d, b in entries]
            if len(entries) > 1:
                lines.append(f"saved total {fmt_bytes(sum(b for _, b in entries))}")
        else:
            lines.append("saved: nothing")
    if order:
        lines.append(f"derivative order {order}")
    return VNode(key, "op", lines, tuple(n.scope_path), stats, order, out is not None, "\n".join(tip))


def _module_node(box, path, members, params, key_of, grad_of, out_nodes, grad_lines):
    """A collapsed module: coloured by the gradient of its outputs (the members whose
    results leave the box)."""
    out_ids = {id(m) for m in members if id(m) in out_nodes}
    path = ".".join(path)
    n_par = sum(p.array.size for p in params)
    lines = [path, f"{len(members)} ops" + (f", {len(params)} params ({n_par:,} values)" if params else "")]
    node = VNode(box, "module", lines, tuple(path.split("."))[:-1], None,
                 output=bool(out_ids), tooltip=f"module {path}: " + ", ".join(
                     f"{k}x{c}" for k, c in Counter(type(m).__name__ for m in members).most_common(6)))
    # Outputs and gradient are filled in by _connect, which sees what leaves the box.
    node._members, node._out_ids, node._grad_lines = members, out_ids, grad_lines
    node._grad_of = grad_of
    return node


def _region_nodes(model, n):
    """A compiled region (autograd.compile) as one cluster, ``compiled <name>``, of the
    ops it captured; returns the key of the op that made its first output."""
    ops, _, outputs = n.captured_ops()
    seq = n.sequence_nr()
    made = {}
    for k, (name, outs, reads, meta, scope) in enumerate(ops):
        key = f"op{seq}_{k}"
        for s in outs:
            made[s] = key
        path = (f"compiled {n.plan.name}",) + (tuple(scope.split(".")) if scope else ())
        shapes = ", ".join(f"{shape_str(sh)} {dtype_str(dt)}" for sh, dt in meta)
        model.nodes[key] = VNode(key, "op", [name, shapes], path,
                                 tooltip=f"captured by compile({n.plan.name})")
    return made.get(outputs[0]) if outputs else None


def _region_edges(model, n, key_of, direction, seen):
    """The edges into and inside a compiled region's cluster, value by value."""
    ops, inputs, _ = n.captured_ops()
    seq = n.sequence_nr()
    source = {}
    for position, (src_obj, _) in enumerate(n.next_functions):
        if src_obj is not None:
            source[inputs[position]] = key_of[id(getattr(src_obj, "variable", src_obj))]
    for k, (_, outs, reads, _, _) in enumerate(ops):
        dst = f"op{seq}_{k}"
        for s in reads:
            src = source.get(s)
            if src is None or (src, dst) in seen:
                continue
            seen.add((src, dst))
            model.edges.append(VEdge(src, dst) if direction == "forward" else VEdge(dst, src))
        for s in outs:
            source[s] = dst


def _connect(model, nodes, key_of, direction):
    seen = set()
    leaving = {}                    # module key -> nodes whose outputs leave it
    region_seen = set()
    for n in nodes:
        if hasattr(n, "captured_ops"):
            _region_edges(model, n, key_of, direction, region_seen)
            continue
        dst = key_of[id(n)]
        for src_obj, nr in n.next_functions:
            if src_obj is None:
                continue
            if isinstance(src_obj, AccumulateGrad):
                src_obj = src_obj.variable
            src = key_of[id(src_obj)]
            if src == dst:
                continue
            if model.nodes[src].kind == "module" and not isinstance(src_obj, Tensor):
                leaving.setdefault(src, {})[id(src_obj)] = src_obj
            multi = not isinstance(src_obj, Tensor) and len(src_obj.output_metadata) > 1
            label = f"out {nr}" if multi else ""
            pair = (src, dst, label)
            if pair in seen:
                continue
            seen.add(pair)
            model.edges.append(VEdge(src, dst, label) if direction == "forward" else VEdge(dst, src, label))
    for key, node in model.nodes.items():
        if node.kind != "module":
            continue
        outs = dict(leaving.get(key, {}))
        outs.update((id(m), m) for m in node._members if id(m) in node._out_ids)
        if not outs:
            last = max(node._members, key=lambda m: m.sequence_nr())
            outs = {id(last): last}
        node.stats = heat.combine(node._grad_of(m) for m in outs.values())
        shapes = sorted({shape_str(s) for m in outs.values() for s, _ in m.output_metadata})
        node.lines.append("out " + ", ".join(shapes))
        if node._grad_lines:
            node.lines.append(heat.describe(node.stats))


def _auto_collapse(nodes, max_nodes):
    """The deepest collapse depth that brings the graph under ``max_nodes``."""
    deepest = max((len(n.scope_path) for n in nodes), default=0)
    for depth in range(deepest, 0, -1):
        boxes = {tuple(n.scope_path[:depth]) if len(n.scope_path) >= depth else id(n) for n in nodes}
        if len(boxes) <= max_nodes // 2:    # leave room for leaves outside modules
            return depth
    return 1 if deepest else None


def _summary(model, nodes, leaves, max_nodes):
    """Too large even collapsed: one node that says what is there and what to do."""
    counts = Counter(type(n).__name__ for n in nodes).most_common(8)
    total = sum(b for b in (saved_bytes(n) for n in nodes) if b)
    lines = [f"graph too large to draw: {len(nodes)} ops, {len(leaves)} leaf tensors",
             "ops: " + ", ".join(f"{k} x{c}" for k, c in counts),
             f"saved for backward: {fmt_bytes(total)}",
             f"draw with collapse=1 or 2, raise max_nodes (now {max_nodes}),",
             "or print autograd.tape(output) for the full list"]
    summary = Model(direction=model.direction, notes=model.notes)
    summary.nodes["summary"] = VNode("summary", "note", lines)
    return summary


def _colour(model, heat_range):
    values = [heat.log_rms(n.stats) for n in model.nodes.values()]
    rng = tuple(heat_range) if heat_range is not None else heat.heat_range(values)
    model.heat_range = rng
    any_grad = False
    for n in model.nodes.values():
        if n.kind != "note":
            n.fill = heat.fill_colour(n.stats, rng)
            any_grad = any_grad or n.stats is not None
    if any_grad:
        model.legend = heat.legend_entries(rng)
    orders = sorted({n.order for n in model.nodes.values() if n.order})
    if orders:
        model.legend = model.legend + [(f"derivative order {k} (border)", ORDER_COLOURS.get(k, "#9467bd"))
                                       for k in orders]
