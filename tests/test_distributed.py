"""Data-parallel training on MPI: the process group, DistributedDataParallel, the
DistributedSampler and ``tools.train --distributed``.

Multi-process checks launch ``mpiexec -n 2`` (the mpich wheel's, beside the venv's
python) on tests/distributed_worker.py and assert on the JSON its rank 0 prints.
Without mpi4py/mpiexec they skip, except under CI=true, where they fail.
"""
import ast
import csv
import importlib.util
import json
import os
import re
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

import autograd as ag
import nn
import nn.distributed as dist
from autograd.data import DataLoader, DistributedSampler, TensorDataset
from nn.parallel import DistributedDataParallel

from conftest import missing

ROOT = pathlib.Path(__file__).resolve().parents[1]
WORKER = ROOT / "tests" / "distributed_worker.py"
MPIEXEC = shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec")
HAVE_MPI = importlib.util.find_spec("mpi4py") is not None and MPIEXEC is not None
TIMEOUT = 180     # seconds for one mpiexec launch (a first CNN launch compiles kernels)
# One thread per process: two ranks share the machine's cores.
ENV = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1")


@pytest.fixture
def mpi():
    if not HAVE_MPI:
        missing("mpi4py or mpiexec is not installed: pip install -e '.[distributed]' "
                "(tools/test.sh installs it)", os.environ)


def launch(n, *argv, check=True):
    proc = subprocess.run([MPIEXEC, "-n", str(n), sys.executable, *map(str, argv)], cwd=ROOT, env=ENV,
                          capture_output=True, text=True, timeout=TIMEOUT)
    if check and proc.returncode != 0:
        pytest.fail(f"mpiexec -n {n} {' '.join(map(str, argv))} failed ({proc.returncode}):\n"
                    f"{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def scenario(name, n=2):
    out = launch(n, WORKER, name).stdout
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, out
    return json.loads(lines[0][len("RESULT "):])


# -- the process group ----------------------------------------------------------------
def test_collectives_on_tensors_and_arrays(mpi):
    r = scenario("collectives")
    assert r["world_size"] == 2
    assert r["sum"] == [3.0, 6.0]                        # 1*[1,2] + 2*[1,2]
    assert r["max"] == [[0.0, 4.0], [6.0, 10.0]]         # rank 1's, through a strided view
    assert r["avg"] == [0.5]
    assert r["broadcast"] == [1, 11]                     # from src=1
    assert r["gather"] == [[0, 0], [1, -1]]
    assert r["state_dict_keys"] == ["module.weight", "module.bias"]
    assert r["errors"] == [
        "TypeError: all_reduce: expected a Tensor or a NumPy array, got list",
        "ValueError: broadcast: src=2 is not a rank of this group (0..1)",
        "TypeError: all_reduce: ReduceOp.AVG needs a floating-point tensor, got int64"]
    assert r["initialized_after_destroy"] is False


def test_process_group_errors_before_init():
    assert not dist.is_initialized()
    with pytest.raises(RuntimeError, match="get_rank: the default process group has not been initialized"):
        dist.get_rank()
    with pytest.raises(ValueError, match="only backend is 'mpi', got 'nccl'"):
        dist.init_process_group("nccl")
    assert dist.is_available() == (importlib.util.find_spec("mpi4py") is not None)
    with pytest.raises(RuntimeError, match="has not been initialized"):
        DistributedDataParallel(nn.Linear(2, 2))
    with pytest.raises(TypeError, match="DistributedDataParallel: expected an nn.Module, got Tensor"):
        DistributedDataParallel(ag.zeros(2))


def test_outside_mpiexec_the_message_gives_the_launch_command(mpi, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "tools.train", "--distributed", "--out-dir", str(tmp_path)],
                          cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=TIMEOUT)
    assert proc.returncode == 1
    assert "not started by an MPI launcher" in proc.stderr and "mpiexec -n 2" in proc.stderr


def test_without_mpi4py_the_message_gives_install_and_launch_commands(tmp_path):
    code = ("import sys; sys.modules['mpi4py'] = None\n"      # makes `import mpi4py` fail
            "from tools import train\n"
            f"train.main(['--distributed', '--out-dir', {str(tmp_path)!r}])")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=ENV, capture_output=True,
                          text=True, timeout=TIMEOUT)
    assert proc.returncode == 1
    assert "needs mpi4py" in proc.stderr
    assert "pip install 'tapegrad[distributed]'" in proc.stderr and "mpiexec -n 2" in proc.stderr


