"""`to_dot`: the graph behind one or more outputs as a ``graphviz.Digraph``.

The returned object is a real ``graphviz.Digraph`` (``.source``, ``.pipe``,
``.render``), extended so that everything that needs the ``dot`` program falls
back to the built-in layered layout (``layout.py``) when Graphviz is not
installed: ``pip install`` alone is enough to see a graph, as SVG.
"""
import os
import shutil

import graphviz

from . import heat, layout
from .graph import ORDER_COLOURS, build

FORMATS = ("svg", "png", "pdf")
INSTALL_HINT = ("install Graphviz's 'dot' program (Debian/Ubuntu: apt-get install graphviz; "
                "macOS: brew install graphviz; conda: conda install graphviz; Windows: "
                "https://graphviz.org/download/) and make sure it is on PATH")

_SHAPES = {"op": ("box", "rounded,filled"), "leaf": ("ellipse", "filled"),
           "module": ("box3d", "filled"), "note": ("note", "filled")}


def dot_available():
    """True when Graphviz's ``dot`` executable is on PATH (checked on every call)."""
    return shutil.which("dot") is not None


class GraphView(graphviz.Digraph):
    """A ``graphviz.Digraph`` that remembers its drawing model (``.model``) and can
    lay itself out without Graphviz."""

    def __init__(self, model=None, **kwargs):
        # graphviz builds subgraphs with self.__class__(**kwargs): model stays optional.
        super().__init__(**kwargs)
        self.model = model

    def svg(self, builtin=None):
        """The picture as an SVG string: through ``dot`` when it is installed (or
        ``builtin=False``), else (or with ``builtin=True``) the built-in layout."""
        if builtin is None:
            builtin = not dot_available()
        if builtin:
            return layout.to_svg(self.model)
        try:
            return self.pipe(format="svg", encoding="utf-8")
        except graphviz.ExecutableNotFound:
            if builtin is False:
                raise RuntimeError(f"to_dot: cannot run Graphviz: {INSTALL_HINT}") from None
            return layout.to_svg(self.model)

    def render(self, filename=None, directory=None, format=None, *, outfile=None,
               cleanup=False, builtin=None, **kwargs):
        """Write the picture and return its path.

        Like ``graphviz.Digraph.render`` (``render("g", format="svg")`` writes the
        source ``g`` and ``g.svg``), and also accepts a file name with a picture
        extension, ``render("graph.svg")``, which writes just that file.  Without
        Graphviz, SVG is produced by the built-in layout; PNG and PDF need Graphviz.
        """
        if outfile is None and filename is not None and format is None:
            ext = os.path.splitext(str(filename))[1].lstrip(".").lower()
            if ext in FORMATS:
                outfile, filename = filename, None
        if outfile is not None and format is None:
            format = os.path.splitext(str(outfile))[1].lstrip(".").lower()
        format = (format or "svg").lower()
        if format not in FORMATS:
            raise ValueError(f"to_dot: unknown format {format!r}; formats: {', '.join(FORMATS)}")
        if outfile is not None and directory is not None:
            outfile = os.path.join(directory, outfile)
        use_builtin = builtin if builtin is not None else not dot_available()
        if not use_builtin:
            if outfile is not None:
                return super().render(filename, directory=directory, format=format, outfile=outfile,
                                      cleanup=cleanup or filename is None, **kwargs)
            return super().render(filename, directory=directory, format=format, cleanup=cleanup, **kwargs)
        if format != "svg":
            raise RuntimeError(f"to_dot: rendering {format.upper()} needs Graphviz: {INSTALL_HINT}. "
                               "Without it, render(..., format='svg') uses the built-in layout.")
        if outfile is None:
            base = os.path.join(directory or "", filename or "graph.gv")
            if not cleanup:
                with open(base, "w", encoding="utf-8") as f:
                    f.write(self.source)
            outfile = base + ".svg"
        with open(outfile, "w", encoding="utf-8") as f:
            f.write(layout.to_svg(self.model))
        return str(outfile)

    def _repr_mimebundle_(self, include=None, exclude=None, **kwargs):
        # Jupyter display: SVG, through dot or the built-in layout.
        return {"image/svg+xml": self.svg()}

    def _repr_svg_(self):
        return self.svg()


