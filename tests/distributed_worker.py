"""Scenarios run under ``mpiexec -n K python tests/distributed_worker.py NAME`` by
tests/test_distributed.py.  Every rank runs the scenario; rank 0 prints one line
``RESULT <json>`` that the test reads and asserts on (collective results are
gathered to rank 0 first, so a failure on any rank shows there)."""
import json
import sys

import numpy as np

import autograd as ag
import nn
import nn.distributed as dist
import nn.functional as F
import optim
from nn.parallel import DistributedDataParallel as DDP

STEPS, B = 20, 4


def mlp():
    return nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 3))


def cnn():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 3), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 2 * 2, 3))


def data(kind, n, seed=0):
    rng = np.random.default_rng(seed)
    shape = (n, 6) if kind == "mlp" else (n, 1, 8, 8)
    return ag.tensor(rng.standard_normal(shape).astype(np.float32)), ag.tensor(rng.integers(0, 3, n))


def make_optimizer(name, params):
    if name == "sgd":
        return optim.SGD(params, lr=0.1, momentum=0.9)
    return optim.AdamW(params, lr=0.01, weight_decay=0.01)


def flat(model):
    return np.concatenate([p.array.ravel() for p in model.parameters()])


def gathered(array):
    out = [np.empty_like(array) for _ in range(dist.get_world_size())]
    dist.all_gather(out, array)
    return out


def train(model, opt, x, y, global_batch, part):
    """STEPS steps; step s trains on ``part`` of global batch s."""
    for s in range(STEPS):
        xs, ys = x[s * global_batch:(s + 1) * global_batch], y[s * global_batch:(s + 1) * global_batch]
        opt.zero_grad()
        F.cross_entropy(model(xs[part]), ys[part]).backward()
        opt.step()


def scenario_equivalence():
    """K ranks x batch B == 1 process x batch K*B, for 20 steps."""
    rank, k = dist.get_rank(), dist.get_world_size()
    result = {}
    for kind, ctor in (("mlp", mlp), ("cnn", cnn)):
        x, y = data(kind, STEPS * k * B)
        for opt_name in ("sgd", "adamw"):
            ag.manual_seed(rank)                     # different inits: DDP must broadcast rank 0's
            model = DDP(ctor(), bucket_cap_mb=0.001)  # several buckets
            opt = make_optimizer(opt_name, model.parameters())
            train(model, opt, x, y, k * B, slice(rank * B, (rank + 1) * B))
            mine = flat(model.module)
            entry = {"ranks_differ": max(float(np.abs(p - mine).max()) for p in gathered(mine))}
            if rank == 0:
                ag.manual_seed(0)
                ref = ctor()
                ref_opt = make_optimizer(opt_name, ref.parameters())
                train(ref, ref_opt, x, y, k * B, slice(None))
                want = flat(ref)
                entry["max_abs_diff"] = float(np.abs(mine - want).max())
                entry["scale"] = float(np.abs(want).max())
                entry["moved"] = float(np.abs(want - flat_init(ctor)).max())
            result[f"{kind}-{opt_name}"] = entry
    return result


def flat_init(ctor):
    ag.manual_seed(0)
    return flat(ctor())


