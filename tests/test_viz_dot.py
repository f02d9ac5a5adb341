"""to_dot: the DOT source of known graphs, gradient heat, clusters, rendering."""
import os
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import autograd as ag
from autograd.viz import heat

SVG = "{http://www.w3.org/2000/svg}"
ATTR = re.compile(r'(\w+)=("(?:[^"\\]|\\.)*"|<.*>|[^\s\]]+)')


def parse_dot(source):
    """{node name: attrs}, [(src, dst)], {cluster name: [node names]} from DOT source."""
    nodes, edges, clusters, stack = {}, [], {}, []
    for line in source.splitlines():
        s = line.strip()
        m = re.match(r"subgraph (\w+) \{", s)
        if m:
            stack.append(m.group(1))
            clusters[m.group(1)] = []
            continue
        if s == "}":
            stack and stack.pop()
            continue
        m = re.match(r"(\w+) -> (\w+)", s)
        if m:
            edges.append((m.group(1), m.group(2)))
            continue
        m = re.match(r"(\w+) \[(.*)\]$", s)
        if m and m.group(1) not in ("graph", "node", "edge"):
            attrs = {k: v.strip('"') for k, v in ATTR.findall(m.group(2))}
            nodes[m.group(1)] = attrs
            for c in stack:
                clusters[c].append(m.group(1))
    return nodes, edges, clusters


def label_of(attrs):
    return attrs["label"].split("\\n")


def two_layer():
    rng = np.random.default_rng(0)
    x = ag.tensor(rng.standard_normal((4, 3)), dtype=ag.float32)
    w1 = ag.tensor(rng.standard_normal((3, 5)), requires_grad=True)
    w2 = ag.tensor(rng.standard_normal((5, 1)) * 1e-3, requires_grad=True)
    with ag.name_scope("hidden"):
        h = (x @ w1).tanh()
    with ag.name_scope("head"):
        y = h @ w2
    loss = (y * y).mean()
    return loss, {"w1": w1, "w2": w2}


def by_op(nodes):
    return {label_of(a)[0]: a for a in nodes.values()}


def test_nodes_edges_and_labels_of_a_known_graph():
    a = ag.tensor([1.0, 2.0], requires_grad=True)
    b = ag.tensor([3.0, 4.0], requires_grad=True)
    b.name = "b"
    c = (a * b).exp().sum()
    nodes, edges, _ = parse_dot(ag.to_dot(c, params={"a": a}).source)
    ops = {label_of(v)[0]: k for k, v in nodes.items()}
    assert set(ops) == {"a", "b", "Mul", "Exp", "Sum"}
    assert label_of(nodes[ops["Mul"]])[1] == "(2) float32"
    assert label_of(nodes[ops["Sum"]])[1] == "() float32"
    assert nodes[ops["a"]]["shape"] == "ellipse" and nodes[ops["Mul"]]["shape"] == "box"
    assert nodes[ops["Sum"]]["peripheries"] == "2"       # the exported output
    assert sorted(edges) == sorted([(ops["a"], ops["Mul"]), (ops["b"], ops["Mul"]),
                                    (ops["Mul"], ops["Exp"]), (ops["Exp"], ops["Sum"])])
    # Backward direction: reversed edges and Backward names.
    nodes, edges, _ = parse_dot(ag.to_dot(c, direction="backward").source)
    ops = {label_of(v)[0]: k for k, v in nodes.items()}
    assert "MulBackward" in ops and (ops["SumBackward"], ops["ExpBackward"]) in edges


def test_a_shared_input_gives_one_node_and_multi_output_edges_are_labelled():
    x = ag.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    p, q = x.split(1, dim=1)
    out = (p * q + x.sum()).sum()
    src = ag.to_dot(out).source
    nodes, edges, _ = parse_dot(src)
    leaves = [k for k, v in nodes.items() if v["shape"] == "ellipse"]
    assert len(leaves) == 1
    assert 'label="out 0"' in src and 'label="out 1"' in src


def test_clusters_follow_name_scopes_and_parameters_join_their_module():
    loss, params = two_layer()
    nodes, _, clusters = parse_dot(ag.to_dot(loss, params=params).source)
    names = {k: label_of(v)[0] for k, v in nodes.items()}
    hidden = {names[k] for k in clusters["cluster_hidden_1"]}
    head = {names[k] for k in clusters["cluster_head_1"]}
    assert hidden == {"MatMul", "Tanh", "w1"}
    assert head == {"MatMul", "w2"}
    top = set(names.values()) - hidden - head
    assert {"Mul", "Mean"} <= top


