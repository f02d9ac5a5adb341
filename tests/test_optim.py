"""Optimizers against NumPy transcriptions of PyTorch's documented algorithms.

Each reference below is written straight from the pseudo-code in PyTorch's docs, in
float64; our optimizers run in float32, so after several steps the parameters agree
to float32 rounding.
"""

import numpy as np
import pytest

import autograd as ag
import optim

STEPS = 7


def ref_sgd(x, grads, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, maximize=False):
    b = None
    for t, g in enumerate(grads, 1):
        g = -g if maximize else g
        if weight_decay:
            g = g + weight_decay * x
        if momentum:
            b = g if t == 1 else momentum * b + (1 - dampening) * g
            g = g + momentum * b if nesterov else b
        x = x - lr * g
    return x


def ref_adam(x, grads, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
             maximize=False, decoupled=False):
    b1, b2 = betas
    m = v = np.zeros_like(x)
    vmax = np.zeros_like(x)
    for t, g in enumerate(grads, 1):
        g = -g if maximize else g
        if weight_decay and decoupled:
            x = x - lr * weight_decay * x
        elif weight_decay:
            g = g + weight_decay * x
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g ** 2
        m_hat = m / (1 - b1 ** t)
        if amsgrad:
            vmax = np.maximum(vmax, v)
            v_hat = vmax / (1 - b2 ** t)
        else:
            v_hat = v / (1 - b2 ** t)
        x = x - lr * m_hat / (np.sqrt(v_hat) + eps)
    return x


def ref_adagrad(x, grads, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                eps=1e-10, maximize=False):
    s = np.full_like(x, initial_accumulator_value)
    for t, g in enumerate(grads, 1):
        g = -g if maximize else g
        if weight_decay:
            g = g + weight_decay * x
        lr_t = lr / (1 + (t - 1) * lr_decay)
        s = s + g ** 2
        x = x - lr_t * g / (np.sqrt(s) + eps)
    return x


def ref_rmsprop(x, grads, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                centered=False, maximize=False):
    v = np.zeros_like(x)
    g_avg = np.zeros_like(x)
    b = np.zeros_like(x)
    for g in grads:
        g = -g if maximize else g
        if weight_decay:
            g = g + weight_decay * x
        v = alpha * v + (1 - alpha) * g ** 2
        v_tilde = v
        if centered:
            g_avg = alpha * g_avg + (1 - alpha) * g
            v_tilde = v - g_avg ** 2
        if momentum > 0:
            b = momentum * b + g / (np.sqrt(v_tilde) + eps)
            x = x - lr * b
        else:
            x = x - lr * g / (np.sqrt(v_tilde) + eps)
    return x


CASES = [
    ("SGD", ref_sgd, dict(lr=0.1)),
    ("SGD", ref_sgd, dict(lr=0.05, momentum=0.9)),
    ("SGD", ref_sgd, dict(lr=0.05, momentum=0.9, dampening=0.2, weight_decay=0.01)),
    ("SGD", ref_sgd, dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=0.1)),
    ("SGD", ref_sgd, dict(lr=0.05, momentum=0.5, maximize=True)),
    ("Adam", ref_adam, dict(lr=0.01)),
    ("Adam", ref_adam, dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
    ("Adam", ref_adam, dict(lr=0.01, amsgrad=True, maximize=True)),
    ("AdamW", lambda x, g, **kw: ref_adam(x, g, decoupled=True, **{"weight_decay": 1e-2, **kw}), dict(lr=0.01)),
    ("AdamW", lambda x, g, **kw: ref_adam(x, g, decoupled=True, **kw), dict(lr=0.01, weight_decay=0.3, amsgrad=True)),
    ("Adagrad", ref_adagrad, dict(lr=0.1)),
    ("Adagrad", ref_adagrad, dict(lr=0.1, lr_decay=0.05, weight_decay=0.1, initial_accumulator_value=0.2)),
    ("Adagrad", ref_adagrad, dict(lr=0.1, maximize=True, eps=1e-6)),
    ("RMSprop", ref_rmsprop, dict(lr=0.01)),
    ("RMSprop", ref_rmsprop, dict(lr=0.01, alpha=0.9, momentum=0.9)),
    ("RMSprop", ref_rmsprop, dict(lr=0.01, centered=True, weight_decay=0.1)),
    ("RMSprop", ref_rmsprop, dict(lr=0.01, centered=True, momentum=0.5, maximize=True)),
]