def scenario_buckets():
    """Bucketed averages == one allreduce of the concatenated gradients, and every
    bucket but the last starts before backward reaches the first layer."""
    rank, k = dist.get_rank(), dist.get_world_size()
    def deep_mlp():
        return nn.Sequential(nn.Linear(6, 64), nn.ReLU(), nn.Linear(64, 64), nn.ReLU(),
                             nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 3))
    ag.manual_seed(0)
    model = deep_mlp()
    ddp = DDP(model, bucket_cap_mb=0.01)
    events = []
    real_all_reduce = dist.all_reduce

    def recording_all_reduce(t, *args, **kwargs):
        events.append(("allreduce", int(t.size)))
        return real_all_reduce(t, *args, **kwargs)
    dist.all_reduce = recording_all_reduce
    def watch_first_layer(module, args, out):
        out.register_hook(lambda g: events.append(("first layer output grad",)))
    model[0].register_forward_hook(watch_first_layer)
    x, y = data("mlp", 2 * k, seed=rank + 1)
    F.cross_entropy(ddp(x), y).backward()
    dist.all_reduce = real_all_reduce

    local = deep_mlp()
    local.load_state_dict(model.state_dict())
    F.cross_entropy(local(x), y).backward()
    concatenated = np.concatenate([p.grad.array.ravel() for p in local.parameters()])
    dist.all_reduce(concatenated)
    concatenated /= k
    averaged = np.concatenate([p.grad.array.ravel() for p in model.parameters()])
    names = [e[0] for e in events]
    return {"buckets": len(ddp.reducer.buckets), "bucket_sizes": [int(b.flat.size) for b in ddp.reducer.buckets],
            "events": names, "max_abs_diff": float(np.abs(averaged - concatenated).max()),
            "grad_scale": float(np.abs(concatenated).max())}


def scenario_no_sync():
    """Two micro-batches per rank, the first under no_sync(): the result is the average
    over ranks of the summed local gradients, and no_sync()'s backward sends nothing."""
    rank, k = dist.get_rank(), dist.get_world_size()
    ag.manual_seed(0)
    model = mlp()
    ddp = DDP(model)
    calls = []
    real_all_reduce = dist.all_reduce
    dist.all_reduce = lambda *a, **kw: calls.append(1) or real_all_reduce(*a, **kw)
    x, y = data("mlp", 4 * k)
    ddp(x[:1])                                       # a synced forward without backward arms nothing lasting
    with ddp.no_sync():
        F.cross_entropy(ddp(x[rank * 4: rank * 4 + 2]), y[rank * 4: rank * 4 + 2]).backward()
    calls_in_no_sync = len(calls)
    local_after_first = np.concatenate([p.grad.array.ravel() for p in model.parameters()])
    F.cross_entropy(ddp(x[rank * 4 + 2: rank * 4 + 4]), y[rank * 4 + 2: rank * 4 + 4]).backward()
    dist.all_reduce = real_all_reduce
    got = np.concatenate([p.grad.array.ravel() for p in model.parameters()])
    out = {"calls_in_no_sync": calls_in_no_sync, "calls_after": len(calls) - calls_in_no_sync,
           "ranks_differ_after_no_sync": max(float(np.abs(g - local_after_first).max())
                                             for g in gathered(local_after_first)),
           "ranks_differ": max(float(np.abs(g - got).max()) for g in gathered(got))}
    if rank == 0:
        ag.manual_seed(0)
        ref = mlp()
        for r in range(k):                          # sum over micro-batches, mean over ranks
            for part in (slice(r * 4, r * 4 + 2), slice(r * 4 + 2, r * 4 + 4)):
                (F.cross_entropy(ref(x[part]), y[part]) / k).backward()
        want = np.concatenate([p.grad.array.ravel() for p in ref.parameters()])
        out["max_abs_diff"] = float(np.abs(got - want).max())
    return out


