"""Stochastic gradient descent, PyTorch's documented algorithm (``torch.optim.SGD``).

    g <- -g if maximize;  g <- g + weight_decay * p          (in Optimizer.step)
    b <- g (first step)  or  momentum * b + (1 - dampening) * g
    g <- g + momentum * b if nesterov else b          (when momentum != 0)
    p <- p - lr * g
"""
import numpy as np

from .optimizer import Optimizer, check_nonnegative


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False,
                 *, maximize=False):
        check_nonnegative("SGD", learning_rate=lr, momentum=momentum, weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _update(self, p, grad, group, state):
        mu = group["momentum"]
        if mu != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(grad, dtype=p.dtype, copy=True)
            else:
                buf *= mu
                buf += (1 - group["dampening"]) * grad
            grad = grad + mu * buf if group["nesterov"] else buf
        p.array -= group["lr"] * grad
