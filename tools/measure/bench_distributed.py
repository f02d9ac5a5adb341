"""Data-parallel step times and allreduce costs, for the README's table.

    mpiexec -n 1 python -m tools.measure.bench_distributed           # 1 process (its threads as set)
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 \\
        mpiexec -n 2 python -m tools.measure.bench_distributed       # 2 processes x 1 thread

For each workload (an MLP 784-256-256-10 step at a global batch of 128, a ResNet-18
CIFAR step at a global batch of 16) it times, per step, the median and the best of
``--steps`` (on a shared machine the best is the nearer to a quiet machine's time):
the data-parallel step (each rank takes batch/K); the same per-rank step without
communication, up to the end of the slower rank's (a barrier: on a shared machine
the ranks drift apart); one blocking allreduce of all the gradients (the bytes DDP sends);
and the wait for the allreduces once the last gradient is ready
(``ddp.reducer.wait_seconds``: the part not hidden behind backward, plus any lag
of the other rank).  hidden = 1 - best wait / best allreduce.  Then it measures the
allreduce bandwidth on 1, 8 and 45 MB (ResNet-18's gradients are 44.7 MB).
"""
import argparse
import statistics
import time

import numpy as np

import autograd as ag
import nn
import nn.distributed as dist
import nn.functional as F
import optim
from nn.parallel import DistributedDataParallel


def workloads(names):
    from nn.models import resnet18
    table = {"mlp": (lambda: nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 256),
                                           nn.ReLU(), nn.Linear(256, 10)), (1, 28, 28), 128),
             "resnet18": (lambda: resnet18(num_classes=10, cifar_stem=True), (3, 32, 32), 16)}
    return {n: table[n] for n in names}


def timed(fn, steps):
    fn()                                           # warm-up (and kernel compilation)
    times = []
    for _ in range(steps):
        dist.barrier()
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), min(times)


def bench_workload(ctor, shape, batch, steps):
    k, rank = dist.get_world_size(), dist.get_rank()
    ag.manual_seed(0)
    rng = np.random.default_rng(rank)
    x = ag.tensor(rng.standard_normal((batch // k,) + shape).astype(np.float32))
    y = ag.tensor(rng.integers(0, 10, batch // k))
    model = ctor()
    ddp = DistributedDataParallel(model)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step(net):
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()

    def local_step():          # ends when the slower rank ends, as a synced step must
        step(model)
        dist.barrier()
    t_local = timed(local_step, steps)
    if k == 1:                                     # DDP sends nothing with one rank
        return {"ddp": t_local, "local": t_local, "allreduce": (0.0, 0.0), "wait": (0.0, 0.0), "mbytes": 0.0,
                "batch": batch}
    waits = []

    def ddp_step():
        step(ddp)
        waits.append(ddp.reducer.wait_seconds)
    t_ddp = timed(ddp_step, steps)
    grads = np.concatenate([p.grad.array.ravel() for p in model.parameters()])
    t_ar = timed(lambda: dist.all_reduce(grads), steps)
    return {"ddp": t_ddp, "local": t_local, "allreduce": t_ar, "wait": (statistics.median(waits[1:]), min(waits[1:])),
            "mbytes": grads.nbytes / 1e6, "batch": batch}


def bandwidth(steps):
    out = {}
    for mb in (1, 8, 45):
        buf = np.ones(mb * 250_000, np.float32)
        t = timed(lambda: dist.all_reduce(buf), steps)[1]
        out[mb] = (t, buf.nbytes / t / 1e9)
    return out


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tools.measure.bench_distributed", description=__doc__.split("\n\n")[0])
    p.add_argument("--only", nargs="*", default=["mlp", "resnet18"], choices=["mlp", "resnet18"])
    p.add_argument("--steps", type=int, default=5)
    args = p.parse_args(argv)
    dist.init_process_group()
    k = dist.get_world_size()
    rows = {name: bench_workload(*spec, args.steps) for name, spec in workloads(args.only).items()}
    bw = bandwidth(args.steps) if k > 1 else {}
    if dist.get_rank() != 0:
        return 0
    print(f"{k} process(es); median (best) of {args.steps} steps")
    print("workload | global batch | step | samples/s | step without comm | allreduce of all grads "
          "| waited after backward | hidden (best)")
    ms = lambda t: f"{1e3 * t[0]:.1f} ({1e3 * t[1]:.1f}) ms"    # noqa: E731
    for name, r in rows.items():
        hidden = f"{100 * (1 - r['wait'][1] / r['allreduce'][1]):.0f}%" if k > 1 else "-"
        print(f"{name} | {r['batch']} | {ms(r['ddp'])} | {r['batch'] / r['ddp'][1]:.0f} | {ms(r['local'])} | "
              f"{ms(r['allreduce'])} for {r['mbytes']:.1f} MB | {ms(r['wait'])} | {hidden}")
    for mb, (t, gbs) in bw.items():
        print(f"allreduce {mb:3d} MB float32 (best): {1e3 * t:7.2f} ms = {gbs:5.2f} GB/s (bytes / time)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
