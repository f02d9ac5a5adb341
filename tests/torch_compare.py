"""Run one op in tapegrad and in PyTorch 2.13 on the same float64 inputs and compare
the outputs and the gradients of sum(out * w) (w random, one per float output).

An op is written once as ``fn(m, *inputs)``, where ``m`` is the ``autograd`` or the
``torch`` module: the two spell the op the same way, which is the point.
"""
import numpy as np
import torch

import autograd as ag


def _outputs(out):
    return list(out) if isinstance(out, (tuple, list)) else [out]


def _array(t):
    return t.detach().numpy() if isinstance(t, torch.Tensor) else np.asarray(t.array)


def compare(fn, *arrays, grad=True, rtol=1e-7, atol=1e-12, seed=0):
    """Assert that ``fn(ag, ...)`` and ``fn(torch, ...)`` agree in shapes, dtypes' kinds,
    values (NaN for NaN) and, when ``grad``, in every float input's gradient."""
    arrays = [np.asarray(a) for a in arrays]
    floats = [a.dtype.kind == "f" and grad for a in arrays]
    ours = [ag.tensor(a, requires_grad=f) for a, f in zip(arrays, floats)]
    theirs = [torch.tensor(a, requires_grad=f) for a, f in zip(arrays, floats)]
    out_ours, out_theirs = _outputs(fn(ag, *ours)), _outputs(fn(torch, *theirs))
    assert len(out_ours) == len(out_theirs)
    for o, t in zip(out_ours, out_theirs):
        assert tuple(o.shape) == tuple(t.shape), (tuple(o.shape), tuple(t.shape))
        assert np.dtype(o.dtype).kind == _array(t).dtype.kind, (o.dtype, t.dtype)
        np.testing.assert_allclose(_array(o), _array(t), rtol=rtol, atol=atol)
    if not any(floats):
        return
    rng = np.random.default_rng(seed)
    pairs = [(o, t) for o, t in zip(out_ours, out_theirs) if t.requires_grad]
    ws = [rng.standard_normal(tuple(t.shape)) for _, t in pairs]
    assert pairs, "no output requires grad"
    sum(((o * ag.tensor(w)).sum() for (o, _), w in zip(pairs, ws)), ag.tensor(0.0)).backward()
    sum(((t * torch.tensor(w)).sum() for (_, t), w in zip(pairs, ws)), torch.tensor(0.0,
        dtype=torch.float64)).backward()
    for k, (o, t, f) in enumerate(zip(ours, theirs, floats)):
        if not f:
            continue
        g_ours = np.zeros(o.shape) if o.grad is None else o.grad.array
        g_theirs = np.zeros(tuple(t.shape)) if t.grad is None else t.grad.numpy()
        np.testing.assert_allclose(g_ours, g_theirs, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {k}")
