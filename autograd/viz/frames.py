"""`backprop_frames(output)`: the backward replay as a sequence of pictures.

The graph is laid out once (Graphviz, or the built-in layout); each frame is the
same picture with different fills and gradient lines, so nothing jumps between
frames.  Frame i shows the state right after the replay processed its i-th node:
that node is outlined in magenta, every node processed so far is filled by its
gradient (one colour scale for all frames), and leaves show the gradient summed
into them so far.  The last frame is the finished backward.

Frames are written as numbered SVG files or as one self-contained HTML page (no
external scripts), which is also what a notebook displays: a toolbar that stays in
view (slider, step buttons, zoom, caption) over a picture that pans and zooms.
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
        """One self-contained HTML page: the picture, a slider, zoom and the captions."""
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
                   f"(tape position {step.node.sequence_nr()}, module {step.node.scope or '<top>'}) "
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


# The page: a toolbar that sticks to the top of the window (frame controls, zoom,
# caption) over a view that clips the picture, so zooming never covers the controls.
# Wheel zooms at the pointer, dragging pans; left/right arrows step, Home/End jump,
# +/- zoom and 0 fits the width.  Keys reach the player when focus is inside it, or
# anywhere on a page that holds only this one player (a saved page, not a notebook).
_HTML = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>tapegrad: backprop, step by step</title>
<style>
#tg-player{font-family:Helvetica,Arial,sans-serif}
#tg-bar{position:sticky;top:0;z-index:2;background:#fff;padding:6px 0;border-bottom:1px solid #ccc;
  display:flex;flex-wrap:wrap;align-items:center;gap:6px}
#tg-slider{flex:1 1 240px}
#tg-caption{flex:1 1 100%;min-height:2.6em}
#tg-view{position:relative;overflow:hidden;height:80vh;border:1px solid #ccc;background:#fff;
  cursor:grab;touch-action:none;user-select:none}
#tg-view.tg-drag{cursor:grabbing}
#tg-svg{position:absolute;left:0;top:0;transform-origin:0 0}
#tg-svg svg{display:block}
</style></head>
<body>
<div id="tg-player" class="tapegrad-player">
<div id="tg-bar">
<button id="tg-prev" title="previous frame (left arrow)">&lt;</button>
<input id="tg-slider" type="range" min="0" max="{{LAST}}" value="0" aria-label="frame">
<button id="tg-next" title="next frame (right arrow)">&gt;</button>
<span id="tg-pos"></span>
<button id="tg-out" title="zoom out (- or mouse wheel)">&minus;</button>
<button id="tg-in" title="zoom in (+ or mouse wheel)">+</button>
<button id="tg-fit" title="fit the width (0)">fit width</button>
<button id="tg-one" title="actual size">1:1</button>
<div id="tg-caption"></div>
</div>
<div id="tg-view" tabindex="0"><div id="tg-svg">{{SVG}}</div></div>
</div>
<script>
(function(){
var frames = {{DATA}};
var player = document.getElementById("tg-player"), view = document.getElementById("tg-view");
var box = document.getElementById("tg-svg"), slider = document.getElementById("tg-slider");
var svg = box.querySelector("svg");
var nodes = [];
box.querySelectorAll("g[data-key]").forEach(function(g){
  nodes.push({key: g.getAttribute("data-key"), shapes: g.querySelectorAll("[data-fill]"),
              texts: g.querySelectorAll("text")});
});
function show(i){
  i = Math.max(0, Math.min(frames.length - 1, i));
  var f = frames[i];
  nodes.forEach(function(n){
    var fill = f.fills[n.key], cur = n.key === f.current;
    n.shapes.forEach(function(s){
      if (fill) s.setAttribute("fill", fill);
      s.setAttribute("stroke", cur ? "{{HL}}" : s.getAttribute("data-stroke"));
      s.setAttribute("stroke-width", cur ? "4" : s.getAttribute("data-sw"));
    });
    n.texts.forEach(function(t){
      if (fill) t.setAttribute("fill", f.inks[n.key]);
      if (f.texts[n.key] !== undefined && t.textContent.indexOf("|grad|") === 0) t.textContent = f.texts[n.key];
    });
  });
  document.getElementById("tg-caption").textContent = f.caption;
  document.getElementById("tg-pos").textContent = "frame " + i + " / " + (frames.length - 1);
  slider.value = i;
}
var zoom = {s: 1, x: 0, y: 0};
function place(){ box.style.transform = "translate(" + zoom.x + "px," + zoom.y + "px) scale(" + zoom.s + ")"; }
function zoomAt(factor, cx, cy){
  var s = Math.max(0.02, Math.min(20, zoom.s * factor));
  zoom.x = cx - (cx - zoom.x) * s / zoom.s; zoom.y = cy - (cy - zoom.y) * s / zoom.s; zoom.s = s;
  place();
}
function fit(s){
  zoom.s = s; zoom.x = Math.max(0, (view.clientWidth - svg.width.baseVal.value * s) / 2); zoom.y = 0;
  place();
}
function fitWidth(){ fit(Math.min(1, view.clientWidth / svg.width.baseVal.value)); }
function zoomMid(factor){ zoomAt(factor, view.clientWidth / 2, view.clientHeight / 2); }
view.addEventListener("wheel", function(e){
  e.preventDefault();
  var r = view.getBoundingClientRect();
  zoomAt(Math.exp(-e.deltaY * (e.deltaMode ? 0.05 : 0.0015)), e.clientX - r.left, e.clientY - r.top);
}, {passive: false});
var drag = null;
view.addEventListener("pointerdown", function(e){
  drag = {x: e.clientX - zoom.x, y: e.clientY - zoom.y};
  view.setPointerCapture(e.pointerId); view.classList.add("tg-drag");
});
view.addEventListener("pointermove", function(e){
  if (drag) { zoom.x = e.clientX - drag.x; zoom.y = e.clientY - drag.y; place(); }
});
function endDrag(){ drag = null; view.classList.remove("tg-drag"); }
view.addEventListener("pointerup", endDrag);
view.addEventListener("pointercancel", endDrag);
slider.addEventListener("input", function(){ show(+slider.value); });
document.getElementById("tg-prev").onclick = function(){ show(+slider.value - 1); };
document.getElementById("tg-next").onclick = function(){ show(+slider.value + 1); };
document.getElementById("tg-in").onclick = function(){ zoomMid(1.25); };
document.getElementById("tg-out").onclick = function(){ zoomMid(0.8); };
document.getElementById("tg-fit").onclick = fitWidth;
document.getElementById("tg-one").onclick = function(){ fit(1); };
var keys = {ArrowRight: function(){ show(+slider.value + 1); }, ArrowLeft: function(){ show(+slider.value - 1); },
            Home: function(){ show(0); }, End: function(){ show(frames.length - 1); },
            "+": function(){ zoomMid(1.25); }, "=": function(){ zoomMid(1.25); },
            "-": function(){ zoomMid(0.8); }, "0": fitWidth};
document.addEventListener("keydown", function(e){
  var t = e.target, page = t === document.body || t === document.documentElement;
  // The slider steps itself; a player whose output cell was cleared stays deaf.
  if (!keys[e.key] || e.ctrlKey || e.metaKey || e.altKey || t === slider || !document.contains(player)) return;
  if (!player.contains(t) && !(page && document.querySelectorAll(".tapegrad-player").length === 1)) return;
  e.preventDefault();
  keys[e.key]();
});
show(0);
fitWidth();
})();
</script></body></html>
"""
