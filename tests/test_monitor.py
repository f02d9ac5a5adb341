"""nn.Monitor: every statistic against NumPy on a small model, no effect on training,
clean detaching, nothing kept between recordings, plain-data output, bad input; the
pictures (axes and data, not pixels) and ``python -m tools.train --monitor``."""
import csv
import gc
import json
import weakref

import numpy as np
import pytest

import autograd as ag
import nn
import nn.functional as F
import optim
from nn import monitor_figures as MF
from nn.monitor import FIELDS, band_warning, mean_abs_corr

WATCHED = ["0", "1", "3", "4", "5"]          # conv, relu, (flatten skipped), linear, tanh, linear


def small_cnn():
    ag.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(64, 5), nn.Tanh(),
                          nn.Linear(5, 3)).double()
    with ag.no_grad():
        model[0].bias[0] = -100.0            # channel 0 of the ReLU is dead for every input
    return model


def batch(seed=1, n=10):
    r = np.random.default_rng(seed)
    return ag.tensor(r.standard_normal((n, 1, 6, 6))), ag.tensor(r.integers(0, 3, n))


def replay(model, x, y):
    """The same forward pass written with nn.functional on copies of the parameters,
    giving each layer's output and the loss gradient with respect to it."""
    w = [ag.tensor(np.array(p), requires_grad=True) for p in model.parameters()]
    h0 = F.conv2d(x, w[0], w[1])
    h1 = F.relu(h0)
    h3 = F.linear(h1.reshape(h1.shape[0], -1), w[2], w[3])
    h4 = h3.tanh()
    h5 = F.linear(h4, w[4], w[5])
    outs = [h0, h1, h3, h4, h5]
    grads = ag.grad(F.cross_entropy(h5, y), outs)
    return {name: (np.asarray(o), np.asarray(g)) for name, o, g in zip(WATCHED, outs, grads)}


def pairwise_mean_abs_corr(m):
    live = [j for j in range(m.shape[1]) if m[:, j].std() > 0]
    rs = []
    for i in live:
        for j in live:
            if i != j:
                a, b = m[:, i] - m[:, i].mean(), m[:, j] - m[:, j].mean()
                rs.append(abs((a * b).mean() / (a.std() * b.std())))
    return np.mean(rs) if rs else None


def test_every_statistic_matches_numpy():
    model = small_cnn()
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    mon = nn.Monitor(model, every=2, max_samples=6, max_units=3)
    assert [n for n, _ in mon.layers] == WATCHED
    for step in range(3):
        x, y = batch(seed=step)
        if step == 2:
            ref = replay(model, x, y)
            before = {n: [np.array(p) for p in model.get_submodule(n).parameters()] for n in WATCHED}
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        mon.step()
    assert sorted({r["step"] for r in mon.records}) == [0, 2]
    rows = {r["layer"]: r for r in mon.records if r["step"] == 2}
    for depth, name in enumerate(WATCHED):
        r, (a, g) = rows[name], ref[name]
        m = model.get_submodule(name)
        assert (r["depth"], r["kind"]) == (depth, type(m).__name__)
        assert r["act_mean"] == pytest.approx(a.mean(), rel=1e-9, abs=1e-12)
        assert r["act_std"] == pytest.approx(a.std(), rel=1e-9)
        assert r["act_zero_frac"] == pytest.approx(np.count_nonzero(a == 0) / a.size)
        dead = [np.all(a[:, u] == 0) for u in range(a.shape[1])]
        assert r["dead_frac"] == pytest.approx(np.mean(dead))
        units = a[:6, :3].reshape(6, 3, -1).mean(axis=2) if a.ndim == 4 else a[:6, :3]
        np.testing.assert_allclose(mon.units[name], units, rtol=1e-12)
        want_corr = pairwise_mean_abs_corr(units)
        assert (r["unit_corr"] is None) == (want_corr is None)
        if want_corr is not None:
            assert r["unit_corr"] == pytest.approx(want_corr, rel=1e-9)
        assert r["grad_std"] == pytest.approx(g.std(), rel=1e-9)
        params = list(m.parameters())
        if not params:
            assert r["param_norm"] is r["grad_norm"] is r["update_ratio"] is None
            continue
        w0 = np.concatenate([b.ravel() for b in before[name]])
        w1 = np.concatenate([np.asarray(p).ravel() for p in params])
        gr = np.concatenate([np.asarray(p.grad).ravel() for p in params])
        assert r["param_norm"] == pytest.approx(np.linalg.norm(w0), rel=1e-12)
        assert r["grad_norm"] == pytest.approx(np.linalg.norm(gr), rel=1e-12)
        assert r["update_ratio"] == pytest.approx(np.linalg.norm(w1 - w0) / np.linalg.norm(w0), rel=1e-9)
    assert rows["1"]["dead_frac"] == 0.25                 # the planted dead channel
    assert rows["0"]["dead_frac"] == 0.0


