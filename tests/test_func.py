"""autograd.func (issue 26) against PyTorch 2.13's torch.func: the transforms' values and
gradients, their compositions, has_aux, tuple argnums, chunk_size, randomness, per-sample
gradients of a tiny CNN, ensembles, functional_call, and the errors."""
import warnings

import numpy as np
import pytest
import torch

import autograd as ag
import nn
import nn.functional as F
from autograd.func import (functional_call, grad, grad_and_value, jacfwd, jacrev, jvp,
                           stack_module_state, vjp, vmap)
from autograd.ops import batching

RNG = np.random.default_rng(0)


def ours(a):
    return ag.tensor(a)


def theirs(a):
    return torch.tensor(a)


def close(a, b, tol=1e-10):
    a = a.numpy() if isinstance(a, ag.Tensor) else np.asarray(a)
    b = b.detach().numpy() if isinstance(b, torch.Tensor) else np.asarray(b)
    assert a.shape == b.shape, (a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


@pytest.fixture(autouse=True)
def _rules_only():
    """Every op these tests run has a batching rule: the per-sample fallback would warn."""
    batching.FALLBACKS.clear()
    yield
    assert not batching.FALLBACKS, f"ran once per sample: {sorted(c.__name__ for c in batching.FALLBACKS)}"


def f_scalar(lib):
    return lambda x, w: (lib.tanh(x @ w) * x.sum()).sum()


X = RNG.standard_normal((5, 3))
W = RNG.standard_normal((3, 4))


# -- vmap ----------------------------------------------------------------------------------
@pytest.mark.parametrize("in_dims,out_dims", [(0, 0), ((1, None), 0), ((0, None), 1), ((-1, None), -1)])
def test_vmap_values_match_torch(in_dims, out_dims):
    x = X if in_dims in (0, (0, None)) else X.T.copy()
    def f(lib):
        return lambda a, w: lib.sin(a @ w) * a.sum()
    if in_dims == 0:
        args = (x, RNG.standard_normal((5, 3, 4)))
    else:
        args = (x, W)
    got = vmap(f(ag), in_dims, out_dims)(*map(ours, args))
    want = torch.func.vmap(f(torch), in_dims, out_dims)(*map(theirs, args))
    close(got, want)


def test_vmap_nested_structures_and_kwargs():
    def f(lib):
        def g(d, pair, scale=1.0):
            return {"s": (d["a"] * pair[0]).sum() * scale, "t": (d["b"] + pair[1],)}
        return g
    a, b, c, e = RNG.standard_normal((4, 3)), RNG.standard_normal(3), RNG.standard_normal((3, 4)), RNG.standard_normal(3)
    in_dims = ({"a": 0, "b": None}, (1, None))
    got = vmap(f(ag), in_dims)({"a": ours(a), "b": ours(b)}, (ours(c), ours(e)), scale=2.0)
    want = torch.func.vmap(f(torch), in_dims)({"a": theirs(a), "b": theirs(b)}, (theirs(c), theirs(e)), scale=2.0)
    close(got["s"], want["s"])
    close(got["t"][0], want["t"][0])


def test_nested_vmap_and_unbatched_output():
    x = RNG.standard_normal((2, 3, 4))
    got = vmap(vmap(lambda t: t.exp().sum()))(ours(x))
    close(got, np.exp(x).sum(-1))
    const = ag.ones(2)
    out = vmap(lambda t: const, out_dims=None)(ours(x))
    assert out is const
    expanded = vmap(lambda t: const)(ours(x))
    close(expanded, np.ones((2, 2)))


def test_chunk_size_gives_the_same_result():
    x = RNG.standard_normal((7, 3))
    full = vmap(lambda t: (t * t).cumsum(0))(ours(x))
    for chunk in (1, 2, 3, 7, 10):
        close(vmap(lambda t: (t * t).cumsum(0), chunk_size=chunk)(ours(x)), full)


def test_data_dependent_python_raises_inside_vmap():
    x = ours(X)
    for what, fn in (("item", lambda t: t.sum().item()), ("bool", lambda t: bool(t.sum() > 0)),
                     ("numpy", lambda t: t.numpy()), ("tolist", lambda t: t.tolist())):
        with pytest.raises(RuntimeError, match="vmap: .*reads a batched tensor's values"):
            vmap(fn)(x)


# -- randomness ----------------------------------------------------------------------------
def test_randomness_error_same_different():
    x = ag.ones(6, 200)
    with pytest.raises(RuntimeError, match="randomness error mode"):
        vmap(lambda t: F.dropout(t, 0.5))(x)
    same = vmap(lambda t: F.dropout(t, 0.5), randomness="same")(x)
    assert all(np.array_equal(same.numpy()[0], r) for r in same.numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        diff = vmap(lambda t: F.dropout(t, 0.5), randomness="different")(x)
        noise = vmap(lambda t: t + ag.randn(200), randomness="different")(x)
    assert len({r.tobytes() for r in diff.numpy()}) == 6
    assert len({r.tobytes() for r in noise.numpy()}) == 6
    assert set(np.unique(diff.numpy())) <= {0.0, 2.0}


# -- grad, vjp, jvp --------------------------------------------------------------------------
def test_grad_argnums_and_aux_match_torch():
    x, w = X[0], W
    for argnums in (0, 1, (0, 1), -1):
        got = grad(f_scalar(ag), argnums)(ours(x), ours(w))
        want = torch.func.grad(f_scalar(torch), argnums)(theirs(x), theirs(w))
        for g, h in zip(got if isinstance(argnums, tuple) else (got,),
                        want if isinstance(argnums, tuple) else (want,)):
            close(g, h)
    def with_aux(lib):
        return lambda x, w: (f_scalar(lib)(x, w), x * 2)
    (g, aux) = grad(with_aux(ag), has_aux=True)(ours(x), ours(w))
    (h, taux) = torch.func.grad(with_aux(torch), has_aux=True)(theirs(x), theirs(w))
    close(g, h)
    close(aux, taux)
    g, v = grad_and_value(f_scalar(ag))(ours(x), ours(w))
    h, tv = torch.func.grad_and_value(f_scalar(torch))(theirs(x), theirs(w))
    close(g, h)
    close(v, tv)


def test_vjp_and_jvp_match_torch():
    x, w = X[0], W
    def f(lib):
        return lambda x, w: (lib.sin(x @ w), (x * x).sum())
    out, fn = vjp(f(ag), ours(x), ours(w))
    tout, tfn = torch.func.vjp(f(torch), theirs(x), theirs(w))
    ct = (RNG.standard_normal(4), np.array(0.7))
    for a, b in zip(fn(tuple(map(ours, ct))), tfn(tuple(map(theirs, ct)))):
        close(a, b)
    tx, tw = RNG.standard_normal(3), RNG.standard_normal((3, 4))
    (p, t) = jvp(f(ag), (ours(x), ours(w)), (ours(tx), ours(tw)))
    (tp, tt) = torch.func.jvp(f(torch), (theirs(x), theirs(w)), (theirs(tx), theirs(tw)))
    for a, b in zip(p + t, tp + tt):
        close(a, b)


# -- Jacobians and compositions ----------------------------------------------------------------
def mlp(lib):
    def f(x, w1, w2):
        return lib.tanh(lib.tanh(x @ w1) @ w2)
    return f


W1, W2 = RNG.standard_normal((3, 5)), RNG.standard_normal((5, 2))


@pytest.mark.parametrize("name", ["jacrev", "jacfwd"])
def test_jacobians_match_torch(name):
    ours_t, theirs_t = {"jacrev": (jacrev, torch.func.jacrev), "jacfwd": (jacfwd, torch.func.jacfwd)}[name]
    args = (X[0], W1, W2)
    for argnums in (0, (0, 2)):
        got = ours_t(mlp(ag), argnums)(*map(ours, args))
        want = theirs_t(mlp(torch), argnums)(*map(theirs, args))
        for a, b in zip(got if isinstance(argnums, tuple) else (got,),
                        want if isinstance(argnums, tuple) else (want,)):
            close(a, b)


def test_jacrev_chunk_size_and_aux():
    args = (X[0], W1, W2)
    full = jacrev(mlp(ag))(*map(ours, args))
    close(jacrev(mlp(ag), chunk_size=1)(*map(ours, args)), full)
    jac, aux = jacrev(lambda *a: (mlp(ag)(*a), a[0] * 3), has_aux=True)(*map(ours, args))
    close(jac, full)
    close(aux, X[0] * 3)


@pytest.mark.parametrize("how", ["vmap(grad)", "jacrev(jacrev)", "vmap(jacrev)", "jacfwd(jacrev)",
                                 "hessian", "vmap(vmap(grad))", "grad(vmap)", "vmap(jacfwd)"])
def test_compositions_match_torch(how):
    def build(lib, T):
        f = lambda x: (lib.sin(x) * x.sum() + x * x).sum()     # noqa: E731
        g = lambda x: lib.sin(x @ lib.tensor(W1)) * x.sum()    # noqa: E731
        return {
            "vmap(grad)": (T.vmap(T.grad(f)), X),
            "jacrev(jacrev)": (T.jacrev(T.jacrev(f)), X[0]),
            "vmap(jacrev)": (T.vmap(T.jacrev(g)), X),
            "jacfwd(jacrev)": (T.jacfwd(T.jacrev(f)), X[0]),
            "hessian": (T.hessian(f), X[0]),
            "vmap(vmap(grad))": (T.vmap(T.vmap(T.grad(f))), X.reshape(5, 1, 3)),
            "grad(vmap)": (T.grad(lambda x: T.vmap(f)(x).sum()), X),
            "vmap(jacfwd)": (T.vmap(T.jacfwd(g)), X),
        }[how]
    import autograd.func as ag_func
    fn, x = build(ag, ag_func)
    tfn, _ = build(torch, torch.func)
    close(fn(ours(x)), tfn(theirs(x)), 1e-9)


def test_grad_result_is_differentiable_outside():
    x = ag.tensor(X[0], requires_grad=True)
    tx = torch.tensor(X[0], requires_grad=True)
    g = grad(lambda t: (t.sin() * t).sum())(x)
    tg = torch.func.grad(lambda t: (t.sin() * t).sum())(tx)
    g.sum().backward()
    tg.sum().backward()
    close(x.grad, tx.grad)


# -- modules: per-sample gradients and ensembles -----------------------------------------------
def _pair_models():
    """A tiny CNN in both libraries with the same weights."""
    ag.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                          nn.Linear(4 * 3 * 3, 5)).double()
    tmodel = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                 torch.nn.Flatten(), torch.nn.Linear(4 * 3 * 3, 5)).double()
    with torch.no_grad():
        for (n, p), (tn, tp) in zip(model.named_parameters(), tmodel.named_parameters()):
            assert n == tn
            tp.copy_(torch.tensor(p.numpy()))
    return model, tmodel


