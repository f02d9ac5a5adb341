"""RMSprop, PyTorch's documented algorithm (``torch.optim.RMSprop``).

    g <- -g if maximize;  g <- g + weight_decay * p          (in Optimizer.step)
    v <- alpha * v + (1 - alpha) * g^2
    centered: g_avg <- alpha * g_avg + (1 - alpha) * g;  d = sqrt(v - g_avg^2) + eps
    else:     d = sqrt(v) + eps
    momentum > 0: b <- momentum * b + g / d;  p <- p - lr * b
    else:         p <- p - lr * g / d
"""
import numpy as np

from .optimizer import Optimizer, check_nonnegative


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, *, maximize=False):
        check_nonnegative("RMSprop", learning_rate=lr, eps=eps, momentum=momentum,
                          weight_decay=weight_decay, alpha=alpha)
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def _update(self, p, grad, group, state):
        alpha, mu = group["alpha"], group["momentum"]
        if not state:
            state["step"] = 0.0
            state["square_avg"] = np.zeros_like(p.array)
            if mu > 0:
                state["momentum_buffer"] = np.zeros_like(p.array)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(p.array)
        state["step"] += 1
        v = state["square_avg"]
        v *= alpha
        v += (1 - alpha) * grad * grad
        if group["centered"]:
            g_avg = state["grad_avg"]
            g_avg += (1 - alpha) * (grad - g_avg)
            avg = np.sqrt(v - g_avg * g_avg)
        else:
            avg = np.sqrt(v)
        avg += group["eps"]
        if mu > 0:
            buf = state["momentum_buffer"]
            buf *= mu
            buf += grad / avg
            p.array -= group["lr"] * buf
        else:
            p.array -= group["lr"] * (grad / avg)
