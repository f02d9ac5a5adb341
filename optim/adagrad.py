"""Adagrad, PyTorch's documented algorithm (``torch.optim.Adagrad``).

    g <- -g if maximize;  g <- g + weight_decay * p          (in Optimizer.step)
    lr_t = lr / (1 + (t - 1) * lr_decay)
    s <- s + g^2                       (s starts at initial_accumulator_value)
    p <- p - lr_t * g / (sqrt(s) + eps)
"""
import numpy as np

from .optimizer import Optimizer, check_nonnegative


class Adagrad(Optimizer):
    def __init__(self, params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
                 eps=1e-10, *, maximize=False):
        check_nonnegative("Adagrad", learning_rate=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                          initial_accumulator_value=initial_accumulator_value, eps=eps)
        super().__init__(params, dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                                      initial_accumulator_value=initial_accumulator_value,
                                      eps=eps, maximize=maximize))
        # PyTorch creates the accumulator eagerly, so state_dict() has it before any step.
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p] = {"step": 0.0, "sum": np.full_like(
                    p.array, group["initial_accumulator_value"])}

    def _update(self, p, grad, group, state):
        state["step"] += 1
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        s = state["sum"]
        s += grad * grad
        std = np.sqrt(s)
        std += group["eps"]
        p.array -= clr * (grad / std)
