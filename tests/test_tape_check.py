"""gradcheck_tape: the op-level gradient check over every op of a real forward."""
import numpy as np
import pytest

import autograd as ag
from autograd.function import Primitive
from autograd.tape_check import record_inputs, recorded_inputs


class BadSquare(ag.Function):
    """x^2 with a planted bug in the VJP (3x instead of 2x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * x * 3.0


class Noisy(ag.Function):
    @staticmethod
    def forward(ctx, x):
        return x + np.random.default_rng().standard_normal(x.shape)

    @staticmethod
    def backward(ctx, g):
        return g


def mlp(square):
    rng = np.random.default_rng(0)
    w1 = ag.tensor(rng.standard_normal((3, 4)), dtype=ag.float32, requires_grad=True)
    w2 = ag.tensor(rng.standard_normal((4, 2)), dtype=ag.float32, requires_grad=True)

    def forward(x):
        with ag.name_scope("fc1"):
            h = (x @ w1).tanh()
        with ag.name_scope("act"):
            h = square.apply(h)
        with ag.name_scope("fc2"):
            return (h @ w2).sum()
    return forward


def test_every_op_of_a_correct_model_passes(capsys):
    x = ag.tensor(np.random.default_rng(1).standard_normal((5, 3)), dtype=ag.float32)
    report = ag.gradcheck_tape(mlp(_Square), x)
    assert report.ok and [c.op for c in report] == ["MatMul", "Tanh", "_Square", "MatMul", "Sum"]
    assert [c.module for c in report] == ["fc1", "fc1", "act", "fc2", "fc2"]
    assert all(c.rel_err < 1e-6 for c in report)
    out = capsys.readouterr().out
    assert "5 ops checked: 5 pass" in out


class _Square(ag.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * x * 2.0


def test_a_wrong_vjp_is_named_with_its_module_and_input():
    x = ag.tensor(np.random.default_rng(1).standard_normal((5, 3)), dtype=ag.float32)
    report = ag.gradcheck_tape(mlp(BadSquare), x, print_table=False)
    assert not report.ok
    (bad,) = report.failures
    assert (bad.op, bad.module, bad.result) == ("BadSquare", "act", "FAIL")
    assert "input 0" in bad.detail and bad.rel_err > 0.1
    text = str(report)
    assert "BadSquare" in text and "FAIL" in text and "1 FAIL" in text
    with pytest.raises(ag.GradcheckError, match="BadSquare"):
        ag.gradcheck_tape(mlp(BadSquare), x, print_table=False, raise_exception=True)


def test_kinks_and_random_ops_are_reported_not_failed():
    x = ag.tensor([[0.0, 1.0], [-1.0, 0.0]], requires_grad=True)
    report = ag.gradcheck_tape(lambda t: t.relu().sum(), x, print_table=False)
    assert [c.result for c in report] == ["kink", "pass"] and report.ok
    report = ag.gradcheck_tape(lambda t: Noisy.apply(t * 2.0).sum(), x, print_table=False)
    assert [c.result for c in report] == ["pass", "random", "pass"]
    assert not report.ok


def test_recorded_output_and_missing_recording():
    w = ag.tensor([1.0, 2.0], requires_grad=True)
    with record_inputs():
        y = (w * 3.0).exp().sum()
    assert "apply" in Primitive.__dict__ and Primitive.apply.__func__.__qualname__ == "Primitive.apply"
    report = ag.gradcheck_tape(y, print_table=False)
    assert [c.op for c in report] == ["Mul", "Exp", "Sum"] and report.ok
    z = (w * 2.0).sum()
    with pytest.raises(RuntimeError, match="record_inputs"):
        ag.gradcheck_tape(z)


def test_inputs_are_snapshotted_before_later_in_place_writes():
    a = ag.tensor([1.0, 2.0], requires_grad=True)
    with record_inputs():
        h = a * 1.0
        y = h * h
        h2 = h.clone()
        h2.add_(5.0)
        out = (y + h2).sum()
    node = y.grad_fn
    np.testing.assert_array_equal(recorded_inputs(node)[0].array, [1.0, 2.0])
    assert ag.gradcheck_tape(out, print_table=False).ok


class SquareWithBadJvp(ag.Function):
    """x^2: a right VJP (2x) and a planted bug in the JVP (3x)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        ctx.save_for_forward(x)
        return x * x

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        return g * x * 2.0

    @staticmethod
    def jvp(ctx, t):
        x, = ctx.saved_tensors
        return t * x * 3.0


def test_the_jvps_of_the_recorded_ops_are_checked_too():
    x = ag.tensor(np.random.default_rng(1).standard_normal((5, 3)), dtype=ag.float32)
    good = ag.gradcheck_tape(mlp(_Square), x, print_table=False)     # no jvp: its VJP only
    assert good.ok and len(good) == 5
    report = ag.gradcheck_tape(mlp(SquareWithBadJvp), x, print_table=False)
    bad = report.failures
    assert [c.op for c in bad] == ["SquareWithBadJvp"] and "JVP (forward mode)" in bad[0].detail
    assert ag.gradcheck_tape(mlp(BadSquare), x, print_table=False).failures[0].detail.startswith("wrong gradient")
