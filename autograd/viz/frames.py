"""`backprop_frames(output)`: the backward replay as a sequence of pictures.

The graph is laid out once (Graphviz, or the built-in layout); each frame is the
same picture with different fills and gradient lines, so nothing jumps between
frames.  Frame i shows the state right after the replay processed its i-th node:
that node is outlined in magenta, every node processed so far is filled by its
gradient (one colour scale for all frames), and leaves show the gradient summed
into them so far.  The last frame is the finished backward.

Frames are written as numbered SVG files or as one self-contained HTML page with
a slider (no external scripts), which is also what a notebook displays.
"""
import itertools
import json
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from ..engine import grad as _grad
from ..tensor import Tensor
from . import heat
from .dot import dot_available, from_model
from ..engine import walk
from .graph import build
from .layout import to_svg
from .record import record_gradients

SVG_NS = "http://www.w3.org/2000/svg"
HIGHLIGHT = "#e6007e"
_SHAPES = ("polygon", "path", "ellipse", "rect")
_page_ids = itertools.count()
ET.register_namespace("", SVG_NS)
ET.register_namespace("xlink", "http://www.w3.org/1999/xlink")


@dataclass
class Frame:
    caption: str
    fills: dict        # drawn key -> fill colour
    texts: dict        # drawn key -> gradient line of the label
    current: object    # drawn key of the node just processed (None: start or end)


class Frames(list):
    """A list of Frame over one base picture; see the module docstring."""

    def __init__(self, frames, base_svg):
        super().__init__(frames)
        self.base_svg = base_svg

    def svg(self, i):
        """Frame ``i`` as a standalone SVG string."""
        root = ET.fromstring(_strip_prolog(self.base_svg))
        f = self[i]
        for key, g in _node_groups(root).items():
            fill = f.fills.get(key)
            for shape in _filled_shapes(g):
                if fill is not None:
                    shape.set("fill", fill)
                if key == f.current:
                    shape.set("stroke", HIGHLIGHT)
                    shape.set("stroke-width", "4")
            text = f.texts.get(key)
            for t in g.iter(f"{{{SVG_NS}}}text"):
                if fill is not None:
                    t.set("fill", heat.font_colour(fill))
                if text is not None and (t.text or "").startswith("|grad|"):
                    t.text = text
        caption = ET.SubElement(root, f"{{{SVG_NS}}}title")
        caption.text = f.caption
        return ET.tostring(root, encoding="unicode")

    def save_svgs(self, directory, prefix="frame"):
        """Write ``prefix_000.svg``, ``prefix_001.svg``, ... and return their paths."""
        os.makedirs(directory, exist_ok=True)
        paths = []
        for i in range(len(self)):
            path = os.path.join(directory, f"{prefix}_{i:03d}.svg")
            with open(path, "w", encoding="utf-8") as fh:
                fh.write(self.svg(i))
            paths.append(path)
        return paths

    def html(self):
        """One self-contained HTML page: the picture, a slider and the captions."""
        root = ET.fromstring(_strip_prolog(self.base_svg))
        for key, g in _node_groups(root).items():
            g.set("data-key", key)
            for shape in _filled_shapes(g):
                shape.set("data-fill", "1")
                shape.set("data-stroke", shape.get("stroke", "black"))
                shape.set("data-sw", shape.get("stroke-width", "1"))
        svg = ET.tostring(root, encoding="unicode")
        # Each frame carries its label colours: a label is drawn for its node's fill in
        # that frame (white nodes before they are reached), not for the final fill.
        data = json.dumps([{"caption": f.caption, "fills": f.fills, "texts": f.texts,
                            "inks": {k: heat.font_colour(v) for k, v in f.fills.items()},
                            "current": f.current} for f in self])
        # Ids get a per-page prefix: a notebook may show several frame players.
        uid = f"tg{next(_page_ids)}-"
        return _HTML.replace("tg-", uid).replace("{{SVG}}", svg).replace("{{DATA}}", data.replace("</", "<\\/")) \
                    .replace("{{LAST}}", str(len(self) - 1)).replace("{{HL}}", HIGHLIGHT)

    def save_html(self, path):
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(self.html())
        return path

    def _repr_html_(self):
        return self.html()


