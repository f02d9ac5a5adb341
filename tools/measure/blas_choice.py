"""Would another BLAS pay for small dense steps?  float32 GEMMs of the shapes the MLP step
(W2), a ViT-tiny layer and an LSTM step run, timed on NumPy's OpenBLAS, on BLIS (the
``blis`` package, cython-blis) and on MKL (the ``mkl`` wheel's libmkl_rt, through
ctypes' cblas_sgemm), each with the same thread count (issue 32).

    python -m tools.measure.blas_choice --threads 2
    python -m tools.measure.blas_choice --threads 1 --clock cpu
    python -m tools.measure.blas_choice --mkl /path/to/libmkl_rt.so.3

Each library runs in its own fresh processes, one after another.  A library that is
not installed is left out.  Figures are microseconds a call, the best over the rounds
of the best of ``--repeat`` medians (the machine is shared); only ratios within one
run mean anything.  PyTorch's matmul (its own MKL) is shown for reference when importable.
"""
import argparse
import ctypes
import glob
import json
import os
import statistics
import subprocess
import sys
import time

# (what, M, K, N, transpose A, transpose B): C (M, N) = op(A) op(B)
SHAPES = [
    ("W2 fwd 128x784 @ 784x256", 128, 784, 256, False, True),
    ("W2 fwd 128x256 @ 256x256", 128, 256, 256, False, True),
    ("W2 fwd 128x256 @ 256x10", 128, 256, 10, False, True),
    ("W2 dx 128x256 @ 256x784", 128, 256, 784, False, False),
    ("W2 dW 256x128 @ 128x784", 256, 128, 784, True, False),
    ("W2 dW 256x128 @ 128x256", 256, 128, 256, True, False),
    ("ViT qkv 2080x128 @ 128x384", 2080, 128, 384, False, True),
    ("ViT fc1 2080x128 @ 128x512", 2080, 128, 512, False, True),
    ("ViT fc2 2080x512 @ 512x128", 2080, 512, 128, False, True),
    ("ViT dW 512x2080 @ 2080x128", 512, 2080, 128, True, False),
    ("LSTM step 32x256 @ 256x1024", 32, 256, 1024, False, False),
    ("LSTM dh 32x1024 @ 1024x256", 32, 1024, 256, False, False),
]


def _operands(np, m, k, n, ta, tb):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(np.float32)
    return a, b, np.empty((m, n), np.float32)


def _time(fn, repeat, clock):
    fn()
    t0 = clock()
    fn()
    inner = max(1, int(0.05 / max(clock() - t0, 1e-7)))
    medians = []
    for _ in range(repeat):
        samples = []
        for _ in range(5):
            t0 = clock()
            for _ in range(inner):
                fn()
            samples.append((clock() - t0) / inner)
        medians.append(statistics.median(samples))
    return min(medians) * 1e6


def _numpy_gemm(np):
    def gemm(a, b, c, ta, tb):
        return lambda: np.matmul(a.T if ta else a, b.T if tb else b, out=c)
    return gemm


def _blis_gemm():
    try:
        from blis.py import gemm as blis_gemm
    except ImportError:
        return None

    def gemm(a, b, c, ta, tb):
        return lambda: blis_gemm(a, b, out=c, trans1=ta, trans2=tb)
    return gemm


def _mkl_gemm(path, threads):
    if path is None:
        found = glob.glob(os.path.join(sys.prefix, "lib", "libmkl_rt.so*"))
        path = found[0] if found else None
    if path is None:
        return None
    lib = ctypes.CDLL(path)
    lib.MKL_Set_Num_Threads(ctypes.c_int(threads))
    sgemm = lib.cblas_sgemm
    sgemm.restype = None
    row_major, no, yes = 101, 111, 112

    def gemm(a, b, c, ta, tb):
        m, n = c.shape
        k = a.shape[0] if ta else a.shape[1]
        args = (row_major, yes if ta else no, yes if tb else no, m, n, k, ctypes.c_float(1.0),
                a.ctypes.data_as(ctypes.c_void_p), a.shape[1], b.ctypes.data_as(ctypes.c_void_p),
                b.shape[1], ctypes.c_float(0.0), c.ctypes.data_as(ctypes.c_void_p), n)
        return lambda: sgemm(*args)
    return gemm


def _torch_gemm(threads):
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(threads)

    def gemm(a, b, c, ta, tb):
        ta_, tb_, tc_ = torch.from_numpy(a), torch.from_numpy(b), torch.from_numpy(c)
        return lambda: torch.matmul(ta_.T if ta else ta_, tb_.T if tb else tb_, out=tc_)
    return gemm


LIBS = {"OpenBLAS (NumPy)": lambda np, args: _numpy_gemm(np),
        "BLIS": lambda np, args: _blis_gemm(),
        "MKL (mkl wheel)": lambda np, args: _mkl_gemm(args.mkl, args.threads),
        "torch.matmul": lambda np, args: _torch_gemm(args.threads)}


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def _child(args):
    """Time every shape on one library, in this process alone (two libraries' thread
    pools in one process spin against each other); prints one JSON line (null: absent)."""
    import numpy as np
    gemm = LIBS[args.child](np, args)
    if gemm is None:
        print("null")
        return
    times = []
    for _, m, k, n, ta, tb in SHAPES:
        a, b, c = _operands(np, m, k, n, ta, tb)
        times.append(_time(gemm(a, b, c, ta, tb), args.repeat, CLOCKS[args.clock]))
    print(json.dumps(times))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--rounds", type=int, default=3, help="fresh processes per library")
    p.add_argument("--mkl", default=None, help="path of libmkl_rt (default: <prefix>/lib)")
    p.add_argument("--clock", choices=CLOCKS, default="wall",
                   help="cpu: the process's CPU time (all its threads), steadier on a busy machine")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        return _child(args)
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "BLIS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        env[var] = str(args.threads)
    best = {}
    for _ in range(args.rounds):
        for name in LIBS:
            cmd = [sys.executable, "-m", "tools.measure.blas_choice", "--child", name,
                   "--threads", str(args.threads), "--repeat", str(args.repeat),
                   "--clock", args.clock]
            out = subprocess.run(cmd + (["--mkl", args.mkl] if args.mkl else []), env=env,
                                 capture_output=True, text=True, check=True)
            times = json.loads(out.stdout.strip().splitlines()[-1])
            if times is not None:
                best[name] = [min(t) for t in zip(best.get(name, times), times)]
    print(f"threads: {args.threads}; {args.clock}-clock microseconds a call (best over "
          f"{args.rounds} fresh processes); ratio to OpenBLAS in brackets")
    print(f"{'shape':<30}" + "".join(f"{name:>22}" for name in best))
    base = best["OpenBLAS (NumPy)"]
    for k, (what, *_) in enumerate(SHAPES):
        print(f"{what:<30}" + "".join(f"{t[k]:>13.1f} ({t[k] / base[k]:4.2f}x)"
                                      for t in best.values()))
    print(f"{'sum':<30}" + "".join(f"{sum(t):>13.1f} ({sum(t) / sum(base):4.2f}x)"
                                   for t in best.values()))


if __name__ == "__main__":
    main()
