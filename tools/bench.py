"""Benchmarks: each workload on tapegrad and, when PyTorch is importable, on PyTorch
CPU with the same thread count; prints medians and the ratio (ours / torch).

    python -m tools.bench                    # all workloads, threads = all cores
    python -m tools.bench --threads 1 --only mlp

A workload is ``name -> (setup, ours, torch[, info])``: ``state = setup()`` builds
inputs for both sides, ``ours(state)`` / ``torch(state)`` run one iteration (torch
may be None), and the optional ``info`` dict can give ``per`` (divide the time by
this count) with ``unit`` (e.g. ``"us/op"``), or ``flops`` (per iteration, to print
GFLOP/s).  Other modules contribute workloads through ``workloads()`` functions
(tools/measure/bench_kernels.py, tools/measure/bench_nn.py, tools/measure/bench_train.py,
tools/measure/bench_models.py).
"""
import argparse
import importlib
import os
import statistics
import sys
import time


def _parse():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for BLAS, Numba and torch")
    p.add_argument("--only", nargs="*", default=None, help="run workloads whose name contains any of these")
    p.add_argument("--repeat", type=int, default=7, help="timed repetitions (median is reported)")
    p.add_argument("--min-time", type=float, default=0.2, help="seconds per repetition at least")
    return p.parse_args()


def _set_threads(n):
    # Sizes the pools before NumPy/Numba/torch start them (autograd.set_num_threads could
    # only shrink Numba's pool later).
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ[var] = str(n)


def _time(fn, state, repeat, min_time, clock=time.perf_counter):
    fn(state)                                     # warm-up (and JIT compilation)
    t0 = clock()
    fn(state)
    once = max(clock() - t0, 1e-6)
    inner = max(1, int(min_time / once))
    samples = []
    for _ in range(repeat):
        t0 = clock()
        for _ in range(inner):
            fn(state)
        samples.append((clock() - t0) / inner)
    return statistics.median(samples)


# -- core workloads (issue 3) -------------------------------------------------------
CHAIN_OPS = 200


def _chain_setup():
    import numpy as np
    import autograd as ag
    x = np.random.default_rng(0).standard_normal(16).astype(np.float32)
    state = {"ours": ag.tensor(x, requires_grad=True)}
    torch = _torch()
    if torch is not None:
        state["torch"] = torch.tensor(x, requires_grad=True)
    return state


