"""Losses, embedding bags, distances and the nn.utils parametrizations (issue 27)
beside PyTorch: one typical call per op, forward and backward of the (summed) loss.
Elementwise losses run on 1000 x 1000 float32 (1M elements); the others on a typical
layer's sizes.  Contributed to ``python -m tools.bench`` (``--only loss:``)."""
import numpy as np

from .functional_workload import functional_workload

N = 1000


def _arrays(rng):
    x = rng.standard_normal((N, N)).astype(np.float32)
    return dict(
        x=x, y=rng.standard_normal((N, N)).astype(np.float32),
        sign=np.where(rng.standard_normal((N, N)) > 0, 1.0, -1.0).astype(np.float32),
        binary=(rng.random((N, N)) > 0.5).astype(np.float32),
        counts=rng.poisson(2.0, (N, N)).astype(np.float32),
        var=rng.uniform(0.5, 2.0, (N, N)).astype(np.float32),
        labels=np.where(np.arange(100)[None, :] < rng.integers(1, 10, (256, 1)),
                        rng.permutation(100)[None, :], -1).astype(np.int64),
        ctc_logits=rng.standard_normal((100, 32, 30)).astype(np.float32),
        ctc_targets=rng.integers(1, 30, (32, 25)).astype(np.int64),
        bag_input=rng.integers(0, 10000, 512 * 20).astype(np.int64),
        table=rng.standard_normal((10000, 128)).astype(np.float32),
        features=rng.standard_normal((512, 256)).astype(np.float32),
        classes=rng.integers(0, 1000, 512).astype(np.int64),
        projection=(rng.standard_normal((1000, 256)) * 0.05).astype(np.float32),
        rows=rng.standard_normal((500, 32)).astype(np.float32),
    )


# name -> (fn(lib, F, t), names of the inputs that require grad); t holds lib tensors
OPS = {
    "margin_ranking_loss": (lambda m, F, t: F.margin_ranking_loss(t["x"], t["y"], t["sign"]), "x y"),
    "hinge_embedding_loss": (lambda m, F, t: F.hinge_embedding_loss(t["x"], t["sign"]), "x"),
    "soft_margin_loss": (lambda m, F, t: F.soft_margin_loss(t["x"], t["sign"]), "x"),
    "multilabel_soft_margin_loss": (lambda m, F, t: F.multilabel_soft_margin_loss(t["x"], t["binary"]), "x"),
    "poisson_nll_loss": (lambda m, F, t: F.poisson_nll_loss(t["x"], t["counts"], full=True), "x"),
    "gaussian_nll_loss": (lambda m, F, t: F.gaussian_nll_loss(t["x"], t["y"], t["var"]), "x var"),
    "triplet_margin_loss": (lambda m, F, t: F.triplet_margin_loss(t["x"], t["y"], t["x"].flip(0)), "x y"),
    "multilabel_margin_loss 256x100": (
        lambda m, F, t: F.multilabel_margin_loss(t["x"][:256, :100], t["labels"]), "x"),
    "ctc_loss T100 N32 C30 S25": (
        lambda m, F, t: F.ctc_loss(t["ctc_logits"].log_softmax(2), t["ctc_targets"], [100] * 32, [25] * 32),
        "ctc_logits"),
    "embedding_bag mean 512 bags of 20, 10000x128": (
        lambda m, F, t: F.embedding_bag(t["bag_input"], t["table"], t["offsets"], mode="mean"), "table"),
    "embedding_bag max 512 bags of 20, 10000x128": (
        lambda m, F, t: F.embedding_bag(t["bag_input"], t["table"], t["offsets"], mode="max"), "table"),
    "linear_cross_entropy 512x256 -> 1000": (
        lambda m, F, t: F.linear_cross_entropy(t["features"], t["projection"], t["classes"]),
        "features projection"),
    "pdist 500x32": (lambda m, F, t: F.pdist(t["rows"]), "rows"),
    "gumbel_softmax hard": (lambda m, F, t: F.gumbel_softmax(t["x"], hard=True) * t["y"], "x"),
    "rms_norm": (lambda m, F, t: F.rms_norm(t["x"], (N,)), "x"),
}


def _inputs():
    arrays = _arrays(np.random.default_rng(0))
    arrays["offsets"] = np.arange(512, dtype=np.int64) * 20
    return arrays


def _parametrized(kind):
    """A Linear(512, 512) under a parametrization, fwd+bwd of a 256-row batch."""
    def setup():
        import autograd as ag
        import nn
        from nn.utils import parametrizations
        from tools.bench import _torch
        x = np.random.default_rng(0).standard_normal((256, 512)).astype(np.float32)
        state = {"ours": (getattr(parametrizations, kind)(nn.Linear(512, 512)), ag.tensor(x))}
        torch = _torch()
        if torch is not None:
            theirs = getattr(torch.nn.utils.parametrizations, kind)(torch.nn.Linear(512, 512))
            state["torch"] = (theirs, torch.tensor(x))
        return state

    def run(side):
        def step(state):
            layer, x = state[side]
            layer.zero_grad()
            layer(x).sum().backward()
        return step

    return setup, run("ours"), run("torch")


def workloads():
    found = {f"loss: {name} fwd+bwd": functional_workload(_inputs, fn, grads)
             for name, (fn, grads) in OPS.items()}
    for kind in ("weight_norm", "spectral_norm", "orthogonal"):
        found[f"loss: Linear(512, 512) with {kind} fwd+bwd"] = _parametrized(kind)
    return found