def test_per_sample_gradients_of_a_cnn_match_torch():
    model, tmodel = _pair_models()
    data = RNG.standard_normal((6, 1, 8, 8))
    targets = RNG.integers(0, 5, 6)

    def loss(lib, m, fc):
        def compute(params, buffers, x, t):
            out = fc(m, (params, buffers), (x.unsqueeze(0),))
            return lib.nn.functional.cross_entropy(out, t.unsqueeze(0))
        return compute
    params = {k: v.detach() for k, v in model.named_parameters()}
    tparams = {k: v.detach() for k, v in tmodel.named_parameters()}
    got = vmap(grad(loss(ag, model, functional_call)), in_dims=(None, None, 0, 0))(
        params, {}, ours(data), ag.tensor(targets))
    want = torch.func.vmap(torch.func.grad(loss(torch, tmodel, torch.func.functional_call)),
                           in_dims=(None, None, 0, 0))(tparams, {}, theirs(data), torch.tensor(targets))
    for k in params:
        close(got[k], want[k], 1e-9)
    before = {k: v.numpy().copy() for k, v in model.named_parameters()}
    assert all(np.array_equal(before[k], v.numpy()) for k, v in model.named_parameters())


def test_ensemble_by_stack_module_state_matches_torch():
    pairs = [_pair_models() for _ in range(3)]
    for k, (m, tm) in enumerate(pairs):        # different weights per model
        with ag.no_grad(), torch.no_grad():
            for p, tp in zip(m.parameters(), tm.parameters()):
                p.mul_(1 + k)
                tp.mul_(1 + k)
    params, buffers = stack_module_state([m for m, _ in pairs])
    tparams, tbuffers = torch.func.stack_module_state([tm for _, tm in pairs])
    for k in params:
        close(params[k], tparams[k])
        assert params[k].requires_grad and params[k].is_leaf
    x = RNG.standard_normal((4, 1, 8, 8))
    base, tbase = pairs[0][0], pairs[0][1]
    got = vmap(lambda p, b, x: functional_call(base, (p, b), (x,)), in_dims=(0, 0, None))(
        params, buffers, ours(x))
    want = torch.func.vmap(lambda p, b, x: torch.func.functional_call(tbase, (p, b), (x,)),
                           in_dims=(0, 0, None))(tparams, tbuffers, theirs(x))
    close(got, want, 1e-9)