def test_mean_abs_corr_leaves_out_constant_units():
    m = np.array([[1.0, 2.0, 0.0, 5.0], [2.0, 4.0, 0.0, 1.0], [3.0, 7.0, 0.0, 2.0]])
    assert mean_abs_corr(m) == pytest.approx(pairwise_mean_abs_corr(m))
    assert mean_abs_corr(m[:, 1:3]) is None               # one live unit: no pair


def _train(model, steps, monitor_every=None):
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    mon = nn.Monitor(model, every=monitor_every) if monitor_every else None
    for step in range(steps):
        x, y = batch(seed=step)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if mon is not None:
            mon.step()
    return mon


def test_monitored_and_unmonitored_runs_give_identical_parameters():
    plain, watched = small_cnn(), small_cnn()
    _train(plain, 5)
    mon = _train(watched, 5, monitor_every=1)
    assert len(mon.records) == 5 * len(WATCHED)
    for (name, p), q in zip(plain.named_parameters(), watched.parameters()):
        np.testing.assert_array_equal(np.asarray(p), np.asarray(q), err_msg=name)


def _hook_count(model):
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_hooks_only_during_recording_steps_and_none_after_remove():
    model = small_cnn()
    mon = nn.Monitor(model, every=3)
    assert _hook_count(model) == len(WATCHED)              # step 0 records
    mon.step()
    assert _hook_count(model) == 0 and not mon.recording   # steps 1, 2: nothing attached
    mon.step()
    mon.step()
    assert _hook_count(model) == len(WATCHED)
    x, y = batch()
    loss = F.cross_entropy(model(x), y)                    # grad hooks now sit on the outputs
    mon.remove()
    assert _hook_count(model) == 0
    loss.backward()                                        # removed gradient hooks do not fire
    assert {r["step"] for r in mon.records} == {0}         # step 3 was never finished
    assert all(r["act_std"] is None for r in mon.records)  # step 0 had no forward pass
    with pytest.raises(RuntimeError, match="removed"):
        mon.step()
    with nn.Monitor(model, every=1) as mon2:
        assert _hook_count(model) == len(WATCHED)
    assert _hook_count(model) == 0 and not mon2.recording


def test_nothing_is_retained_after_a_recorded_step():
    model = small_cnn()
    outputs = []
    model[4].register_forward_hook(lambda m, a, out: outputs.append(weakref.ref(out)))
    mon = _train(model, 1, monitor_every=1)
    gc.collect()
    assert outputs and outputs[0]() is None                # the recorded output is gone
    assert all(isinstance(m, np.ndarray) and m.shape[0] <= 64 for m in mon.units.values())


def test_forward_without_gradient_is_not_recorded():
    model = small_cnn()
    mon = nn.Monitor(model, every=1)
    with ag.no_grad():
        model(batch()[0])                                  # e.g. an evaluation pass
    mon.step()
    rows = [r for r in mon.records if r["step"] == 0]
    assert len(rows) == len(WATCHED) and all(r["act_std"] is None for r in rows)
    assert all(r["update_ratio"] == 0.0 for r in rows if r["param_norm"] is not None)