def _problem(seed=0, shape=(5, 3)):
    rng = np.random.default_rng(seed)
    x0 = rng.standard_normal(shape).astype(np.float32)
    grads = [rng.standard_normal(shape).astype(np.float32) for _ in range(STEPS)]
    return x0, grads


@pytest.mark.parametrize("name,ref,kw", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_matches_documented_algorithm(name, ref, kw):
    x0, grads = _problem()
    p = ag.tensor(x0, requires_grad=True)
    opt = getattr(optim, name)([p], **kw)
    for g in grads:
        p.grad = ag.tensor(g)
        opt.step()
    expected = ref(x0.astype(np.float64), [g.astype(np.float64) for g in grads], **kw)
    assert p.dtype == np.float32
    np.testing.assert_allclose(p.array, expected, rtol=2e-5, atol=2e-6)


def test_real_gradients_and_param_groups():
    """Two groups with different lrs, gradients from backward, zero_grad in between."""
    w = ag.tensor([[1.0, -2.0], [0.5, 3.0]], requires_grad=True)
    b = ag.tensor([0.1, 0.2], requires_grad=True)
    opt = optim.SGD([{"params": [w]}, {"params": b, "lr": 0.5}], lr=0.1, momentum=0.9)
    assert opt.param_groups[0]["lr"] == 0.1 and opt.param_groups[1]["lr"] == 0.5
    assert opt.param_groups[1]["momentum"] == 0.9
    x = ag.tensor([[1.0, 2.0]])
    w_ref, b_ref = w.array.astype(np.float64), b.array.astype(np.float64)
    gw_list, gb_list = [], []
    for _ in range(3):
        opt.zero_grad()
        loss = ((x @ w + b) ** 2).sum()
        loss.backward()
        gw_list.append(w.grad.array.astype(np.float64))
        gb_list.append(b.grad.array.astype(np.float64))
        opt.step()
    assert w.grad is not None
    opt.zero_grad()
    assert w.grad is None and b.grad is None
    # Replay the recorded gradients through the reference.
    np.testing.assert_allclose(w.array, ref_sgd(w_ref, gw_list, lr=0.1, momentum=0.9), rtol=1e-5)
    np.testing.assert_allclose(b.array, ref_sgd(b_ref, gb_list, lr=0.5, momentum=0.9), rtol=1e-5)


def test_zero_grad_set_to_none_false_keeps_zeros():
    p = ag.tensor([1.0, 2.0], requires_grad=True)
    (p * p).sum().backward()
    opt = optim.Adam([p])
    opt.zero_grad(set_to_none=False)
    assert p.grad is not None and np.all(p.grad.array == 0)


def test_step_skips_params_without_grad_and_bumps_version():
    a = ag.tensor([1.0], requires_grad=True)
    b = ag.tensor([1.0], requires_grad=True)
    opt = optim.SGD([a, b], lr=0.1)
    a.grad = ag.tensor([1.0])
    v = a._version.value
    opt.step()
    assert a.array[0] == pytest.approx(0.9) and b.array[0] == 1.0
    assert a._version.value > v


def test_inplace_update_caught_by_saved_tensor_check():
    """Stepping between forward and backward must be caught by autograd, not silently
    produce a gradient for the old weights."""
    w = ag.tensor([2.0, 3.0], requires_grad=True)
    y = (w * w).sum()
    w.grad = ag.tensor([1.0, 1.0])
    optim.SGD([w], lr=0.1).step()
    with pytest.raises(RuntimeError):
        y.backward()


def test_closure_is_called_and_loss_returned():
    p = ag.tensor([3.0], requires_grad=True)
    opt = optim.Adam([p], lr=0.1)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert float(loss) == pytest.approx(9.0)
    assert p.array[0] < 3.0


@pytest.mark.parametrize("name,kw", [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(amsgrad=True)),
                                     ("AdamW", {}), ("Adagrad", {}), ("RMSprop", dict(momentum=0.5, centered=True))])
