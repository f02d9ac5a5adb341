"""LR schedulers against PyTorch's own (a pinned dev dependency, imported unconditionally:
this file fails, never skips, without it).  The same schedule is built on both sides over
two param groups and stepped in lock step; learning rates (and cycled momenta) must be
equal at every step."""
import math
import warnings

import numpy as np
import pytest
import torch

import autograd as ag
import optim
from optim import lr_scheduler as S

STEPS = 30


def _optimizers(cls="SGD", **kw):
    kw = dict(lr=0.1, momentum=0.9, **kw) if cls == "SGD" else dict(lr=0.1, **kw)
    ours = getattr(optim, cls)([{"params": [ag.zeros(2, requires_grad=True)]},
                                {"params": [ag.zeros(1, requires_grad=True)], "lr": 0.03}], **kw)
    theirs = getattr(torch.optim, cls)([{"params": [torch.zeros(2, requires_grad=True)]},
                                        {"params": [torch.zeros(1, requires_grad=True)], "lr": 0.03}],
                                       **kw)
    return ours, theirs


def _momenta(opt):
    return [g["betas"][0] if "betas" in g else g.get("momentum") for g in opt.param_groups]


def _lockstep(ours_opt, ours, theirs_opt, theirs, steps=STEPS, step_args=None):
    for i in range(steps):
        assert [g["lr"] for g in ours_opt.param_groups] == pytest.approx(
            [g["lr"] for g in theirs_opt.param_groups], rel=1e-12, abs=1e-15), f"step {i}"
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12, abs=1e-15)
        assert _momenta(ours_opt) == pytest.approx(_momenta(theirs_opt), rel=1e-12)
        ours_opt.step(), theirs_opt.step()
        args = step_args(i) if step_args else ()
        ours.step(*args), theirs.step(*args)


SCHEDULES = [
    ("MultiplicativeLR", lambda o: dict(lr_lambda=lambda e: 0.95 if e % 3 else 0.5)),
    ("MultiplicativeLR", lambda o: dict(lr_lambda=[lambda e: 0.9, lambda e: 1.0 + 0.01 * e])),
    ("ConstantLR", lambda o: {}),
    ("ConstantLR", lambda o: dict(factor=0.5, total_iters=7)),
    ("PolynomialLR", lambda o: {}),
    ("PolynomialLR", lambda o: dict(total_iters=12, power=2.0)),
    ("CosineAnnealingWarmRestarts", lambda o: dict(T_0=5)),
    ("CosineAnnealingWarmRestarts", lambda o: dict(T_0=3, T_mult=2, eta_min=0.001)),
    ("CyclicLR", lambda o: dict(base_lr=0.01, max_lr=0.1, step_size_up=4)),
    ("CyclicLR", lambda o: dict(base_lr=[0.01, 0.002], max_lr=[0.1, 0.05], step_size_up=3,
                                step_size_down=5, mode="triangular2", base_momentum=0.7)),
    ("CyclicLR", lambda o: dict(base_lr=0.01, max_lr=0.1, step_size_up=4, mode="exp_range",
                                gamma=0.9, cycle_momentum=False)),
    ("CyclicLR", lambda o: dict(base_lr=0.01, max_lr=0.1, step_size_up=2,
                                scale_fn=lambda x: 1 / (1 + x), scale_mode="iterations")),
]


@pytest.mark.parametrize("name,kwargs", SCHEDULES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(SCHEDULES)])
def test_lr_sequence_matches_pytorch(name, kwargs):
    o, t = _optimizers()
    _lockstep(o, getattr(S, name)(o, **kwargs(o)), t,
              getattr(torch.optim.lr_scheduler, name)(t, **kwargs(t)))


def test_cyclic_lr_cycles_adam_beta1_like_pytorch():
    o, t = _optimizers("Adam")
    kw = dict(base_lr=0.001, max_lr=0.01, step_size_up=3, base_momentum=0.8, max_momentum=0.95)
    _lockstep(o, S.CyclicLR(o, **kw), t, torch.optim.lr_scheduler.CyclicLR(t, **kw))
    assert o.param_groups[0]["betas"][1] == 0.999


def test_warm_restarts_with_fractional_epochs_match_pytorch():
    """The documented per-batch idiom: scheduler.step(epoch + i / iters)."""
    o, t = _optimizers()
    kw = dict(T_0=2, T_mult=2, eta_min=0.01)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)     # PyTorch's step(epoch) deprecation note
        _lockstep(o, S.CosineAnnealingWarmRestarts(o, **kw), t,
                  torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(t, **kw),
                  step_args=lambda i: (i / 4,))
    got = S.CosineAnnealingWarmRestarts(_optimizers()[0], T_0=4).get_last_lr()
    assert got == [0.1, 0.03]


