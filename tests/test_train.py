"""The training command: metrics/CSV/plot/checkpoint outputs, exact --resume (after an
epoch and after Ctrl-C inside an epoch; what it restores and refuses; its printed
command), option and output-path checks before training, real MNIST with --limit-batches."""
import csv
import shlex
import signal

import numpy as np
import pytest

from autograd.serialization import load
from tools import train



def _weights(path):
    return {k: v.array for k, v in load(path)["model"].items()}


def _assert_same_weights(a, b):
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        np.testing.assert_array_equal(wa[k], wb[k], err_msg=k)


def _spiral(tmp, name, *extra):
    out = tmp / name
    return out, ["--dataset", "spiral", "--out-dir", str(out), "--batch-size", "32",
                 "--limit-batches", "20", "--scheduler", "onecycle", "--optimizer", "sgd", *extra]


def test_spiral_run_writes_metrics_csv_plot_checkpoint(tmp_path, capsys):
    out, argv = _spiral(tmp_path, "a", "--epochs", "3")
    history = train.run(argv)
    assert [r["epoch"] for r in history] == [1, 2, 3]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    rows = list(csv.DictReader(open(out / "metrics.csv")))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert set(train.FIELDS) == set(rows[0])
    assert float(rows[-1]["test_acc"]) == pytest.approx(history[-1]["test_acc"], rel=1e-5)
    assert (out / "metrics.png").stat().st_size > 1000
    ck = load(out / "checkpoint.safetensors")
    assert ck["epoch"] == 3 and ck["args"]["model"] == "mlp" and ck["position"] is None
    text = capsys.readouterr()
    assert "data loading" in text.out and "epoch 3/3" in text.err     # tqdm bar on stderr


def test_resume_after_an_epoch_matches_uninterrupted_run(tmp_path):
    full, argv = _spiral(tmp_path, "full", "--epochs", "3")
    h_full = train.run(argv)
    # Ctrl-C during the last batch of epoch 2: the run stops after that epoch.
    part, argv = _spiral(tmp_path, "part", "--epochs", "3", "--no-progress")
    h_part = train.run(argv, on_batch=lambda e, i: e == 1 and i == 19 and signal.raise_signal(signal.SIGINT))
    assert len(h_part) == 2 and load(part / "checkpoint.safetensors")["position"] is None
    h_resumed = train.run(["--resume", str(part / "checkpoint.safetensors"), "--epochs", "3",
                           "--out-dir", str(part), "--no-progress"])
    _assert_same_weights(full / "checkpoint.safetensors", part / "checkpoint.safetensors")
    assert [r["train_loss"] for r in h_resumed] == [r["train_loss"] for r in h_full]
    assert len(list(csv.DictReader(open(part / "metrics.csv")))) == 3


