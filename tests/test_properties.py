"""Property tests over random shapes: broadcasting binary ops and reductions keep
gradients of the input's shape and agree with central differences."""
import numpy as np
from hypothesis import given, settings, strategies as st
from hypothesis.extra import numpy as hnp

import autograd as ag

SETTINGS = settings(max_examples=25, deadline=None)


@st.composite
def broadcastable_pair(draw):
    shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=3, max_side=3))
    a, b = shapes.input_shapes
    seed = draw(st.integers(0, 2**31 - 1))
    return a, b, seed


OPS = {"add": ag.add, "sub": ag.sub, "mul": ag.mul, "maximum": ag.maximum,
       "div": lambda a, b: a / (b.abs() + 0.5)}


@SETTINGS
@given(broadcastable_pair(), st.sampled_from(sorted(OPS)))
def test_broadcasting_binary_ops(pair, name):
    sa, sb, seed = pair
    rng = np.random.default_rng(seed)
    a = ag.tensor(rng.uniform(-2, 2, sa), requires_grad=True)
    b = ag.tensor(rng.uniform(-2, 2, sb), requires_grad=True)
    out = OPS[name](a, b)
    assert out.shape == np.broadcast_shapes(sa, sb)
    ag.gradcheck(OPS[name], (a, b))
    out.sum().backward()
    assert a.grad.shape == sa and b.grad.shape == sb


@st.composite
def shape_and_dims(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
    dims = draw(st.lists(st.integers(0, len(shape) - 1), unique=True, min_size=1))
    keepdim = draw(st.booleans())
    seed = draw(st.integers(0, 2**31 - 1))
    return shape, tuple(dims), keepdim, seed


REDUCTIONS = {"sum": (ag.sum, np.sum), "mean": (ag.mean, np.mean),
              "amax": (ag.amax, np.max), "logsumexp": (ag.logsumexp, None),
              "var": (lambda x, dim, keepdim: ag.var(x, dim, correction=0, keepdim=keepdim), np.var)}


@SETTINGS
@given(shape_and_dims(), st.sampled_from(sorted(REDUCTIONS)))
def test_reductions_over_random_dims(case, name):
    shape, dims, keepdim, seed = case
    x = ag.tensor(np.random.default_rng(seed).uniform(-2, 2, shape), requires_grad=True)
    ours, ref = REDUCTIONS[name]
    out = ours(x, dim=dims, keepdim=keepdim)
    if ref is not None:
        np.testing.assert_allclose(out.array, ref(x.array, axis=dims, keepdims=keepdim), rtol=1e-10)
    ag.gradcheck(lambda t: ours(t, dim=dims, keepdim=keepdim), x)
