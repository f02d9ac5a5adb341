"""Adam and AdamW, PyTorch's documented algorithms (``torch.optim.Adam``/``AdamW``).

    g <- -g if maximize
    Adam:  g <- g + weight_decay * p          (L2 penalty folded into the gradient)
    AdamW: p <- p * (1 - lr * weight_decay)   (decoupled weight decay; also
                                               Adam(decoupled_weight_decay=True))
    m <- beta1 * m + (1 - beta1) * g
    v <- beta2 * v + (1 - beta2) * g^2
    v_max <- max(v_max, v) if amsgrad                 (v_hat uses v_max then)
    p <- p - lr / (1 - beta1^t) * m / (sqrt(v_hat) / sqrt(1 - beta2^t) + eps)

The update is one fused pass per parameter (``foreach``/``fused``, see fused.py).
"""
import math

import numpy as np

from autograd.kernels.optim_step import adam_reference, adam_step

from .fused import FusedOptimizer, check_fused, run_step
from .optimizer import check_betas, check_cpu_eager, check_nonnegative


class Adam(FusedOptimizer):
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 amsgrad=False, *, foreach=None, maximize=False, capturable=False,
                 differentiable=False, fused=None, decoupled_weight_decay=False):
        name = type(self).__name__
        check_nonnegative(name, learning_rate=lr, eps=eps, weight_decay=weight_decay)
        check_betas(name, betas)
        check_cpu_eager(name, capturable, differentiable)
        check_fused(name, foreach, fused)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, amsgrad=amsgrad,
                                      maximize=maximize, foreach=foreach, fused=fused,
                                      decoupled_weight_decay=decoupled_weight_decay))

    def _step_arrays(self, x, grad, group, state, use_kernel):
        lr, (beta1, beta2), amsgrad, wd = (group["lr"], group["betas"], group["amsgrad"],
                                           group["weight_decay"])
        if not state:
            state["step"] = 0.0
            state["exp_avg"] = np.zeros_like(x)
            state["exp_avg_sq"] = np.zeros_like(x)
            if amsgrad:
                state["max_exp_avg_sq"] = np.zeros_like(x)
        state["step"] += 1
        t = state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        vmax = state["max_exp_avg_sq"] if amsgrad else v   # v stands in: not read then
        # Checkpoints saved before the option existed lack it: the class says then.
        decoupled = group.get("decoupled_weight_decay", self.decoupled_weight_decay)
        s = x.dtype.type
        run_step(adam_step, adam_reference, use_kernel, x, grad, (m, v, vmax),
                 (s(1 - beta1), s(beta2), s(1 - beta2), s(group["eps"]),
                  s(0 if decoupled else wd), s(1 - lr * wd if decoupled else 1),
                  s(lr / (1 - beta1 ** t)), s(math.sqrt(1 - beta2 ** t)),
                  bool(amsgrad), bool(group["maximize"])))


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter); default weight_decay=1e-2."""
    decoupled_weight_decay = True    # for groups of checkpoints saved without the option

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, foreach=None, capturable=False,
                 differentiable=False, fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused, decoupled_weight_decay=True)
