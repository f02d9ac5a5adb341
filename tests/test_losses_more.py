"""The losses of issue 27 (ops/loss_more.py, ops/ctc.py), embedding_bag, pdist,
gumbel_softmax, linear_cross_entropy and their modules, against PyTorch 2.13: values
and gradients on ordinary and edge inputs (zeros, ties, +-inf, NaN, size-1 and empty
dims), errors naming the op, and the kernels against their NumPy twins.  The registry
sweep (tests/test_op_registry.py) gradchecks and gradgradchecks the same ops."""
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import autograd as ag
import nn
import nn.functional as F
from autograd.kernels import ctc as ctc_kernels
from autograd.kernels import segment

RNG = np.random.default_rng(0)


def _ours(a, grad):
    return ag.tensor(a, requires_grad=bool(grad)) if isinstance(a, np.ndarray) else a


def _theirs(a, grad):
    return torch.tensor(a, requires_grad=bool(grad)) if isinstance(a, np.ndarray) else a


def compare(name, args, grads, kwargs=None, rtol=1e-7, atol=1e-9, theirs=None, ours=None):
    """F.<name> against torch's: value, and the gradients of sum(out * r) w.r.t. the
    arguments flagged in ``grads``."""
    kwargs = kwargs or {}
    ours_in = [_ours(a, g) for a, g in zip(args, grads)]
    theirs_in = [_theirs(a, g) for a, g in zip(args, grads)]
    out = (ours or getattr(F, name))(*ours_in, **kwargs)
    ref = (theirs or getattr(TF, name))(*theirs_in, **kwargs)
    np.testing.assert_allclose(out.array, ref.detach().numpy(), rtol=rtol, atol=atol)
    if not any(grads) or not ref.requires_grad:
        return out, ref
    r = RNG.standard_normal(ref.shape)
    (out * ag.tensor(r)).sum().backward()
    (ref * torch.tensor(r)).sum().backward()
    for o, t, g in zip(ours_in, theirs_in, grads):
        if g:
            np.testing.assert_allclose(o.grad.array, t.grad.numpy(), rtol=1e-6, atol=1e-9)
    return out, ref


def signs(*shape):
    return np.where(RNG.standard_normal(shape) > 0, 1.0, -1.0)


REDUCTIONS = ["mean", "sum", "none"]


# -- the elementwise and margin losses --------------------------------------------------------
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_margin_and_embedding_losses_match(reduction):
    x, y, z = (RNG.standard_normal((4, 5)) for _ in range(3))
    kw = dict(reduction=reduction)
    compare("margin_ranking_loss", (x[:, 0], y[:, 0], signs(4)), (1, 1, 0), dict(kw, margin=0.2))
    compare("hinge_embedding_loss", (x, signs(4, 5)), (1, 0), dict(kw, margin=0.5))
    compare("soft_margin_loss", (x, signs(4, 5)), (1, 0), kw)
    compare("multilabel_soft_margin_loss", (x, (y > 0) * 1.0), (1, 0), kw)
    compare("multilabel_soft_margin_loss", (x, (y > 0) * 1.0, np.linspace(0.1, 2, 5)), (1, 0, 0), kw)
    compare("triplet_margin_loss", (x, y, z), (1, 1, 1), dict(kw, swap=True, p=1.5))
    compare("triplet_margin_with_distance_loss", (x, y, z), (1, 1, 1), dict(kw, margin=2.0))
    compare("triplet_margin_with_distance_loss", (x, y, z), (1, 1, 1),
            dict(kw, swap=True, distance_function=lambda a, b: 1 - F.cosine_similarity(a, b)),
            theirs=lambda *a, **k: TF.triplet_margin_with_distance_loss(
                *a, **dict(k, distance_function=lambda u, v: 1 - TF.cosine_similarity(u, v))))


def test_hinge_embedding_targets_outside_plus_minus_one_add_both_parts():
    x = np.array([[-0.5, 0.0, 2.0], [0.3, 1.0, -3.0]])
    compare("hinge_embedding_loss", (x, np.array([[0.5, 0.0, 2.0], [1.0, -1.0, 3.0]])), (1, 0),
            dict(reduction="none"))


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("log_input,full", [(True, False), (True, True), (False, False), (False, True)])
def test_poisson_nll_matches(log_input, full, reduction):
    x = RNG.uniform(0.0, 2.0, (3, 4)) if not log_input else RNG.standard_normal((3, 4))
    y = np.array([[0.0, 1.0, 1.5, 4.0], [2.0, 0.5, 7.0, 1.0], [0.0, 0.0, 3.0, 10.0]])
    compare("poisson_nll_loss", (x, y), (1, 0), dict(log_input=log_input, full=full, reduction=reduction))
    # The target's gradient too, where positive: at y = 0 PyTorch's is NaN (0 * log(0) through
    # Stirling's masked term), ours the derivative of the masked term (0).
    compare("poisson_nll_loss", (x, y + 0.25), (1, 1), dict(log_input=log_input, full=full, reduction=reduction))


