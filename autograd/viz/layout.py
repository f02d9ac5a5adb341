"""The built-in layered layout: a drawing model to SVG without Graphviz.

A small Sugiyama-style layout, enough for the graphs tapegrad draws:
  1. layers by longest path from the sources (every edge points down),
  2. edges that skip layers get invisible bend points, one per skipped layer,
  3. a few barycenter sweeps order each layer; nodes of one module are kept
     next to each other so clusters stay contiguous,
  4. nodes are pulled towards their neighbours' mean x and overlaps pushed apart,
  5. clusters are drawn as boxes around their members.
The SVG mirrors Graphviz's structure (``<g class="node"><title>key</title>``...),
so backprop frames recolour either kind of picture the same way.
"""
import re
from xml.sax.saxutils import escape

from . import heat
from .graph import ORDER_COLOURS

FONT = 10
CHAR_W = FONT * 0.62          # average glyph width of Helvetica-ish fonts
LINE_H = FONT + 3
GAP_X, GAP_Y = 18, 46


class _Box:
    __slots__ = ("key", "node", "w", "h", "x", "y", "layer", "pos", "path", "dummy")

    def __init__(self, key, node, w, h, path, dummy=False):
        self.key, self.node, self.w, self.h, self.path, self.dummy = key, node, w, h, path, dummy
        self.x = self.y = 0.0
        self.layer = self.pos = 0


def cluster_name(path):
    """Graphviz's name of a module cluster (both renderers use it)."""
    return "cluster_" + re.sub(r"[^A-Za-z0-9_]", "_", ".".join(path)) + f"_{len(path)}"


def _layers(keys, edges):
    """Longest-path layering over a DAG (Kahn's order, no recursion)."""
    indeg = {k: 0 for k in keys}
    succ = {k: [] for k in keys}
    for s, d in edges:
        succ[s].append(d)
        indeg[d] += 1
    layer = {k: 0 for k in keys}
    ready = [k for k in keys if indeg[k] == 0]
    while ready:
        k = ready.pop()
        for d in succ[k]:
            layer[d] = max(layer[d], layer[k] + 1)
            indeg[d] -= 1
            if indeg[d] == 0:
                ready.append(d)
    # Sources (leaves, parameters) sit just above their first consumer instead of
    # all in the top row, which would make the picture as wide as the model.
    has_pred = {d for _, d in edges}
    for k in keys:
        if k not in has_pred and succ[k]:
            layer[k] = max(0, min(layer[d] for d in succ[k]) - 1)
    return layer


def _order(rows, up, down, sweeps=6):
    """Barycenter ordering, grouping by module path at every depth."""
    def sort_layer(row, neigh):
        bary = {}
        for b in row:
            ns = neigh.get(b.key, ())
            bary[b.key] = sum(n.pos for n in ns) / len(ns) if ns else b.pos

        def group(items, depth):
            groups = {}
            for b in items:
                key = b.path[depth] if len(b.path) > depth else ("node", b.key)
                groups.setdefault(key, []).append(b)
            ordered = sorted(groups.items(),
                             key=lambda kv: sum(bary[b.key] for b in kv[1]) / len(kv[1]))
            out = []
            for key, members in ordered:
                out += members if isinstance(key, tuple) else group(members, depth + 1)
            return out
        row[:] = group(row, 0)
        for i, b in enumerate(row):
            b.pos = i
    for i in range(sweeps):
        seq = rows[1:] if i % 2 == 0 else rows[-2::-1]
        for row in seq:
            sort_layer(row, up if i % 2 == 0 else down)


def _place(rows, up, down):
    y = 20.0
    for row in rows:
        h = max(b.h for b in row)
        for b in row:
            b.y = y + h / 2
        y += h + GAP_Y
        x = 20.0
        for b in row:
            b.x = x + b.w / 2
            x += b.w + _gap(b, None)
    for i in range(8):
        seq = rows if i % 2 == 0 else rows[::-1]
        for row in seq:
            neigh = up if i % 2 == 0 else down
            want = []
            for b in row:
                ns = neigh.get(b.key, ())
                want.append(sum(n.x for n in ns) / len(ns) if ns else b.x)
            for k, b in enumerate(row):          # keep order, push right on overlap
                b.x = want[k]
                if k:
                    prev = row[k - 1]
                    b.x = max(b.x, prev.x + prev.w / 2 + _gap(prev, b) + b.w / 2)
            for k in range(len(row) - 2, -1, -1):  # then pull back left towards the wish
                b, nxt = row[k], row[k + 1]
                b.x = min(b.x, nxt.x - nxt.w / 2 - _gap(b, nxt) - b.w / 2)
    xmin = min(b.x - b.w / 2 for row in rows for b in row)
    for row in rows:
        for b in row:
            b.x += 30 - xmin