def test_records_are_plain_data_in_csv_and_json(tmp_path):
    mon = _train(small_cnn(), 3, monitor_every=2)
    mon.save(tmp_path / "m.csv")
    mon.save(tmp_path / "m.json")
    rows = list(csv.DictReader(open(tmp_path / "m.csv")))
    assert list(rows[0]) == list(FIELDS) and len(rows) == len(mon.records) == 2 * len(WATCHED)
    for row, rec in zip(rows, mon.records):
        for k in FIELDS:
            if rec[k] is None:
                assert row[k] == ""
            elif isinstance(rec[k], float):
                assert float(row[k]) == rec[k]
            else:
                assert row[k] == str(rec[k])
    data = json.load(open(tmp_path / "m.json"))
    assert data["every"] == 2 and data["layers"] == WATCHED and data["records"] == mon.records


def test_bad_input_gets_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="ReLU has no parameters"):
        nn.Monitor(nn.ReLU())
    with pytest.raises(ValueError, match="Sequential has no parameters"):
        nn.Monitor(nn.Sequential(nn.ReLU(), nn.Flatten()))
    for every in (0, -3, 2.5, True, None):
        with pytest.raises(ValueError, match=f"every must be a positive integer, got {every!r}"):
            nn.Monitor(small_cnn(), every=every)
    with pytest.raises(ValueError, match="max_units must be a positive integer"):
        nn.Monitor(small_cnn(), max_units=0)
    with pytest.raises(TypeError, match="expected an nn.Module to watch, got ndarray"):
        nn.Monitor(np.zeros(3))
    with pytest.raises(ValueError, match=r"no submodule\(s\) \['fc'\]"):
        nn.Monitor(small_cnn(), layers=["0", "fc"])
    with pytest.raises(ValueError, match="ending in .csv or .json, got .*m.txt"):
        nn.Monitor(small_cnn()).save(tmp_path / "m.txt")


def test_band_warning_names_the_layers_outside_their_band():
    def rec(layer, ratio, dead):
        return dict(dict.fromkeys(FIELDS), step=0, layer=layer, kind="Linear", update_ratio=ratio,
                    dead_frac=dead)
    assert band_warning([rec("a", 1e-3, 0.0), rec("b", 5e-3, 0.1)]) is None
    msg = band_warning([rec("a", 5e-2, 0.0), rec("b", 1e-3, 0.6), rec("c", 1e-6, None)])
    assert "update/weight ratio outside [0.0001, 0.01]: a (Linear) 5.0e-02, c (Linear) 1.0e-06" in msg
    assert "dead units above 25%: b (Linear) 60%" in msg and "\n" not in msg


# -- pictures ------------------------------------------------------------------------
def test_layer_curves_plot_each_statistic_against_depth():
    mon = _train(small_cnn(), 4, monitor_every=1)
    fig = MF.layer_curves(mon.records, max_curves=2)
    axes = fig.axes[:3]
    assert [a.get_title() for a in axes] == ["activation std", "output-gradient std", "||dw|| / ||w||"]
    assert [t.get_text() for t in axes[0].get_xticklabels()] == \
        ["0 Conv2d", "1 ReLU", "3 Linear", "4 Tanh", "5 Linear"]
    lines = axes[2].get_lines()
    assert [ln.get_label() for ln in lines] == ["step 0", "step 3"]
    last = {r["depth"]: r["update_ratio"] for r in mon.records if r["step"] == 3}
    x, y = lines[1].get_data()
    assert list(x) == [0, 2, 4]                             # layers without parameters are gaps
    np.testing.assert_allclose(y, [last[0], last[2], last[4]])
    assert axes[0].get_yscale() == "log"


def test_layer_heatmap_shows_layers_by_steps():
    mon = _train(small_cnn(), 4, monitor_every=2)
    fig = MF.layer_heatmap(mon.records, "grad_std")
    image = fig.axes[0].get_images()[0].get_array()
    want = [[r["grad_std"] for r in mon.records if r["layer"] == n] for n in WATCHED]
    np.testing.assert_allclose(image, np.log10(want))
    fig = MF.layer_heatmap(mon.records, "update_ratio")    # rows without the statistic are dropped
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["0 Conv2d", "3 Linear", "5 Linear"]
    with pytest.raises(ValueError, match="unknown statistic"):
        MF.layer_heatmap(mon.records, "loss")
    with pytest.raises(ValueError, match="no records"):
        MF.layer_curves([])


