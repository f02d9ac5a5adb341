"""RMSprop, PyTorch's documented algorithm (``torch.optim.RMSprop``).

    g <- -g if maximize;  g <- g + weight_decay * p
    v <- alpha * v + (1 - alpha) * g^2
    centered: g_avg <- alpha * g_avg + (1 - alpha) * g;  d = sqrt(v - g_avg^2) + eps
    else:     d = sqrt(v) + eps
    momentum > 0: b <- momentum * b + g / d;  p <- p - lr * b
    else:         p <- p - lr * g / d
"""
import numpy as np

from autograd.grad_mode import enable_grad, no_grad

from .optimizer import Optimizer


class RMSprop(Optimizer):
    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
                 centered=False, *, maximize=False):
        if lr < 0.0:
            raise ValueError(f"RMSprop: invalid learning rate {lr}, expected lr >= 0")
        if eps < 0.0:
            raise ValueError(f"RMSprop: invalid epsilon value {eps}, expected eps >= 0")
        if momentum < 0.0:
            raise ValueError(f"RMSprop: invalid momentum value {momentum}, expected >= 0")
        if weight_decay < 0.0:
            raise ValueError(f"RMSprop: invalid weight_decay value {weight_decay}, expected >= 0")
        if alpha < 0.0:
            raise ValueError(f"RMSprop: invalid alpha value {alpha}, expected >= 0")
        super().__init__(params, dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                                      momentum=momentum, centered=centered, maximize=maximize))

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                lr, alpha, eps = group["lr"], group["alpha"], group["eps"]
                wd, mu, centered = group["weight_decay"], group["momentum"], group["centered"]
                for p in self._params_with_grad(group):
                    grad = p.grad.data
                    if group["maximize"]:
                        grad = -grad
                    state = self.state.setdefault(p, {})
                    if not state:
                        state["step"] = 0.0
                        state["square_avg"] = np.zeros_like(p.data)
                        if mu > 0:
                            state["momentum_buffer"] = np.zeros_like(p.data)
                        if centered:
                            state["grad_avg"] = np.zeros_like(p.data)
                    state["step"] += 1
                    if wd != 0:
                        grad = grad + wd * p.data
                    v = state["square_avg"]
                    v *= alpha
                    v += (1 - alpha) * grad * grad
                    if centered:
                        g_avg = state["grad_avg"]
                        g_avg += (1 - alpha) * (grad - g_avg)
                        avg = np.sqrt(v - g_avg * g_avg)
                    else:
                        avg = np.sqrt(v)
                    avg += eps
                    if mu > 0:
                        buf = state["momentum_buffer"]
                        buf *= mu
                        buf += grad / avg
                        p.data -= lr * buf
                    else:
                        p.data -= lr * (grad / avg)
                    self._bump(p)
        return loss
