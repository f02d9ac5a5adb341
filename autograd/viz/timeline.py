"""A timeline page for a Chrome trace (what ``autograd.profiler.profile.export_chrome_trace``
writes): one self-contained HTML file, drawn in the browser as SVG.

Perfetto's UI, the usual viewer, is a web app that is not published on the package
registries (PyPI's ``perfetto`` is its Python trace processor, which fetches a binary
at run time), so the library draws its own: one lane per thread, slices stacked by
nesting depth and coloured by kind (forward op, backward VJP, user range, optimizer
step), a step chart per memory counter below, a time axis, and a panel that names
the slice under the pointer with its duration and arguments.  Drag to pan, wheel to
zoom, double-click to see everything again.  The same file also opens in Perfetto
(ui.perfetto.dev) or ``chrome://tracing``.
"""
import json
import os

COLOURS = {"cpu_op": "#4878cf", "backward": "#d65f5f", "user_annotation": "#6acc65",
           "optimizer": "#b47cc7"}
LABELS = {"cpu_op": "forward op", "backward": "backward (VJP)", "user_annotation": "user range",
          "optimizer": "optimizer step"}


def timeline_html(trace, title="tapegrad profile"):
    """The page for ``trace`` (the parsed JSON, a dict with ``traceEvents``)."""
    if not isinstance(trace, dict) or not isinstance(trace.get("traceEvents"), list):
        raise TypeError("timeline_html: expected a Chrome trace (a dict with a 'traceEvents' "
                        f"list), got {type(trace).__name__}")
    data = json.dumps(trace).replace("</", "<\\/")        # safe inside <script>
    legend = "".join(f'<span class="key"><i style="background:{c}"></i>{LABELS[k]}</span>'
                     for k, c in COLOURS.items())
    return (_PAGE.replace("__TITLE__", title).replace("__LEGEND__", legend)
            .replace("__COLOURS__", json.dumps(COLOURS)).replace("__TRACE__", data))


def write_page(trace, path):
    """Write the timeline of ``trace`` (a path to a trace JSON, or the parsed dict) to
    ``path``; returns ``path``."""
    if isinstance(trace, (str, os.PathLike)):
        with open(trace) as fh:
            trace = json.load(fh)
    with open(path, "w") as fh:
        fh.write(timeline_html(trace))
    return path