def _gap(a, b):
    if b is None:
        return GAP_X
    common = 0
    for p, q in zip(a.path, b.path):
        if p != q:
            break
        common += 1
    # Room for the borders of the clusters that end between the two nodes.
    return GAP_X + 10 * (max(len(a.path), len(b.path)) - common)


def to_svg(model):
    """SVG text of ``model`` (a graph.Model)."""
    boxes = {}
    for node in model.nodes.values():
        lines = node.lines
        w = max(len(line) for line in lines) * CHAR_W + 18
        h = len(lines) * LINE_H + 10
        boxes[node.key] = _Box(node.key, node, w, h, tuple(node.scope))
    layer = _layers(list(boxes), [(e.src, e.dst) for e in model.edges])
    for k, b in boxes.items():
        b.layer = layer[k]
    chains = []                                 # per edge: the boxes it passes through
    for i, e in enumerate(model.edges):
        a, z = boxes[e.src], boxes[e.dst]
        chain = [a]
        for L in range(a.layer + 1, z.layer):
            d = _Box(f"_d{i}_{L}", None, 4, 4, a.path if len(a.path) <= len(z.path) else z.path, True)
            d.layer = L
            boxes[d.key] = d
            chain.append(d)
        chains.append((e, chain + [z]))
    nrows = max((b.layer for b in boxes.values()), default=0) + 1
    rows = [[] for _ in range(nrows)]
    for b in boxes.values():                    # insertion order = tape order
        b.pos = len(rows[b.layer])
        rows[b.layer].append(b)
    up, down = {}, {}
    for _, chain in chains:
        for a, z in zip(chain, chain[1:]):
            up.setdefault(z.key, []).append(a)
            down.setdefault(a.key, []).append(z)
    if boxes:
        _order(rows, up, down)
        _place(rows, up, down)
    return _emit(model, boxes, chains)


def _cluster_boxes(boxes):
    """(path, x0, y0, x1, y1) for every module path, outer before inner."""
    spans = {}
    for b in boxes.values():
        if b.dummy:
            continue
        for k in range(1, len(b.path) + 1):
            p = b.path[:k]
            x0, y0, x1, y1 = b.x - b.w / 2, b.y - b.h / 2, b.x + b.w / 2, b.y + b.h / 2
            s = spans.get(p)
            spans[p] = (x0, y0, x1, y1) if s is None else (min(s[0], x0), min(s[1], y0),
                                                           max(s[2], x1), max(s[3], y1))
    depth_below = {p: 0 for p in spans}
    for p in sorted(spans, key=len, reverse=True):
        if len(p) > 1:
            depth_below[p[:-1]] = max(depth_below[p[:-1]], depth_below[p] + 1)
    out = []
    for p in sorted(spans, key=len):
        x0, y0, x1, y1 = spans[p]
        pad = 6 + 5 * depth_below[p]
        out.append((p, x0 - pad, y0 - pad - 12, x1 + pad, y1 + pad))
    return out


def _text_lines(lines, cx, cy, colour):
    y0 = cy - (len(lines) - 1) * LINE_H / 2 + FONT * 0.35
    return "".join(
        f'<text text-anchor="middle" x="{cx:.1f}" y="{y0 + i * LINE_H:.1f}" '
        f'font-family="Helvetica,Arial,sans-serif" font-size="{FONT}" fill="{colour}">'
        f"{escape(line)}</text>" for i, line in enumerate(lines))