def scenario_batchnorm():
    """BatchNorm under DDP: each rank normalises with its own batch statistics; the
    running statistics are rank 0's at each forward (then updated locally)."""
    rank, k = dist.get_rank(), dist.get_world_size()
    ag.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    ddp = DDP(model)
    x, y = data("mlp", 8 * k)
    x = x * (rank + 1.0)                             # different statistics per rank
    mine = slice(rank * 8, rank * 8 + 8)
    ag.manual_seed(0)
    twin = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
    twin.load_state_dict(model.state_dict())        # the unwrapped model on the local batch
    out = ddp(x[mine])
    local_out = twin(x[mine])
    bn = model[1]
    after_train_forward = bn.running_mean.array.copy()
    F.cross_entropy(out, y[mine]).backward()
    grads = np.concatenate([p.grad.array.ravel() for p in model.parameters()])
    ddp.eval()
    with ag.no_grad():
        ddp(x[mine])                                 # broadcasts rank 0's buffers
    after_eval_forward = bn.running_mean.array.copy()
    running = gathered(after_train_forward)
    result = {"output_is_local_batch_norm": float(np.abs(out.array - local_out.array).max()),
              "running_differ_after_train_forward": float(np.abs(running[0] - running[-1]).max()),
              "running_vs_rank0_after_eval_forward":
                  max(float(np.abs(a - running[0]).max()) for a in gathered(after_eval_forward)),
              "ranks_grads_differ": max(float(np.abs(g - grads).max()) for g in gathered(grads))}
    if rank == 0:                                    # mean of each rank's local-batch gradients
        want = 0
        for r in range(k):
            ag.manual_seed(0)
            ref = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))
            part = slice(r * 8, r * 8 + 8)
            F.cross_entropy(ref(data("mlp", 8 * k)[0][part] * (r + 1.0)), y[part]).backward()
            want = want + np.concatenate([p.grad.array.ravel() for p in ref.parameters()]) / k
        result["grads_vs_mean_of_local"] = float(np.abs(grads - want).max())
    return result


def scenario_errors():
    """Clear errors: different models across ranks; a parameter that gets no gradient."""
    rank = dist.get_rank()
    out = {}
    try:
        DDP(nn.Linear(4, 8 if rank == 0 else 9))
    except RuntimeError as e:
        out["mismatch"] = str(e)
    model = nn.ModuleDict({"used": nn.Linear(4, 2), "unused": nn.Linear(4, 2)})

    class Partial(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = model

        def forward(self, x):
            return self.body["used"](x)
    ddp = DDP(Partial())
    ddp(ag.ones(3, 4)).sum().backward()
    try:
        ddp(ag.ones(3, 4))
    except RuntimeError as e:
        out["unused"] = str(e)
    return out


def scenario_collectives():
    rank, k = dist.get_rank(), dist.get_world_size()
    t = ag.tensor([1.0, 2.0]) * (rank + 1)
    dist.all_reduce(t)
    a = np.arange(6.0).reshape(2, 3)[:, ::2] * (rank + 1)          # non-contiguous array
    dist.all_reduce(a, op=dist.ReduceOp.MAX)
    avg = ag.tensor([float(rank)])
    work = dist.all_reduce(avg, op=dist.ReduceOp.AVG, async_op=True)
    work.wait()
    b = ag.tensor([rank, rank + 10])
    dist.broadcast(b, src=k - 1)
    parts = [ag.zeros(2, dtype="int64") for _ in range(k)]
    dist.all_gather(parts, ag.tensor([rank, -rank]))
    dist.barrier()
    errors = []
    for bad in (lambda: dist.all_reduce([1.0, 2.0]), lambda: dist.broadcast(b, src=k),
                lambda: dist.all_reduce(ag.tensor([1, 2]), op=dist.ReduceOp.AVG)):
        try:
            bad()
        except (TypeError, ValueError) as e:
            errors.append(f"{type(e).__name__}: {e}")
    out = {"sum": t.tolist(), "max": a.tolist(), "avg": avg.tolist(), "broadcast": b.tolist(),
           "gather": [p.tolist() for p in parts], "world_size": k, "errors": errors,
           "state_dict_keys": list(DDP(nn.Linear(2, 2)).state_dict())}
    dist.destroy_process_group()
    out["initialized_after_destroy"] = dist.is_initialized()
    return out


def scenario_raise_on_rank_1():
    if dist.get_rank() == 1:
        raise ValueError("planted failure on rank 1")
    dist.barrier()                                   # rank 0 would wait here for ever


if __name__ == "__main__":
    dist.init_process_group()
    rank = dist.get_rank()
    result = globals()["scenario_" + sys.argv[1]]()
    if rank == 0:
        print("RESULT " + json.dumps(result), flush=True)
