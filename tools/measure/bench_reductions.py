"""Reductions, scans, order statistics, statistics, calculus and random draws (issue 27)
beside PyTorch: one typical call per op on a 1000 x 1000 float32 input (1M elements),
forward and backward of its sum where the op is differentiable, forward alone where
not.  Contributed to ``python -m tools.bench`` (``--only reduce:``)."""
import numpy as np

SHAPE = (1000, 1000)


def _first_float(out):
    outs = out if isinstance(out, tuple) else (out,)
    return next(o for o in outs if o.dtype.is_floating_point)


# name -> (op(lib, x), differentiable); x is (1000, 1000) float32, uniform in (0.5, 1.5)
OPS = {
    "cumprod": (lambda m, x: m.cumprod(x * 0.999, 1), True),
    "cummax": (lambda m, x: m.cummax(x, 1), True),
    "logcumsumexp": (lambda m, x: m.logcumsumexp(x, 1), True),
    "median(dim)": (lambda m, x: m.median(x, 1), True),
    "median": (lambda m, x: m.median(x), True),
    "nanmedian(dim)": (lambda m, x: m.nanmedian(x, 1), True),
    "kthvalue": (lambda m, x: m.kthvalue(x, 100, 1), True),
    "mode": (lambda m, x: m.mode((x * 20).floor(), 1), False),
    "msort": (lambda m, x: m.msort(x), True),
    "quantile": (lambda m, x: m.quantile(x, m.tensor([0.1, 0.5, 0.9]), dim=1), True),
    "nanquantile": (lambda m, x: m.nanquantile(x, 0.3, dim=1), True),
    "aminmax": (lambda m, x: m.aminmax(x, dim=1), True),
    "nansum": (lambda m, x: m.nansum(x, 1), True),
    "nanmean": (lambda m, x: m.nanmean(x, 1), True),
    "std_mean": (lambda m, x: m.std_mean(x, 1), True),
    "cov": (lambda m, x: m.cov(x[:100]), True),
    "corrcoef": (lambda m, x: m.corrcoef(x[:100]), True),
    "dist": (lambda m, x: m.dist(x, x.flip(0), 3), True),
    "renorm": (lambda m, x: m.renorm(x, 2, 0, 10.0), True),
    "diff": (lambda m, x: m.diff(x, 2, 1), True),
    "gradient": (lambda m, x: m.gradient(x, dim=1)[0], True),
    "trapezoid": (lambda m, x: m.trapezoid(x, dim=1), True),
    "cumulative_trapezoid": (lambda m, x: m.cumulative_trapezoid(x, dim=1), True),
    "as_strided_scatter": (lambda m, x: m.as_strided_scatter(x, x[:500, :500] * 2, (500, 500), (1000, 1)),
                           True),
    "histc": (lambda m, x: m.histc(x, 100), False),
    "bincount": (lambda m, x: m.bincount((x * 100).long().reshape(-1)), False),
    "unique": (lambda m, x: m.unique((x * 100).floor()), False),
    "unique_consecutive": (lambda m, x: m.unique_consecutive((x * 3).floor()), False),
    "bernoulli": (lambda m, x: m.bernoulli(x * 0.5), False),
    "normal": (lambda m, x: m.normal(x, 2.0), False),
    "poisson": (lambda m, x: m.poisson(x), False),
}


def _workload(fn, differentiable):
    def setup():
        import autograd as ag
        from tools.bench import _torch
        x = np.random.default_rng(0).uniform(0.5, 1.5, SHAPE).astype(np.float32)
        state = {"ours": (ag, ag.tensor(x, requires_grad=differentiable))}
        torch = _torch()
        if torch is not None:
            state["torch"] = (torch, torch.tensor(x, requires_grad=differentiable))
        return state

    def run(side):
        def step(state):
            lib, x = state[side]
            out = fn(lib, x)
            if differentiable:
                x.grad = None
                _first_float(out).sum().backward()
        return step

    return setup, run("ours"), run("torch")


def workloads():
    return {f"reduce: {name} {'fwd+bwd' if diff else 'fwd'} 1000x1000": _workload(fn, diff)
            for name, (fn, diff) in OPS.items()}
