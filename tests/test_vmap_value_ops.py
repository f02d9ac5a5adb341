"""vmap of the ops whose public functions used to compute on values in Python (issue
26): each sample's own indices, masks, tolerances and statistics, against PyTorch's
results per sample (torch.func.vmap where it batches them right), and the refusals
where PyTorch refuses too."""
import numpy as np
import pytest
import torch

import autograd as ag
from autograd.func import vmap
from autograd.ops.registry import REGISTRY

rng = np.random.default_rng(0)
X = rng.standard_normal((3, 4, 3))
IDX = np.array([[0, 1], [3, 3], [2, -1]])       # per sample: plain, repeated, negative


def _close(got, want):
    assert tuple(got.shape) == tuple(want.shape)
    np.testing.assert_allclose(got.numpy(), want.detach().numpy(), rtol=1e-10, atol=1e-12)


def _per_sample(fn, *arrays):
    return torch.stack([fn(*[torch.tensor(a[k]) for a in arrays]) for k in range(len(arrays[0]))])


CASES = {
    "take": (lambda a, i: ag.take(a, i), lambda a, i: torch.take(a, i), (X, IDX)),
    "index_fill": (lambda a, i: ag.index_fill(a, 0, i, 7.0), lambda a, i: a.index_fill(0, i, 7.0),
                   (X, IDX)),
    "index_copy": (lambda a, i: ag.index_copy(a, 0, i, a[:2] * 2),
                   lambda a, i: a.index_copy(0, i, a[:2] * 2), (X, np.array([[0, 1], [3, 2], [2, 1]]))),
    "put-accumulate": (lambda a, i: ag.put(a, i, a[0, :2], accumulate=True),
                       lambda a, i: a.put(i, a[0, :2], accumulate=True), (X, IDX)),
    "index_put": (lambda a, i: ag.index_put(a, (i,), a[1:3] * 3),
                  lambda a, i: a.index_put((i,), a[1:3] * 3), (X, np.array([[0, 3], [2, 1], [1, -1]]))),
    "index_put-accumulate-points": (
        lambda a, i: ag.index_put(a, (i, i % 3), a[0, :2], accumulate=True),
        lambda a, i: a.index_put((i, i % 3), a[0, :2], accumulate=True), (X, IDX)),
    "sort": (lambda a: ag.sort(a, 0, descending=True)[1],
             lambda a: torch.sort(a, dim=0, descending=True, stable=True)[1], (X,)),
    "topk": (lambda a: ag.topk(a, 2, 0)[0], lambda a: torch.topk(a, 2, 0)[0], (X,)),
    "logdet": (lambda a: ag.logdet(a[:3]), lambda a: torch.logdet(a[:3]), (X,)),     # some det < 0
    "pinv-atol": (lambda a, t: ag.linalg.pinv(a, atol=t), lambda a, t: torch.linalg.pinv(a, atol=t),
                  (X, np.array([0.1, 0.8, 2.0]))),
    "lstsq-mixed-rank": (lambda a, b: ag.linalg.lstsq(a, b).solution,
                         lambda a, b: torch.linalg.lstsq(a, b).solution,
                         (np.stack([X[0], np.c_[X[1][:, :2], X[1][:, :1]], X[2]]), X[:, :, :2])),
    "frexp-exponent": (lambda a: ag.frexp(a * 100)[1], lambda a: torch.frexp(a * 100)[1], (X,)),
    "mvlgamma": (lambda a: ag.mvlgamma(a.abs() + 2, 3), lambda a: torch.mvlgamma(a.abs() + 2, 3), (X,)),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_vmap_matches_pytorch_per_sample(name):
    ours, theirs, arrays = CASES[name]
    got = vmap(ours)(*[ag.tensor(a) for a in arrays])
    want = _per_sample(theirs, *arrays)
    if got.dtype.kind in "iu":
        np.testing.assert_array_equal(got.numpy(), want.numpy())
    else:
        _close(got, want)


def test_per_sample_gradients_of_index_put():
    """One backward through the batched index_put = PyTorch's per-sample gradients."""
    V = rng.standard_normal((3, 2, 3))
    x, v = ag.tensor(X, requires_grad=True), ag.tensor(V, requires_grad=True)
    out = vmap(lambda a, i, w: ag.index_put(a, (i,), w, True))(x, ag.tensor(IDX), v)
    weights = np.arange(out.numel()).reshape(out.shape) * 1.0
    (out * ag.tensor(weights)).sum().backward()
    xt, vt = torch.tensor(X, requires_grad=True), torch.tensor(V, requires_grad=True)
    o = torch.stack([xt[k].index_put((torch.tensor(IDX[k]),), vt[k], True) for k in range(3)])
    (o * torch.tensor(weights)).sum().backward()
    _close(x.grad, xt.grad)
    _close(v.grad, vt.grad)


def test_index_fill_value_gradient_counts_each_place_once():
    v = ag.tensor(np.array(0.5), requires_grad=True)
    vt = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    ag.index_fill(ag.tensor(X[0]), 0, ag.tensor([3, 3, -4]), v).sum().backward()
    # PyTorch's backward refuses the -4 that names row 0
    torch.tensor(X[0]).index_fill(0, torch.tensor([3, 3, 0]), vt).sum().backward()
    assert v.grad.item() == vt.grad.item() == 6.0


def test_cholesky_ex_per_sample_info():
    M = rng.standard_normal((3, 3, 3))
    A = M @ np.swapaxes(M, -1, -2) + 0.1 * np.eye(3)
    A[1, 2, 2], A[2, 0, 0] = -4.0, -1.0
    got = vmap(ag.linalg.cholesky_ex)(ag.tensor(A))
    want = [torch.linalg.cholesky_ex(torch.tensor(a)) for a in A]
    np.testing.assert_array_equal(got.info.numpy(), [w.info.item() for w in want])
    _close(got.L[0], want[0].L)
    assert np.isnan(got.L.numpy()[1:]).all()
    with pytest.raises(ag.linalg.LinAlgError, match="Batch element 1.*order 3"):
        vmap(lambda a: ag.linalg.cholesky_ex(a, check_errors=True))(ag.tensor(A))


def test_attention_with_per_sample_masks_and_dropout_modes():
    import nn.functional as F
    q = ag.tensor(X)
    masks = (rng.random((3, 4, 4)) < 0.6) | np.eye(4, dtype=bool)
    got = vmap(lambda a, m: F.scaled_dot_product_attention(a, a, a, attn_mask=m))(q, ag.tensor(masks))
    sdpa = torch.nn.functional.scaled_dot_product_attention
    want = _per_sample(lambda a, m: sdpa(a, a, a, attn_mask=m), X, masks)
    _close(got, want)
    dropped = lambda a: F.scaled_dot_product_attention(a, a, a, dropout_p=0.5)    # noqa: E731
    with pytest.raises(RuntimeError, match="randomness error mode"):
        vmap(dropped)(q)
    assert vmap(dropped, randomness="same")(q).shape == (3, 4, 3)


def test_batch_norm_with_per_sample_running_stats():
    """Training updates each sample's own running statistics, eval uses them, as
    torch.func.vmap does; unbatched running stats with a batched input refuse (PyTorch
    too)."""
    bn = REGISTRY["batch_norm"].op
    x = rng.standard_normal((3, 5, 4, 2))
    w = rng.random(4)
    mean, var = ag.zeros(3, 4, dtype=ag.float64), ag.ones(3, 4, dtype=ag.float64)
    mean_t, var_t = torch.zeros(3, 4, dtype=torch.float64), torch.ones(3, 4, dtype=torch.float64)
    for training in (True, False):
        got = vmap(lambda a, m, v: bn(a, m, v, ag.tensor(w), None, training=training, momentum=0.3))(
            ag.tensor(x), mean, var)
        want = torch.func.vmap(lambda a, m, v: torch.nn.functional.batch_norm(
            a, m, v, torch.tensor(w), None, training=training, momentum=0.3))(
            torch.tensor(x), mean_t, var_t)
        _close(got, want)
        _close(mean, mean_t)
        _close(var, var_t)
    with pytest.raises(RuntimeError, match="batch_norm: .*not batched"):
        vmap(lambda a: bn(a, ag.zeros(4), ag.ones(4), training=True))(ag.tensor(x))


@pytest.mark.parametrize("call", [
    lambda: vmap(lambda a, i: ag.take(a, i))(ag.tensor(X), ag.tensor(np.array([[0], [1], [12]]))),
    lambda: vmap(lambda a, i: ag.index_fill(a, 0, i, 1.0))(ag.tensor(X),
                                                           ag.tensor(np.array([[0], [4], [1]]))),
    lambda: vmap(lambda a, m: ag.index_put(a, (m,), ag.tensor(1.0)))(ag.tensor(X), ag.tensor(X > 0)),
], ids=["take-out-of-range-in-one-sample", "index_fill-out-of-range", "index_put-batched-bool-mask"])
def test_refusals_name_the_op(call):
    with pytest.raises((IndexError, RuntimeError), match="take|index_fill|index_put"):
        call()


def test_grid_sample_folds_the_batch_into_n_with_gradients():
    from autograd.ops.grid_sampling import grid_sample
    x = rng.standard_normal((3, 2, 2, 4, 5))
    g = rng.uniform(-1.1, 1.1, (3, 2, 3, 3, 2))
    xa, ga = ag.tensor(x, requires_grad=True), ag.tensor(g, requires_grad=True)
    out = vmap(lambda a, b: grid_sample(a, b, padding_mode="reflection", align_corners=False))(xa, ga)
    xt, gt = torch.tensor(x, requires_grad=True), torch.tensor(g, requires_grad=True)
    want = torch.stack([torch.nn.functional.grid_sample(xt[k], gt[k], padding_mode="reflection",
                                                        align_corners=False) for k in range(3)])
    weights = rng.standard_normal(out.shape)
    (out * ag.tensor(weights)).sum().backward()
    (want * torch.tensor(weights)).sum().backward()
    _close(out, want)
    _close(xa.grad, xt.grad)
    _close(ga.grad, gt.grad)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_multilabel_margin_loss_with_per_sample_label_sets(reduction):
    x = rng.standard_normal((3, 2, 4))
    target = np.array([[[3, 0, -1, 1], [1, -1, 0, 0]], [[2, -1, 0, 0], [0, 1, 2, 3]],
                       [[-1, 0, 0, 0], [3, 2, -1, 0]]])
    loss = REGISTRY["multilabel_margin_loss"].op
    got = vmap(lambda a, t: loss(a, t, reduction))(ag.tensor(x), ag.tensor(target))
    theirs = torch.nn.functional.multilabel_margin_loss
    want = _per_sample(lambda a, t: theirs(a, t, reduction=reduction), x, target)
    _close(got, want)


def test_fractional_max_pool_with_per_sample_windows():
    x = rng.standard_normal((3, 2, 2, 7, 6))
    u = rng.random((3, 2, 2, 2))
    pool = REGISTRY["fractional_max_pool2d"].op
    got, idx = vmap(lambda a, s: pool(a, 2, output_size=(3, 4), return_indices=True, _random_samples=s))(
        ag.tensor(x), ag.tensor(u))
    want = [torch.nn.functional.fractional_max_pool2d(torch.tensor(x[k]), 2, output_size=(3, 4),
                                                      return_indices=True,
                                                      _random_samples=torch.tensor(u[k]))
            for k in range(3)]
    _close(got, torch.stack([w[0] for w in want]))
    np.testing.assert_array_equal(idx.numpy(), torch.stack([w[1] for w in want]).numpy())
    with pytest.raises(RuntimeError, match="randomness error mode"):     # it draws its windows
        vmap(lambda a: pool(a, 2, output_size=(3, 4)))(ag.tensor(x))
