"""Losses (module and functional forms): NumPy-computed references for every
reduction and option, and float64 gradchecks."""
import numpy as np
import pytest

import autograd as ag
import nn
import nn.functional as F

from nn_helpers import close, rand


@pytest.fixture
def rng():
    return np.random.default_rng(1)


def _red(loss, reduction):
    return {"none": loss, "mean": loss.mean(), "sum": loss.sum()}[reduction]


def _logsm(x, axis=1):
    m = x.max(axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis, keepdims=True))


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_regression_losses(rng, reduction):
    x, t = rand(rng, 3, 4, low=-2, high=2), rand(rng, 3, 4, low=-2, high=2, grad=False)
    d = x.array - t.array
    a = np.abs(d)
    cases = [
        (nn.MSELoss(reduction=reduction), d ** 2),
        (nn.L1Loss(reduction=reduction), a),
        (nn.SmoothL1Loss(reduction=reduction, beta=0.7), np.where(a < 0.7, 0.5 * d ** 2 / 0.7, a - 0.35)),
        (nn.HuberLoss(reduction=reduction, delta=0.7), np.where(a < 0.7, 0.5 * d ** 2, 0.7 * (a - 0.35))),
    ]
    for m, ref in cases:
        close(m(x, t), _red(ref, reduction), rtol=1e-10)
        assert ag.gradcheck(lambda z: m(z, t), [x])


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match=r"target size \(3,\).*input size \(3, 1\)"):
        F.mse_loss(ag.randn(3, 1), ag.randn(3))


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_bce_losses(rng, reduction):
    p = ag.tensor(rng.uniform(0.05, 0.95, (4, 3)), dtype=ag.float64, requires_grad=True)
    t = ag.tensor(rng.uniform(0, 1, (4, 3)), dtype=ag.float64)
    w = ag.tensor(rng.uniform(0.5, 2, 3), dtype=ag.float64)
    ref = -w.array * (t.array * np.log(p.array) + (1 - t.array) * np.log(1 - p.array))
    close(nn.BCELoss(weight=w, reduction=reduction)(p, t), _red(ref, reduction), rtol=1e-10)
    assert ag.gradcheck(lambda z: F.binary_cross_entropy(z, t, w, reduction=reduction), [p])
    x = rand(rng, 4, 3, low=-3, high=3)
    pw = ag.tensor(rng.uniform(0.5, 3, 3), dtype=ag.float64)
    s = 1 / (1 + np.exp(-x.array))
    ref = -w.array * (pw.array * t.array * np.log(s) + (1 - t.array) * np.log(1 - s))
    m = nn.BCEWithLogitsLoss(weight=w, reduction=reduction, pos_weight=pw)
    close(m(x, t), _red(ref, reduction), rtol=1e-10)
    assert ag.gradcheck(lambda z: m(z, t), [x])
    assert ag.gradgradcheck(lambda z: m(z, t), [x])


def test_bce_with_logits_is_stable_and_bce_checks_range():
    x = ag.tensor([200.0, -200.0], dtype=ag.float64)
    t = ag.tensor([0.0, 1.0], dtype=ag.float64)
    close(F.binary_cross_entropy_with_logits(x, t, reduction="none"), [200.0, 200.0])
    with pytest.raises(ValueError, match="between 0 and 1"):
        F.binary_cross_entropy(ag.tensor([1.5]), ag.tensor([1.0]))


def _ce_ref(x, t, w=None, ignore_index=-100, reduction="mean", ls=0.0):
    """Cross entropy on (N, C) from the definition, PyTorch's normalisations."""
    n, c = x.shape
    lp = _logsm(x)
    w = np.ones(c) if w is None else w
    valid = t != ignore_index
    ts = np.where(valid, t, 0)
    nll = np.where(valid, -w[ts] * lp[np.arange(n), ts], 0)
    smooth = np.where(valid, -(lp * w).sum(1), 0)
    wsum = np.where(valid, w[ts], 0).sum()
    if reduction == "mean":
        nll, smooth = nll.sum() / wsum, smooth.sum() / wsum
    elif reduction == "sum":
        nll, smooth = nll.sum(), smooth.sum()
    return (1 - ls) * nll + ls / c * smooth


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("options", [dict(), dict(weight=True), dict(ignore_index=2),
                                     dict(label_smoothing=0.2), dict(weight=True, ignore_index=0,
                                                                     label_smoothing=0.1)])
def test_cross_entropy_class_indices(rng, reduction, options):
    x = rand(rng, 5, 4, low=-2, high=2)
    t = np.array([0, 2, 3, 2, 1])
    w = rng.uniform(0.5, 2, 4) if options.get("weight") else None
    ii = options.get("ignore_index", -100)
    ls = options.get("label_smoothing", 0.0)
    m = nn.CrossEntropyLoss(weight=None if w is None else ag.tensor(w, dtype=ag.float64),
                            ignore_index=ii, reduction=reduction, label_smoothing=ls)
    close(m(x, ag.tensor(t)), _ce_ref(x.array, t, w, ii, reduction, ls), rtol=1e-10)
    assert ag.gradcheck(lambda z: m(z, ag.tensor(t)), [x])