def test_functional_call_leaves_the_module_alone_and_checks_keys():
    lin = nn.Linear(3, 2).double()
    w0 = lin.weight
    new = {"weight": ag.zeros(2, 3, dtype=ag.float64), "bias": ag.ones(2, dtype=ag.float64)}
    out = functional_call(lin, new, (ag.ones(4, 3, dtype=ag.float64),))
    close(out, np.ones((4, 2)))
    assert lin.weight is w0
    with pytest.raises(RuntimeError, match="missing keys \\['bias'\\]"):
        functional_call(lin, {"weight": new["weight"]}, (ag.ones(3, dtype=ag.float64),), strict=True)
    with pytest.raises(ValueError, match="no parameter or buffer named 'wieght'"):
        functional_call(lin, {"wieght": new["weight"]}, (ag.ones(3, dtype=ag.float64),))


# -- errors ------------------------------------------------------------------------------------
def test_errors_name_the_transform_and_the_argument():
    x, y = ag.ones(3, 2), ag.ones(4, 2)
    with pytest.raises(ValueError, match=r"vmap\(<lambda>\): expected all mapped inputs to have the "
                                         r"same size.*leaf 0 \(in_dim=0\) has size 3, leaf 1"):
        vmap(lambda a, b: a + b)(x, y)
    with pytest.raises(ValueError, match="in_dims is a tuple of 3 but the function got 2"):
        vmap(lambda a, b: a, in_dims=(0, 0, 0))(x, x)
    with pytest.raises(ValueError, match=r"in_dims=\{'a': 0\} does not fit the inputs"):
        vmap(lambda a: a, in_dims=({"a": 0},))(x)
    with pytest.raises(ValueError, match="in_dim=2 is out of range for input leaf 0 of shape"):
        vmap(lambda a: a, in_dims=2)(x)
    with pytest.raises(ValueError, match="out_dims=3 is out of range for output leaf 0"):
        vmap(lambda a: a, out_dims=3)(x)
    with pytest.raises(RuntimeError, match=r"grad\(<lambda>\): expected the function to return a "
                                           r"scalar tensor.*got shape \(2,\)"):
        grad(lambda a: a * 2)(ag.ones(2))
    with pytest.raises(RuntimeError, match=r"argnums=2, but only 2 positional input"):
        grad(lambda a, b: (a * b).sum(), argnums=2)(ag.ones(2), ag.ones(2))
    with pytest.raises(RuntimeError, match="has_aux=True, so the function must return a tuple"):
        grad(lambda a: a.sum(), has_aux=True)(ag.ones(2))
    with pytest.raises(RuntimeError, match="backward\\(\\) called inside vmap"):
        vmap(lambda a: a.sum().backward())(ag.ones(2, 2, requires_grad=True))


