"""Adam and AdamW, PyTorch's documented algorithms (``torch.optim.Adam``/``AdamW``).

    g <- -g if maximize
    Adam:  g <- g + weight_decay * p          (L2 penalty folded into the gradient)
    AdamW: p <- p * (1 - lr * weight_decay)   (decoupled weight decay)
    m <- beta1 * m + (1 - beta1) * g
    v <- beta2 * v + (1 - beta2) * g^2
    v_max <- max(v_max, v) if amsgrad                 (v_hat uses v_max then)
    p <- p - lr / (1 - beta1^t) * m / (sqrt(v_hat) / sqrt(1 - beta2^t) + eps)
"""
import math

import numpy as np

from autograd.grad_mode import enable_grad, no_grad

from .optimizer import Optimizer


class Adam(Optimizer):
    _decoupled = False

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, maximize=False):
        name = type(self).__name__
        if lr < 0.0:
            raise ValueError(f"{name}: invalid learning rate {lr}, expected lr >= 0")
        if eps < 0.0:
            raise ValueError(f"{name}: invalid epsilon value {eps}, expected eps >= 0")
        for i, b in enumerate(betas):
            if not 0.0 <= b < 1.0:
                raise ValueError(f"{name}: invalid beta parameter at index {i}: {b}, "
                                 "expected 0 <= beta < 1")
        if weight_decay < 0.0:
            raise ValueError(f"{name}: invalid weight_decay value {weight_decay}, expected >= 0")
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize))

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
                wd, amsgrad, maximize = group["weight_decay"], group["amsgrad"], group["maximize"]
                for p in self._params_with_grad(group):
                    grad = p.grad.data
                    if maximize:
                        grad = -grad
                    state = self.state.setdefault(p, {})
                    if not state:
                        state["step"] = 0.0
                        state["exp_avg"] = np.zeros_like(p.data)
                        state["exp_avg_sq"] = np.zeros_like(p.data)
                        if amsgrad:
                            state["max_exp_avg_sq"] = np.zeros_like(p.data)
                    state["step"] += 1
                    t = state["step"]
                    if wd != 0:
                        if self._decoupled:
                            p.data *= 1 - lr * wd
                        else:
                            grad = grad + wd * p.data
                    m, v = state["exp_avg"], state["exp_avg_sq"]
                    m += (1 - beta1) * (grad - m)        # lerp: m + (1-b1)(g-m) == b1 m + (1-b1) g
                    v *= beta2
                    v += (1 - beta2) * grad * grad
                    bias_correction1 = 1 - beta1 ** t
                    bias_correction2_sqrt = math.sqrt(1 - beta2 ** t)
                    if amsgrad:
                        vmax = state["max_exp_avg_sq"]
                        np.maximum(vmax, v, out=vmax)
                        denom = np.sqrt(vmax)
                    else:
                        denom = np.sqrt(v)
                    denom /= bias_correction2_sqrt
                    denom += eps
                    p.data -= (lr / bias_correction1) * (m / denom)
                    self._bump(p)
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter); default weight_decay=1e-2."""
    _decoupled = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)
