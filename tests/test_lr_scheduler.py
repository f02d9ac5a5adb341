"""LR schedulers against their documented formulas (closed forms, written out here)."""
import math

import numpy as np
import pytest

import autograd as ag
import optim
from optim import lr_scheduler as S


def _opt(lr=0.1, cls=optim.SGD, **kw):
    return cls([ag.zeros(2, requires_grad=True)], lr=lr, **kw)


def _run(opt, sched, n):
    lrs = []
    for _ in range(n):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(lrs)


def test_step_multistep_exponential():
    o = _opt()
    np.testing.assert_allclose(_run(o, S.StepLR(o, step_size=3, gamma=0.5), 10),
                               [0.1 * 0.5 ** (e // 3) for e in range(10)], rtol=1e-12)
    o = _opt()
    ms = [2, 5, 5, 8]
    np.testing.assert_allclose(_run(o, S.MultiStepLR(o, ms, gamma=0.3), 10),
                               [0.1 * 0.3 ** sum(m <= e for m in ms) for e in range(10)], rtol=1e-12)
    o = _opt()
    np.testing.assert_allclose(_run(o, S.ExponentialLR(o, gamma=0.9), 10),
                               [0.1 * 0.9 ** e for e in range(10)], rtol=1e-12)


def test_cosine_annealing_follows_closed_form_within_the_half_period():
    o = _opt()
    T, lo = 8, 0.01
    got = _run(o, S.CosineAnnealingLR(o, T_max=T, eta_min=lo), T + 1)
    want = [lo + (0.1 - lo) * (1 + math.cos(math.pi * e / T)) / 2 for e in range(T + 1)]
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_linear_warmup():
    o = _opt()
    got = _run(o, S.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=4), 7)
    want = [0.1 * (0.25 + 0.75 * min(e, 4) / 4) for e in range(7)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert S.LinearLR(_opt(), total_iters=5).start_factor == pytest.approx(1 / 3)


def test_lambda_lr_and_per_group_lambdas():
    a, b = ag.zeros(1, requires_grad=True), ag.zeros(1, requires_grad=True)
    o = optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    s = S.LambdaLR(o, [lambda e: 1 / (e + 1), lambda e: 0.5 ** e])
    for e in range(1, 4):
        o.step()
        s.step()
        assert s.get_last_lr() == pytest.approx([0.1 / (e + 1), 0.5 ** e])
    assert "lr_lambdas" not in s.state_dict()


def test_one_cycle_lr_and_momentum():
    o = _opt(momentum=0.9)
    total, max_lr = 20, 0.5
    s = S.OneCycleLR(o, max_lr=max_lr, total_steps=total)
    lrs, moms = [], []
    for _ in range(total):
        lrs.append(o.param_groups[0]["lr"])
        moms.append(o.param_groups[0]["momentum"])
        o.step()
        if len(lrs) < total:
            s.step()
    init, final = max_lr / 25, max_lr / 25 / 1e4
    up = 0.3 * total - 1           # the warm-up phase ends at this step

    def cos_anneal(a, b, pct):
        return b + (a - b) / 2 * (math.cos(math.pi * pct) + 1)

    want = [cos_anneal(init, max_lr, k / up) if k <= up else
            cos_anneal(max_lr, final, (k - up) / (total - 1 - up)) for k in range(total)]
    np.testing.assert_allclose(lrs, want, rtol=1e-10)
    assert lrs[0] == pytest.approx(init) and max(lrs) == pytest.approx(max_lr)
    assert moms[0] == pytest.approx(0.95) and min(moms) == pytest.approx(0.85)
    with pytest.raises(ValueError, match="total steps"):
        s.step()
        s.step()


def test_one_cycle_cycles_adam_beta1():
    o = _opt(cls=optim.Adam)
    S.OneCycleLR(o, max_lr=0.01, epochs=2, steps_per_epoch=5)
    assert o.param_groups[0]["betas"] == (0.95, 0.999)


def test_sequential_warmup_then_cosine():
    o = _opt()
    warm = S.LinearLR(o, start_factor=0.1, total_iters=3)
    cos = S.CosineAnnealingLR(o, T_max=6)
    s = S.SequentialLR(o, [warm, cos], milestones=[3])
    got = _run(o, s, 10)
    want = [0.1 * (0.1 + 0.9 * e / 3) for e in range(3)] + \
           [0.1 * (1 + math.cos(math.pi * e / 6)) / 2 for e in range(7)]
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-15)


def test_reduce_on_plateau():
    o = _opt()
    s = S.ReduceLROnPlateau(o, mode="min", factor=0.5, patience=1, cooldown=1, min_lr=0.02)
    lrs = []
    for m in [1.0, 0.9, 0.9, 0.9, 0.95, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8]:
        s.step(m)
        lrs.append(o.param_groups[0]["lr"])
    # Two bad epochs (> patience) halve the lr; cooldown then ignores one epoch; min_lr floors it.
    assert lrs == pytest.approx([0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.05, 0.025, 0.025, 0.025,
                                 0.02, 0.02, 0.02])
    o2 = _opt()
    s2 = S.ReduceLROnPlateau(o2, mode="max", patience=0, threshold=0.1, threshold_mode="abs")
    s2.step(1.0)
    s2.step(1.05)          # not better by more than 0.1 -> reduce
    assert o2.param_groups[0]["lr"] == pytest.approx(0.01)


def test_state_dict_resume_gives_same_sequence():
    def make():
        o = _opt()
        return o, S.SequentialLR(o, [S.LinearLR(o, 0.1, total_iters=2),
                                     S.MultiStepLR(o, [3, 5], gamma=0.5)], milestones=[2])
    o1, s1 = make()
    full = _run(o1, s1, 9)
    o2, s2 = make()
    _run(o2, s2, 4)
    sd_s, sd_o = s2.state_dict(), o2.state_dict()
    o3, s3 = make()
    o3.load_state_dict(sd_o)
    s3.load_state_dict(sd_s)
    np.testing.assert_allclose(_run(o3, s3, 5), full[4:], rtol=1e-12)


def test_step_with_epoch_uses_closed_form_and_initial_lr_is_recorded():
    o = _opt()
    s = S.StepLR(o, step_size=2, gamma=0.1)
    s.step(5)
    assert o.param_groups[0]["lr"] == pytest.approx(0.1 * 0.1 ** 2)
    assert o.param_groups[0]["initial_lr"] == 0.1
    with pytest.raises(KeyError, match="initial_lr"):
        S.StepLR(_opt(), step_size=2, last_epoch=3)