def _emit(model, boxes, chains):
    real = [b for b in boxes.values() if not b.dummy]
    clusters = _cluster_boxes(boxes)
    width = max([b.x + b.w / 2 for b in real] + [c[3] for c in clusters] + [200]) + 30
    height = max([b.y + b.h / 2 for b in real] + [c[4] for c in clusters] + [40]) + 20
    parts = []
    for i, (path, x0, y0, x1, y1) in enumerate(clusters):
        parts.append(
            f'<g id="clust{i + 1}" class="cluster"><title>{escape(cluster_name(path))}</title>'
            f'<rect x="{x0:.1f}" y="{y0:.1f}" width="{x1 - x0:.1f}" height="{y1 - y0:.1f}" rx="6" '
            f'fill="none" stroke="#7f7f7f" stroke-dasharray="5,2"/>'
            f'<text x="{x0 + 5:.1f}" y="{y0 + 11:.1f}" font-family="Helvetica,Arial,sans-serif" '
            f'font-size="{FONT}" fill="#404040">{escape(".".join(path))}</text></g>')
    for i, (e, chain) in enumerate(chains):
        pts = [(chain[0].x, chain[0].y + chain[0].h / 2)]
        pts += [(b.x, b.y) for b in chain[1:-1]]
        pts.append((chain[-1].x, chain[-1].y - chain[-1].h / 2))
        d = "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in pts)
        label = ""
        if e.label:
            mx, my = (pts[0][0] + pts[1][0]) / 2, (pts[0][1] + pts[1][1]) / 2
            label = (f'<text x="{mx + 4:.1f}" y="{my:.1f}" font-family="Helvetica,Arial,sans-serif" '
                     f'font-size="8">{escape(e.label)}</text>')
        parts.append(f'<g id="edge{i + 1}" class="edge"><title>{escape(e.src)}-&gt;{escape(e.dst)}</title>'
                     f'<path fill="none" stroke="#333333" d="{d}" marker-end="url(#arrow)"/>{label}</g>')
    for i, b in enumerate(real):
        n = b.node
        stroke, sw = "#333333", 1
        if n.order:
            stroke, sw = ORDER_COLOURS.get(n.order, "#9467bd"), 3
        if n.fill == heat.NAN_COLOUR:
            stroke, sw = "#7f0000", 3
        x0, y0 = b.x - b.w / 2, b.y - b.h / 2
        if n.kind == "leaf":
            shape = (f'<ellipse fill="{n.fill}" stroke="{stroke}" stroke-width="{sw}" cx="{b.x:.1f}" '
                     f'cy="{b.y:.1f}" rx="{b.w / 2 + 6:.1f}" ry="{b.h / 2 + 2:.1f}"/>')
        else:
            rx = 6 if n.kind == "op" else 0
            shape = (f'<rect fill="{n.fill}" stroke="{stroke}" stroke-width="{sw}" x="{x0:.1f}" '
                     f'y="{y0:.1f}" width="{b.w:.1f}" height="{b.h:.1f}" rx="{rx}"/>')
            if n.output:
                shape += (f'<rect fill="none" stroke="{stroke}" x="{x0 - 3:.1f}" y="{y0 - 3:.1f}" '
                          f'width="{b.w + 6:.1f}" height="{b.h + 6:.1f}" rx="{rx + 2}"/>')
        tip = f"<title>{escape(n.key)}</title>"
        parts.append(f'<g id="node{i + 1}" class="node">{tip}{shape}'
                     f"{_text_lines(n.lines, b.x, b.y, heat.font_colour(n.fill))}</g>")
    extra_h = 0
    if model.legend:
        lx, ly = width, 20
        rows = [f'<text x="{lx:.1f}" y="{ly + 10:.1f}" font-family="Helvetica,Arial,sans-serif" '
                f'font-size="{FONT}" font-weight="bold">gradient RMS (fill)</text>']
        for k, (text, fill) in enumerate(model.legend):
            y = ly + 18 + k * 16
            rows.append(f'<rect x="{lx:.1f}" y="{y:.1f}" width="18" height="12" fill="{fill}" stroke="#333333"/>'
                        f'<text x="{lx + 24:.1f}" y="{y + 10:.1f}" font-family="Helvetica,Arial,sans-serif" '
                        f'font-size="{FONT}">{escape(text)}</text>')
        parts.append('<g id="legend" class="legend">' + "".join(rows) + "</g>")
        width += 150
        extra_h = 30 + 16 * len(model.legend) - height
    notes = ([model.title] if model.title else []) + model.notes
    for k, note in enumerate(notes):
        parts.append(f'<text x="10" y="{height + 4 + k * LINE_H:.1f}" font-family="Helvetica,Arial,sans-serif" '
                     f'font-size="{FONT}">{escape(note)}</text>')
    height = max(height + len(notes) * LINE_H + 6, height + extra_h)
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}pt" height="{height:.0f}pt" '
            f'viewBox="0 0 {width:.1f} {height:.1f}">'
            '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
            'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#333333"/>'
            '</marker></defs>'
            f'<g id="graph0" class="graph"><polygon fill="white" stroke="none" points="0,0 {width:.1f},0 '
            f'{width:.1f},{height:.1f} 0,{height:.1f}"/>' + "".join(parts) + "</g></svg>\n")
