"""The vmap sweep (issue 26): for every sample of every registered op, ``vmap(op)`` over a
stacked batch equals stacking ``op`` per sample, with the batch dim at 0, at the last
position, absent (None) for all inputs but the first, and nested once; and the
gradient through the batched run equals the per-sample gradients.

An op without a batching rule runs once per sample with a warning; the sweep fails
for such an op unless it is listed in ``PER_SAMPLE`` (the list the closing note
reports; the goal is none).
"""
import warnings

import numpy as np
import pytest

import autograd as ag
from autograd.func import vmap
from autograd.ops import batching
from autograd.ops.registry import REGISTRY
from autograd.ops.vmap import _leaves

# ops that draw random numbers: under vmap's default randomness="error" they raise
# (the modes themselves are tested in test_func.py)
RANDOM = {"pca_lowrank_gauge", "svd_lowrank_gauge"}
# primitives that may still run once per sample under vmap (no batching rule yet)
PER_SAMPLE = set()
# ops vmap cannot batch yet: their public functions compute on their inputs' values in
# Python before (or instead of) calling a primitive.  Under vmap they raise (vmap's
# error, or the op's own on the stand-in values of LogicalArray), never answer from one
# sample; each needs that Python part moved into a primitive with a batching rule.
# batch_norm stays: training with unbatched running stats and a batched input refuses,
# as PyTorch's (the in-place update would mix the samples); batched ones batch.
REFUSED = {"batch_norm", "ctc_loss", "embedding_bag"} | RANDOM

B = 3
SCALES = (1.0, 0.97, 0.94)       # keep each sample in the op's domain (signs, intervals)


def _batch(t, scales=SCALES):
    """``len(scales)`` variants of the sample's tensor ``t``, stacked at dim 0."""
    if t.array.dtype.kind == "f":
        arr = np.stack([t.array * s for s in scales])
    else:                       # indices, masks: the same for every sample
        arr = np.stack([t.array] * len(scales))
    return ag.tensor(arr)


def _outputs(out):
    leaves, _ = _leaves(out if isinstance(out, tuple) else (out,))
    return [o for o in leaves if isinstance(o, ag.Tensor)]


def _per_sample(info, sample, leaves, k):
    """op on sample k of the stacked leaves."""
    _, build = _leaves(sample.args)
    args = build(iter([x[k] if isinstance(x, ag.Tensor) and x is not None and batched else x
                       for x, batched in leaves]))
    return info.op(*args, **sample.kwargs)


def _close(info, got, want, what):
    got, want = _outputs(got), _outputs(want)
    assert len(got) == len(want), what
    for g, w in zip(got, want):
        assert tuple(g.shape) == tuple(w.shape), f"{what}: shape {tuple(g.shape)} != {tuple(w.shape)}"
        np.testing.assert_allclose(g.array.astype(np.float64) if g.array.dtype.kind != "b" else g.array,
                                   w.array.astype(np.float64) if w.array.dtype.kind != "b" else w.array,
                                   rtol=max(info.rtol, 1e-6), atol=max(info.atol, 1e-7),
                                   equal_nan=True, err_msg=what)


def _stacked_reference(info, sample, leaves, axis_batch):
    per = [_per_sample(info, sample, leaves, k) for k in range(axis_batch)]
    outs = [_outputs(p) for p in per]
    return tuple(ag.stack([o[i] for o in outs]) for i in range(len(outs[0])))


def _run(info, sample, batch_first_only=False, at_last=False):
    """vmap of the op over stacked tensor leaves; returns (result, reference)."""
    flat, build = _leaves(sample.args)
    tensors = [x for x in flat if isinstance(x, ag.Tensor)]
    first = tensors[0] if tensors else None
    leaves = []
    for x in flat:
        mapped = isinstance(x, ag.Tensor) and (not batch_first_only or x is first)
        leaves.append((_batch(x) if mapped else x, mapped))
    dims = []
    inputs = []
    for x, mapped in leaves:
        if mapped and at_last and x.ndim > 1:
            inputs.append(ag.movedim(x, 0, -1))
            dims.append(-1)
        else:
            inputs.append(x)
            dims.append(0 if mapped else None)

    def fn(*xs):
        return info.op(*build(iter(xs)), **sample.kwargs)

    got = vmap(fn, in_dims=tuple(dims))(*inputs)
    return got, _stacked_reference(info, sample, leaves, B)


