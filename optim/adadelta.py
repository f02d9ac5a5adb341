"""Adadelta (Zeiler, 2012), PyTorch's documented algorithm (``torch.optim.Adadelta``).

    g <- -g if maximize; g <- g + weight_decay * p     (in Optimizer.step)
    v <- rho * v + (1 - rho) * g^2                     (square_avg)
    delta <- sqrt(u + eps) / sqrt(v + eps) * g
    u <- rho * u + (1 - rho) * delta^2                 (acc_delta)
    p <- p - lr * delta
"""
import numpy as np

from .optimizer import Optimizer, check_cpu_eager, check_nonnegative, count_step


class Adadelta(Optimizer):
    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, foreach=None, *,
                 capturable=False, maximize=False, differentiable=False):
        check_nonnegative("Adadelta", learning_rate=lr, eps=eps, weight_decay=weight_decay)
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"Adadelta: invalid rho value {rho}, expected 0 <= rho <= 1")
        check_cpu_eager("Adadelta", capturable, differentiable)
        super().__init__(params, dict(lr=lr, rho=rho, eps=eps, weight_decay=weight_decay,
                                      maximize=maximize))

    def _update(self, p, grad, group, state):
        x = p.numpy()
        count_step(state, x, "square_avg", "acc_delta")
        rho, eps = group["rho"], group["eps"]
        v, u = state["square_avg"], state["acc_delta"]
        v *= rho
        v += (1 - rho) * grad * grad
        delta = np.sqrt(u + eps) / np.sqrt(v + eps) * grad
        u *= rho
        u += (1 - rho) * delta * delta
        x -= group["lr"] * delta
