"""The profiler (autograd.profiler, issue 29): what it records, the table's layout
against PyTorch 2.13's, the Chrome trace's well-formed nested events, memory counters
and the errors.  No test looks at how long anything took."""
import json
import os

import numpy as np
import pytest

import autograd
import nn
import optim
import torch as torch_ref
from autograd import engine, function
from autograd.profiler import ProfilerActivity, profile, record_function


def _step(torch, model, opt, x, y):
    with torch.profiler.record_function("model_forward"):
        loss = torch.nn.functional.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    with torch.profiler.record_function(f"Optimizer.step#{type(opt).__name__}.step"):
        opt.step()


def _profiled(**options):
    autograd.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    opt = optim.SGD(model.parameters(), lr=0.1)
    x, y = autograd.randn(5, 4), autograd.tensor([0, 1, 2, 1, 0])
    with profile(activities=[ProfilerActivity.CPU], **options) as prof:
        _step(autograd, model, opt, x, y)
    return prof


def test_forward_ops_vjps_and_user_ranges_are_recorded():
    prof = _profiled(record_shapes=True)
    rows = {r.key: r for r in prof.key_averages()}
    assert {"Linear", "Relu", "LinearBackward", "ReluBackward", "model_forward",
            "Optimizer.step#SGD.step"} <= rows.keys()
    assert rows["Linear"].count == 2 and rows["LinearBackward"].count == 2
    for r in rows.values():
        assert r.count > 0 and r.cpu_time_total >= r.self_cpu_time_total >= 0
    kinds = {e.name: e.kind for e in prof.events()}
    assert kinds["Linear"] == "forward" and kinds["LinearBackward"] == "backward"
    assert kinds["model_forward"] == "user" and kinds["Optimizer.step#SGD.step"] == "optimizer"
    linear = next(e for e in prof.events() if e.name == "Linear")
    assert linear.input_shapes == [[5, 4], [8, 4], [8]] and linear.depth == 1   # inside the range
    by_shape = prof.key_averages(group_by_input_shape=True)
    assert sorted(r.input_shapes for r in by_shape if r.key == "Linear") == [[[5, 4], [8, 4], [8]],
                                                                           [[5, 8], [3, 8], [3]]]


def test_profiling_is_off_outside_the_context():
    prof = _profiled()
    n = len(prof.events())
    autograd.tanh(autograd.randn(3, requires_grad=True)).sum().backward()
    assert len(prof.events()) == n
    assert function._op_observer is None and engine._vjp_wrapper is None


def _header(table):
    head = table.splitlines()[1]
    return [c.strip() for c in head.split("  ") if c.strip()]


@pytest.mark.parametrize("memory,shapes", [(False, False), (True, False), (True, True)])
def test_the_table_has_pytorchs_columns(memory, shapes):
    tables, profs = [], []
    for torch in (autograd, torch_ref):
        x = torch.ones(4, 4, requires_grad=True)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU],
                                    profile_memory=memory, record_shapes=shapes) as prof:
            (x * x).tanh().sum().backward()
        profs.append(prof)
        tables.append(prof.key_averages(group_by_input_shape=shapes).table(
            sort_by="self_cpu_time_total", row_limit=3))
    ours, theirs = tables
    assert _header(ours) == _header(theirs)
    assert ours.splitlines()[-1].startswith("Self CPU time total: ")
    assert len(ours.splitlines()) == 3 + 3 + 2            # rules and header, 3 rows, rule and total
    with pytest.raises(ValueError, match="sort_by must be one of"):
        profs[0].key_averages().table(sort_by="wall_time")