def test_mpi_stays_out_of_autograd_and_out_of_imports():
    for path in (ROOT / "autograd").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n.split(".")[0] == "mpi4py" for n in names), path
    code = "import sys, autograd.data, nn.parallel, tools.train; print('mpi4py' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=ENV, capture_output=True, text=True,
                         timeout=TIMEOUT)
    assert out.stdout.strip() == "False", out.stderr


def test_readme_distributed_example_runs_on_two_ranks(mpi, tmp_path):
    from test_readme import MPI_BLOCKS
    assert len(MPI_BLOCKS) == 1
    (tmp_path / "example.py").write_text(MPI_BLOCKS[0])
    out = launch(2, tmp_path / "example.py").stdout
    assert out.count("last loss, mean over 2 ranks:") == 1


def test_an_exception_on_rank_1_ends_both_ranks(mpi):
    proc = launch(2, WORKER, "raise_on_rank_1", check=False)     # rank 0 waits in a barrier
    assert proc.returncode != 0
    assert "[rank 1]" in proc.stderr and "ValueError: planted failure on rank 1" in proc.stderr


# -- DistributedDataParallel ------------------------------------------------------------
def test_two_ranks_with_batch_b_match_one_process_with_batch_2b(mpi):
    r = scenario("equivalence")
    assert set(r) == {"mlp-sgd", "mlp-adamw", "cnn-sgd", "cnn-adamw"}
    for case, e in r.items():
        assert e["ranks_differ"] == 0.0, case            # replicas stay identical
        assert e["moved"] > 0.05, case                   # 20 steps really trained
        assert e["max_abs_diff"] <= 1e-6 * max(1.0, e["scale"]), (case, e)


def test_buckets_average_like_one_allreduce_and_start_during_backward(mpi):
    r = scenario("buckets")
    assert r["buckets"] == 3
    assert r["max_abs_diff"] <= 1e-7 * r["grad_scale"]
    # Every bucket but the one holding the first layer started before backward had
    # computed the first layer's output gradient.
    assert r["events"] == ["allreduce"] * 2 + ["first layer output grad", "allreduce"]


def test_no_sync_accumulates_locally_then_averages(mpi):
    r = scenario("no_sync")
    assert r["calls_in_no_sync"] == 0 and r["calls_after"] == 1
    assert r["ranks_differ_after_no_sync"] > 1e-3        # local gradients only
    assert r["ranks_differ"] == 0.0
    assert r["max_abs_diff"] <= 1e-6


def test_batchnorm_uses_local_batch_statistics_and_rank_0_buffers(mpi):
    r = scenario("batchnorm")
    assert r["output_is_local_batch_norm"] == 0.0
    assert r["running_differ_after_train_forward"] > 1e-3    # each rank updates from its batch
    assert r["running_vs_rank0_after_eval_forward"] == 0.0   # the next forward takes rank 0's
    assert r["ranks_grads_differ"] == 0.0
    assert r["grads_vs_mean_of_local"] <= 1e-6


def test_model_mismatch_and_unused_parameter_are_clear_errors(mpi):
    r = scenario("errors")
    assert "differ across ranks" in r["mismatch"] and "(8, 4)" in r["mismatch"] and "(9, 4)" in r["mismatch"]
    assert "body.unused.weight" in r["unused"] and "find_unused_parameters" in r["unused"]


# -- DistributedSampler ---------------------------------------------------------------
@pytest.mark.parametrize("n,replicas,drop_last", [(10, 3, False), (10, 3, True), (9, 3, False), (2, 3, False)])
def test_sampler_shards_and_pads_like_pytorch(n, replicas, drop_last):
    import torch.utils.data as torch_data
    for rank in range(replicas):
        ours = DistributedSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last)
        theirs = torch_data.DistributedSampler(range(n), replicas, rank, shuffle=False, drop_last=drop_last)
        assert list(ours) == list(theirs) and len(ours) == len(theirs)


