"""Type promotion against PyTorch 2.13 (a pinned test dependency; imported
unconditionally, so this file fails, never skips, without it): every pair of operand
kinds -- Python bool/int/float, 0-d tensors and dimensioned tensors of every dtype --
through ``dtypes.result_type`` (vs ``torch.result_type``) and through real binary ops."""
import numpy as np
import pytest
import torch

import autograd as ag
from autograd import dtypes

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
# (label, our operand, PyTorch's operand)
KINDS = [(f"py-{type(v).__name__}", v, v) for v in (True, 3, 2.5)]
for _name in DTYPES:
    _one = np.array(1, dtype=_name)
    KINDS.append((f"0d-{_name}", ag.tensor(_one), torch.tensor(_one)))
    KINDS.append((f"dim-{_name}", ag.tensor(np.ones(2, _name)), torch.tensor(np.ones(2, _name))))
OPS = {"mul": lambda a, b: a * b, "add": lambda a, b: a + b, "div": lambda a, b: a / b,
       "maximum": lambda a, b: a.maximum(b), "eq-then-where": lambda a, b: (a == b)}


def _torch_dtype(t):
    return np.dtype(str(t).replace("torch.", ""))


def _array(o):
    return o.array if isinstance(o, ag.Tensor) else o


@pytest.mark.parametrize("a", KINDS, ids=[k[0] for k in KINDS])
def test_every_pair_promotes_as_pytorch(a):
    name_a, ours_a, theirs_a = a
    wrong = []
    for name_b, ours_b, theirs_b in KINDS:
        if not isinstance(ours_a, ag.Tensor) and not isinstance(ours_b, ag.Tensor):
            continue                       # two Python numbers are not a tensor op
        expected = _torch_dtype(torch.result_type(theirs_a, theirs_b))
        got = dtypes.result_type(_array(ours_a), _array(ours_b))
        if got != expected:
            wrong.append(f"result_type({name_a}, {name_b}) = {got}, PyTorch {expected}")
        for op_name, fn in OPS.items():
            x, y = (ours_a, ours_b) if isinstance(ours_a, ag.Tensor) else (ours_b, ours_a)
            tx, ty = (theirs_a, theirs_b) if isinstance(ours_a, ag.Tensor) else (theirs_b, theirs_a)
            if op_name == "maximum" and not isinstance(y, ag.Tensor):
                continue                   # torch.maximum takes two tensors
            try:
                ref = fn(tx, ty)
            except RuntimeError:
                continue                   # PyTorch refuses this combination
            out = fn(x, y)
            if out.dtype != _torch_dtype(ref.dtype):
                wrong.append(f"{op_name}({name_a}, {name_b}) gives {out.dtype}, PyTorch {ref.dtype}")
    assert not wrong, "\n".join(wrong)


def test_the_issue_example():
    assert (ag.tensor(2.0, dtype=ag.float64) * ag.ones(3)).dtype == ag.float32
    assert (ag.tensor(2.0, dtype=ag.float64) * ag.ones(3, dtype=ag.int64)).dtype == ag.float64
    assert (ag.ones(3, dtype=ag.int64) * 2.5).dtype == ag.float32


def test_unary_math_on_integers_gives_the_default_float_as_pytorch():
    ints = np.array([1, -2, 0])
    for name in ("exp", "log1p", "sqrt", "sin", "tanh", "sigmoid", "erf", "expm1", "rsqrt"):
        ours = getattr(ag.tensor(np.abs(ints) + 1), name)()
        theirs = getattr(torch.tensor(np.abs(ints) + 1), name)()
        assert str(ours.dtype) == str(theirs.dtype) == "torch.float32", name
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6, err_msg=name)
    for name in ("neg", "abs", "sign", "floor", "ceil"):
        ours, theirs = getattr(ag.tensor(ints), name)(), getattr(torch.tensor(ints), name)()
        assert str(ours.dtype) == str(theirs.dtype) == "torch.int64", name
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=name)