def test_the_chrome_trace_holds_well_formed_nested_events(tmp_path):
    prof = _profiled(record_shapes=True, profile_memory=True, with_stack=True)
    path = tmp_path / "trace.json"
    prof.export_chrome_trace(str(path))
    trace = json.loads(path.read_text())
    events = trace["traceEvents"]
    slices = [e for e in events if e["ph"] == "X"]
    assert slices and all({"name", "ph", "ts", "dur", "pid", "tid"} <= e.keys() for e in slices)
    assert all(e["ts"] >= 0 and e["dur"] >= 0 for e in slices)
    assert {"cpu_op", "backward", "user_annotation", "optimizer"} <= {e["cat"] for e in slices}
    # proper nesting on each thread: two slices are disjoint or one holds the other
    for a in slices:
        for b in slices:
            if a is not b and a["tid"] == b["tid"]:
                a0, a1, b0, b1 = a["ts"], a["ts"] + a["dur"], b["ts"], b["ts"] + b["dur"]
                assert a1 <= b0 or b1 <= a0 or (a0 <= b0 and b1 <= a1) or (b0 <= a0 and a1 <= b1)
    user = next(e for e in slices if e["name"] == "model_forward")
    inside = [e for e in slices if e["cat"] == "cpu_op" and user["ts"] <= e["ts"] <= user["ts"] + user["dur"]]
    assert {e["name"] for e in inside} >= {"Linear", "Relu"}
    assert all("test_profiler.py" in e["args"]["Call stack"] for e in inside)
    counters = [e for e in events if e["ph"] == "C"]
    assert {"Saved for backward", "Allocated (outputs and gradients)"} <= {e["name"] for e in counters}
    assert all(e["args"]["bytes"] >= 0 for e in counters)


def test_the_saved_bytes_counter_peaks_at_what_the_tape_held():
    x = autograd.randn(64, 64, requires_grad=True)
    with profile(profile_memory=True) as prof:
        y = x.tanh()          # saves its output: 16 KiB
        z = y.tanh()          # and another
        held = autograd.tape(z.sum()).total_saved_bytes
        z.sum().backward()
    assert prof.saved_peak == held == 2 * 64 * 64 * 4
    saved = [e["args"]["bytes"] for e in prof._chrome_trace()["traceEvents"]
             if e["ph"] == "C" and e["name"] == "Saved for backward"]
    assert max(saved) == held and saved[-1] == 0


def test_two_profilers_at_once_and_other_devices_are_refused():
    with profile():
        with pytest.raises(RuntimeError, match="another profiler is already running"):
            with profile():
                pass
    with pytest.raises(RuntimeError, match="only ProfilerActivity.CPU"):
        profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA])
    with profile(enabled=False) as off:
        autograd.ones(2) * 2
    assert off.events() == []


def test_an_unwritable_trace_path_raises_and_leaves_nothing(tmp_path):
    prof = _profiled()
    with pytest.raises(OSError, match="export_chrome_trace: cannot write"):
        prof.export_chrome_trace(str(tmp_path / "missing" / "trace.json"))
    blocker = tmp_path / "a_file"
    blocker.write_text("old")                 # a file where a folder should be
    with pytest.raises(OSError, match="export_chrome_trace: cannot write"):
        prof.export_chrome_trace(str(blocker / "trace.json"))
    assert blocker.read_text() == "old" and os.listdir(tmp_path) == ["a_file"]


def test_a_failed_serialisation_leaves_no_file(tmp_path, monkeypatch):
    prof = _profiled()
    monkeypatch.setattr(json, "dumps", lambda *a, **k: (_ for _ in ()).throw(ValueError("boom")))
    with pytest.raises(ValueError, match="boom"):
        prof.export_chrome_trace(str(tmp_path / "t.json"))
    assert os.listdir(tmp_path) == []


def test_record_function_decorates_and_the_aliases_reach_the_module():
    @record_function("helper")
    def helper(t):
        return t * 2
    with profile() as prof:
        helper(autograd.ones(2, requires_grad=True))
    assert sorted((e.depth, e.name) for e in prof.events()) == [(0, "helper"), (1, "Mul")]
    assert autograd.profiler is autograd.autograd.profiler
    assert autograd.profiler.profile is profile