def test_nested_scopes_nest_clusters():
    x = ag.tensor([1.0, -2.0], requires_grad=True)
    with ag.name_scope("block"):
        with ag.name_scope("inner"):
            y = x.relu()
        z = y * 2.0
    _, _, clusters = parse_dot(ag.to_dot(z.sum()).source)
    assert len(clusters["cluster_block_inner_2"]) == 2      # Relu and the leaf x
    assert set(clusters["cluster_block_inner_2"]) < set(clusters["cluster_block_1"])


def test_heat_colours_are_ordered_by_gradient_rms_and_legend_present():
    x = ag.tensor(np.ones(4), requires_grad=True)
    # Three branches whose gradients differ by powers of ten.
    y = (x * 1e-4).sum() + (x * 1e-1).sum() + (x * 1e2).sum()
    with ag.record_gradients():
        y.backward()
    src = ag.to_dot(y).source
    nodes, _, _ = parse_dot(src)
    muls = [v for v in nodes.values() if label_of(v)[0] == "Mul"]
    assert len(muls) == 3
    # Every Mul output gets gradient ones(4) (norm 2); the leaf x gets sum of scales.
    assert all(label_of(v)[2] == "|grad| 2.00e+00" for v in muls)
    leaf = next(v for v in nodes.values() if v["shape"] == "ellipse")
    assert label_of(leaf)[-1] == f"|grad| {2 * (1e-4 + 1e-1 + 1e2):.2e}"
    assert "legend" in nodes and "gradient RMS" in nodes["legend"]["label"]


def test_colour_luminance_rises_with_gradient_magnitude():
    scales = [1e-6, 1e-3, 1.0, 1e3]
    leaves = [ag.tensor(np.ones(3), requires_grad=True) for _ in scales]
    for t, s in zip(leaves, scales):
        t.name = f"s{s:g}"
    y = sum(((t * 1.0).sum() * s for t, s in zip(leaves, scales)), ag.tensor(0.0))
    with ag.record_gradients():
        y.backward()
    nodes, _, _ = parse_dot(ag.to_dot(y).source)
    fills = {label_of(v)[0]: v["fillcolor"] for v in nodes.values() if v.get("shape") == "ellipse"}
    lum = [heat.luminance(fills[f"s{s:g}"]) for s in scales]
    assert lum == sorted(lum) and len(set(lum)) == len(lum)


def test_nan_and_zero_gradients_are_marked():
    x = ag.tensor([0.0, 1.0], requires_grad=True)
    x.name = "x"
    z = ag.tensor([1.0], requires_grad=True)
    z.name = "z"
    y = x.sqrt().sum() + (z * 0.0).sum()      # d sqrt(x)/dx at 0 is inf
    with ag.record_gradients(), np.errstate(divide="ignore"):
        y.backward()
    nodes, _, _ = parse_dot(ag.to_dot(y).source)
    by_name = by_op(nodes)
    assert by_name["x"]["fillcolor"] == heat.NAN_COLOUR and label_of(by_name["x"])[-1] == "|grad| NaN/Inf"
    assert by_name["z"]["fillcolor"] == heat.ZERO_COLOUR


def test_without_recorded_backward_only_leaves_show_gradients():
    loss, params = two_layer()
    loss.backward()
    nodes, _, _ = parse_dot(ag.to_dot(loss, params=params).source)
    by_name = by_op(nodes)
    assert by_name["w1"]["fillcolor"] != heat.NO_GRAD_COLOUR
    assert by_name["Tanh"]["fillcolor"] == heat.NO_GRAD_COLOUR
    assert label_of(by_name["Tanh"])[-1] == "|grad| ---"


def test_show_saved_lists_saved_values_and_bytes():
    a = ag.tensor(np.ones((3, 4)), dtype=ag.float32, requires_grad=True)   # 48 bytes
    b = ag.tensor(np.ones((3, 4)), dtype=ag.float64, requires_grad=True)   # 96 bytes
    y = (a * b).exp()
    nodes, _, _ = parse_dot(ag.to_dot(y, show_saved=True).source)
    mul = by_op(nodes)["Mul"]
    lines = label_of(mul)
    assert "saved input (3, 4) float32: 48 B" in lines          # one dtype spelling: NumPy's name
    assert "saved input (3, 4) float64: 96 B" in lines
    assert "saved total 144 B" in lines
    assert "saved output 0 (3, 4) float64: 96 B" in label_of(by_op(nodes)["Exp"])
    y.sum().backward()
    nodes, _, _ = parse_dot(ag.to_dot(y, show_saved=True).source)
    assert "saved: released by backward" in label_of(by_op(nodes)["Mul"])


