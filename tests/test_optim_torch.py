"""SGD, Adam, AdamW, Adadelta, Adamax, NAdam and RAdam step for step against PyTorch's
own optimizers (a pinned dev dependency, imported unconditionally: this file fails, never
skips, without it).  Both sides start from the same float64 parameters and are fed the same gradients;
parameters must agree after every step, in every option combination."""
import numpy as np
import pytest
import torch

import autograd as ag
import optim

STEPS = 8
# PyTorch keeps NAdam's running product of the momentum coefficients in a float32 scalar
# tensor (its "scalar dtype"), even for float64 parameters; here it is a Python float.
RTOL = {"NAdam": 1e-7}

CASES = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.8, nesterov=True, maximize=True, fused=True)),
    ("SGD", dict(lr=0.1, momentum=0.8, weight_decay=0.1, foreach=False)),
    ("Adam", {}),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1, amsgrad=True)),
    ("Adam", dict(weight_decay=0.2, decoupled_weight_decay=True, maximize=True, fused=True)),
    ("Adam", dict(lr=0.01, amsgrad=True, maximize=True, weight_decay=0.1, foreach=False)),
    ("AdamW", {}),
    ("AdamW", dict(lr=0.01, betas=(0.8, 0.95), weight_decay=0.3, amsgrad=True, fused=True)),
    ("AdamW", dict(lr=0.01, amsgrad=True, maximize=True, foreach=False)),
    ("Adadelta", {}),
    ("Adadelta", dict(lr=0.5, rho=0.8, eps=1e-4, weight_decay=0.1)),
    ("Adadelta", dict(maximize=True)),
    ("Adamax", {}),
    ("Adamax", dict(lr=0.01, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1)),
    ("Adamax", dict(maximize=True)),
    ("NAdam", {}),
    ("NAdam", dict(lr=0.01, betas=(0.8, 0.95), momentum_decay=0.01, weight_decay=0.1)),
    ("NAdam", dict(weight_decay=0.2, decoupled_weight_decay=True, maximize=True)),
    ("RAdam", {}),                                   # rho_t <= 5 for the first steps, > 5 after
    ("RAdam", dict(lr=0.01, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1)),
    ("RAdam", dict(betas=(0.9, 0.9), weight_decay=0.2, decoupled_weight_decay=True, maximize=True)),
]


def _run_both(name, kw, steps=STEPS, seed=0):
    rng = np.random.default_rng(seed)
    x0 = rng.standard_normal((4, 3))
    ours = [ag.tensor(x0, dtype=ag.float64, requires_grad=True), ag.zeros(2, dtype=ag.float64,
                                                                          requires_grad=True)]
    theirs = [torch.tensor(x0, requires_grad=True), torch.zeros(2, dtype=torch.float64,
                                                                requires_grad=True)]
    # Two groups, the second with its own lr, as PyTorch programs write them.
    opt = getattr(optim, name)([{"params": ours[:1]}, {"params": ours[1:], "lr": 0.05}], **kw)
    topt = getattr(torch.optim, name)([{"params": theirs[:1]}, {"params": theirs[1:], "lr": 0.05}],
                                      **kw)
    for _ in range(steps):
        grads = [rng.standard_normal(p.shape) for p in ours]
        for p, q, g in zip(ours, theirs, grads):
            p.grad, q.grad = ag.tensor(g), torch.tensor(g)
        opt.step(), topt.step()
        for p, q in zip(ours, theirs):
            np.testing.assert_allclose(p.numpy(), q.detach().numpy(), rtol=RTOL.get(name, 1e-12),
                                       atol=1e-14)
    return opt, topt, ours


@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_steps_match_pytorch(name, kw):
    opt, topt, _ = _run_both(name, kw)
    state, tstate = opt.state_dict()["state"], topt.state_dict()["state"]
    for i in tstate:
        assert set(state[i]) == set(tstate[i])
        for key, value in tstate[i].items():
            np.testing.assert_allclose(np.asarray(state[i][key]), value.numpy(),
                                       rtol=RTOL.get(name, 1e-12),
                                       atol=1e-15, err_msg=key)


def test_radam_switches_to_the_rectified_update_where_pytorch_does():
    """beta2 = 0.9: rho_t crosses 5 at step 6; run both sides well past it."""
    _run_both("RAdam", dict(betas=(0.9, 0.9)), steps=12, seed=3)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adadelta", "Adamax", "NAdam", "RAdam"])
def test_defaults_match_pytorch(name):
    p = [ag.zeros(1, requires_grad=True)]
    ours = getattr(optim, name)(p).defaults
    theirs = getattr(torch.optim, name)([torch.zeros(1, requires_grad=True)]).defaults
    assert ours == {k: theirs[k] for k in ours}
    dropped = set(theirs) - set(ours)       # PyTorch's device/graph switches, nothing numeric
    assert dropped <= {"foreach", "capturable", "differentiable"}


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "Adadelta", "Adamax", "NAdam", "RAdam"])
def test_state_dict_round_trip_continues_identically(name):
    rng = np.random.default_rng(1)
    x0 = rng.standard_normal(5)
    grads = [rng.standard_normal(5) for _ in range(6)]
    p1 = ag.tensor(x0, requires_grad=True)
    opt1 = getattr(optim, name)([p1], weight_decay=0.1)
    for g in grads[:3]:
        p1.grad = ag.tensor(g)
        opt1.step()
    p2 = ag.tensor(p1.numpy().copy(), requires_grad=True)
    opt2 = getattr(optim, name)([p2], weight_decay=0.1)
    opt2.load_state_dict(opt1.state_dict())
    for g in grads[3:]:
        for p, o in ((p1, opt1), (p2, opt2)):
            p.grad = ag.tensor(g)
            o.step()
    np.testing.assert_array_equal(p1.numpy(), p2.numpy())


def test_float32_parameters_stay_float32():
    p = ag.tensor(np.ones(3, np.float32), requires_grad=True)
    for name in ["SGD", "Adam", "AdamW", "Adadelta", "Adamax", "NAdam", "RAdam"]:
        opt = getattr(optim, name)([p])
        p.grad = ag.tensor(np.full(3, 0.5, np.float32))
        opt.step()
        assert p.dtype == np.float32 and all(v.dtype == np.float32 for v in opt.state[p].values()
                                             if isinstance(v, np.ndarray))


@pytest.mark.parametrize("call,match", [
    (lambda p: optim.Adadelta(p, rho=1.5), r"Adadelta: invalid rho value 1.5"),
    (lambda p: optim.Adadelta(p, lr=-1), r"Adadelta: invalid learning rate"),
    (lambda p: optim.Adamax(p, betas=(0.9, 1.0)), r"Adamax: invalid beta parameter at index 1"),
    (lambda p: optim.NAdam(p, momentum_decay=-1), r"NAdam: invalid momentum decay"),
    (lambda p: optim.RAdam(p, eps=-1), r"RAdam: invalid eps"),
    (lambda p: optim.RAdam(p, differentiable=True), r"RAdam: capturable=True and differentiable"),
    (lambda p: optim.Adadelta(p, capturable=True), r"Adadelta: capturable=True"),
])
def test_bad_hyperparameters_are_refused_clearly(call, match):
    with pytest.raises(ValueError, match=match):
        call([ag.zeros(1, requires_grad=True)])