def to_dot(*outputs, params=None, direction="forward", show_saved=False, collapse=None,
           max_nodes=400, heat_range=None, show_grad=True, title=None, show_tangent=False):
    """The graph that computed ``outputs``, as a ``graphviz.Digraph``.

    - ops show their name, output shape and dtype; leaves are named from ``params``
      (``dict(model.named_parameters())`` or (name, tensor) pairs) or ``tensor.name``.
    - ``direction="forward"`` draws edges as data flows; ``"backward"`` as the
      gradients flow (op names then read ``MulBackward``).
    - after a backward run inside ``record_gradients()``, every node shows its
      gradient's norm and is filled by log10 of its RMS (legend included); leaves
      use ``.grad``.  NaN/Inf gradients are red.  ``heat_range=(lo, hi)`` fixes
      the scale in decades, to compare graphs.
    - ``show_tangent=True`` shows forward mode instead: each node's tangent norm and
      heat, from an evaluation on dual tensors inside ``record_tangents()``.
    - ``show_saved=True`` lists what each op saved for backward, with bytes.
    - ops are clustered by module path (``name_scope``); ``collapse=N`` draws each
      module at depth N as one box.  Graphs over ``max_nodes`` are collapsed
      automatically, and summarised if that is not enough.
    """
    if not outputs:
        raise TypeError("to_dot: pass at least one output tensor")
    if len(outputs) == 1 and isinstance(outputs[0], (list, tuple)):
        outputs = tuple(outputs[0])
    model = build(outputs, params, direction, show_saved, collapse, max_nodes, heat_range,
                  grad_lines=show_grad, quantity="tangent" if show_tangent else "gradient")
    model.title = title or ""
    return from_model(model)


def _esc(text):
    return str(text).replace("\\", "\\\\")


def _label(lines):
    return "\\n".join(_esc(line) for line in lines)


def node_attrs(node):
    shape, style = _SHAPES[node.kind]
    attrs = {"label": _label(node.lines), "shape": shape, "style": style,
             "fillcolor": node.fill, "fontcolor": heat.font_colour(node.fill)}
    if node.tooltip:
        attrs["tooltip"] = _esc(node.tooltip).replace("\n", "\\n")
    if node.output:
        attrs["peripheries"] = "2"
    if node.order:
        attrs.update(color=ORDER_COLOURS.get(node.order, "#9467bd"), penwidth="3")
    if node.fill == heat.NAN_COLOUR:
        attrs.update(color="#7f0000", penwidth="3")
    return attrs


def from_model(model):
    g = GraphView(model, name="tapegrad", format="svg",
                  graph_attr={"rankdir": "TB", "nodesep": "0.25", "ranksep": "0.35",
                              "fontname": "Helvetica", "fontsize": "10"},
                  node_attr={"fontname": "Helvetica", "fontsize": "10", "margin": "0.08,0.04"},
                  edge_attr={"arrowsize": "0.7", "fontname": "Helvetica", "fontsize": "8"})
    label = [model.title] if model.title else []
    label += model.notes
    if label:
        g.attr(label=_label(label), labelloc="b", labeljust="l")
    # Cluster tree: every prefix of every node's module path.
    children, members = {(): set()}, {}
    for node in model.nodes.values():
        path = tuple(node.scope)
        members.setdefault(path, []).append(node)
        for k in range(len(path)):
            children.setdefault(path[:k], set()).add(path[:k + 1])
            children.setdefault(path[:k + 1], set())

    def emit(sub, path):
        for node in members.get(path, ()):
            sub.node(node.key, **node_attrs(node))
        for child in sorted(children.get(path, ())):
            with sub.subgraph(name=layout.cluster_name(child)) as c:
                c.attr(label=_esc(".".join(child)), style="rounded,dashed", color="#7f7f7f",
                       fontcolor="#404040", labeljust="l")
                emit(c, child)
    emit(g, ())
    for e in model.edges:
        g.edge(e.src, e.dst, label=e.label) if e.label else g.edge(e.src, e.dst)
    if model.legend:
        rows = "".join(f'<TR><TD BGCOLOR="{fill}" WIDTH="18"> </TD><TD ALIGN="LEFT">{text}</TD></TR>'
                       for text, fill in model.legend)
        g.node("legend", shape="plaintext", style="", label=(
            '<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="3">'
            f'<TR><TD COLSPAN="2"><B>{model.quantity} RMS (fill)</B></TD></TR>' + rows + "</TABLE>>"))
    return g
