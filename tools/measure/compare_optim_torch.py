"""Side-by-side check of tapegrad's optimizers and LR schedulers against PyTorch.

Not part of the test suite (tests must not need torch): ``python -m tools.measure.compare_optim_torch``
runs each optimizer configuration for several steps from the same parameters and
gradients in both libraries and prints the largest difference; each scheduler's lr
sequence likewise.  Exits non-zero on a mismatch.
"""
import sys

import numpy as np

import autograd as ag
import optim
from optim import lr_scheduler as ours_sched

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("AdamW", dict(lr=0.01, betas=(0.8, 0.99), maximize=True)),
    ("AdamW", dict(lr=0.01, amsgrad=True, weight_decay=0.5)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.1)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1)),
]

SCHEDULES = [
    ("StepLR", dict(step_size=3, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 9], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.001)),
    ("LinearLR", dict(start_factor=0.1, total_iters=4)),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=20)),
    ("OneCycleLR", dict(max_lr=0.5, total_steps=20, three_phase=True, anneal_strategy="linear")),
]


def compare_optimizers(torch, steps=6):
    rng = np.random.default_rng(0)
    worst = 0.0
    for name, kw in CONFIGS:
        x0 = rng.standard_normal((4, 3)).astype(np.float32)
        grads = [rng.standard_normal((4, 3)).astype(np.float32) for _ in range(steps)]
        ours = ag.tensor(x0, requires_grad=True)
        theirs = torch.tensor(x0, requires_grad=True)
        o_opt = getattr(optim, name)([ours], **kw)
        t_opt = getattr(torch.optim, name)([theirs], **kw)
        for g in grads:
            ours.grad = ag.tensor(g)
            theirs.grad = torch.tensor(g)
            o_opt.step()
            t_opt.step()
        err = float(np.abs(ours.array - theirs.detach().numpy()).max())
        worst = max(worst, err)
        print(f"{name:8s} {kw}: max |diff| = {err:.2e}")
    # LBFGS on the Rosenbrock function, with and without line search.
    for ls in (None, "strong_wolfe"):
        start = np.array([-1.5, 2.0], dtype=np.float64)
        o = ag.tensor(start, requires_grad=True)
        t = torch.tensor(start, requires_grad=True)
        o_opt = optim.LBFGS([o], line_search_fn=ls, lr=1 if ls else 0.05)
        t_opt = torch.optim.LBFGS([t], line_search_fn=ls, lr=1 if ls else 0.05)

        def rosen(x):
            return (1 - x[0]) ** 2 + 100 * (x[1] - x[0] ** 2) ** 2

        def o_closure():
            o_opt.zero_grad()
            loss = rosen(o)
            loss.backward()
            return loss

        def t_closure():
            t_opt.zero_grad()
            loss = rosen(t)
            loss.backward()
            return loss

        for _ in range(3):
            o_opt.step(o_closure)
            t_opt.step(t_closure)
        err = float(np.abs(o.array - t.detach().numpy()).max())
        worst = max(worst, err if ls else err / 10)
        print(f"LBFGS line_search_fn={ls}: ours {o.array}, torch {t.detach().numpy()}, |diff| = {err:.2e}")
    return worst


def compare_schedulers(torch, epochs=20):
    worst = 0.0
    for name, kw in SCHEDULES:
        o_opt = optim.SGD([ag.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
        t_opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1, momentum=0.9)
        o_s = getattr(ours_sched, name)(o_opt, **kw)
        t_s = getattr(torch.optim.lr_scheduler, name)(t_opt, **kw)
        ours, theirs = [], []
        for _ in range(epochs - 1 if name == "OneCycleLR" else epochs):
            ours.append(o_s.get_last_lr()[0])
            theirs.append(t_s.get_last_lr()[0])
            o_opt.step(), t_opt.step()
            o_s.step(), t_s.step()
        err = float(np.abs(np.array(ours) - np.array(theirs)).max())
        worst = max(worst, err)
        print(f"{name:18s} {kw}: max |lr diff| = {err:.2e}")
    # SequentialLR: warm-up then cosine.
    scheds = []
    for lib, mod in ((optim, ours_sched), (torch.optim, torch.optim.lr_scheduler)):
        p = ag.zeros(1, requires_grad=True) if lib is optim else torch.zeros(1, requires_grad=True)
        opt = lib.SGD([p], lr=0.1)
        s = mod.SequentialLR(opt, [mod.LinearLR(opt, 0.1, total_iters=3),
                                   mod.CosineAnnealingLR(opt, T_max=8)], milestones=[3])
        seq = []
        for _ in range(12):
            seq.append(s.get_last_lr()[0])
            opt.step()
            s.step()
        scheds.append(seq)
    err = float(np.abs(np.subtract(*scheds)).max())
    print(f"SequentialLR(LinearLR, CosineAnnealingLR): max |lr diff| = {err:.2e}")
    worst = max(worst, err)
    # ReduceLROnPlateau with a metric that stalls.
    metrics = [1.0, 0.9, 0.9, 0.9, 0.95, 0.8, 0.8, 0.8, 0.8, 0.8, 0.8]
    lrs = []
    for lib, mod in ((optim, ours_sched), (torch.optim, torch.optim.lr_scheduler)):
        p = ag.zeros(1, requires_grad=True) if lib is optim else torch.zeros(1, requires_grad=True)
        opt = lib.SGD([p], lr=0.1)
        s = mod.ReduceLROnPlateau(opt, patience=1, cooldown=1, factor=0.5)
        seq = []
        for m in metrics:
            s.step(m)
            seq.append(opt.param_groups[0]["lr"])
        lrs.append(seq)
    err = float(np.abs(np.subtract(*lrs)).max())
    print(f"ReduceLROnPlateau: max |lr diff| = {err:.2e}")
    return max(worst, err)


def main():
    try:
        import torch
    except ImportError:
        print("PyTorch is not installed; nothing to compare against")
        return 0
    torch.set_num_threads(1)
    worst_opt = compare_optimizers(torch)
    worst_sched = compare_schedulers(torch)
    ok = worst_opt < 1e-5 and worst_sched < 1e-9
    print("OK" if ok else "MISMATCH")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
