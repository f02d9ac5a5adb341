"""The pictures as a person sees them: headless Chromium opens the backprop page and
the ``to_dot`` SVG and reads the colours it actually paints.

A label is readable when the WCAG 2 contrast ratio between the text's computed fill
and the fill of the node shape behind it is at least 4.5:1.  That is level AA for
normal text; node labels are 10 pt, far below the 18 pt (14 pt bold) where WCAG
allows 3:1.  Black or white, whichever is better, reaches 4.58:1 on any fill, so
4.5 asks nothing impossible of a colour scale.

The browser is Debian's ``chromium`` (``tools/test.sh`` installs it with apt-get, as
it does Graphviz), driven by Playwright for Python with no browser download of its
own.  Without Playwright or Chromium these tests skip with a reason saying so;
under ``CI=true`` that is a failure, so CI cannot pass without running them.
"""
import importlib.util
import os
import shutil

import numpy as np
import pytest

import autograd as ag
import nn
from autograd.viz import heat
from autograd.viz.frames import HIGHLIGHT
from conftest import missing

MIN_CONTRAST = 4.5
CHROMIUM = ("chromium", "chromium-browser")
# Every node of a picture, by its <title> key: for each label line, the computed fill
# of the text and of the shape behind it (the last filled shape of the node whose
# bounding box holds the text's), and whether the text is painted at all.
NODE_STATE_JS = """() => {
  const out = {};
  const inside = (a, b) => a.left >= b.left - 1 && a.right <= b.right + 1 &&
                           a.top >= b.top - 1 && a.bottom <= b.bottom + 1;
  document.querySelectorAll("g.node").forEach(g => {
    const key = g.querySelector("title").textContent;
    const shapes = [...g.querySelectorAll("path, polygon, ellipse, rect")].filter(s => {
      const st = getComputedStyle(s);
      return st.fill !== "none" && st.fillOpacity !== "0" && st.display !== "none";
    });
    out[key] = [...g.querySelectorAll("text")].filter(t => t.textContent.trim()).map(t => {
      const st = getComputedStyle(t), box = t.getBoundingClientRect();
      const behind = shapes.filter(s => inside(box, s.getBoundingClientRect())).pop();
      const bst = behind ? getComputedStyle(behind) : null;
      return {text: t.textContent, ink: st.fill, opacity: +st.opacity * +st.fillOpacity,
              visible: st.visibility === "visible" && st.display !== "none" && box.width > 0,
              fill: bst && bst.fill, stroke: bst && bst.stroke};
    });
  });
  return out;
}"""


def _rgb(css):
    """'rgb(r, g, b)' or '#rrggbb' -> '#rrggbb'."""
    if css.startswith("#"):
        return css.lower()
    assert css.startswith("rgb(") and css.endswith(")"), css
    return "#" + "".join(f"{int(c):02x}" for c in css[4:-1].split(","))


def find_chromium(environ, which=shutil.which):
    """The system Chromium's path, or a skip (a failure under CI=true) saying why not."""
    if importlib.util.find_spec("playwright") is None:
        reason = ("Playwright for Python is not installed (it is in the dev extra of pyproject.toml): "
                  "the browser tests did not run")
    else:
        path = next((p for p in map(which, CHROMIUM) if p), None)
        if path is not None:
            return path
        reason = ("Chromium not found on PATH: the browser tests did not run (tools/test.sh installs "
                  "Debian's chromium with apt-get when run as root)")
    missing(reason, environ)


@pytest.fixture(scope="module")
def browser():
    path = find_chromium(os.environ)
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=path)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    p = browser.new_page(viewport={"width": 1000, "height": 700})
    yield p
    p.close()


def assert_readable(state, expected_fills, where):
    """Every label line of every node in ``expected_fills`` (key -> fill) is drawn
    over that fill, visible, opaque and at least MIN_CONTRAST against it."""
    assert set(expected_fills) <= set(state), (where, set(expected_fills) - set(state))
    for key, fill in expected_fills.items():
        assert state[key], (where, key, "no label text")
        for line in state[key]:
            assert line["visible"] and line["opacity"] == 1, (where, key, line)
            assert line["fill"] is not None, (where, key, line["text"], "text outside its shape")
            assert _rgb(line["fill"]) == fill, (where, key, line)
            ratio = heat.contrast_ratio(_rgb(line["ink"]), _rgb(line["fill"]))
            assert ratio >= MIN_CONTRAST, (where, key, line["text"], line["ink"], line["fill"], ratio)