def test_sampler_shuffles_per_epoch_and_shards_cover_the_data():
    shards = [DistributedSampler(range(12), 3, r, seed=5) for r in range(3)]
    first = [list(s) for s in shards]
    assert sorted(sum(first, [])) == list(range(12))
    assert first != [list(range(r, 12, 3)) for r in range(3)]
    for s in shards:
        s.set_epoch(1)
    second = [list(s) for s in shards]
    assert second != first and sorted(sum(second, [])) == list(range(12))
    assert [list(DistributedSampler(range(12), 3, r, seed=5)) for r in range(3)] == first
    x = np.arange(12.0)[:, None]
    batches = [b[0].array.ravel().tolist() for b in DataLoader(TensorDataset(x), batch_size=2, sampler=shards[1])]
    assert sum(batches, []) == [float(i) for i in second[1]]


def test_sampler_bad_arguments():
    with pytest.raises(TypeError, match="pass num_replicas= and rank="):
        DistributedSampler(range(4))
    with pytest.raises(ValueError, match=r"invalid rank 2, rank should be in the interval \[0, 1\]"):
        DistributedSampler(range(4), 2, 2)
    with pytest.raises(ValueError, match="num_replicas must be a positive integer, got 0"):
        DistributedSampler(range(4), 0, 0)


# -- tools.train --distributed ---------------------------------------------------------
TRAIN = ("-m", "tools.train", "--distributed")


def _options(out, *extra):
    return ["--dataset", "spiral", "--batch-size", "32", "--limit-batches", "10", "--optimizer", "sgd",
            "--no-progress", "--out-dir", str(out), *extra]


def _metrics(out, columns=("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr")):
    return [[row[c] for c in columns] for row in csv.DictReader(open(out / "metrics.csv"))]


def _weights(path):
    from autograd.serialization import load
    return {k: v.array for k, v in load(path)["model"].items()}


def test_distributed_run_prints_once_and_resumes_exactly_after_ctrl_c_on_one_rank(mpi, tmp_path):
    full, part = tmp_path / "full", tmp_path / "part"
    proc = launch(2, *TRAIN, *_options(full, "--epochs", "2"))
    assert proc.stdout.count("epoch 1: train loss") == 1          # rank 0 only
    assert "10 batches of 32" in proc.stdout
    # Ctrl-C reaches rank 1 only, during batch 4 of epoch 1: both ranks stop after it.
    interrupt = ("import signal, sys\n"
                 "import nn.distributed as dist\n"
                 "from tools import train\n"
                 "def on_batch(epoch, i):\n"
                 "    if dist.get_rank() == 1 and (epoch, i) == (0, 4):\n"
                 "        signal.raise_signal(signal.SIGINT)\n"
                 "train.run(sys.argv[1:], on_batch=on_batch)\n")
    proc = launch(2, "-c", interrupt, "--distributed", *_options(part, "--epochs", "2"))
    assert "interrupted: checkpoint written" in proc.stdout and "(epoch 1, batch 5)" in proc.stdout
    launch(2, *TRAIN, *_options(part, "--epochs", "2", "--resume", part / "checkpoint.safetensors"))
    assert _metrics(part) == _metrics(full)
    a, b = _weights(full / "checkpoint.safetensors"), _weights(part / "checkpoint.safetensors")
    assert a.keys() == b.keys() and not any(k.startswith("module.") for k in a)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def test_world_size_one_is_the_single_process_run(mpi, tmp_path):
    from tools import train
    launch(1, *TRAIN, *_options(tmp_path / "mpi", "--epochs", "2"))
    train.run(_options(tmp_path / "single", "--epochs", "2"))          # without --distributed
    assert _metrics(tmp_path / "mpi") == _metrics(tmp_path / "single")


def test_an_error_exit_on_the_ranks_ends_the_run_with_its_message(mpi, tmp_path):
    proc = launch(2, *TRAIN, *_options(tmp_path, "--batch-size", "33"), check=False)
    assert proc.returncode != 0
    # Both ranks find the error alike and each exits with it (no abort to race the output).
    for rank in (0, 1):
        assert re.search(rf"\[rank {rank}\] error: --batch-size 33 \(the global batch\) must "
                         r"divide by the 2 ranks", proc.stderr), proc.stderr
