"""autograd.utils.tensorboard.SummaryWriter: event files read back with the
tensorboard package's own EventAccumulator (scalars and steps, histogram counts,
image sizes, text, hparams, the graph's node names), the same calls compared with
PyTorch's SummaryWriter, clear errors, and TensorBoard's page opened once in Chromium."""
import os
import re
import sys

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import autograd as ag
import nn
from autograd.utils.tensorboard import SummaryWriter
from autograd.viz.tape_view import tape


def _read(log_dir):
    acc = EventAccumulator(str(log_dir), size_guidance={"images": 0, "histograms": 0, "tensors": 0,
                                                        "scalars": 0})
    acc.Reload()
    return acc


def _write_everything(writer_cls, log_dir, values):
    with writer_cls(log_dir) as w:
        for step, loss in enumerate(values["losses"]):
            w.add_scalar("loss/train", loss, step)
        w.add_scalars("acc", {"train": 0.75, "test": 0.5}, 3)
        w.add_histogram("weights", values["weights"], 1)
        w.add_histogram("weights_coarse", values["weights"], 1, bins=10)
        w.add_image("chw", values["chw"], 0)
        w.add_image("hwc", values["hwc"], 0, dataformats="HWC")
        w.add_image("gray", values["gray"], 0, dataformats="HW")
        w.add_images("batch", values["batch"], 0)
        w.add_text("notes", "tapegrad *writes* this", 2)


def _values(to_tensor):
    rng = np.random.default_rng(0)
    return {"losses": [to_tensor(np.float32(2.0 / (i + 1))) for i in range(6)],
            "weights": to_tensor(rng.standard_normal(500).astype(np.float32)),
            "chw": to_tensor(rng.random((3, 6, 10)).astype(np.float32)),
            "hwc": rng.integers(0, 255, (5, 7, 4), dtype=np.uint8),
            "gray": rng.random((4, 9)), "batch": to_tensor(rng.random((11, 1, 5, 6)).astype(np.float32))}


def test_event_files_read_back_with_tensorboards_reader(tmp_path):
    values = _values(ag.tensor)
    _write_everything(SummaryWriter, tmp_path, values)
    acc = _read(tmp_path)
    scalars = acc.Scalars("loss/train")
    assert [e.step for e in scalars] == list(range(6))
    np.testing.assert_allclose([e.value for e in scalars], [2.0 / (i + 1) for i in range(6)], rtol=1e-6)
    histo = acc.Histograms("weights")[0]
    assert histo.step == 1 and histo.histogram_value.num == 500 and sum(histo.histogram_value.bucket) == 500
    w = values["weights"].numpy()
    assert histo.histogram_value.min == pytest.approx(w.min()) and histo.histogram_value.max == pytest.approx(w.max())
    coarse = acc.Histograms("weights_coarse")[0].histogram_value
    assert list(coarse.bucket)[1:] == np.histogram(w.astype(np.float64), 10)[0].tolist()
    sizes = {tag: (acc.Images(tag)[0].width, acc.Images(tag)[0].height) for tag in ("chw", "hwc", "gray", "batch")}
    assert sizes == {"chw": (10, 6), "hwc": (7, 5), "gray": (9, 4), "batch": (8 * 6, 2 * 5)}   # 8 columns
    text = acc.Tensors("notes/text_summary")[0]
    assert text.step == 2 and text.tensor_proto.string_val == [b"tapegrad *writes* this"]
    # add_scalars: one run per curve, each holding the main tag
    for name, value in (("train", 0.75), ("test", 0.5)):
        run = _read(tmp_path / f"acc_{name}")
        assert [(e.step, e.value) for e in run.Scalars("acc")] == [(3, value)]


def test_the_same_calls_write_what_pytorchs_writer_writes(tmp_path):
    import torch
    from torch.utils.tensorboard import SummaryWriter as TorchWriter
    _write_everything(SummaryWriter, tmp_path / "ours", _values(ag.tensor))
    _write_everything(TorchWriter, tmp_path / "theirs", _values(torch.tensor))
    ours, theirs = _read(tmp_path / "ours"), _read(tmp_path / "theirs")
    assert ours.Tags()["scalars"] == theirs.Tags()["scalars"]
    assert ours.Tags()["images"] == theirs.Tags()["images"]
    assert [(e.step, e.value) for e in ours.Scalars("loss/train")] == \
        [(e.step, e.value) for e in theirs.Scalars("loss/train")]
    for tag in ("weights", "weights_coarse"):       # the same buckets, bit for bit
        assert ours.Histograms(tag)[0].histogram_value == theirs.Histograms(tag)[0].histogram_value
    for tag in ours.Tags()["images"]:
        a, b = ours.Images(tag)[0], theirs.Images(tag)[0]
        assert (a.width, a.height) == (b.width, b.height), tag
    assert ours.Tensors("notes/text_summary")[0].tensor_proto == theirs.Tensors("notes/text_summary")[0].tensor_proto
    for name in ("train", "test"):
        assert os.path.isdir(tmp_path / "theirs" / f"acc_{name}") and os.path.isdir(tmp_path / "ours" / f"acc_{name}")


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 4)
        self.act = nn.Tanh()
        self.head = nn.Sequential(nn.Linear(4, 2))

    def forward(self, x):
        return self.head(self.act(self.fc(x)))