def test_state_dict_round_trip_continues_identically(name, kw):
    x0, grads = _problem(1)
    p1 = ag.tensor(x0, requires_grad=True)
    opt1 = getattr(optim, name)([p1], **kw)
    for g in grads[:3]:
        p1.grad = ag.tensor(g)
        opt1.step()
    sd = opt1.state_dict()
    assert set(sd) == {"state", "param_groups"} and sd["param_groups"][0]["params"] == [0]
    # A fresh optimizer over a copy of the parameters continues where the first left off.
    p2 = ag.tensor(p1.array.copy(), requires_grad=True)
    opt2 = getattr(optim, name)([p2], **kw)
    opt2.load_state_dict(sd)
    for g in grads[3:]:
        for p, o in ((p1, opt1), (p2, opt2)):
            p.grad = ag.tensor(g)
            o.step()
    np.testing.assert_array_equal(p1.array, p2.array)
    # The saved state is a copy: stepping did not change it.
    if "step" in sd["state"][0]:
        assert opt1.state_dict()["state"][0]["step"] == sd["state"][0]["step"] + len(grads) - 3


def test_load_state_dict_rejects_mismatched_groups():
    a, b = ag.zeros(2, requires_grad=True), ag.zeros(2, requires_grad=True)
    sd = optim.SGD([a, b], lr=0.1).state_dict()
    with pytest.raises(ValueError, match="parameters"):
        optim.SGD([a], lr=0.1).load_state_dict(sd)


def test_add_param_group_and_errors():
    a, b = ag.zeros(2, requires_grad=True), ag.zeros(3, requires_grad=True)
    opt = optim.Adam([a], lr=0.01)
    opt.add_param_group({"params": [b], "lr": 0.1})
    assert opt.param_groups[1]["betas"] == (0.9, 0.999) and opt.param_groups[1]["lr"] == 0.1
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(a, lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([a * 2], lr=0.1)
    with pytest.raises(ValueError, match="learning rate"):
        optim.Adam([a], lr=-1)
    with pytest.raises(ValueError, match="Nesterov"):
        optim.SGD([a], lr=0.1, nesterov=True)


def test_defaults_match_pytorch():
    p = [ag.zeros(1, requires_grad=True)]
    assert optim.SGD(p).defaults["lr"] == 1e-3
    assert optim.Adam(p).defaults == dict(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                                          amsgrad=False, maximize=False, foreach=None, fused=None,
                                          decoupled_weight_decay=False)
    assert optim.AdamW(p).defaults["weight_decay"] == 1e-2
    assert optim.Adagrad(p).defaults["eps"] == 1e-10
    assert optim.RMSprop(p).defaults["alpha"] == 0.99
    assert optim.LBFGS(p).defaults["max_eval"] == 25


def test_training_reduces_loss_on_linear_regression():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((64, 3)).astype(np.float32)
    y = X @ np.array([1.0, -2.0, 0.5], np.float32) + 0.3
    for name, kw in [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.1)),
                     ("RMSprop", dict(lr=0.03)), ("Adagrad", dict(lr=0.5)), ("AdamW", dict(lr=0.1))]:
        w = ag.zeros(3, requires_grad=True)
        b = ag.zeros(1, requires_grad=True)
        opt = getattr(optim, name)([w, b], **kw)
        for _ in range(150):
            opt.zero_grad()
            loss = ((ag.tensor(X) @ w + b - ag.tensor(y)) ** 2).mean()
            loss.backward()
            opt.step()
        assert float(loss) < 0.05, (name, float(loss))