def _nested(info, sample):
    """vmap(vmap(op)) over two stacked batches, and the outer loop of vmap(op)."""
    flat, build = _leaves(sample.args)
    mapped = [isinstance(x, ag.Tensor) for x in flat]
    inner = [_batch(x) if m else x for x, m in zip(flat, mapped)]
    outer = [ag.stack([x, x * 0.9 if x.array.dtype.kind == "f" else x]) if m else x
             for x, m in zip(inner, mapped)]
    dims = tuple(0 if m else None for m in mapped)

    def fn(*xs):
        return info.op(*build(iter(xs)), **sample.kwargs)
    got = vmap(vmap(fn, in_dims=dims), in_dims=dims)(*outer)
    per = [_outputs(vmap(fn, in_dims=dims)(*[x[k] if m else x for x, m in zip(outer, mapped)]))
           for k in range(2)]
    return got, tuple(ag.stack([p[i] for p in per]) for i in range(len(per[0])))


def _gradients(info, sample):
    """d<vmap(op), u>/d inputs through the batched run, and through per-sample runs."""
    flat, build = _leaves(sample.args)
    floats = [isinstance(x, ag.Tensor) and x.requires_grad for x in flat]
    stacked = [_batch(x) if isinstance(x, ag.Tensor) else x for x in flat]

    def fn(*xs):
        return info.op(*build(iter(xs)), **sample.kwargs)

    def run(batched):
        leaves = [x.detach().requires_grad_() if f else x for x, f in zip(stacked, floats)]
        if batched:
            outs = _outputs(vmap(fn, in_dims=tuple(0 if isinstance(x, ag.Tensor) else None
                                                   for x in leaves))(*leaves))
        else:
            per = [_outputs(fn(*[x[k] if isinstance(x, ag.Tensor) else x for x in leaves]))
                   for k in range(B)]
            outs = [ag.stack([p[i] for p in per]) for i in range(len(per[0]))]
        outs = [o for o in outs if o.requires_grad]
        if not outs:
            return None
        rng = np.random.default_rng(1)
        total = sum((o * ag.tensor(rng.standard_normal(o.shape))).sum() for o in outs)
        wrt = [x for x, f in zip(leaves, floats) if f]
        return ag.autograd.grad(total, wrt, allow_unused=True)
    return run(True), run(False)


def _samples(info):
    return list(info.samples(np.random.default_rng(0)))[:4]


OPS = sorted(REGISTRY)


def _unless_refused(name, run):
    """``run()``, or None where op ``name`` is in REFUSED and raised (loudly)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "vmap: .* has no batching rule")
        try:
            return run()
        except (RuntimeError, ValueError, IndexError):
            if name in REFUSED:
                return None
            raise


def _check(name, **how):
    """vmap of op ``name`` equals the per-sample results; an op in REFUSED may raise
    instead (loudly), but never return anything else."""
    info = REGISTRY[name]
    batching.FALLBACKS.clear()
    for sample in _samples(info):
        if not any(isinstance(x, ag.Tensor) for x in _leaves(sample.args)[0]):
            continue
        with ag.no_grad():
            got = _unless_refused(name, lambda: _run(info, sample, **how))
        if got is not None:
            _close(info, *got, f"{name} {sample} {how}")
    fell_back = {c.__name__ for c in batching.FALLBACKS} - PER_SAMPLE
    assert not fell_back, f"{name}: {sorted(fell_back)} ran once per sample (no batching rule)"


@pytest.mark.parametrize("name", OPS)
def test_vmap_matches_per_sample(name):
    _check(name)


@pytest.mark.parametrize("name", OPS)
def test_vmap_batch_dim_last(name):
    _check(name, at_last=True)


@pytest.mark.parametrize("name", OPS)
def test_vmap_unbatched_inputs(name):
    _check(name, batch_first_only=True)


@pytest.mark.parametrize("name", OPS)
def test_vmap_nested(name):
    info = REGISTRY[name]
    sample = next((x for x in _samples(info) if any(isinstance(a, ag.Tensor) for a in _leaves(x.args)[0])), None)
    if sample is None:
        return
    with ag.no_grad():
        got = _unless_refused(name, lambda: _nested(info, sample))
    if got is not None:
        _close(info, *got, f"{name} {sample} nested")


@pytest.mark.parametrize("name", OPS)
def test_gradients_through_vmap_match_per_sample(name):
    info = REGISTRY[name]
    sample = next((x for x in _samples(info) if any(isinstance(a, ag.Tensor) and a.requires_grad
                                                     for a in _leaves(x.args)[0])), None)
    if sample is None:
        return
    got = _unless_refused(name, lambda: _gradients(info, sample))
    if got is None or got[1] is None:
        return
    for g, w in zip(*got):
        assert (g is None) == (w is None), name
        if g is not None:
            np.testing.assert_allclose(g.numpy(), w.numpy(), rtol=1e-6, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_random_ops_refuse_by_default(name):
    with pytest.raises(RuntimeError, match="randomness error mode"):
        _run(REGISTRY[name], _samples(REGISTRY[name])[0])
