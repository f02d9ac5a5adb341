"""Stochastic gradient descent, PyTorch's documented algorithm (``torch.optim.SGD``).

    g <- -g if maximize;  g <- g + weight_decay * p
    b <- g (first step)  or  momentum * b + (1 - dampening) * g
    g <- g + momentum * b if nesterov else b          (when momentum != 0)
    p <- p - lr * g

The update is one fused pass per parameter (``foreach``/``fused``, see fused.py).
"""
import numpy as np

from autograd.kernels.optim_step import sgd_reference, sgd_step

from .fused import FusedOptimizer, check_fused, run_step
from .optimizer import check_cpu_eager, check_nonnegative


class SGD(FusedOptimizer):
    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False,
                 *, maximize=False, foreach=None, differentiable=False, fused=None):
        check_nonnegative("SGD", learning_rate=lr, momentum=momentum, weight_decay=weight_decay)
        check_cpu_eager("SGD", differentiable=differentiable)
        check_fused("SGD", foreach, fused)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize, foreach=foreach, fused=fused))

    def _step_arrays(self, x, grad, group, state, use_kernel):
        mu = group["momentum"]
        buf, first = x, False             # x stands in for the buffer momentum 0 never reads
        if mu != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.empty_like(x)
                first = True
        s = x.dtype.type
        run_step(sgd_step, sgd_reference, use_kernel, x, grad, (buf,),
                 (s(group["lr"]), s(group["weight_decay"]), s(mu), s(1 - group["dampening"]),
                  bool(group["nesterov"]), bool(group["maximize"]), first))