def test_collapse_draws_modules_as_boxes():
    x = ag.tensor(np.ones((2, 3)), requires_grad=True)
    w = ag.tensor(np.ones((3, 3)), requires_grad=True)
    with ag.name_scope("net"):
        h = x
        for i in range(3):
            with ag.name_scope(f"layer{i}"):
                h = (h @ w * 0.5).tanh()
    out = h.sum()
    nodes, edges, clusters = parse_dot(ag.to_dot(out, collapse=2).source)
    boxes = {label_of(v)[0]: k for k, v in nodes.items() if v["shape"] == "box3d"}
    assert set(boxes) == {"net.layer0", "net.layer1", "net.layer2"}
    assert label_of(nodes[boxes["net.layer1"]])[1] == "3 ops"
    assert (boxes["net.layer0"], boxes["net.layer1"]) in edges
    assert set(boxes.values()) <= set(clusters["cluster_net_1"])
    nodes1, _, _ = parse_dot(ag.to_dot(out, collapse=1).source)
    assert [label_of(v)[0] for v in nodes1.values() if v["shape"] == "box3d"] == ["net"]
    with pytest.raises(ValueError, match="collapse"):
        ag.to_dot(out, collapse=0)


def test_collapsed_module_folds_its_own_parameters():
    loss, params = two_layer()
    nodes, _, _ = parse_dot(ag.to_dot(loss, params=params, collapse=1).source)
    labels = [label_of(v)[0] for v in nodes.values()]
    assert "w1" not in labels and "hidden" in labels
    hidden = next(v for v in nodes.values() if label_of(v)[0] == "hidden")
    assert label_of(hidden)[1] == "2 ops, 1 params (15 values)"


def test_large_graphs_are_collapsed_then_summarised():
    x = ag.tensor(np.ones(3), requires_grad=True)
    h = x
    for i in range(60):
        with ag.name_scope(f"block{i}"):
            h = (h * 1.01).tanh()
    g = ag.to_dot(h.sum(), max_nodes=80)
    nodes, _, _ = parse_dot(g.source)
    assert sum(v["shape"] == "box3d" for v in nodes.values()) == 60
    assert "collapsed below depth 1" in g.source
    x = ag.tensor(np.ones(3), requires_grad=True)
    h = x
    for i in range(100):
        h = h * 1.01
    g = ag.to_dot(h.sum(), max_nodes=50)
    nodes, _, _ = parse_dot(g.source)
    assert list(nodes) == ["summary"]
    assert "101 ops" in nodes["summary"]["label"] and "Mul x100" in nodes["summary"]["label"]


def test_bad_input_is_handled_kindly():
    t = ag.tensor([1.0, 2.0])
    g = ag.to_dot(t)
    nodes, edges, _ = parse_dot(g.source)
    assert len(nodes) == 1 and not edges
    assert "requires_grad is False" in g.source
    leaf = ag.tensor([1.0], requires_grad=True)
    assert "leaf tensor" in ag.to_dot(leaf).source
    loss, params = two_layer()
    stranger = ag.tensor([1.0], requires_grad=True)
    ag.to_dot(loss, params={**params, "not_in_graph": stranger})   # fine
    with pytest.raises(ValueError, match="svg, png, pdf"):
        ag.to_dot(loss).render("x", format="bmp")
    with pytest.raises(TypeError, match="expected a Tensor"):
        ag.to_dot(np.ones(3))


def test_create_graph_backward_marks_derivative_orders():
    x = ag.tensor([0.5, 1.5], requires_grad=True)
    y = (x * x * x).sum()
    with ag.record_gradients():
        (gx,) = ag.grad(y, x, create_graph=True)
        (ggx,) = ag.grad(gx.sum(), x, create_graph=True)
    nodes, _, _ = parse_dot(ag.to_dot(ggx.sum()).source)
    orders = {}
    for v in (v for k, v in nodes.items() if k != "legend"):
        m = re.search(r"derivative order (\d)", v["label"])
        orders.setdefault(int(m.group(1)) if m else 0, []).append(v)
    assert set(orders) == {0, 1, 2}
    assert {v["color"] for v in orders[1]} != {v["color"] for v in orders[2]}
    np.testing.assert_allclose(ggx.array, 6 * x.array, rtol=1e-6)


def _svg_titles(path_or_text):
    root = ET.fromstring(path_or_text) if path_or_text.lstrip().startswith("<") else ET.parse(path_or_text).getroot()
    out = {}
    for g in root.iter(SVG + "g"):
        title = g.find(SVG + "title")
        if title is not None:
            out.setdefault(g.get("class"), []).append(title.text)
    return out