def test_add_graph_writes_the_recorded_tape_with_module_scopes(tmp_path):
    ag.manual_seed(0)
    model, x = Net(), ag.randn(5, 3)
    with SummaryWriter(tmp_path) as w:
        w.add_graph(model, x)
    graph = _read(tmp_path).Graph()
    by_name = {n.name: n for n in graph.node}
    params = {"Net/Linear[fc]/weight", "Net/Linear[fc]/bias", "Net/Sequential[head]/Linear[0]/weight",
              "Net/Sequential[head]/Linear[0]/bias"}
    assert {"input/input.0", "output/output.0"} | params <= set(by_name)
    assert all(by_name[p].op == "Parameter" for p in params)
    ops = [n for n in graph.node if n.op not in ("IO Node", "Parameter")]
    # the tape the viewers show, op for op and module for module
    entries = tape(model(x.detach().requires_grad_()))
    assert [(n.op, n.attr["module"].s.decode()) for n in ops] == [(e.op, e.module) for e in entries]
    for n, e in zip(ops, entries):
        scope = {"fc": "Net/Linear[fc]", "act": "Net/Tanh[act]", "head.0": "Net/Sequential[head]/Linear[0]"}
        assert re.fullmatch(rf"{re.escape(scope[e.module])}/{e.op}_\d+", n.name), n.name
        assert [list(d.size for d in s.dim) for s in n.attr["_output_shapes"].list.shape] == \
            [list(s) for s in e.output_shapes]
    tanh = next(n for n in ops if n.op == "Tanh")
    assert list(tanh.input) == [ops[0].name]            # Tanh reads the fc op's output
    assert list(by_name["output/output.0"].input) == [ops[-1].name]
    assert "input/input.0" in ops[0].input and "Net/Linear[fc]/weight" in ops[0].input


