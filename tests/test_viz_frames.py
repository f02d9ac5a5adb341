"""backprop_frames: one picture per VJP of the replay, as SVG files or an HTML page."""
import json
import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import autograd as ag
from autograd.viz import heat
from autograd.viz.frames import HIGHLIGHT

SVG = "{http://www.w3.org/2000/svg}"


def small_graph():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    w = ag.tensor([0.5, -1.0], requires_grad=True)
    x.name, w.name = "x", "w"
    with ag.name_scope("layer"):
        h = (x * w).tanh()
    return (h * h).sum(), x, w


def node_fills(svg):
    root = ET.fromstring(svg)
    out = {}
    for g in root.iter(SVG + "g"):
        if g.get("class") == "node":
            key = g.find(SVG + "title").text
            if key == "legend":
                continue
            shapes = [e for e in g.iter() if e.tag.split("}")[-1] in ("path", "polygon", "ellipse", "rect")
                      and e.get("fill") not in (None, "none")]
            grad = [t.text for t in g.iter(SVG + "text") if (t.text or "").startswith("|grad|")]
            out[key] = (shapes[0].get("fill"), shapes[0].get("stroke"), grad[0])
    return out


@pytest.mark.parametrize("builtin", [False, True], ids=["graphviz", "builtin"])
def test_frames_follow_the_replay(tmp_path, builtin):
    loss, x, w = small_graph()
    frames = ag.backprop_frames(loss, builtin=builtin)
    assert len(frames) == 4 + 2                        # start, one per VJP, done
    currents = [f.current for f in frames]
    assert currents[0] is None and currents[-1] is None
    positions = [int(k[2:]) for k in currents[1:-1]]
    assert positions == sorted(positions, reverse=True)   # reverse tape order
    paths = frames.save_svgs(str(tmp_path))
    assert [p.rsplit("/", 1)[1] for p in paths] == [f"frame_{i:03d}.svg" for i in range(6)]
    first = node_fills(open(paths[0]).read())
    assert all(fill == heat.NO_GRAD_COLOUR and g == "|grad| ---" for fill, _, g in first.values())
    done = set()
    for i, path in enumerate(paths[1:-1], start=1):
        state = node_fills(open(path).read())
        done.add(frames[i].current)
        assert state[frames[i].current][1] == HIGHLIGHT
        for key, (fill, stroke, g) in state.items():
            if key.startswith("op"):
                assert (fill != heat.NO_GRAD_COLOUR) == (key in done), (i, key)
                assert (g != "|grad| ---") == (key in done)
    last = node_fills(open(paths[-1]).read())
    # The leaves hold the true gradients at the end; .grad itself is untouched.
    assert x.grad is None and w.grad is None
    loss.backward()
    leaf_lines = sorted(g for k, (_, _, g) in last.items() if k.startswith("leaf"))
    assert leaf_lines == sorted(heat.describe(heat.stats_of(t.grad)) for t in (x, w))


def test_html_page_is_self_contained(tmp_path):
    loss, _, _ = small_graph()
    frames = ag.backprop_frames(loss)
    path = frames.save_html(str(tmp_path / "bp.html"))
    text = open(path).read()
    assert "<script src" not in text and 'type="range"' in text
    data = json.loads(re.search(r"var frames = (\[.*?\]);\n", text).group(1))
    assert len(data) == len(frames) and data[1]["current"] == frames[1].current
    svg = re.search(r"(<svg.*</svg>)", text, re.S).group(1)
    keys = [g.get("data-key") for g in ET.fromstring(svg).iter(SVG + "g") if g.get("data-key")]
    assert set(keys) - {"legend"} == set(frames[-1].fills)
    assert frames._repr_html_().count('type="range"') == 1


def test_frames_with_collapsed_modules_and_bad_input():
    loss, _, _ = small_graph()
    frames = ag.backprop_frames(loss, collapse=1)
    assert "mod0" in frames[-1].fills and frames[-1].fills["mod0"] != heat.NO_GRAD_COLOUR
    with pytest.raises(RuntimeError, match="no graph"):
        ag.backprop_frames(ag.tensor([1.0]))
    t = ag.tensor(np.ones(3), requires_grad=True)
    y = t
    for _ in range(5):
        y = y * 2.0
    with pytest.raises(ValueError, match="max_frames"):
        ag.backprop_frames(y.sum(), max_frames=3)
