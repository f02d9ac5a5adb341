"""Thread-pool benchmarks: one workload three ways, and the serial/parallel grain sweep.

    python -m tools.measure.bench_threads W3 W5 W6_fwdbwd LN     # the three-way table
    python -m tools.measure.bench_threads --grain                 # where parallel kernels start to pay

Three ways, each in a fresh process at ``--threads`` threads (default 2), tapegrad and
PyTorch alternating:
  numpy-first    NumPy imported before the project, as scripts and notebooks do;
  project-first  the project imported first;
  busy           NumPy first, with another process spinning on one core the whole time.
PyTorch has no import-order question, so its row gives the plain and the busy time.

``W*`` are the reference workloads of ``../shared/bench`` (``--bench-dir``); ``LN`` is a
128x32 layer norm forward, the small kernel that stalled on a busy machine.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_BENCH = os.path.join(os.path.dirname(ROOT), "shared", "bench")

# Runs in the child: build the step, time it, print one JSON line.
CHILD = r"""
import json, os, sys, time, statistics
fw, workload, first, bench, root, iters = sys.argv[1:7]
if first == "project":
    sys.path.insert(0, root); import autograd
import numpy as np
sys.path.insert(0, bench); sys.path.insert(0, root)
if workload == "LN":
    x = np.random.default_rng(0).standard_normal((128, 32)).astype(np.float32)
    if fw == "torch":
        import torch; torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))
        t = torch.from_numpy(x); step = lambda: torch.nn.functional.layer_norm(t, (32,))
    else:
        import autograd, nn.functional as F
        t = autograd.tensor(x); step = lambda: F.layer_norm(t, (32,))
else:
    import importlib; step = getattr(importlib.import_module("fw_" + fw), workload)()
for _ in range(3):
    step()
ts = []
budget = time.perf_counter() + 20
for _ in range(int(iters)):
    t0 = time.perf_counter(); step(); ts.append(time.perf_counter() - t0)
    if time.perf_counter() > budget:
        break
print(json.dumps({"ms": statistics.median(ts) * 1e3}))
"""


def _spinner():
    """A process that keeps one core busy (pinned to the last core where possible)."""
    code = ("import os\ntry: os.sched_setaffinity(0, {max(os.sched_getaffinity(0))})\n"
            "except AttributeError: pass\nwhile True: pass\n")
    return subprocess.Popen([sys.executable, "-c", code])


def _once(fw, workload, first, args):
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(args.threads)
    env.pop("OPENBLAS_THREAD_TIMEOUT", None)         # measure what a user gets
    out = subprocess.run([sys.executable, "-c", CHILD, fw, workload, first, args.bench_dir, ROOT,
                          str(args.iters)], capture_output=True, text=True, env=env, timeout=900)
    for line in reversed(out.stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)["ms"]
    raise RuntimeError(f"{fw} {workload} ({first}) failed: "
                       f"{(out.stderr or 'no output').strip().splitlines()[-1]}")


def three_ways(args):
    cells = [("ours", "numpy"), ("ours", "project"), ("torch", "numpy")]
    best = {}
    for _ in range(args.rounds):
        for w in args.workloads:
            for busy in (False, True):
                spinner = _spinner() if busy else None
                try:
                    time.sleep(0.2 if busy else 0)
                    for fw, first in cells:
                        if busy and first == "project":
                            continue
                        t = _once(fw, w, first, args)
                        key = (w, fw, first, busy)
                        best[key] = min(best.get(key, t), t)
                finally:
                    if spinner is not None:
                        spinner.kill()
                        spinner.wait()
    print(f"{args.threads} threads; best median of {args.rounds} rounds, ms")
    print(f"{'workload':<10} {'numpy-first':>12} {'project-first':>14} {'busy':>9} {'busy/quiet':>10}"
          f" | {'torch':>9} {'torch busy':>10} {'busy/quiet':>10} | {'ours/torch':>10}")
    for w in args.workloads:
        o, p, ob = (best[w, "ours", f, b] for f, b in (("numpy", False), ("project", False), ("numpy", True)))
        t, tb = best[w, "torch", "numpy", False], best[w, "torch", "numpy", True]
        print(f"{w:<10} {o:>12.3f} {p:>14.3f} {ob:>9.3f} {ob / o:>10.2f} | {t:>9.3f} {tb:>10.3f}"
              f" {tb / t:>10.2f} | {o / t:>10.2f}")


def grain(args):
    """Serial against parallel twin of two kernels over sizes: where threads start to pay."""
    sys.path.insert(0, ROOT)
    import numpy as np
    import autograd
    from autograd.kernels import pool, rowwise, threads
    autograd.set_num_threads(args.threads)

    def t(fn, *a):
        fn(*a)
        ts = []
        for _ in range(args.iters * 20):
            t0 = time.perf_counter()
            fn(*a)
            ts.append(time.perf_counter() - t0)
        return statistics.median(ts) * 1e6

    print(f"median us at {args.threads} threads ({threads.THREADING_LAYER}); "
          f"PARALLEL_MIN_WORK = {threads.PARALLEL_MIN_WORK}")
    print(f"{'elements':>9} {'layer_norm ser':>15} {'par':>8} {'max_pool ser':>13} {'par':>8}")
    rng = np.random.default_rng(0)
    for n in (1024, 4096, 8192, 16384, 32768, 65536, 262144):
        x = rng.standard_normal((n // 64, 64)).astype(np.float32)
        w, b = np.ones(64, np.float32), np.zeros(64, np.float32)
        k = rowwise.layer_norm_numba
        planes = rng.standard_normal((n // 64, 8, 8)).astype(np.float32)
        idx = np.arange(4, dtype=np.int64) * 2
        cnt = np.full(4, 2, np.int64)
        mp = pool.max_pool_numba
        row = [t(k.serial, x, w, b, 1e-5), t(k.parallel, x, w, b, 1e-5),
               t(mp.serial, planes, idx, cnt, 1, idx, cnt, 1),
               t(mp.parallel, planes, idx, cnt, 1, idx, cnt, 1)]
        print(f"{n:>9} {row[0]:>15.1f} {row[1]:>8.1f} {row[2]:>13.1f} {row[3]:>8.1f}", flush=True)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("workloads", nargs="*", default=["W3", "W5", "W6_fwdbwd", "LN"])
    ap.add_argument("--grain", action="store_true", help="serial/parallel sweep instead")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--iters", type=int, default=10)
    ap.add_argument("--bench-dir", default=DEFAULT_BENCH, help="folder of the reference workloads")
    args = ap.parse_args(argv)
    if args.grain:
        return grain(args)
    if any(w != "LN" for w in args.workloads) and not os.path.isdir(args.bench_dir):
        ap.error(f"no reference workloads at {args.bench_dir}; pass --bench-dir or use LN only")
    return three_ways(args)


if __name__ == "__main__":
    main()