def test_missing_browser_skips_with_reason_and_fails_under_ci():
    with pytest.raises(pytest.skip.Exception, match="Chromium not found on PATH: the browser tests did not run"):
        find_chromium({"CI": "false"}, which=lambda name: None)
    with pytest.raises(pytest.fail.Exception, match="CI=true: Chromium not found"):
        find_chromium({"CI": "true"}, which=lambda name: None)


def test_label_colour_reaches_the_threshold_on_every_fill():
    """The rule the pictures use, over the whole scale and the special fills (no browser)."""
    fills = [heat.scale_colour(k / 500) for k in range(501)]
    fills += [heat.NAN_COLOUR, heat.ZERO_COLOUR, heat.NO_GRAD_COLOUR]
    ratios = [heat.contrast_ratio(heat.font_colour(f), f) for f in fills]
    assert min(ratios) >= MIN_CONTRAST, fills[ratios.index(min(ratios))]
    assert heat.contrast_ratio("#000000", "#ffffff") == pytest.approx(21.0)
    assert heat.contrast_ratio("#777777", "#777777") == 1.0


def mlp_frames(builtin):
    """Backprop frames of a 3-layer MLP: every Linear is a module cluster."""
    ag.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 6), nn.Tanh(), nn.Linear(6, 2))
    x = ag.randn(5, 4)
    loss = (model(x) ** 2).mean()
    return ag.backprop_frames(loss, params=dict(model.named_parameters()), builtin=builtin)


def frame_index(page):
    return int(page.eval_on_selector("input[type=range]", "s => s.value"))


@pytest.mark.parametrize("builtin", [False, True], ids=["graphviz", "builtin"])
def test_backprop_page_labels_readable_in_every_frame(tmp_path, page, builtin):
    frames = mlp_frames(builtin)
    page.goto("file://" + frames.save_html(str(tmp_path / "bp.html")))
    assert page.locator("g.cluster").count() >= 3            # one per Linear, at least
    page.locator("body").click(position={"x": 1, "y": 1})   # focus the page, not a control
    for i, frame in enumerate(frames):
        if i:
            page.keyboard.press("ArrowRight")
        assert frame_index(page) == i
        state = page.evaluate(NODE_STATE_JS)
        assert_readable(state, frame.fills, f"frame {i}")
        for key, grad_line in frame.texts.items():           # the frame's gradient lines
            assert grad_line in [line["text"] for line in state[key]], (i, key)
        if frame.current is not None:
            assert {_rgb(line["stroke"]) for line in state[frame.current]} == {HIGHLIGHT}
    page.keyboard.press("ArrowRight")                        # stays on the last frame
    assert frame_index(page) == len(frames) - 1
    page.keyboard.press("ArrowLeft")
    assert frame_index(page) == len(frames) - 2


def picture_box(page):
    return page.eval_on_selector("svg", "s => { const r = s.getBoundingClientRect(); "
                                        "return [r.left, r.top, r.width, r.height]; }")


def assert_toolbar_visible(page, where):
    """The slider and every button lie inside the window, and are what a click there hits."""
    for control in page.locator("input[type=range], button").all():
        box = control.bounding_box()
        assert box is not None, (where, "control not rendered")
        cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        assert 0 <= box["y"] and box["y"] + box["height"] <= page.viewport_size["height"], (where, box)
        hit = page.evaluate("([x, y]) => document.elementFromPoint(x, y).id", [cx, cy])
        assert hit == control.get_attribute("id"), (where, hit, control.get_attribute("id"))


def wide_frames():
    """Twelve parallel branches: a picture about 2,500 px wide at its natural size."""
    ag.manual_seed(0)
    x = ag.randn(3, requires_grad=True)
    y = sum(((x * ag.randn(3, requires_grad=True)).tanh().sum() for _ in range(12)), ag.tensor(0.0))
    return ag.backprop_frames(y, builtin=True)