_PAGE = """<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>__TITLE__</title>
<style>
body { font: 13px system-ui, sans-serif; margin: 12px; color: #222; background: #fff; }
#chart { border: 1px solid #ccc; cursor: grab; user-select: none; display: block; }
.key { margin-right: 14px; } .key i { display: inline-block; width: 12px; height: 12px;
  margin-right: 4px; vertical-align: -2px; }
#info { min-height: 3.2em; margin-top: 6px; white-space: pre-wrap; font-family: monospace; }
text { font-size: 11px; pointer-events: none; } line { pointer-events: none; }
</style></head><body>
<h3>__TITLE__</h3>
<div>__LEGEND__ <span id="span"></span></div>
<svg id="chart" width="1000" height="200"></svg>
<div id="info">Point at a slice. Drag to pan, wheel to zoom, double-click to reset.</div>
<script>
const trace = __TRACE__;
const colours = __COLOURS__;
const NS = "http://www.w3.org/2000/svg";
const svg = document.getElementById("chart"), info = document.getElementById("info");
const slices = trace.traceEvents.filter(e => e.ph === "X");
const counters = trace.traceEvents.filter(e => e.ph === "C");
const names = {};
trace.traceEvents.filter(e => e.ph === "M" && e.name === "thread_name")
  .forEach(e => names[e.tid] = e.args.name);
// depth of each slice on its thread: the number of open slices that hold it
const lanes = {};
slices.slice().sort((a, b) => a.tid - b.tid || a.ts - b.ts || b.dur - a.dur).forEach(e => {
  const open = lanes[e.tid] = lanes[e.tid] || [];
  while (open.length && open[open.length - 1].ts + open[open.length - 1].dur <= e.ts) open.pop();
  e.depth = open.length;
  open.push(e);
  open.maxDepth = Math.max(open.maxDepth || 0, e.depth + 1);
});
const series = {};
counters.forEach(c => (series[c.name] = series[c.name] || []).push([c.ts, c.args.bytes]));
const t0 = Math.min(...trace.traceEvents.filter(e => "ts" in e).map(e => e.ts), 0);
const t1 = Math.max(...slices.map(e => e.ts + e.dur), ...counters.map(c => c.ts), t0 + 1);
let view = [t0, t1];
const W = 1000, LEFT = 150, ROW = 18, TRACK = 60, AXIS = 24;
const tids = Object.keys(lanes).map(Number).sort((a, b) => a - b);
function x(t) { return LEFT + (t - view[0]) / (view[1] - view[0]) * (W - LEFT - 10); }
function el(tag, attrs, parent) {
  const n = document.createElementNS(NS, tag);
  for (const k in attrs) n.setAttribute(k, attrs[k]);
  (parent || svg).appendChild(n);
  return n;
}
function fmt(us) { return us >= 1000 ? (us / 1000).toFixed(3) + " ms" : us.toFixed(1) + " us"; }
function bytes(b) { return b >= 1048576 ? (b / 1048576).toFixed(2) + " MiB" :
                    b >= 1024 ? (b / 1024).toFixed(1) + " KiB" : b + " B"; }
function draw() {
  svg.replaceChildren();
  let y = AXIS;
  for (let k = 0; k <= 5; k++) {
    const t = view[0] + k * (view[1] - view[0]) / 5;
    el("line", {x1: x(t), x2: x(t), y1: 0, y2: 8000, stroke: "#eee"});
    el("text", {x: x(t) + 2, y: 14, fill: "#555", class: "tick"}).textContent = fmt(t - t0);
  }
  for (const tid of tids) {
    const depth = lanes[tid].maxDepth;
    el("text", {x: 4, y: y + 13, fill: "#222", class: "lane"}).textContent = names[tid] || "thread " + tid;
    for (const e of slices.filter(s => s.tid === tid)) {
      const a = Math.max(x(e.ts), LEFT), b = Math.min(x(e.ts + e.dur), W - 10);
      if (b < LEFT || a > W - 10) continue;
      const r = el("rect", {x: a, y: y + e.depth * ROW, width: Math.max(b - a, 0.5), height: ROW - 2,
                            fill: colours[e.cat] || "#999", class: "slice", "data-name": e.name,
                            "data-cat": e.cat, "data-depth": e.depth});
      r.addEventListener("mousemove", () => {
        info.textContent = e.name + "  (" + (e.cat || "") + ")  " + fmt(e.dur) + "  at " +
          fmt(e.ts - t0) + "\\n" + JSON.stringify(e.args || {});
      });
      if (b - a > 40) {
        el("text", {x: a + 3, y: y + e.depth * ROW + 12, fill: "#fff"}).textContent = e.name;
      }
    }
    y += depth * ROW + 8;
  }
  for (const name in series) {
    const pts = series[name], top = Math.max(...pts.map(p => p[1]), 1);
    el("text", {x: 4, y: y + 13, fill: "#222", class: "lane"}).textContent = name;
    el("text", {x: 4, y: y + 27, fill: "#555"}).textContent = "peak " + bytes(top);
    let d = "", last = y + TRACK;
    for (const [t, v] of pts) {
      const py = y + TRACK - v / top * (TRACK - 6);
      d += (d ? "L" + x(t) + "," + last + "L" : "M") + x(t) + "," + py;
      last = py;
    }
    d += "L" + x(view[1]) + "," + last;
    el("path", {d: d, fill: "none", stroke: "#e08a2c", "stroke-width": 1.5, class: "counter",
                "data-name": name, "data-peak": top});
    y += TRACK + 10;
  }
  svg.setAttribute("height", y + 4);
  document.getElementById("span").textContent =
    "showing " + fmt(view[1] - view[0]) + " of " + fmt(t1 - t0);
}
let drag = null;
svg.addEventListener("mousedown", ev => drag = [ev.clientX, view.slice()]);
window.addEventListener("mouseup", () => drag = null);
window.addEventListener("mousemove", ev => {
  if (!drag) return;
  const dt = (ev.clientX - drag[0]) / (W - LEFT - 10) * (drag[1][1] - drag[1][0]);
  view = [drag[1][0] - dt, drag[1][1] - dt];
  draw();
});
svg.addEventListener("wheel", ev => {
  ev.preventDefault();
  const at = view[0] + (ev.offsetX - LEFT) / (W - LEFT - 10) * (view[1] - view[0]);
  const k = ev.deltaY > 0 ? 1.25 : 0.8;
  view = [at - (at - view[0]) * k, at + (view[1] - at) * k];
  draw();
}, {passive: false});
svg.addEventListener("dblclick", () => { view = [t0, t1]; draw(); });
draw();
</script></body></html>
"""
