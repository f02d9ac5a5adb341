"""Overhead of nn.Monitor on the reference training steps W2 (MLP 784-256-256-10,
batch 128) and W3 (LeNet-5, batch 64) of the shared benchmark (``../shared/bench``:
its models, data and SGD settings), with no monitor, with a monitor attached between
recordings, and with one recording every step.

    python -m tools.measure.bench_monitor [--bench-dir ../shared/bench] [--rounds 5] [--steps 20]

Configurations alternate within each round; a figure is the median over rounds of
the mean step time (2 threads, as the shared benchmark runs).  ``--clock cpu`` times
the process's CPU time instead of wall time: on a machine shared with other jobs it
does not count the time spent waiting for a core.
"""
import argparse
import os
import statistics
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "2")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = (("no monitor", None), ("monitor, not recording", 10 ** 9), ("monitor, recording every step", 1))


def _workloads(bench_dir):
    sys.path.insert(0, bench_dir)
    os.environ.setdefault("OURS_PATH", ROOT)
    import fw_ours
    import workloads as WL
    return {"W2": (fw_ours.make_mlp, (WL.W2_BATCH, WL.W2_DIMS[0]), WL.W2_LR),
            "W3": (fw_ours.make_lenet, (WL.W3_BATCH, 1, 28, 28), WL.W3_LR)}, WL


def _time_steps(build, shape, lr, WL, every, steps, clock):
    import autograd as ag
    import nn
    import nn.functional as F
    import optim
    ag.manual_seed(0)
    xn, yn = WL.classification_batch(shape)
    x, y = ag.tensor(xn), ag.tensor(yn)
    model = build()
    opt = optim.SGD(model.parameters(), lr=lr)
    monitor = nn.Monitor(model, every=every) if every else None

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        if monitor is not None:
            monitor.step()

    for _ in range(2):          # warm-up; with every=10**9 this also passes recording step 0
        step()
    t0 = clock()
    for _ in range(steps):
        step()
    return (clock() - t0) / steps


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--bench-dir", default=os.path.join(os.path.dirname(ROOT), "shared", "bench"))
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--steps", type=int, default=20, help="timed steps per configuration and round")
    p.add_argument("--clock", choices=["wall", "cpu"], default="wall")
    args = p.parse_args(argv)
    if not os.path.isfile(os.path.join(args.bench_dir, "fw_ours.py")):
        raise SystemExit(f"error: no fw_ours.py in {args.bench_dir}; pass --bench-dir")
    workloads, WL = _workloads(args.bench_dir)
    clock = time.perf_counter if args.clock == "wall" else time.process_time
    print(f"{args.clock} time per training step, median of {args.rounds} rounds of {args.steps} steps")
    print("| workload | " + " | ".join(name for name, _ in CONFIGS) + " |")
    print("|---|" + "---|" * len(CONFIGS))
    for wname, (build, shape, lr) in workloads.items():
        times = {name: [] for name, _ in CONFIGS}
        for _ in range(args.rounds):
            for name, every in CONFIGS:
                times[name].append(_time_steps(build, shape, lr, WL, every, args.steps, clock))
        med = {name: statistics.median(t) for name, t in times.items()}
        base = med[CONFIGS[0][0]]
        cells = [f"{1e3 * base:.2f} ms"] + [f"{1e3 * med[name]:.2f} ms ({100 * (med[name] / base - 1):+.1f}%)"
                                           for name, _ in CONFIGS[1:]]
        print(f"| {wname} | " + " | ".join(cells) + " |", flush=True)
    print(f"monitor.step() between recordings: {1e6 * _idle_step_cost(workloads['W2'][0]):.2f} us per call")
    return 0


def _idle_step_cost(build, calls=100_000):
    """What a step that is not recorded costs the monitor: its step() call alone."""
    import nn
    monitor = nn.Monitor(build(), every=10 ** 9)
    monitor.step()              # past recording step 0
    t0 = time.perf_counter()
    for _ in range(calls):
        monitor.step()
    return (time.perf_counter() - t0) / calls


if __name__ == "__main__":
    sys.exit(main())