def test_the_timeline_page_in_chromium(tmp_path):
    """The trace drawn by autograd.viz.timeline, as headless Chromium paints it: every
    slice a rectangle in its kind's colour, children inside and below their parents,
    one step chart per memory counter, the pointer naming a slice, zoom and reset."""
    from test_viz_browser import find_chromium
    from autograd.viz import timeline
    path = find_chromium(os.environ)
    prof = _profiled(record_shapes=True, profile_memory=True)
    prof.export_chrome_trace(str(tmp_path / "trace.json"))
    page_path = timeline.write_page(str(tmp_path / "trace.json"), str(tmp_path / "trace.html"))
    trace = json.loads((tmp_path / "trace.json").read_text())
    slices = [e for e in trace["traceEvents"] if e["ph"] == "X"]
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path)
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.goto("file://" + page_path)
        rects = page.eval_on_selector_all("rect.slice", """rs => rs.map(r => {
            const b = r.getBoundingClientRect();
            return {name: r.dataset.name, cat: r.dataset.cat, depth: +r.dataset.depth,
                    fill: getComputedStyle(r).fill, left: b.left, right: b.right,
                    top: b.top, bottom: b.bottom};
        })""")
        assert len(rects) == len(slices)
        colours = {k: "#" + "".join(f"{int(c):02x}" for c in v[4:-1].split(","))
                   for k, v in ((r["cat"], r["fill"]) for r in rects)}
        assert colours == {k: timeline.COLOURS[k] for k in colours}
        assert set(colours) == {"cpu_op", "backward", "user_annotation", "optimizer"}
        for child in (r for r in rects if r["depth"] > 0):
            assert any(q["depth"] == child["depth"] - 1 and q["left"] <= child["left"] + 0.5
                       and child["right"] <= q["right"] + 0.5 and q["bottom"] <= child["top"]
                       for q in rects), child
        peaks = page.eval_on_selector_all("path.counter", "ps => ps.map(p => [p.dataset.name, +p.dataset.peak])")
        counters = {}
        for e in trace["traceEvents"]:
            if e["ph"] == "C":
                counters[e["name"]] = max(counters.get(e["name"], 0), e["args"]["bytes"])
        assert dict(peaks) == counters
        widest = max((r for r in rects if r["cat"] == "cpu_op"), key=lambda r: r["right"] - r["left"])
        page.mouse.move((widest["left"] + widest["right"]) / 2, (widest["top"] + widest["bottom"]) / 2)
        assert page.inner_text("#info").startswith(widest["name"] + "  (cpu_op)")
        before = page.inner_text("#span")
        page.mouse.move(600, 100)
        page.mouse.wheel(0, -400)
        zoomed = page.inner_text("#span")
        assert zoomed != before
        page.dblclick("#chart", position={"x": 600, "y": 40})
        assert page.inner_text("#span") == before
        browser.close()


def test_train_profile_writes_the_trace_and_page_and_checkpoint_activations_builds(tmp_path, capsys):
    import argparse
    from tools import train
    train.run(["--dataset", "spiral", "--model", "mlp", "--epochs", "1", "--limit-batches", "4",
               "--profile", "1", "--no-progress", "--out-dir", str(tmp_path)])
    out = capsys.readouterr().out
    assert "ProfilerStep#2" in out and "Optimizer.step#Adam.step" in out
    trace = json.loads((tmp_path / "trace.json").read_text())
    assert {e["name"] for e in trace["traceEvents"] if e["ph"] == "X"} >= {"Linear", "LinearBackward"}
    assert "<svg" in (tmp_path / "trace.html").read_text()
    args = argparse.Namespace(dataset="cifar10", model="resnet18", hidden=8, checkpoint_activations=2)
    assert train.build_model(args).checkpoint_segments == 2
    with pytest.raises(SystemExit, match="mlp takes no checkpoint= option"):
        train.build_model(argparse.Namespace(dataset="spiral", model="mlp", hidden=8,
                                             checkpoint_activations=2))


def test_the_saved_peak_falls_with_checkpointing():
    """The profiler sees what the tape keeps after saved-tensor hooks packed it: with
    checkpointing, handles instead of the segments' activations."""
    model = nn.Sequential(*[nn.Sequential(nn.Linear(32, 32), nn.Tanh()) for _ in range(6)])
    x = autograd.randn(16, 32, requires_grad=True)
    peaks = []
    for segments in (None, 3):
        with profile(profile_memory=True) as prof:
            out = model(x) if segments is None else \
                autograd.utils.checkpoint.checkpoint_sequential(model, segments, x, use_reentrant=False)
            out.sum().backward()
        peaks.append(prof.saved_peak)
    assert peaks[1] < peaks[0] / 2
