"""Adagrad, PyTorch's documented algorithm (``torch.optim.Adagrad``).

    g <- -g if maximize;  g <- g + weight_decay * p
    lr_t = lr / (1 + (t - 1) * lr_decay)
    s <- s + g^2                       (s starts at initial_accumulator_value)
    p <- p - lr_t * g / (sqrt(s) + eps)
"""
import numpy as np

from autograd.grad_mode import enable_grad, no_grad

from .optimizer import Optimizer


class Adagrad(Optimizer):
    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, *, maximize=False):
        if lr < 0.0:
            raise ValueError(f"Adagrad: invalid learning rate {lr}, expected lr >= 0")
        if lr_decay < 0.0:
            raise ValueError(f"Adagrad: invalid lr_decay value {lr_decay}, expected >= 0")
        if weight_decay < 0.0:
            raise ValueError(f"Adagrad: invalid weight_decay value {weight_decay}, expected >= 0")
        if initial_accumulator_value < 0.0:
            raise ValueError(f"Adagrad: invalid initial_accumulator_value "
                             f"{initial_accumulator_value}, expected >= 0")
        if eps < 0.0:
            raise ValueError(f"Adagrad: invalid epsilon value {eps}, expected eps >= 0")
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize))
        # PyTorch creates the accumulator eagerly, so state_dict() has it before any step.
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p] = {"step": 0.0, "sum": np.full_like(
                    p.data, group["initial_accumulator_value"])}

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                lr, lr_decay, wd, eps = group["lr"], group["lr_decay"], group["weight_decay"], group["eps"]
                for p in self._params_with_grad(group):
                    grad = p.grad.data
                    if group["maximize"]:
                        grad = -grad
                    state = self.state.setdefault(p, {})
                    if not state:
                        state["step"] = 0.0
                        state["sum"] = np.full_like(p.data, group["initial_accumulator_value"])
                    state["step"] += 1
                    if wd != 0:
                        grad = grad + wd * p.data
                    clr = lr / (1 + (state["step"] - 1) * lr_decay)
                    s = state["sum"]
                    s += grad * grad
                    std = np.sqrt(s)
                    std += eps
                    p.data -= clr * (grad / std)
                    self._bump(p)
        return loss