def test_backprop_page_controls_zoom_and_pan(tmp_path, page):
    frames = wide_frames()
    page.goto("file://" + frames.save_html(str(tmp_path / "bp.html")))
    view = page.locator("[id$='-view']").bounding_box()
    left, top, width, height = picture_box(page)
    natural = page.eval_on_selector("svg", "s => s.width.baseVal.value")
    assert natural > 2 * view["width"]
    assert width == pytest.approx(view["width"], abs=3)      # opens fitted to the width
    page.click("button[id$='-next']")                       # the buttons step too
    assert frame_index(page) == 1
    page.fill("input[type=range]", str(len(frames) - 1))     # and the slider jumps
    assert frame_index(page) == len(frames) - 1
    assert page.locator("text=done: every leaf holds its gradient").count() == 1
    page.click("button[id$='-prev']")
    assert frame_index(page) == len(frames) - 2
    # Zoom in far with the wheel over the picture: it grows, the toolbar stays usable.
    page.mouse.move(view["x"] + view["width"] / 2, view["y"] + view["height"] / 2)
    for _ in range(10):
        page.mouse.wheel(0, -200)
    zoomed = picture_box(page)
    assert zoomed[2] > 3 * width
    assert_toolbar_visible(page, "after zoom")
    # On a longer page (a notebook), the toolbar sticks to the top while the player scrolls.
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<div style=\"height:3000px\"></div>');"
                  "window.scrollBy(0, 300)")
    assert page.evaluate("window.scrollY") == 300
    assert_toolbar_visible(page, "after scrolling the page")
    page.evaluate("window.scrollTo(0, 0)")
    # Dragging pans the picture by the distance dragged.
    page.mouse.move(view["x"] + 100, view["y"] + 100)
    page.mouse.down()
    page.mouse.move(view["x"] + 160, view["y"] + 130, steps=3)
    page.mouse.up()
    panned = picture_box(page)
    assert panned[0] == pytest.approx(zoomed[0] + 60, abs=1)
    assert panned[1] == pytest.approx(zoomed[1] + 30, abs=1)
    # Arrow keys still step after zoom and pan (the view holds the focus now).
    page.keyboard.press("ArrowLeft")
    assert frame_index(page) == len(frames) - 3
    page.click("button[id$='-fit']")
    assert picture_box(page)[2] == pytest.approx(width, abs=1)


def graph_with_every_kind_of_fill():
    """Outputs whose nodes get fills from across the scale, plus zero (a dead ReLU),
    NaN/Inf (sqrt at 0) and none (a second output that backward never ran from),
    inside module clusters."""
    x = ag.tensor([0.0, 1.0, 4.0], requires_grad=True)
    scales = [ag.tensor(np.ones(3), requires_grad=True) for _ in range(4)]
    x.name = "x"
    for k, s in enumerate(scales):
        s.name = f"s{k}"
    with ag.name_scope("block"):
        with ag.name_scope("inner"):
            spread = sum(((s * 1.0).sum() * 10.0 ** (3 * k - 6) for k, s in enumerate(scales)),
                         ag.tensor(0.0))
        dead = (ag.tensor([-1.0, -2.0, -3.0]) * x).relu().sum()
    y = spread + dead + x.sqrt().sum()
    untouched = (ag.tensor([2.0], requires_grad=True) * 3.0).sum()
    with ag.record_gradients(), np.errstate(divide="ignore"):     # d sqrt(x)/dx at 0 is inf
        y.backward()
    return y, untouched


@pytest.mark.parametrize("builtin", [True, False], ids=["builtin", "graphviz"])
def test_to_dot_svg_labels_readable(tmp_path, page, builtin):
    graph = ag.to_dot(*graph_with_every_kind_of_fill())
    fills = {key: node.fill for key, node in graph.model.nodes.items()}
    assert {heat.NAN_COLOUR, heat.ZERO_COLOUR, heat.NO_GRAD_COLOUR} <= set(fills.values())
    assert len(set(fills.values())) >= 7
    path = tmp_path / "graph.svg"
    path.write_text(graph.svg(builtin=builtin), encoding="utf-8")
    page.goto(f"file://{path}")
    assert page.locator("g.cluster").count() == 2
    assert_readable(page.evaluate(NODE_STATE_JS), fills, "to_dot")