@pytest.mark.parametrize("var_shape", [(3, 4), (3,), (3, 1), (1, 4)])
@pytest.mark.parametrize("full", [False, True])
def test_gaussian_nll_matches(var_shape, full):
    x, y = RNG.standard_normal((3, 4)), RNG.standard_normal((3, 4))
    var = RNG.uniform(0.0, 2.0, var_shape)
    var.flat[0] = 1e-9                                    # below eps: clamped, gradient kept
    for reduction in REDUCTIONS:
        compare("gaussian_nll_loss", (x, y, var), (1, 1, 1), dict(full=full, reduction=reduction))
    compare("gaussian_nll_loss", (x, y, 0.7), (1, 1, 0), dict(full=full))


def test_multilabel_margin_matches_with_repeats_and_early_stop():
    x = RNG.standard_normal((5, 4))
    x[0, 1] = x[0, 3] = 0.25                              # a tie between a target and a non-target
    t = np.array([[3, 0, -1, 1], [1, 2, 3, 0], [2, 2, -1, -1], [-1, 1, 2, 3], [0, 3, -1, 3]])
    for reduction in REDUCTIONS:
        compare("multilabel_margin_loss", (x, t), (1, 0), dict(reduction=reduction))
    compare("multilabel_margin_loss", (x[0], t[0]), (1, 0))


@pytest.mark.parametrize("margin", [0.0, 0.3])
def test_cosine_embedding_loss_matches_at_zero_vectors_and_ties(margin):
    """Zero vectors (cos = 0: at margin 0 a tie of the hinge, whose gradient passes as
    PyTorch's clamp_min's), identical rows, targets outside {1, -1} (no loss)."""
    x1, x2 = RNG.standard_normal((5, 4)), RNG.standard_normal((5, 4))
    x1[0], x2[1], x2[2] = 0, 0, x1[2]
    y = np.array([1.0, -1.0, 1.0, -1.0, 0.5])
    for reduction in REDUCTIONS:
        ours_in = [ag.tensor(a, requires_grad=True) for a in (x1, x2)]
        theirs_in = [torch.tensor(a, requires_grad=True) for a in (x1, x2)]
        out = F.cosine_embedding_loss(*ours_in, ag.tensor(y), margin=margin, reduction=reduction)
        ref = TF.cosine_embedding_loss(*theirs_in, torch.tensor(y), margin=margin, reduction=reduction)
        np.testing.assert_allclose(out.array, ref.detach().numpy(), atol=1e-12)
        out.sum().backward()
        ref.sum().backward()
        for o, t in zip(ours_in, theirs_in):      # up to 1e6 where a norm is 0: relative
            np.testing.assert_allclose(o.grad.array, t.grad.numpy(), rtol=1e-6, atol=1e-12)
    compare("cosine_embedding_loss", (x1[3], x2[3], np.array(-1.0)), (1, 1, 0), dict(margin=margin))
    with pytest.raises(ValueError, match="cosine_embedding_loss: expected input1 and input2"):
        F.cosine_embedding_loss(ag.tensor(x1), ag.tensor(x2[:3]), ag.tensor(y))