def test_unit_filter_and_template_pictures_show_the_data():
    mon = _train(small_cnn(), 1, monitor_every=1)
    fig = MF.unit_activations(mon.units)
    assert len(fig.axes[0].get_images()) == 1 and fig.axes[0].get_title().startswith("0\nmean |corr|")
    shown = [a.get_images()[0].get_array() for a in fig.axes if a.get_images()]
    for got, want in zip(shown, mon.units.values()):
        np.testing.assert_array_equal(got, want)

    w = ag.randn(6, 1, 5, 5)
    fig = MF.conv_filters(w)
    images = [a.get_images()[0].get_array() for a in fig.axes if a.get_images()]
    assert len(images) == 6 and len(fig.axes) == 6       # a 2x3 grid
    f = np.asarray(w)[4, 0]
    np.testing.assert_allclose(images[4], (f - f.min()) / (f.max() - f.min()), rtol=1e-6)
    assert MF.conv_filters(ag.randn(4, 3, 3, 3)).axes[0].get_images()[0].get_array().shape == (3, 3, 3)
    with pytest.raises(ValueError, match=r"expected a first-layer conv weight .* got shape \(4, 2, 3, 3\)"):
        MF.conv_filters(ag.randn(4, 2, 3, 3))

    lin = nn.Linear(12, 3)
    fig = MF.class_templates(lin.weight, (1, 3, 4), class_names=["a", "b", "c"])
    assert [a.get_title() for a in fig.axes] == ["a", "b", "c"]
    np.testing.assert_array_equal(fig.axes[1].get_images()[0].get_array(), np.asarray(lin.weight)[1].reshape(3, 4))
    with pytest.raises(ValueError, match=r"expected a \(classes, H\*W\) weight for images \(5, 5\)"):
        MF.class_templates(lin.weight, (5, 5))


def test_save_figures_writes_what_applies(tmp_path):
    mon = _train(small_cnn(), 2, monitor_every=1)
    paths = MF.save_figures(mon, tmp_path)
    names = sorted(p.rsplit("/", 1)[-1] for p in paths)
    assert names == ["conv_filters.png", "monitor_curves.png", "monitor_units.png", "monitor_update_ratio.png"]
    assert all((tmp_path / n).stat().st_size > 1000 for n in names)
    linear = nn.Sequential(nn.Flatten(), nn.Linear(36, 3))
    lmon = nn.Monitor(linear, every=1)
    x, y = batch()
    F.cross_entropy(linear(x), y).backward()
    lmon.step()
    assert "class_templates.png" in [p.rsplit("/", 1)[-1] for p in MF.save_figures(lmon, tmp_path, (1, 6, 6))]


def test_train_command_monitor_writes_pictures_and_warns(tmp_path, capsys):
    from tools import train
    out = tmp_path / "run"
    train.run(["--dataset", "spiral", "--out-dir", str(out), "--epochs", "2", "--limit-batches", "6",
               "--no-progress", "--monitor", "2", "--optimizer", "sgd", "--lr", "3"])
    for name in ("metrics.png", "monitor.csv", "monitor_curves.png", "monitor_units.png",
                 "monitor_update_ratio.png"):
        assert (out / name).is_file(), name
    rows = list(csv.DictReader(open(out / "monitor.csv")))
    assert sorted({int(r["step"]) for r in rows}) == [0, 2, 4, 6, 8, 10]
    warnings = [ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("monitor warning")]
    assert len(warnings) == 2 and "update/weight ratio outside" in warnings[0]   # lr 3 is far too high


def test_train_command_refuses_monitor_zero(capsys):
    from tools import train
    with pytest.raises(SystemExit):
        train.parse_args(["--monitor", "0"])
    assert "argument --monitor: must be at least 1, got 0" in capsys.readouterr().err