def test_render_svg_with_graphviz_and_parse_it(tmp_path):
    assert ag.viz.dot_available(), "Graphviz 'dot' must be installed for the test suite"
    loss, params = two_layer()
    with ag.record_gradients():
        loss.backward()
    g = ag.to_dot(loss, params=params)
    path = g.render(str(tmp_path / "graph.svg"))
    assert path.endswith("graph.svg") and os.path.exists(path)
    titles = _svg_titles(path)
    nodes, edges, clusters = parse_dot(g.source)
    assert set(titles["node"]) == set(nodes)
    assert len(titles["edge"]) == len(edges)
    assert set(titles["cluster"]) == set(clusters)
    text = open(path).read()
    fills = {v["fillcolor"] for k, v in nodes.items() if k != "legend"}
    assert all(f in text for f in fills)
    # graphviz's own semantics: source file plus source.<format>
    out = g.render("g", directory=str(tmp_path), format="png")
    assert open(out, "rb").read(4) == b"\x89PNG"


def test_fallback_layout_when_dot_is_missing(tmp_path, monkeypatch):
    loss, params = two_layer()
    with ag.record_gradients():
        loss.backward()
    g = ag.to_dot(loss, params=params)
    monkeypatch.setenv("PATH", str(tmp_path))         # no dot on PATH
    assert not ag.viz.dot_available()
    assert "digraph" in g.source                        # DOT export still works
    path = g.render(str(tmp_path / "fallback.svg"))
    titles = _svg_titles(path)
    nodes, edges, clusters = parse_dot(g.source)
    assert set(titles["node"]) == set(nodes) - {"legend"}
    assert len(titles["edge"]) == len(edges)
    assert set(titles["cluster"]) == set(clusters)
    with pytest.raises(RuntimeError, match="apt-get install graphviz"):
        g.render(str(tmp_path / "x.png"))
    bundle = g._repr_mimebundle_()
    ET.fromstring(bundle["image/svg+xml"].split("\n", 1)[1])


def test_fallback_layout_places_nodes_without_overlap():
    x = ag.tensor(np.ones((2, 2)), requires_grad=True)
    hs = []
    for i in range(4):
        with ag.name_scope(f"branch{i}"):
            hs.append((x * float(i + 1)).tanh().exp())
    out = ag.stack(hs).sum() + x.sum()
    view = ag.to_dot(out)
    svg = view.svg(builtin=True)
    root = ET.fromstring(svg.split("\n", 1)[1])
    rects = []
    for g in root.iter(SVG + "g"):
        if g.get("class") == "node":
            shape = g.find(SVG + "rect")
            if shape is None:
                e = g.find(SVG + "ellipse")
                cx, cy, rx, ry = (float(e.get(k)) for k in ("cx", "cy", "rx", "ry"))
                rects.append((cx - rx, cy - ry, cx + rx, cy + ry))
            else:
                x0, y0 = float(shape.get("x")), float(shape.get("y"))
                rects.append((x0, y0, x0 + float(shape.get("width")), y0 + float(shape.get("height"))))
    assert len(rects) == len(view.model.nodes) > 16
    for i, a in enumerate(rects):
        for b in rects[i + 1:]:
            assert a[2] <= b[0] or b[2] <= a[0] or a[3] <= b[1] or b[3] <= a[1], (a, b)


def test_saved_bytes_count_memory_held_not_a_stand_ins_full_size():
    # With only a needing a gradient, matmul keeps b (read by dA = G B^T) and, for a,
    # a zero-stride stand-in that records its shape: 4 bytes, not 40 * 50 * 4.
    a = ag.randn(40, 50, requires_grad=True)
    b = ag.randn(50, 30)
    nodes, _, _ = parse_dot(ag.to_dot(a @ b, show_saved=True).source)
    lines = label_of(by_op(nodes)["MatMul"])
    assert "saved constant (40, 50) float32: 4 B" in lines, lines
    assert "saved input (50, 30) float32: 5.9 KiB" in lines, lines
    assert not any("NoneType" in s for s in lines)


def test_forward_mode_tangents_are_drawn_as_gradients_are():
    from autograd import forward_ad
    from autograd.viz import record_tangents
    x = ag.tensor([0.5, -1.0, 2.0], requires_grad=True)
    w = ag.tensor(np.ones((3, 2)), dtype=ag.float32, requires_grad=True)
    v = ag.tensor([1.0, 0.0, 0.0])
    with record_tangents(), forward_ad.dual_level():
        h = forward_ad.make_dual(x, v).tanh()
        y = (h @ w).sum()
        tangent_h = forward_ad.unpack_dual(h).tangent
    src = ag.to_dot(y, show_tangent=True).source
    assert "tangent RMS (fill)" in src and "|grad|" not in src
    # the tanh node shows its tangent's norm: (1 - tanh(0.5)^2) * 1
    assert f"|tangent| {float(np.linalg.norm(tangent_h.numpy())):.2e}" in src
    assert f"|tangent| {np.linalg.norm(v.numpy()):.2e}" in src       # the dual view of x
    assert "gradient RMS" not in src