def test_ctrl_c_mid_epoch_checkpoints_and_resumes_exactly(tmp_path, capsys):
    full, argv = _spiral(tmp_path, "full", "--epochs", "2", "--no-progress", "--augment")
    h_full = train.run(argv)

    def press_ctrl_c(epoch, i):
        if epoch == 1 and i == 6:
            signal.raise_signal(signal.SIGINT)      # goes through the real SIGINT handler

    cut, argv = _spiral(tmp_path, "cut", "--epochs", "2", "--no-progress", "--augment")
    h_cut = train.run(argv, on_batch=press_ctrl_c)
    assert len(h_cut) == 1
    assert "interrupted: checkpoint written" in capsys.readouterr().out
    ck = load(cut / "checkpoint.safetensors")
    assert ck["epoch"] == 1 and ck["position"]["batch"] == 7
    h_res = train.run(["--resume", str(cut / "checkpoint.safetensors"), "--out-dir", str(cut),
                       "--epochs", "2", "--no-progress"])
    _assert_same_weights(full / "checkpoint.safetensors", cut / "checkpoint.safetensors")
    assert h_res[-1]["train_loss"] == h_full[-1]["train_loss"]
    assert h_res[-1]["test_acc"] == h_full[-1]["test_acc"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_export_graph(tmp_path):
    out, argv = _spiral(tmp_path, "g", "--epochs", "1", "--no-progress", "--limit-batches", "2",
                        "--export-graph", str(tmp_path / "step.dot"))
    train.run(argv)
    text = (tmp_path / "step.dot").read_text()
    assert text.startswith("digraph") and "weight" in text


def test_bad_resume_and_missing_data_dir_are_clear_errors(tmp_path):
    bad = tmp_path / "ck.safetensors"
    bad.write_bytes(b"\x00" * 4)
    with pytest.raises(SystemExit, match="cannot resume.*truncated"):
        train.run(["--resume", str(bad), "--out-dir", str(tmp_path)])
    with pytest.raises(SystemExit, match="needs --data-dir"):
        train.run(["--dataset", "mnist", "--model", "mlp", "--out-dir", str(tmp_path)])
    with pytest.raises(SystemExit, match=r"missing file train-images"):
        train.run(["--dataset", "mnist", "--data-dir", str(tmp_path), "--out-dir", str(tmp_path)])


def test_lenet5_on_real_mnist_with_limit_batches(tmp_path, mnist_dir):
    out = tmp_path / "mnist"
    history = train.run(["--model", "lenet5", "--dataset", "mnist", "--data-dir", str(mnist_dir),
                         "--epochs", "1", "--limit-batches", "30", "--limit-eval-batches", "1",
                         "--optimizer", "adam", "--lr", "0.003", "--out-dir", str(out),
                         "--no-progress"])
    assert history[0]["test_acc"] > 0.5          # 30 batches already learn a lot of digits
    ck = load(out / "checkpoint.safetensors")
    assert any(k.endswith("weight") and v.ndim == 4 for k, v in ck["model"].items())


def test_resume_restores_the_eval_options(tmp_path):
    eval_opts = ["--limit-eval-batches", "2", "--eval-batch-size", "16"]
    full, argv = _spiral(tmp_path, "full", "--epochs", "2", "--no-progress", *eval_opts)
    h_full = train.run(argv)
    cut, argv = _spiral(tmp_path, "cut", "--epochs", "2", "--no-progress", *eval_opts)
    train.run(argv, on_batch=lambda e, i: e == 0 and i == 3 and signal.raise_signal(signal.SIGINT))
    ck = load(cut / "checkpoint.safetensors")
    assert ck["args"]["limit_eval_batches"] == 2 and ck["args"]["eval_batch_size"] == 16
    h_res = train.run(["--resume", str(cut / "checkpoint.safetensors"), "--no-progress"])
    assert [r["test_acc"] for r in h_res] == [r["test_acc"] for r in h_full]
    assert [r["test_loss"] for r in h_res] == [r["test_loss"] for r in h_full]
    assert (cut / "metrics.csv").is_file()             # the stored --out-dir is used again


def test_resume_refuses_options_that_change_the_run(tmp_path):
    out, argv = _spiral(tmp_path, "a", "--epochs", "1", "--no-progress", "--limit-batches", "2")
    train.run(argv)
    ck = str(out / "checkpoint.safetensors")
    with pytest.raises(SystemExit, match=r"cannot resume .* with different options: --lr 0.5 \(the "
                                         r"checkpoint's run has 0.05\); --eval-batch-size 7 \(.* has 1000\)"):
        train.run(["--resume", ck, "--lr", "0.5", "--eval-batch-size", "7", "--optimizer", "sgd"])
    with pytest.raises(SystemExit, match=r"--epochs 3 \(the checkpoint's run has 1\).*schedule spans them"):
        train.run(["--resume", ck, "--epochs", "3"])          # onecycle is laid out over the epochs
    # Without an epoch-shaped schedule, --epochs may extend a run.
    out, argv = _spiral(tmp_path, "b", "--epochs", "1", "--no-progress", "--limit-batches", "2",
                        "--scheduler", "none")
    train.run(argv)
    history = train.run(["--resume", str(out / "checkpoint.safetensors"), "--epochs", "2", "--no-progress"])
    assert [r["epoch"] for r in history] == [1, 2]


def test_resume_of_a_plain_nn_save_file_names_the_problem(tmp_path):
    import nn
    path = tmp_path / "weights.safetensors"
    nn.save(nn.Linear(2, 3).state_dict(), path)
    with pytest.raises(SystemExit, match=r"weights.safetensors is a checkpoint file but not one written by "
                                         r"tools.train \(it holds a dict with keys \['bias', 'weight'\]"):
        train.run(["--resume", str(path)])


def test_printed_resume_hint_is_a_working_command(tmp_path, capsys):
    from test_data_files import _write_mnist
    data = tmp_path / "my data"                          # a space: the hint must quote it
    _write_mnist(data, n=40)
    argv = ["--dataset", "mnist", "--data-dir", str(data), "--model", "mlp", "--batch-size", "8",
            "--epochs", "2", "--out-dir", str(tmp_path / "out"), "--no-progress"]
    h_full = train.run(argv[:-3] + ["--out-dir", str(tmp_path / "full"), "--no-progress"])
    train.run(argv, on_batch=lambda e, i: e == 0 and i == 1 and signal.raise_signal(signal.SIGINT))
    line = next(ln for ln in capsys.readouterr().out.splitlines() if "continue with: " in ln)
    command = shlex.split(line.split("continue with: ", 1)[1])
    assert command[:3] == ["python", "-m", "tools.train"] and "--data-dir" in command
    h_res = train.run(command[3:] + ["--no-progress"])
    assert [r["train_loss"] for r in h_res] == [r["train_loss"] for r in h_full]


@pytest.mark.parametrize("flag, value, message", [
    ("--limit-batches", "0", "must be at least 1, got 0"),
    ("--limit-batches", "-3", "must be at least 1, got -3"),
    ("--limit-eval-batches", "0", "must be at least 1, got 0"),
    ("--lr", "nan", "must be a finite number > 0, got nan"),
    ("--lr", "inf", "must be a finite number > 0, got inf"),
    ("--lr", "0", "must be a finite number > 0, got 0"),
    ("--epochs", "-1", "must be at least 1, got -1"),
    ("--epochs", "2.5", "expected an integer, got '2.5'"),
    ("--batch-size", "0", "must be at least 1, got 0"),
    ("--eval-batch-size", "-5", "must be at least 1, got -5"),
    ("--momentum", "1.5", r"must be a finite number >= 0 and < 1, got 1.5"),
    ("--weight-decay", "-1e-4", "must be a finite number >= 0, got -1e-4"),
    ("--seed", "-1", "must be at least 0, got -1"),
    ("--hidden", "0", "must be at least 1, got 0"),
])
def test_bad_options_are_refused_before_training(tmp_path, capsys, flag, value, message):
    with pytest.raises(SystemExit) as exc:
        train.run(["--out-dir", str(tmp_path), f"{flag}={value}"])
    assert exc.value.code == 2
    assert f"argument {flag}: {message}" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_unwritable_outputs_are_refused_before_the_first_epoch(tmp_path):
    (tmp_path / "file").write_text("x")
    batches = []

    def record(epoch, i):
        batches.append(i)

    with pytest.raises(SystemExit, match=r"cannot write to the output folder \(--out-dir\) .*file/out"):
        train.run(["--out-dir", str(tmp_path / "file" / "out"), "--epochs", "1"], on_batch=record)
    with pytest.raises(SystemExit, match=r"cannot write to the checkpoint's folder \(--checkpoint\)"):
        train.run(["--out-dir", str(tmp_path / "o"), "--checkpoint", str(tmp_path / "file" / "ck.st")],
                  on_batch=record)
    with pytest.raises(SystemExit, match=r"--checkpoint .* is a folder"):
        train.run(["--out-dir", str(tmp_path / "o"), "--checkpoint", str(tmp_path)], on_batch=record)
    assert batches == []


def test_resume_a_batchnorm_model(tmp_path, monkeypatch):
    import nn

    def small_bn_net(args):         # ResNet-18's case (0-d num_batches_tracked), at MLP cost
        return nn.Sequential(nn.Linear(2, 16), nn.BatchNorm1d(16), nn.ReLU(), nn.Linear(16, 3))

    monkeypatch.setattr(train, "build_model", small_bn_net)
    out, argv = _spiral(tmp_path, "bn", "--scheduler", "none", "--limit-batches", "3", "--no-progress")
    train.run(argv + ["--epochs", "1"])
    history = train.run(["--resume", str(out / "checkpoint.safetensors"), "--epochs", "2", "--no-progress"])
    assert [r["epoch"] for r in history] == [1, 2]
    ck = load(out / "checkpoint.safetensors")
    assert ck["model"]["1.num_batches_tracked"].shape == () and int(ck["model"]["1.num_batches_tracked"]) == 6



@pytest.mark.parametrize("name, dataset", [("resnet18", "mnist"), ("vit_tiny", "cifar10"), ("vgg11", "cifar10")])
def test_zoo_factories_get_the_data_sets_classes_and_channels(name, dataset):
    """A factory such as resnet18(**kwargs) is given num_classes (and in_channels where its
    class takes them) through the class it builds; it used to keep ImageNet's 1000 classes."""
    import argparse
    import inspect
    import nn
    classes, shape, _, _ = train.DATASETS[dataset]
    model = train.build_model(argparse.Namespace(dataset=dataset, model=name, hidden=8,
                                                 checkpoint_activations=None))
    assert [m for m in model.modules() if isinstance(m, nn.Linear)][-1].out_features == classes
    if "in_channels" in inspect.signature(type(model)).parameters:
        first = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
        assert first.in_channels == shape[0]
