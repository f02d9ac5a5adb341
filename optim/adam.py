"""Adam and AdamW, PyTorch's documented algorithms (``torch.optim.Adam``/``AdamW``).

    g <- -g if maximize                       (in Optimizer.step)
    Adam:  g <- g + weight_decay * p          (L2 penalty folded into the gradient, ditto)
    AdamW: p <- p * (1 - lr * weight_decay)   (decoupled weight decay)
    m <- beta1 * m + (1 - beta1) * g
    v <- beta2 * v + (1 - beta2) * g^2
    v_max <- max(v_max, v) if amsgrad                 (v_hat uses v_max then)
    p <- p - lr / (1 - beta1^t) * m / (sqrt(v_hat) / sqrt(1 - beta2^t) + eps)
"""
import math

import numpy as np

from .optimizer import Optimizer, check_betas, check_nonnegative


class Adam(Optimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, maximize=False):
        name = type(self).__name__
        check_nonnegative(name, learning_rate=lr, eps=eps, weight_decay=weight_decay)
        check_betas(name, betas)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize))

    def _update(self, p, grad, group, state):
        lr, (beta1, beta2), amsgrad = group["lr"], group["betas"], group["amsgrad"]
        if not state:
            state["step"] = 0.0
            state["exp_avg"] = np.zeros_like(p.array)
            state["exp_avg_sq"] = np.zeros_like(p.array)
            if amsgrad:
                state["max_exp_avg_sq"] = np.zeros_like(p.array)
        state["step"] += 1
        t = state["step"]
        if self.decoupled_weight_decay and group["weight_decay"] != 0:
            p.array *= 1 - lr * group["weight_decay"]
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
        denom += group["eps"]
        p.array -= (lr / bias_correction1) * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter); default weight_decay=1e-2."""
    decoupled_weight_decay = True

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, maximize=maximize)