@pytest.mark.parametrize("closed_form", ["ConstantLR", "PolynomialLR"])
def test_step_with_epoch_uses_pytorch_closed_form(closed_form):
    o, t = _optimizers()
    ours = getattr(S, closed_form)(o, total_iters=6)
    theirs = getattr(torch.optim.lr_scheduler, closed_form)(t, total_iters=6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for e in (3, 1, 7, 6):
            ours.step(e), theirs.step(e)
            assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12)


def test_chained_scheduler_matches_pytorch_and_resumes():
    def build(lib, opt):
        return lib.ChainedScheduler([lib.ConstantLR(opt, factor=0.2, total_iters=3),
                                     lib.ExponentialLR(opt, gamma=0.9),
                                     lib.CosineAnnealingWarmRestarts(opt, T_0=4)])
    o, t = _optimizers()
    ours, theirs = build(S, o), build(torch.optim.lr_scheduler, t)
    _lockstep(o, ours, t, theirs, steps=8)
    sd = ours.state_dict()
    assert len(sd["_schedulers"]) == 3 and "optimizer" not in sd
    o2, _ = _optimizers()
    resumed = build(S, o2)
    resumed.load_state_dict(sd)
    for g2, g in zip(o2.param_groups, o.param_groups):
        g2["lr"] = g["lr"]
    for _ in range(6):
        ours.step(), resumed.step(), theirs.step()
        assert resumed.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12)
        assert ours.get_last_lr() == resumed.get_last_lr()


def test_sequential_of_new_schedulers_matches_pytorch():
    def build(lib, opt):
        return lib.SequentialLR(opt, [lib.ConstantLR(opt, factor=0.5, total_iters=2),
                                      lib.PolynomialLR(opt, total_iters=5, power=2.0)],
                                milestones=[3])
    o, t = _optimizers()
    _lockstep(o, build(S, o), t, build(torch.optim.lr_scheduler, t), steps=12)


def test_cyclic_lr_state_dict_resumes_and_keeps_custom_scale_fn():
    o, _ = _optimizers()
    fn = lambda x: 0.5 ** x    # noqa: E731
    sched = S.CyclicLR(o, 0.01, 0.1, step_size_up=3, scale_fn=fn)
    for _ in range(4):
        o.step(), sched.step()
    sd = sched.state_dict()
    assert all(not callable(v) for v in sd.values())
    o2, _ = _optimizers()
    again = S.CyclicLR(o2, 0.01, 0.1, step_size_up=3, scale_fn=fn)
    again.load_state_dict(sd)
    for _ in range(5):
        sched.step(), again.step()
        assert again.get_last_lr() == sched.get_last_lr()
    assert math.isclose(sched.scale_fn(2), 0.25)


@pytest.mark.parametrize("call,exc,match", [
    (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=0), ValueError, r"positive integer T_0"),
    (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=2, T_mult=1.5), ValueError, r"integer T_mult"),
    (lambda o: S.CosineAnnealingWarmRestarts(o, T_0=2).step(-1), ValueError, r"non-negative epoch"),
    (lambda o: S.CyclicLR(o, 0.1, 1.0, mode="sawtooth"), ValueError, r"CyclicLR: mode 'sawtooth'"),
    (lambda o: S.CyclicLR(o, [0.1], 1.0), ValueError, r"expected 2 values for base_lr"),
    (lambda o: S.CyclicLR(optim.Adagrad(o.param_groups[0]["params"]), 0.1, 1.0), ValueError,
     r"momentum or beta1"),
    (lambda o: S.ConstantLR(o, factor=2.0), ValueError, r"between 0 and 1"),
    (lambda o: S.MultiplicativeLR(o, lr_lambda=0.9), TypeError, r"lr_lambda should be a function"),
    (lambda o: S.ChainedScheduler([]), ValueError, r"at least one scheduler"),
    (lambda o: S.ChainedScheduler([S.ReduceLROnPlateau(o)]), ValueError, r"ReduceLROnPlateau"),
    (lambda o: S.ChainedScheduler([S.ConstantLR(o), S.ConstantLR(_optimizers()[0])]), ValueError,
     r"index 1 belongs to a different optimizer"),
])
def test_bad_arguments_are_refused_clearly(call, exc, match):
    o, _ = _optimizers()
    with pytest.raises(exc, match=match):
        call(o)


def test_step_counts_match_numpy_closed_form_of_polynomial_decay():
    o, _ = _optimizers()
    sched = S.PolynomialLR(o, total_iters=4, power=0.5)
    lrs = []
    for _ in range(7):
        lrs.append(o.param_groups[0]["lr"])
        o.step(), sched.step()
    want = [0.1 * (1 - min(e, 4) / 4) ** 0.5 for e in range(7)]
    np.testing.assert_allclose(lrs, want, rtol=1e-12, atol=1e-15)