def test_edge_values_match():
    """+-inf, NaN, zero-size and size-1 dims, as PyTorch."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        x = np.array([[np.inf, -np.inf, np.nan, 0.0]])
        y = np.array([[1.0, -1.0, 1.0, -1.0]])
        compare("margin_ranking_loss", (x[0], np.zeros(4), y[0]), (0, 0, 0), dict(reduction="none"))
        compare("hinge_embedding_loss", (x, y), (0, 0), dict(reduction="none"))
        compare("soft_margin_loss", (np.array([[-np.inf, 0.0, np.nan]]), np.ones((1, 3))), (0, 0),
                dict(reduction="none"))
        for name, args in [("soft_margin_loss", (np.zeros((0, 3)), np.zeros((0, 3)))),
                           ("multilabel_soft_margin_loss", (np.zeros((0, 3)), np.zeros((0, 3)))),
                           ("poisson_nll_loss", (np.zeros((2, 0)), np.zeros((2, 0)))),
                           ("gaussian_nll_loss", (np.zeros((0, 2)), np.zeros((0, 2)), np.ones((0, 2)))),
                           ("triplet_margin_loss", (np.zeros((0, 3)),) * 3)]:
            for reduction in REDUCTIONS:
                compare(name, args, (0,) * len(args), dict(reduction=reduction))
    compare("triplet_margin_loss", (np.ones((1, 1)), np.ones((1, 1)), np.zeros((1, 1))), (1, 1, 1))


def test_float32_inputs_stay_float32_and_match():
    x, y = RNG.standard_normal((3, 4)).astype(np.float32), signs(3, 4).astype(np.float32)
    out, _ = compare("soft_margin_loss", (x, y), (1, 0), rtol=1e-6, atol=1e-6)
    assert out.dtype == ag.float32


def test_legacy_size_average_and_reduce_map_to_reduction():
    x, y = RNG.standard_normal((3, 4)), signs(3, 4)
    for size_average, reduce in [(False, None), (None, False), (True, True)]:
        with pytest.warns(UserWarning):
            ours = F.soft_margin_loss(ag.tensor(x), ag.tensor(y), size_average, reduce)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = TF.soft_margin_loss(torch.tensor(x), torch.tensor(y), size_average, reduce)
        np.testing.assert_allclose(ours.array, theirs.numpy())


@pytest.mark.parametrize("call,words", [
    (lambda: F.margin_ranking_loss(ag.ones(3), ag.ones(3), ag.ones(1, 3)), "margin_ranking_loss"),
    (lambda: F.soft_margin_loss(ag.ones(3), ag.ones(3), reduction="avg"), "soft_margin_loss: reduction"),
    (lambda: F.soft_margin_loss(ag.ones(3), ag.ones(4)), "soft_margin_loss: target"),
    (lambda: F.multilabel_margin_loss(ag.ones(2, 3), ag.tensor([[0, 3, -1], [0, 1, 2]])),
     "multilabel_margin_loss: target values"),
    (lambda: F.multilabel_margin_loss(ag.ones(2, 3), ag.ones(2, 3)), "multilabel_margin_loss: target must"),
    (lambda: F.gaussian_nll_loss(ag.ones(2, 3), ag.ones(2, 3), ag.ones(3, 2)), "gaussian_nll_loss: var"),
    (lambda: F.gaussian_nll_loss(ag.ones(2, 3), ag.ones(2, 3), -ag.ones(2, 3)), "negative"),
    (lambda: F.triplet_margin_loss(ag.ones(2, 3), ag.ones(2, 3), ag.ones(3)), "triplet_margin_loss"),
    (lambda: F.triplet_margin_with_distance_loss(ag.ones(2, 3), ag.ones(2, 3), ag.ones(2, 3), margin=0),
     "margin must be greater than 0"),
    (lambda: F.poisson_nll_loss(ag.ones(3), ag.ones(3), reduction="x"), "poisson_nll_loss"),
])
def test_errors_name_the_op(call, words):
    with pytest.raises((ValueError, TypeError, IndexError), match=words):
        call()


# -- CTC -----------------------------------------------------------------------------------
def _ctc_case(t_, n_, c_, target_lengths, seed=0):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((t_, n_, c_))
    targets = rng.integers(1, c_, (n_, max(target_lengths, default=0)))
    return logits, targets


def _ctc_compare(logits, targets, input_lengths, target_lengths, **kw):
    """Through a log_softmax of the logits: PyTorch's CTC gradient assumes one (see
    autograd/kernels/ctc.py), and then both are the loss's derivative."""
    ours_x, theirs_x = ag.tensor(logits, requires_grad=True), torch.tensor(logits, requires_grad=True)
    ours = F.ctc_loss(ours_x.log_softmax(-1), ag.tensor(targets), input_lengths, target_lengths, **kw)
    theirs = TF.ctc_loss(theirs_x.log_softmax(-1), torch.tensor(targets), torch.tensor(input_lengths),
                         torch.tensor(target_lengths), **kw)
    np.testing.assert_allclose(ours.array, theirs.detach().numpy(), rtol=1e-7, atol=1e-9)
    r = RNG.standard_normal(theirs.shape)
    (ours * ag.tensor(r)).sum().backward()
    (theirs * torch.tensor(r)).sum().backward()
    np.testing.assert_allclose(ours_x.grad.array, theirs_x.grad.numpy(), rtol=1e-6, atol=1e-9)
    return ours


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_ctc_matches_padded_and_concatenated(reduction):
    logits, targets = _ctc_case(12, 4, 6, [5, 3, 0, 4])
    targets[0, :3] = 2                                   # repeats need a blank between them
    input_lengths, target_lengths = [12, 9, 4, 7], [5, 3, 0, 4]
    _ctc_compare(logits, targets, input_lengths, target_lengths, reduction=reduction)
    flat = np.concatenate([row[:n] for row, n in zip(targets, target_lengths)])
    _ctc_compare(logits, flat, input_lengths, target_lengths, reduction=reduction)
    _ctc_compare(logits, targets - 1, input_lengths, target_lengths, reduction=reduction, blank=5)


