"""The training command: metrics/CSV/plot/checkpoint outputs, exact --resume (after an
epoch and after Ctrl-C inside an epoch), real MNIST with --limit-batches."""
import csv
import signal

import numpy as np
import pytest

from nn.serialization import load
from tools import train



def _weights(path):
    return {k: v.data for k, v in load(path)["model"].items()}


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