def test_in_place_ops_on_batched_tensors_match_torch():
    x, y = RNG.standard_normal((3, 4)), RNG.standard_normal(4)

    def f(lib):
        def g(t, u):
            t = t.clone()
            t.add_(1.0)
            t.mul_(u)
            t[0] = 5.0
            return (t * t).sum()
        return g
    close(vmap(f(ag), in_dims=(0, None))(ours(x), ours(y)),
          torch.func.vmap(f(torch), in_dims=(0, None))(theirs(x), theirs(y)))
    close(vmap(grad(f(ag)), in_dims=(0, None))(ours(x), ours(y)),
          torch.func.vmap(torch.func.grad(f(torch)), in_dims=(0, None))(theirs(x), theirs(y)))
    mapped = ours(x)
    vmap(lambda t: t.mul_(2.0))(mapped)             # writes through to the mapped input
    close(mapped, 2 * x)
    with pytest.raises(RuntimeError, match="the index tensor is batched"):
        vmap(lambda t, i: t[i])(ours(x), ag.tensor([[0], [1], [2]]))


def test_graph_tools_mark_the_batch_dims_of_a_vmapped_computation():
    w = ag.tensor(W, requires_grad=True)
    out = vmap(lambda x: (x @ w).tanh().sum())(ours(X))
    dot = ag.to_dot(out).source
    assert "Tanh\\n[5] (4) float64" in dot and "Sum\\n[5] () float64" in dot
    nested = vmap(vmap(lambda x: x.exp()))(ag.tensor(X.reshape(5, 3, 1), requires_grad=True))
    assert "Exp\\n[5, 3] (1) float64" in ag.to_dot(nested.sum()).source