def test_figures_hparams_and_purge_step(tmp_path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig = plt.figure(figsize=(2, 1.5), dpi=50)
    plt.plot([0, 1], [1, 0])
    with SummaryWriter(tmp_path, purge_step=0) as w:
        w.add_figure("curve", fig, 4)
        w.add_figure("two", [plt.figure(figsize=(1, 1), dpi=40) for _ in range(2)], 0)
        w.add_hparams({"lr": 0.1, "optimizer": "sgd", "nesterov": True}, {"hparam/accuracy": 0.9},
                      run_name="trial")
    acc = _read(tmp_path)
    image = acc.Images("curve")[0]
    assert (image.width, image.height, image.step) == (100, 75, 4)
    assert (acc.Images("two")[0].width, acc.Images("two")[0].height) == (80, 40)
    trial = _read(tmp_path / "trial")
    content = trial.PluginTagToContent("hparams")
    assert set(content) == {"_hparams_/experiment", "_hparams_/session_start_info", "_hparams_/session_end_info"}
    from tensorboard.plugins.hparams import metadata
    start = metadata.parse_session_start_info_plugin_data(content["_hparams_/session_start_info"])
    assert start.hparams["lr"].number_value == 0.1 and start.hparams["optimizer"].string_value == "sgd"
    assert start.hparams["nesterov"].bool_value is True
    assert [e.value for e in trial.Scalars("hparam/accuracy")] == [pytest.approx(0.9)]


def test_numbers_arrays_and_tensors_are_accepted_and_bad_input_is_named(tmp_path):
    with SummaryWriter(tmp_path) as w:
        w.add_scalar("a", 1, 0)
        w.add_scalar("a", np.float64(2.5), 1)
        w.add_scalar("a", ag.tensor([3.0]), 2)
        w.add_scalar("a", 4.0, 3, new_style=True)
        with pytest.raises(TypeError, match="SummaryWriter.add_scalar: scalar_value must be a tensor, "
                                            "a NumPy array or a number, got str"):
            w.add_scalar("a", "high", 4)
        with pytest.raises(ValueError, match=r"add_scalar: scalar_value must be one real number, got an "
                                             r"array of shape \(3,\)"):
            w.add_scalar("a", ag.ones(3), 4)
        with pytest.raises(TypeError, match="add_histogram: values must be a tensor"):
            w.add_histogram("h", {"x": 1})
        with pytest.raises(ValueError, match="add_image: dataformats 'CHW' does not fit an image of shape"):
            w.add_image("i", np.zeros((4, 4)))
        with pytest.raises(TypeError, match="add_graph: input 0 must be a tensor, got list"):
            w.add_graph(Net(), [[1.0, 2.0, 3.0]])
        with pytest.raises(TypeError, match="add_figure: figure must be a matplotlib Figure"):
            w.add_figure("f", np.zeros((2, 2)))
    acc = _read(tmp_path)
    assert [(e.step, e.value) for e in acc.Scalars("a")] == [(0, 1.0), (1, 2.5), (2, 3.0)]
    assert acc.Tensors("a")[0].tensor_proto.float_val == [4.0]        # new_style: a tensor summary
    assert acc.Tags()["images"] == [] and acc.Tags()["histograms"] == []   # nothing half-written


def test_an_unwritable_log_directory_is_named(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(OSError, match=r"SummaryWriter: cannot create the log directory '.*file/run'"):
        SummaryWriter(blocker / "run")


def test_without_the_tensorboard_package_the_error_names_the_extra(tmp_path, monkeypatch):
    for name in [m for m in sys.modules if m == "tensorboard" or m.startswith("tensorboard.")]:
        monkeypatch.setitem(sys.modules, name, None)      # as if it were not installed
    with pytest.raises(ImportError, match=r"pip install 'tapegrad\[tensorboard\]'"):
        SummaryWriter(tmp_path)
    assert not os.listdir(tmp_path)


def test_reachable_as_torch_utils_tensorboard():
    torch = ag                                   # `import autograd as torch`
    assert torch.utils.tensorboard.SummaryWriter is SummaryWriter


def test_tensorboard_shows_the_run_in_its_scalars_tab(tmp_path):
    """TensorBoard itself, served on a local port and opened in Chromium: the scalars
    tab lists the run and its tag (bounded waits; the server is stopped after)."""
    from test_viz_browser import find_chromium
    from tools.measure.tensorboard_graph_figure import tensorboard_server
    path = find_chromium(os.environ)
    from playwright.sync_api import sync_playwright
    with SummaryWriter(tmp_path / "tapegrad_run") as w:
        for step in range(10):
            w.add_scalar("loss/train", 1.0 / (step + 1), step)
    with tensorboard_server(tmp_path, timeout=90) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path)
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.goto(f"{url}/#scalars", timeout=60_000)
            page.get_by_text("tapegrad_run").first.wait_for(timeout=60_000)
            page.get_by_text("loss/train").first.wait_for(timeout=60_000)
        finally:
            browser.close()


def test_tools_train_logs_losses_accuracy_lr_and_the_monitor(tmp_path):
    from tools import train
    logs = tmp_path / "tb"
    history = train.run(["--dataset", "spiral", "--out-dir", str(tmp_path / "out"), "--batch-size", "32",
                         "--limit-batches", "6", "--epochs", "2", "--optimizer", "sgd", "--scheduler",
                         "onecycle", "--monitor", "3", "--no-progress", "--tensorboard", str(logs)])
    acc = _read(logs)
    tags = set(acc.Tags()["scalars"])
    assert {"loss/train", "loss/test", "accuracy/train", "accuracy/test", "lr/epoch", "loss/train_batch",
            "lr"} <= tags
    assert [(e.step, e.value) for e in acc.Scalars("accuracy/test")] == \
        [(r["epoch"], pytest.approx(r["test_acc"])) for r in history]
    assert [e.step for e in acc.Scalars("loss/train_batch")] == list(range(12))
    lrs = [e.value for e in acc.Scalars("lr")]
    assert len(set(lrs)) > 3                                  # onecycle moves it every batch
    monitor = {t for t in tags if t.startswith("monitor/")}
    assert any(t.endswith("/act_std") for t in monitor) and any(t.endswith("/grad_norm") for t in monitor)
    steps = {e.step for t in monitor for e in acc.Scalars(t)}
    assert steps == {0, 3, 6, 9}                              # every 3rd of 12 steps
    histograms = acc.Tags()["histograms"]
    assert histograms and all(t.startswith("monitor/") and t.endswith("/activations") for t in histograms)


def test_tools_train_refuses_an_unwritable_tensorboard_folder(tmp_path):
    from tools import train
    (tmp_path / "file").write_text("x")
    with pytest.raises(SystemExit, match=r"cannot write to the --tensorboard log folder .*file/tb"):
        train.run(["--dataset", "spiral", "--out-dir", str(tmp_path / "out"), "--epochs", "1",
                   "--no-progress", "--tensorboard", str(tmp_path / "file" / "tb")])