def test_cross_entropy_spatial_probabilities_and_nll(rng):
    # K-dimensional: (N, C, d) with targets (N, d) equals the flattened (N*d, C) case
    x = rand(rng, 2, 3, 4)
    t = rng.integers(0, 3, (2, 4))
    flat = x.array.transpose(0, 2, 1).reshape(-1, 3)
    close(F.cross_entropy(x, ag.tensor(t)), _ce_ref(flat, t.reshape(-1)), rtol=1e-10)
    close(F.cross_entropy(x, ag.tensor(t), reduction="none"),
          _ce_ref(flat, t.reshape(-1), reduction="none").reshape(2, 4), rtol=1e-10)
    # probabilities, with smoothing and weights; 'mean' divides by N
    x2 = rand(rng, 3, 4)
    p = rng.uniform(0, 1, (3, 4))
    p /= p.sum(1, keepdims=True)
    w = rng.uniform(0.5, 2, 4)
    ps = p * 0.9 + 0.1 / 4
    ref = -(_logsm(x2.array) * ps * w).sum(1).mean()
    out = F.cross_entropy(x2, ag.tensor(p, dtype=ag.float64), weight=ag.tensor(w), label_smoothing=0.1)
    close(out, ref, rtol=1e-6)
    assert ag.gradcheck(lambda z: F.cross_entropy(z, ag.tensor(p, dtype=ag.float64)), [x2])
    # unbatched input (C,) and target ()
    close(F.cross_entropy(x2[0], ag.tensor(1)), -_logsm(x2.array[:1])[0, 1], rtol=1e-10)
    # NLL with weights and ignore_index on log-probabilities
    lp = ag.tensor(_logsm(x2.array), dtype=ag.float64, requires_grad=True)
    tt = np.array([1, -100, 3])
    close(nn.NLLLoss(weight=ag.tensor(w))(lp, ag.tensor(tt)),
          -(w[1] * lp.array[0, 1] + w[3] * lp.array[2, 3]) / (w[1] + w[3]), rtol=1e-6)
    with pytest.raises(IndexError, match="out of bounds"):
        F.cross_entropy(x2, ag.tensor([0, 1, 4]))
    with pytest.raises(ValueError, match=r"expected target of shape \(3,\)"):
        F.cross_entropy(x2, ag.tensor([0, 1]))


@pytest.mark.parametrize("p", [1, 2])
def test_multi_margin_loss(rng, p):
    x = rand(rng, 4, 3)
    t = np.array([0, 2, 1, 2])
    w = rng.uniform(0.5, 2, 3)
    ref = []
    for i in range(4):
        s = 0.0
        for j in range(3):
            if j != t[i]:
                s += w[t[i]] * max(0, 0.8 - x.array[i, t[i]] + x.array[i, j]) ** p
        ref.append(s / 3)
    m = nn.MultiMarginLoss(p=p, margin=0.8, weight=ag.tensor(w, dtype=ag.float64), reduction="none")
    close(m(x, ag.tensor(t)), ref, rtol=1e-10)
    close(nn.MultiMarginLoss(p=p, margin=0.8, weight=ag.tensor(w, dtype=ag.float64))(x, ag.tensor(t)),
          np.mean(ref), rtol=1e-10)
    assert ag.gradcheck(lambda z: m(z, ag.tensor(t)), [x])


def test_kl_div(rng):
    lp = ag.tensor(_logsm(rng.normal(size=(3, 4))), dtype=ag.float64, requires_grad=True)
    q = rng.uniform(0, 1, (3, 4))
    q[0, 0] = 0.0
    q /= q.sum(1, keepdims=True)
    pointwise = np.where(q > 0, q * (np.log(np.where(q > 0, q, 1)) - lp.array), 0)
    qt = ag.tensor(q, dtype=ag.float64)
    close(nn.KLDivLoss(reduction="batchmean")(lp, qt), pointwise.sum() / 3, rtol=1e-10)
    close(nn.KLDivLoss(reduction="none")(lp, qt), pointwise, rtol=1e-10)
    lq = ag.tensor(np.log(q + 1e-3), dtype=ag.float64)
    close(F.kl_div(lp, lq, reduction="sum", log_target=True),
          (np.exp(lq.array) * (lq.array - lp.array)).sum(), rtol=1e-10)
    assert ag.gradcheck(lambda z: F.kl_div(z, qt, reduction="batchmean"), [lp])


def test_cosine_embedding_loss(rng):
    a, b = rand(rng, 4, 3), rand(rng, 4, 3)
    y = np.array([1, -1, 1, -1])
    cos = (a.array * b.array).sum(1) / np.sqrt(((a.array ** 2).sum(1) + 1e-12) * ((b.array ** 2).sum(1) + 1e-12))
    ref = np.where(y == 1, 1 - cos, np.maximum(cos - 0.1, 0))
    m = nn.CosineEmbeddingLoss(margin=0.1, reduction="none")
    close(m(a, b, ag.tensor(y)), ref, rtol=1e-10)
    close(nn.CosineEmbeddingLoss(margin=0.1)(a, b, ag.tensor(y)), ref.mean(), rtol=1e-10)
    assert ag.gradcheck(lambda u, v: m(u, v, ag.tensor(y)), [a, b])


def test_bad_reduction():
    with pytest.raises(ValueError, match="reduction"):
        F.l1_loss(ag.ones(2), ag.ones(2), reduction="avg")


def test_a_linear_classifier_records_the_nodes_pytorch_records():
    # Linear -> GELU -> Linear -> cross_entropy: four nodes, as PyTorch's addmm, gelu,
    # addmm, nll_loss(log_softmax) pair minus the split; no Permute/MatMul/Add/Mul chains.
    from autograd.engine import reachable_nodes
    model = nn.Sequential(nn.Linear(5, 7), nn.GELU(), nn.Linear(7, 3))
    loss = F.cross_entropy(model(ag.randn(4, 5)), ag.tensor([0, 2, 1, 1]))
    assert [type(n).__name__ for n in reachable_nodes([loss])] == \
        ["CrossEntropy", "Linear", "Gelu", "Linear"]
    nll = F.nll_loss(ag.randn(4, 3, requires_grad=True).log_softmax(1), ag.tensor([0, 2, 1, 1]))
    assert [type(n).__name__ for n in reachable_nodes([nll])] == ["NllLoss", "LogSoftmax"]