def test_ctc_unbatched_and_zero_infinity():
    logits, targets = _ctc_case(6, 1, 4, [3])
    ours = _ctc_compare(logits[:, 0], targets[0], 6, 3)
    assert ours.shape == ()
    # 4 repeated labels need 7 steps: infinite loss; zero_infinity makes it 0 with no gradient
    logits, _ = _ctc_case(5, 2, 3, [4])
    targets = np.array([[1, 1, 1, 1], [1, 2, 0, 0]])
    out = _ctc_compare(logits, targets, [5, 5], [4, 2], reduction="none", zero_infinity=True)
    assert out.array[0] == 0
    with np.errstate(invalid="ignore"):
        inf = F.ctc_loss(ag.tensor(logits).log_softmax(-1), ag.tensor(targets), [5, 5], [4, 2],
                         reduction="none")
    assert np.isinf(inf.array[0])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ctc_kernel_matches_its_numpy_twin(dtype):
    rng = np.random.default_rng(3)
    for t_, n_, c_ in [(1, 1, 2), (9, 5, 4), (30, 3, 7)]:
        x = rng.standard_normal((t_, n_, c_))
        lp = (x - np.log(np.exp(x).sum(-1, keepdims=True))).astype(dtype)
        tl = rng.integers(0, max(1, t_ // 2) + 1, n_)
        il = rng.integers(tl, t_ + 1)
        labels = rng.integers(1, c_, int(tl.sum()))
        starts = np.concatenate([[0], np.cumsum(tl)[:-1]]).astype(np.int64)
        a1, n1 = ctc_kernels.ctc_alpha_numba(lp, labels, starts, tl, il, 0)
        a2, n2 = ctc_kernels.ctc_alpha_reference(lp, labels, starts, tl, il, 0)
        tol = dict(rtol=1e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(n1, n2, **tol)
        g1 = ctc_kernels.ctc_grad_numba(lp, a1, n1, labels, starts, tl, il, 0)
        g2 = ctc_kernels.ctc_grad_reference(lp, a2, n2, labels, starts, tl, il, 0)
        np.testing.assert_allclose(g1, g2, **tol)


def test_ctc_second_order_gradient_is_differentiable():
    logits, targets = _ctc_case(5, 2, 3, [2, 1])
    x = ag.tensor(logits, requires_grad=True)
    loss = F.ctc_loss(x.log_softmax(-1), ag.tensor(targets), [5, 4], [2, 1])
    g, = ag.grad(loss, x, create_graph=True)
    lp = ag.tensor(logits).log_softmax(-1).detach().requires_grad_()
    assert ag.gradgradcheck(lambda v: F.ctc_loss(v, ag.tensor(targets), [5, 4], [2, 1]), [lp])
    assert g.requires_grad


@pytest.mark.parametrize("call,words", [
    (lambda: F.ctc_loss(ag.zeros(4, 2, 3), ag.tensor([[1, 2], [1, 0]]), [4, 5], [2, 1]), "input lengths"),
    (lambda: F.ctc_loss(ag.zeros(4, 2, 3), ag.tensor([[1, 2], [1, 0]]), [4, 4], [3, 1]), "padded length"),
    (lambda: F.ctc_loss(ag.zeros(4, 2, 3), ag.tensor([1, 2, 1]), [4, 4], [1, 1]), "concatenated"),
    (lambda: F.ctc_loss(ag.zeros(4, 2, 3), ag.tensor([[1, 3], [1, 0]]), [4, 4], [2, 1]), "target labels"),
    (lambda: F.ctc_loss(ag.zeros(4, 2, 3), ag.tensor([[1, 0], [1, 0]]), [4, 4], [2, 1]), "not the blank"),
    (lambda: F.ctc_loss(ag.zeros(4, 3), ag.tensor([1]), [4], [1], blank=3), "blank must be"),
    (lambda: F.ctc_loss(ag.zeros(4), ag.tensor([1]), [4], [1]), "log_probs"),
])
def test_ctc_errors_name_the_op(call, words):
    with pytest.raises((ValueError, TypeError), match=f"ctc_loss: .*{words}"):
        call()


def test_ctc_module_matches():
    logits, targets = _ctc_case(8, 3, 5, [3, 2, 3])
    lp = ag.tensor(logits).log_softmax(-1)
    ours = nn.CTCLoss(blank=0, reduction="sum")(lp, ag.tensor(targets), [8, 6, 7], [3, 2, 3])
    theirs = torch.nn.CTCLoss(blank=0, reduction="sum")(torch.tensor(logits).log_softmax(-1),
                                                        torch.tensor(targets), (8, 6, 7), (3, 2, 3))
    np.testing.assert_allclose(ours.array, theirs.numpy(), rtol=1e-7)


# -- embedding_bag ---------------------------------------------------------------------------
BAG_INPUT = np.array([2, 0, 2, 4, 1, 3, 3, 0])
BAG_OFFSETS = np.array([0, 3, 3, 5])                   # bag 1 is empty


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
@pytest.mark.parametrize("padding_idx", [None, 2, -5])
def test_embedding_bag_matches(mode, padding_idx):
    w = RNG.standard_normal((5, 3))
    kw = dict(mode=mode, padding_idx=padding_idx)
    compare("embedding_bag", (BAG_INPUT, w, BAG_OFFSETS), (0, 1, 0), kw)
    compare("embedding_bag", (BAG_INPUT.reshape(2, 4), w), (0, 1), kw)
    compare("embedding_bag", (BAG_INPUT, w, np.array([0, 2, 8])), (0, 1, 0), dict(kw, include_last_offset=True))


def test_embedding_bag_per_sample_weights_ties_and_empty_input():
    w = RNG.standard_normal((5, 3))
    compare("embedding_bag", (BAG_INPUT, w, BAG_OFFSETS), (0, 1, 0),
            dict(mode="sum", per_sample_weights=torch.tensor(RNG.standard_normal(8))),
            ours=lambda i, w_, o, **k: F.embedding_bag(i, w_, o, **dict(
                k, per_sample_weights=ag.tensor(k["per_sample_weights"].numpy()))))
    tied = np.array([[1.0, 2.0, 2.0], [1.0, 2.0, 2.0], [0.5, 3.0, 3.0], [0, 0, 0], [0, 0, 0]])
    compare("embedding_bag", (np.array([1, 0, 2, 1]), tied, np.array([0, 2])), (0, 1, 0), dict(mode="max"))


def test_embedding_bag_scales_gradients_by_the_true_frequency():
    """As F.embedding(scale_grad_by_freq=True): each row's gradient divided by its index's
    count in input.  PyTorch 2.13's CPU embedding_bag divides by other counts (index 1 of
    [2, 0, 2, 4, 1, 3, 3, 0] by 2, index 2 of [0, 1, 1, 2, 4, 4, 4] by 2), so the
    reference is its embedding, summed per bag."""
    w = RNG.standard_normal((5, 3))
    ours_w, theirs_w = ag.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
    r = RNG.standard_normal((4, 3))
    out = F.embedding_bag(ag.tensor(BAG_INPUT), ours_w, ag.tensor(BAG_OFFSETS), mode="sum",
                          scale_grad_by_freq=True)
    (out * ag.tensor(r)).sum().backward()
    rows = TF.embedding(torch.tensor(BAG_INPUT), theirs_w, scale_grad_by_freq=True)
    bag_of = np.repeat(np.arange(4), np.diff(BAG_OFFSETS, append=8))
    ref = torch.zeros(4, 3, dtype=torch.float64).index_add(0, torch.tensor(bag_of), rows)
    (ref * torch.tensor(r)).sum().backward()
    np.testing.assert_allclose(out.array, ref.detach().numpy())
    np.testing.assert_allclose(ours_w.grad.array, theirs_w.grad.numpy(), rtol=1e-7)
    compare("embedding_bag", (np.zeros(0, np.int64), w, np.array([0, 0])), (0, 1, 0), dict(mode="mean"))


def test_embedding_bag_per_sample_weights_get_their_gradient():
    w, psw = RNG.standard_normal((5, 3)), RNG.standard_normal(8)
    ours_p, theirs_p = ag.tensor(psw, requires_grad=True), torch.tensor(psw, requires_grad=True)
    F.embedding_bag(ag.tensor(BAG_INPUT), ag.tensor(w), ag.tensor(BAG_OFFSETS), mode="sum",
                    per_sample_weights=ours_p).sum().backward()
    TF.embedding_bag(torch.tensor(BAG_INPUT), torch.tensor(w), torch.tensor(BAG_OFFSETS), mode="sum",
                     per_sample_weights=theirs_p).sum().backward()
    np.testing.assert_allclose(ours_p.grad.array, theirs_p.grad.numpy(), rtol=1e-7)


def test_embedding_bag_max_norm_renormalises_the_rows_in_place():
    w = RNG.standard_normal((5, 3)) * 3
    ours_w, theirs_w = ag.tensor(w.copy()), torch.tensor(w.copy())
    out = F.embedding_bag(ag.tensor(BAG_INPUT), ours_w, ag.tensor(BAG_OFFSETS), max_norm=1.0)
    ref = TF.embedding_bag(torch.tensor(BAG_INPUT), theirs_w, torch.tensor(BAG_OFFSETS), max_norm=1.0)
    np.testing.assert_allclose(out.array, ref.numpy(), rtol=1e-6)
    np.testing.assert_allclose(ours_w.array, theirs_w.numpy(), rtol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_segment_argmax_kernel_matches_its_numpy_twin(dtype):
    rng = np.random.default_rng(5)
    table = rng.integers(0, 3, (7, 4)).astype(dtype)      # many ties
    rows = rng.integers(0, 7, 20)
    ends = np.sort(rng.integers(0, 21, 6))
    keep = rng.random(20) > 0.3
    np.testing.assert_array_equal(segment.segment_argmax_numba(table, rows, ends, keep),
                                  segment.segment_argmax_reference(table, rows, ends, keep))


@pytest.mark.parametrize("call,words", [
    (lambda w: F.embedding_bag(ag.tensor([0, 1]), w), "offsets must be given"),
    (lambda w: F.embedding_bag(ag.tensor([[0, 1]]), w, ag.tensor([0])), "offsets must be None"),
    (lambda w: F.embedding_bag(ag.tensor([0, 1]), w, ag.tensor([1])), r"offsets\[0\] must be 0"),
    (lambda w: F.embedding_bag(ag.tensor([0, 1]), w, ag.tensor([0, 3])), "non-decreasing"),
    (lambda w: F.embedding_bag(ag.tensor([0, 9]), w, ag.tensor([0])), "out of range"),
    (lambda w: F.embedding_bag(ag.tensor([0.0]), w, ag.tensor([0])), "integer"),
    (lambda w: F.embedding_bag(ag.tensor([0, 1]), w, ag.tensor([0]), mode="min"), "mode"),
    (lambda w: F.embedding_bag(ag.tensor([0, 1]), w, ag.tensor([0]), per_sample_weights=ag.ones(2)),
     "only supported for mode='sum'"),
    (lambda w: F.embedding_bag(ag.tensor([0, 1]), w, ag.tensor([0]), mode="sum",
                               per_sample_weights=ag.ones(3)), "shape of input"),
])
def test_embedding_bag_errors_name_the_op(call, words):
    with pytest.raises((ValueError, TypeError, IndexError), match=f"embedding_bag: .*{words}"):
        call(ag.ones(5, 2))


def test_embedding_bag_module_matches_and_ports():
    theirs = torch.nn.EmbeddingBag(10, 4, mode="max", padding_idx=1).double()
    ours = nn.EmbeddingBag(10, 4, mode="max", padding_idx=1).double()
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    assert repr(ours) == repr(theirs)
    assert np.all(ours.weight.array[1] == 0)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    idx, off = np.array([1, 2, 3, 1, 9, 9, 0]), np.array([0, 2, 4])
    out, ref = ours(ag.tensor(idx), ag.tensor(off)), theirs(torch.tensor(idx), torch.tensor(off))
    np.testing.assert_allclose(out.array, ref.detach().numpy())
    out.sum().backward()
    ref.sum().backward()
    np.testing.assert_allclose(ours.weight.grad.array, theirs.weight.grad.numpy())
    big = nn.EmbeddingBag(2000, 50)                      # N(0, 1) initialisation
    assert abs(big.weight.array.mean()) < 0.01 and abs(big.weight.array.std() - 1) < 0.01
    pre = nn.EmbeddingBag.from_pretrained(ag.tensor(np.eye(3)), mode="sum")
    assert not pre.weight.requires_grad
    np.testing.assert_allclose(pre(ag.tensor([[0, 2]])).array, [[1.0, 0.0, 1.0]])


# -- pdist, gumbel_softmax, linear_cross_entropy -------------------------------------------------
@pytest.mark.parametrize("p", [0.0, 1.0, 2.0, 3.5, float("inf")])
def test_pdist_matches(p):
    x = RNG.standard_normal((5, 3))
    compare("pdist", (x,), (1,), dict(p=p), rtol=1e-6)
    compare("pdist", (x[:1],), (1,), dict(p=p))


def test_gumbel_softmax_samples_and_straight_through_gradient():
    ag.manual_seed(0)
    logits = ag.tensor(np.log([[0.6, 0.3, 0.1]]).repeat(4000, 0), requires_grad=True)
    soft = F.gumbel_softmax(logits, tau=0.5)
    np.testing.assert_allclose(soft.array.sum(-1), 1.0)
    hard = F.gumbel_softmax(logits, hard=True)
    assert set(np.unique(hard.array)) == {0.0, 1.0} and np.all(hard.array.sum(-1) == 1)
    # the argmax of logits + Gumbel noise is a sample of softmax(logits)
    np.testing.assert_allclose(hard.array.mean(0), [0.6, 0.3, 0.1], atol=0.03)
    ag.manual_seed(1)
    y = F.gumbel_softmax(logits[:2], tau=2.0, hard=True, dim=0)
    ag.manual_seed(1)
    y_soft = F.gumbel_softmax(logits[:2], tau=2.0, dim=0)
    r = ag.tensor(RNG.standard_normal((2, 3)))
    g_hard, = ag.grad((y * r).sum(), logits)
    g_soft, = ag.grad((y_soft * r).sum(), logits)
    np.testing.assert_allclose(g_hard.array, g_soft.array)
    with pytest.warns(UserWarning, match="eps"):
        F.gumbel_softmax(logits, eps=1e-3)


@pytest.mark.parametrize("kw", [dict(), dict(reduction="none", label_smoothing=0.1),
                                dict(reduction="sum", ignore_index=2), dict(weight="w")])
def test_linear_cross_entropy_matches(kw):
    x, w, b = RNG.standard_normal((6, 4)), RNG.standard_normal((5, 4)), RNG.standard_normal(5)
    t = np.array([0, 2, 4, 1, 2, 3])
    kw = dict(kw, weight=np.linspace(0.5, 2, 5)) if "weight" in kw else kw
    for args, grads in [((x, w, t), (1, 1, 0)), ((x[0], w, np.array(t[0])), (1, 1, 0))]:
        ours = lambda *a, **k: F.linear_cross_entropy(     # noqa: E731
            *a, **dict(k, linear_bias=ag.tensor(b), weight=None if k.get("weight") is None else ag.tensor(k["weight"])))
        theirs = lambda *a, **k: TF.linear_cross_entropy(  # noqa: E731
            *a, **dict(k, linear_bias=torch.tensor(b), weight=None if k.get("weight") is None else torch.tensor(k["weight"])))
        compare("linear_cross_entropy", args, grads, kw, ours=ours, theirs=theirs)


def test_linear_cross_entropy_k_dimensional_and_probabilities():
    x, w = RNG.standard_normal((3, 4)), RNG.standard_normal((5, 2, 4))
    compare("linear_cross_entropy", (x, w, RNG.integers(0, 5, (3, 2))), (1, 1, 0))
    probs = RNG.random((3, 5))
    compare("linear_cross_entropy", (x, w[:, 0], probs / probs.sum(1, keepdims=True)), (1, 1, 0))
    with pytest.raises(ValueError, match="linear_cross_entropy: ignore_index cannot"):
        F.linear_cross_entropy(ag.tensor(x), ag.tensor(w[:, 0]), ag.tensor(probs), ignore_index=1)
    with pytest.raises(ValueError, match="linear_cross_entropy: expected equal input"):
        F.linear_cross_entropy(ag.tensor(x), ag.ones(5, 3), ag.tensor([0, 1, 2]))


# -- modules ---------------------------------------------------------------------------------
LOSS_MODULES = [
    ("MarginRankingLoss", dict(margin=0.5), 3), ("HingeEmbeddingLoss", dict(margin=2.0), 2),
    ("SoftMarginLoss", dict(reduction="sum"), 2), ("MultiLabelSoftMarginLoss", dict(), 2),
    ("PoissonNLLLoss", dict(log_input=True, full=True), 2), ("GaussianNLLLoss", dict(full=True), 3),
    ("TripletMarginLoss", dict(margin=0.7, swap=True), 3),
    ("TripletMarginWithDistanceLoss", dict(margin=0.7, swap=True), 3),
]


@pytest.mark.parametrize("name,kw,n_args", LOSS_MODULES)
def test_loss_modules_match(name, kw, n_args):
    ours, theirs = getattr(nn, name)(**kw), getattr(torch.nn, name)(**kw)
    assert repr(ours) == repr(theirs)
    public = {k: v for k, v in vars(theirs).items() if not k.startswith("_") and k != "training"}
    assert {k: getattr(ours, k) for k in public} == public
    arrays = [RNG.uniform(0.1, 1.0, (4, 3)) for _ in range(n_args)]
    if name in ("MarginRankingLoss", "HingeEmbeddingLoss", "SoftMarginLoss"):
        arrays[-1] = signs(4, 3)
    if name == "MultiLabelSoftMarginLoss":
        arrays[-1] = (arrays[-1] > 0.5) * 1.0
    out = ours(*[ag.tensor(a) for a in arrays])
    ref = theirs(*[torch.tensor(a) for a in arrays])
    np.testing.assert_allclose(out.array, ref.numpy(), rtol=1e-7)


def test_linear_cross_entropy_loss_module_matches():
    theirs = torch.nn.LinearCrossEntropyLoss(4, 5, out_features=(2,), bias=True).double()
    ours = nn.LinearCrossEntropyLoss(4, 5, out_features=(2,), bias=True).double()
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["linear.weight", "linear.bias"]
    assert repr(ours) == repr(theirs)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x, t = RNG.standard_normal((3, 4)), RNG.integers(0, 5, (3, 2))
    out, ref = ours(ag.tensor(x), ag.tensor(t)), theirs(torch.tensor(x), torch.tensor(t))
    np.testing.assert_allclose(out.array, ref.detach().numpy(), rtol=1e-7)
    out.backward()
    ref.backward()
    np.testing.assert_allclose(ours.linear.weight.grad.array, theirs.linear.weight.grad.numpy(), rtol=1e-6)


def test_adaptive_log_softmax_matches():
    torch.manual_seed(0)
    theirs = torch.nn.AdaptiveLogSoftmaxWithLoss(8, 12, [3, 7], div_value=2.0, head_bias=True).double()
    ours = nn.AdaptiveLogSoftmaxWithLoss(8, 12, [3, 7], div_value=2.0, head_bias=True).double()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [tuple(p.shape) for p in ours.parameters()] == [tuple(p.shape) for p in theirs.parameters()]
    assert repr(ours) == repr(theirs)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x, t = RNG.standard_normal((10, 8)), np.array([0, 11, 5, 3, 2, 7, 8, 1, 6, 10])
    out, ref = ours(ag.tensor(x), ag.tensor(t)), theirs(torch.tensor(x), torch.tensor(t))
    np.testing.assert_allclose(out.output.array, ref.output.detach().numpy(), rtol=1e-7)
    np.testing.assert_allclose(out.loss.array, ref.loss.detach().numpy(), rtol=1e-7)
    out.loss.backward()
    ref.loss.backward()
    for (k, a), b in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(a.grad.array, b.grad.numpy(), rtol=1e-6, atol=1e-12, err_msg=k)
    np.testing.assert_allclose(ours.log_prob(ag.tensor(x)).array, theirs.log_prob(torch.tensor(x)).detach().numpy(),
                               rtol=1e-7)
    np.testing.assert_array_equal(ours.predict(ag.tensor(x)).array, theirs.predict(torch.tensor(x)).numpy())
    single = ours(ag.tensor(x[0]), ag.tensor(np.array(11)))
    assert single.output.shape == ()
    with pytest.raises(ValueError, match="AdaptiveLogSoftmaxWithLoss: target values"):
        ours(ag.tensor(x), ag.tensor(t + 2))
    with pytest.raises(ValueError, match="AdaptiveLogSoftmaxWithLoss: cutoffs"):
        nn.AdaptiveLogSoftmaxWithLoss(8, 12, [7, 3])


def test_distance_modules_and_rms_norm_match():
    a, b = RNG.standard_normal((4, 5)), RNG.standard_normal((4, 5))
    for ours, theirs in [(nn.PairwiseDistance(p=1.0, keepdim=True), torch.nn.PairwiseDistance(p=1.0, keepdim=True)),
                         (nn.CosineSimilarity(dim=0), torch.nn.CosineSimilarity(dim=0))]:
        assert repr(ours) == repr(theirs)
        np.testing.assert_allclose(ours(ag.tensor(a), ag.tensor(b)).array,
                                   theirs(torch.tensor(a), torch.tensor(b)).numpy(), rtol=1e-7)
    for kw in [dict(), dict(eps=1e-3), dict(elementwise_affine=False)]:
        theirs = torch.nn.RMSNorm((3, 5), **kw).double()
        ours = nn.RMSNorm((3, 5), **kw).double()
        assert repr(ours) == repr(theirs) and list(ours.state_dict()) == list(theirs.state_dict())
        if ours.weight is not None:
            assert np.all(ours.weight.array == 1)
            theirs.weight.data.normal_()
            ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
        x = RNG.standard_normal((2, 3, 5))
        ox, tx = ag.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        out, ref = ours(ox), theirs(tx)
        np.testing.assert_allclose(out.array, ref.detach().numpy(), rtol=1e-7)
        out.sum().backward()
        ref.sum().backward()
        np.testing.assert_allclose(ox.grad.array, tx.grad.numpy(), rtol=1e-6, atol=1e-12)
    with pytest.raises(ValueError, match="RMSNorm"):
        nn.RMSNorm(4)(ag.ones(2, 3))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_multilabel_margin_kernel_matches_its_numpy_twin(dtype):
    from autograd.kernels import margin
    rng = np.random.default_rng(4)
    x = rng.integers(-2, 3, (6, 5)).astype(dtype) / 2          # ties at the hinge
    labels = rng.integers(0, 5, (6, 5))
    counts = rng.integers(0, 6, 6)
    is_target = np.zeros((6, 5), bool)
    for n in range(6):
        is_target[n, labels[n, :counts[n]]] = True
    for a, b in zip(margin.multilabel_margin_numba(x, labels, counts, is_target),
                    margin.multilabel_margin_reference(x, labels, counts, is_target)):
        np.testing.assert_allclose(a, b, rtol=1e-6)


@pytest.mark.parametrize("p", [0.0, 0.5, 1.0, 2.0, 3.0, float("inf")])
def test_pdist_kernel_matches_its_numpy_twin_and_pytorch_at_ties(p):
    from autograd.kernels import pdist as kernel
    x = RNG.standard_normal((6, 3))
    x[2], x[1, 0] = x[4], x[5, 0]                          # a zero distance, a zero difference
    d = kernel.pdist_numba(x, p)
    np.testing.assert_allclose(d, kernel.pdist_reference(x, p), rtol=1e-12)
    g = RNG.standard_normal(d.shape)
    np.testing.assert_allclose(kernel.pdist_backward_numba(x, d, g, p),
                               kernel.pdist_backward_reference(x, d, g, p), rtol=1e-12, atol=1e-12)
    compare("pdist", (x,), (1,), dict(p=p), rtol=1e-12)


def test_integer_inputs_as_pytorch():
    """PyTorch computes margin ranking, Poisson NLL and triplet losses of integer inputs in
    float32 and refuses the others (hinge_embedding_loss's 'none' and 'sum' excepted:
    int64 results); we refuse them naming the op."""
    x, y = np.array([[1, 2, 3], [4, 5, 6]]), np.array([[1, -1, 1], [-1, 1, -1]])
    for name, args in [("margin_ranking_loss", (x[0], x[1], y[0])), ("poisson_nll_loss", (x, x)),
                       ("triplet_margin_loss", (x, x[::-1].copy(), x))]:
        out, ref = compare(name, args, (0,) * len(args), rtol=1e-6)
        assert out.dtype == ag.float32 and ref.dtype == torch.float32
    for name, args in [("hinge_embedding_loss", (x, y)), ("soft_margin_loss", (x, y)),
                       ("multilabel_soft_margin_loss", (x, y)), ("gaussian_nll_loss", (x, x, x))]:
        with pytest.raises(TypeError, match=f"{name}: expected floating-point input"):
            getattr(F, name)(*[ag.tensor(a) for a in args])
        with pytest.raises(RuntimeError):
            getattr(TF, name)(*[torch.tensor(a) for a in args])