def _chain(x):
    y = x
    for i in range(CHAIN_OPS // 5):             # five ops per iteration
        y = ((y * 0.9 + 0.1).tanh() - 0.05).sin()
    return y


def _chain_ours(state):
    x = state["ours"]
    x.grad = None
    _chain(x).sum().backward()


def _chain_torch(state):
    x = state["torch"]
    x.grad = None
    _chain(x).sum().backward()


MLP_SIZES, BATCH = (784, 256, 256, 10), 128


def _mlp_setup():
    import numpy as np
    import autograd as ag
    rng = np.random.default_rng(0)
    params = []
    for fan_in, fan_out in zip(MLP_SIZES[:-1], MLP_SIZES[1:]):
        bound = 1 / np.sqrt(fan_in)
        params.append(rng.uniform(-bound, bound, (fan_in, fan_out)).astype(np.float32))
        params.append(rng.uniform(-bound, bound, fan_out).astype(np.float32))
    x = rng.standard_normal((BATCH, MLP_SIZES[0])).astype(np.float32)
    onehot = np.eye(MLP_SIZES[-1], dtype=np.float32)[rng.integers(0, 10, BATCH)]
    state = {"ours": ([ag.tensor(p, requires_grad=True) for p in params], ag.tensor(x), ag.tensor(onehot))}
    torch = _torch()
    if torch is not None:
        state["torch"] = ([torch.tensor(p, requires_grad=True) for p in params], torch.tensor(x),
                          torch.tensor(onehot))
    return state


def _mlp_step(params, x, onehot, no_grad):
    h = x
    for i in range(0, len(params), 2):
        h = h @ params[i] + params[i + 1]
        if i + 2 < len(params):
            h = h.relu()
    loss = -(h.log_softmax(dim=1) * onehot).sum() / x.shape[0]
    loss.backward()
    with no_grad():
        for p in params:
            p -= 0.01 * p.grad
            p.grad = None


def _mlp_ours(state):
    import autograd as ag
    _mlp_step(*state["ours"], ag.no_grad)


def _mlp_torch(state):
    torch = _torch()
    _mlp_step(*state["torch"], torch.no_grad)


def _mlp_flops():
    pairs = list(zip(MLP_SIZES[:-1], MLP_SIZES[1:]))
    return 3 * sum(2 * BATCH * a * b for a, b in pairs)    # forward + two backward matmuls


def core_workloads():
    return {
        f"op overhead: chain of {CHAIN_OPS} elementwise ops on 16 floats, fwd+bwd":
            (_chain_setup, _chain_ours, _chain_torch, {"per": CHAIN_OPS, "unit": "us/op"}),
        "MLP 784-256-256-10 train step, batch 128 (raw tensors, SGD)":
            (_mlp_setup, _mlp_ours, _mlp_torch, {"flops": _mlp_flops()}),
    }


# -- linear algebra (issue 28): fwd+bwd of one op on a batch, float64 -------------------
def _linalg_inputs(kind, shape):
    import numpy as np
    rng = np.random.default_rng(0)
    a = rng.standard_normal(shape)
    if kind in ("spd", "sym"):
        a = a @ np.swapaxes(a, -1, -2) / shape[-1] + (np.eye(shape[-1]) if kind == "spd" else 0)
    elif kind == "square":
        a = a + shape[-1] ** 0.5 * np.eye(shape[-1])
    return a


def _linalg_workload(fn, kind, shape, rhs=None):
    """fn(lib, A[, B]) -> outputs, differentiated through sum(out * W) (W fixed)."""
    def setup():
        import numpy as np
        import autograd as ag
        arrays = [_linalg_inputs(kind, shape)] + ([] if rhs is None else [_linalg_inputs("plain", rhs)])
        outs = fn(ag, *[ag.tensor(a) for a in arrays])
        weights = [np.random.default_rng(1).standard_normal(np.shape(o)) for o in outs]
        state = {"ours": ([ag.tensor(a, requires_grad=True) for a in arrays],
                          [ag.tensor(w) for w in weights], ag)}
        torch = _torch()
        if torch is not None:
            state["torch"] = ([torch.tensor(a, requires_grad=True) for a in arrays],
                              [torch.tensor(w) for w in weights], torch)
        return state

    def run(side):
        def step(state):
            xs, ws, lib = state[side]
            for x in xs:
                x.grad = None
            sum((o * w).sum() for o, w in zip(fn(lib, *xs), ws)).backward()
        return step
    return setup, run("ours"), run("torch")


def _gauge_eigh(lib, a):
    w, v = lib.linalg.eigh(a)
    return w, v * v


def _gauge_svd(lib, a):
    u, s, vh = lib.linalg.svd(a, full_matrices=False)
    return s, u * u, vh * vh


def linalg_workloads():
    """solve, cholesky, eigh and svd on 64 matrices of 64x64, and one 512x512 solve;
    eigh and svd through gauge-invariant losses (values and squared vectors)."""
    batch = (64, 64, 64)
    return {
        "linalg.solve 64 x (64x64) \\ (64x64), fwd+bwd":
            _linalg_workload(lambda lib, a, b: (lib.linalg.solve(a, b),), "square", batch, batch),
        "linalg.cholesky 64 x (64x64), fwd+bwd":
            _linalg_workload(lambda lib, a: (lib.linalg.cholesky(a),), "spd", batch),
        "linalg.eigh 64 x (64x64), fwd+bwd":
            _linalg_workload(_gauge_eigh, "sym", batch),
        "linalg.svd 64 x (64x64), fwd+bwd":
            _linalg_workload(_gauge_svd, "plain", batch),
        "linalg.solve (512x512) \\ (512x512), fwd+bwd":
            _linalg_workload(lambda lib, a, b: (lib.linalg.solve(a, b),), "square", (512, 512), (512, 512)),
    }


_TORCH = False


def _torch():
    global _TORCH
    if _TORCH is False:
        try:
            import torch
            torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", os.cpu_count())))
            _TORCH = torch
        except ImportError:
            _TORCH = None
    return _TORCH


def all_workloads():
    found = dict(core_workloads())
    found.update(linalg_workloads())
    for mod in ("tools.measure.bench_kernels", "tools.measure.bench_nn", "tools.measure.bench_train",
                "tools.measure.bench_functional", "tools.measure.bench_func",
                "tools.measure.bench_models", "tools.measure.bench_losses",
                "tools.measure.bench_linalg", "tools.measure.bench_reductions",
                "tools.measure.bench_spatial"):
        try:
            module = importlib.import_module(mod)
        except ModuleNotFoundError as e:
            if e.name != mod:
                raise
            continue
        found.update(module.workloads())
    return found


def _fmt(seconds, info):
    if "per" in info:
        return f"{seconds / info['per'] * 1e6:9.2f} {info.get('unit', 'us/item')}"
    return f"{seconds * 1e3:9.2f} ms"


def main():
    args = _parse()
    _set_threads(args.threads)
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    torch = _torch()
    print(f"threads: {args.threads} (of {os.cpu_count()} cores); "
          f"PyTorch: {torch.__version__ if torch else 'not installed (pip install torch==2.13.0)'}")
    for name, spec in all_workloads().items():
        if args.only and not any(k.lower() in name.lower() for k in args.only):
            continue
        setup, ours, theirs = spec[:3]
        info = spec[3] if len(spec) > 3 else {}
        state = setup()
        t_ours = _time(ours, state, args.repeat, args.min_time)
        line = f"{name}\n    tapegrad {_fmt(t_ours, info)}"
        if "flops" in info:
            line += f" ({info['flops'] / t_ours / 1e9:6.1f} GFLOP/s)"
        if torch is not None and theirs is not None:
            t_torch = _time(theirs, state, args.repeat, args.min_time)
            line += f" | torch {_fmt(t_torch, info)} | ratio {t_ours / t_torch:5.2f}x"
        print(line, flush=True)


if __name__ == "__main__":
    main()
