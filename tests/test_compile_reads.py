"""Compiled mode: state that lives outside the tape is replayed, or the region runs
eagerly with a graph break, never frozen at the capture's numbers.  Tensor data read
in NumPy (``.array``: comparisons, masks, indices, running statistics in eval) and
random numbers from ``generator=`` arguments; each case runs compiled against eager
on inputs that change from call to call."""
import warnings

import numpy as np
import pytest

import autograd as ag
import nn
import nn.functional as F
from autograd.compile import GraphBreak


def _inputs(n, shape, seed=0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return [ag.tensor(rng.standard_normal(shape).astype(dtype)) for _ in range(n)]


def _same_as_eager(fn, calls, grads_of=()):
    """fn compiled and eager on each call's arguments: equal values (and gradients of
    the tensors in ``grads_of``); the compiled one captured once, with no break."""
    compiled = ag.compile(fn)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for args in calls:
            outs = []
            for f in (fn, compiled):
                for t in grads_of:
                    t.grad = None
                out = f(*args)
                if grads_of:
                    out.sum().backward()
                outs.append([out.detach().array.copy()] + [t.grad.array.copy() for t in grads_of])
            for a, b in zip(*outs):
                np.testing.assert_array_equal(a, b)
    assert len(compiled.traces) == 1 and compiled.graph_breaks == []
    return compiled


def test_comparisons_and_masks_are_replayed():
    w = ag.tensor([0.1, 0.2, 0.3], requires_grad=True)
    xs = _inputs(3, (2, 3, 4))
    compiled = _same_as_eager(lambda x: ag.where(x > 0, x, x * 2) + F.prelu(x, w),
                              [(x,) for x in xs], grads_of=[w])
    assert "np.greater" in compiled.code        # the NumPy step is in the plan's code


def test_losses_reading_data_in_numpy_are_replayed():
    xs, ts = _inputs(3, (4, 5)), _inputs(3, (4, 5), seed=1)
    _same_as_eager(lambda x, t: F.huber_loss(x, t, delta=0.5) + F.smooth_l1_loss(x, t, beta=0.3),
                   list(zip(xs, ts)))


def test_index_arguments_are_read_live():
    rng = np.random.default_rng(0)
    w = ag.tensor(rng.standard_normal((6, 3)).astype(np.float32), requires_grad=True)
    idx = [ag.tensor(rng.integers(0, 6, 5)) for _ in range(3)]
    masks = [ag.tensor(rng.standard_normal(6) > 0) for _ in range(3)]
    _same_as_eager(lambda i: w[i] * 2, [(i,) for i in idx], grads_of=[w])
    # a boolean mask's result has a shape that depends on the data: eager, with a break
    compiled = ag.compile(lambda m: (w[m] * 3).sum(0))
    with pytest.warns(UserWarning, match="boolean mask of tensor data"):
        outs = [compiled(m).array for m in masks]
    for m, out in zip(masks, outs):
        np.testing.assert_array_equal(out, (w[m] * 3).sum(0).array)


def test_instance_norm_in_eval_reads_the_current_running_statistics():
    norm = nn.InstanceNorm2d(3, track_running_stats=True)
    compiled = ag.compile(norm)
    xs = _inputs(4, (2, 3, 5, 5))
    for x in xs[:2]:                  # training calls move the statistics (eagerly: a break)
        norm.train()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compiled(x)
        norm.eval()
        np.testing.assert_array_equal(compiled(xs[3]).array, norm(xs[3]).array)
    assert len([s for s in compiled._compiled.traces if s[4] == (False,)]) == 1


@pytest.mark.parametrize("make", [
    lambda x, i: x.gather(1, i),
    lambda x, i: F.one_hot(i, 5).float().sum(1) * x,
    lambda x, i: F.embedding(i, x) * 2,
], ids=["gather", "one_hot", "embedding"])
def test_index_checks_in_python_become_data_guards(make):
    """The wrappers check indices in Python (idx.min() < 0): a data guard, recomputed
    before each replay; an index that fails the check runs eagerly, which raises."""
    rng = np.random.default_rng(0)
    x = ag.tensor(rng.standard_normal((5, 5)).astype(np.float32))
    idx = [ag.tensor(rng.integers(0, 5, (5, 2))) for _ in range(3)]
    compiled = _same_as_eager(make, [(x, i) for i in idx])
    assert any(line.startswith("data: ") for line in compiled.guards)
    bad = ag.tensor(np.full((5, 2), 7))
    with pytest.warns(UserWarning, match="data guard failed"), pytest.raises((IndexError, ValueError, RuntimeError)):
        compiled(x, bad)


def test_python_number_from_data_is_guarded():
    def fn(x):
        scale = float(x.array.sum())          # a Python number: the plan holds it fixed
        return x * scale
    compiled = ag.compile(fn)
    x, y = _inputs(2, (3,))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compiled(x)
        np.testing.assert_array_equal(compiled(x.detach() * 1).array, fn(x).array)
    with pytest.warns(UserWarning, match="data guard failed: float\\(\\) of") as record:
        out = compiled(y)
    assert record[0].filename == __file__
    np.testing.assert_array_equal(out.array, fn(y).array)


def test_python_number_from_a_computed_value_breaks_at_the_users_line():
    def fn(x):
        h = x * 2
        return h * 2 if h.array.sum() > 0 else h * 3
    compiled = ag.compile(fn)
    x, y = _inputs(2, (3,))
    with pytest.warns(UserWarning, match="bool\\(\\) of tensor data that Mul computed") as record:
        compiled(x)
    assert record[0].filename == __file__
    np.testing.assert_array_equal(compiled(y).array, fn(y).array)
    assert compiled.traces == {}
    with pytest.raises(GraphBreak, match="Mul computed"):
        ag.compile(fn, fullgraph=True)(x)


def test_autograd_generator_is_redrawn_from_at_every_call():
    gen, twin = ag.Generator().manual_seed(7), ag.Generator().manual_seed(7)
    x = ag.zeros(4)
    compiled = ag.compile(lambda x, g: x + ag.randn(4, generator=g) + ag.rand(4, generator=g))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        outs = [compiled(x, gen).array.copy() for _ in range(3)]
    want = [(x + ag.randn(4, generator=twin) + ag.rand(4, generator=twin)).array for _ in range(3)]
    for a, b in zip(outs, want):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(outs[1], outs[2])
    assert len(compiled.traces) == 1


def test_numpy_generator_breaks_naming_it():
    rng = np.random.default_rng(0)
    compiled = ag.compile(lambda x: x + ag.rand(3, generator=rng))
    with pytest.warns(UserWarning, match="NumPy Generator rng drew numbers"):
        compiled(ag.zeros(3))
    a, b = compiled(ag.zeros(3)).array, compiled(ag.zeros(3)).array
    assert not np.array_equal(a, b)             # fresh numbers each call: eager


def test_legacy_numpy_random_and_manual_seed_inside_break():
    def legacy(x):
        return x + ag.tensor(np.random.rand(3).astype(np.float32))

    def reseeds(x):
        ag.manual_seed(3)
        return x + ag.rand(3)
    for fn, why in ((legacy, "np.random's global functions"), (reseeds, "manual_seed")):
        with pytest.raises(GraphBreak, match=why):
            ag.compile(fn, fullgraph=True)(ag.zeros(3))
