"""Shared helpers for the nn tests: float64 gradchecks of modules and functions."""
import numpy as np

import autograd as ag


def rand(rng, *shape, low=-1.0, high=1.0, grad=True):
    t = ag.tensor(rng.uniform(low, high, shape), dtype=ag.float64)
    return t.requires_grad_() if grad else t


def check_module(module, *inputs, gradgrad=False, atol=1e-5, rtol=1e-3):
    """gradcheck (and optionally gradgradcheck) of module(*inputs) w.r.t. the float
    inputs that require grad and all of the module's parameters, in float64."""
    module.double()
    params = [p for p in module.parameters() if p.requires_grad]
    n = len(inputs)
    grad_inputs = [x for x in inputs if isinstance(x, ag.Tensor) and x.requires_grad]

    def fn(*xs):
        it = iter(xs)
        args = [next(it) if isinstance(x, ag.Tensor) and x.requires_grad else x for x in inputs]
        out = module(*args[:n])
        return out[0] if isinstance(out, tuple) else out
    assert ag.gradcheck(fn, grad_inputs + params, atol=atol, rtol=rtol)
    if gradgrad:
        assert ag.gradgradcheck(fn, grad_inputs + params, atol=atol, rtol=rtol)


def close(t, ref, rtol=1e-6, atol=1e-8):
    np.testing.assert_allclose(np.asarray(t.array if isinstance(t, ag.Tensor) else t), ref,
                               rtol=rtol, atol=atol)