def backprop_frames(output, params=None, gradient=None, collapse=None, direction="forward",
                    heat_range=None, builtin=None, max_frames=500):
    """Run a backward from ``output`` step by step and return its ``Frames``.

    The replay is ``autograd.grad`` with ``retain_graph=True``: ``.grad`` fields
    are not touched and the graph can still be used afterwards.  ``params`` names
    leaves as in ``to_dot``; ``builtin=True`` forces the built-in layout.
    """
    if not isinstance(output, Tensor):
        raise TypeError(f"backprop_frames: expected a Tensor, got {type(output).__name__}")
    if output.grad_fn is None:
        raise RuntimeError("backprop_frames: the output has no graph (it is a leaf or does not "
                           "require grad), so there is no backward pass to show")
    nodes, leaves = walk([output])
    if len(nodes) > max_frames:
        raise ValueError(f"backprop_frames: {len(nodes)} ops would make {len(nodes)} frames "
                         f"(max_frames={max_frames}); draw a smaller piece of the model, or "
                         "raise max_frames")
    with record_gradients() as rec:
        _grad(output, leaves, grad_outputs=gradient, retain_graph=True, allow_unused=True)
    final_nodes = {id(s.node): heat.combine(s.out_stats) for s in rec.steps}
    final_leaves = {id(leaf): rec.leaf_grad_stats(leaf) for leaf in leaves}
    if heat_range is None:
        heat_range = heat.heat_range([heat.log_rms(s) for s in
                                      list(final_nodes.values()) + list(final_leaves.values())])

    def model_for(node_stats, leaf_stats):
        return build([output], params, direction, False, collapse, 10 ** 9, heat_range,
                     grad_of=lambda n: node_stats.get(id(n)),
                     leaf_grad_of=lambda leaf: leaf_stats.get(id(leaf)))

    base = model_for(final_nodes, final_leaves)
    base_svg = (to_svg(base) if (builtin if builtin is not None else not dot_available())
                else from_model(base).pipe(format="svg", encoding="utf-8"))

    def frame(node_stats, leaf_stats, caption, current):
        m = model_for(node_stats, leaf_stats)
        fills = {k: n.fill for k, n in m.nodes.items()}
        texts = {k: n.lines[-1] for k, n in m.nodes.items() if n.lines[-1].startswith("|grad|")}
        return Frame(caption, fills, texts, current)

    frames = [frame({}, {}, f"start: the gradient of the output is seeded "
                    f"({'ones' if gradient is None else 'given'}); {len(rec.steps)} VJPs to run", None)]
    node_stats, leaf_stats = {}, {}
    for i, step in enumerate(rec.steps):
        node_stats[id(step.node)] = heat.combine(step.out_stats)
        for leaf, stats in step.leaf_stats:
            leaf_stats[id(leaf)] = stats
        g = heat.combine(step.out_stats)
        sent = sum(1 for _ in step.sent_to)
        caption = (f"step {i + 1}/{len(rec.steps)}: {step.node.name()} "
                   f"(tape position {step.node._seq}, module {step.node.scope or '<top>'}) "
                   f"received {heat.describe(g)} and sent {sent} gradient(s) to its inputs")
        frames.append(frame(node_stats, leaf_stats, caption, base.key_of.get(id(step.node))))
    frames.append(frame(node_stats, leaf_stats, "done: every leaf holds its gradient", None))
    return Frames(frames, base_svg)


def _strip_prolog(svg):
    # ElementTree refuses the XML declaration in a str and does not need the DOCTYPE.
    start = svg.find("<svg")
    return svg[start:]


def _node_groups(root):
    out = {}
    for g in root.iter(f"{{{SVG_NS}}}g"):
        if g.get("class") == "node":
            title = g.find(f"{{{SVG_NS}}}title")
            if title is not None:
                out[title.text] = g
    return out


def _filled_shapes(g):
    return [el for el in g.iter() if el.tag.split("}")[-1] in _SHAPES
            and el.get("fill") not in (None, "none", "transparent")]


_HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>tapegrad: backprop, step by step</title>
<style>body{font-family:Helvetica,Arial,sans-serif;margin:12px}
#tg-caption{margin:8px 0;min-height:2.6em}</style></head>
<body>
<div><input id="tg-slider" type="range" min="0" max="{{LAST}}" value="0" style="width:60%">
<button id="tg-prev">&lt;</button><button id="tg-next">&gt;</button>
<span id="tg-pos"></span></div>
<div id="tg-caption"></div>
<div id="tg-svg">{{SVG}}</div>
<script>
(function(){
var frames = {{DATA}};
var root = document.getElementById("tg-svg");
var slider = document.getElementById("tg-slider");
var groups = {};
root.querySelectorAll("g[data-key]").forEach(function(g){ groups[g.getAttribute("data-key")] = g; });
function show(i){
  var f = frames[i];
  Object.keys(groups).forEach(function(key){
    var g = groups[key], fill = f.fills[key], cur = key === f.current;
    g.querySelectorAll("[data-fill]").forEach(function(s){
      if (fill) s.setAttribute("fill", fill);
      s.setAttribute("stroke", cur ? "{{HL}}" : s.getAttribute("data-stroke"));
      s.setAttribute("stroke-width", cur ? "4" : s.getAttribute("data-sw"));
    });
    g.querySelectorAll("text").forEach(function(t){
      if (fill) t.setAttribute("fill", f.inks[key]);
      if (f.texts[key] !== undefined && t.textContent.indexOf("|grad|") === 0) t.textContent = f.texts[key];
    });
  });
  document.getElementById("tg-caption").textContent = f.caption;
  document.getElementById("tg-pos").textContent = "frame " + i + " / " + (frames.length - 1);
  slider.value = i;
}
slider.addEventListener("input", function(){ show(+slider.value); });
document.getElementById("tg-prev").onclick = function(){ show(Math.max(0, +slider.value - 1)); };
document.getElementById("tg-next").onclick = function(){ show(Math.min(frames.length - 1, +slider.value + 1)); };
show(0);
})();
</script></body></html>
"""
