"""Stochastic gradient descent, PyTorch's documented algorithm (``torch.optim.SGD``).

    g <- -g if maximize;  g <- g + weight_decay * p
    b <- g (first step)  or  momentum * b + (1 - dampening) * g
    g <- g + momentum * b if nesterov else b          (when momentum != 0)
    p <- p - lr * g
"""
import numpy as np

from autograd.grad_mode import enable_grad, no_grad

from .optimizer import Optimizer


class SGD(Optimizer):
    def __init__(self, params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False,
                 *, maximize=False):
        if lr < 0.0:
            raise ValueError(f"SGD: invalid learning rate {lr}, expected lr >= 0")
        if momentum < 0.0:
            raise ValueError(f"SGD: invalid momentum value {momentum}, expected momentum >= 0")
        if weight_decay < 0.0:
            raise ValueError(f"SGD: invalid weight_decay value {weight_decay}, expected >= 0")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("SGD: Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                lr, mu, damp = group["lr"], group["momentum"], group["dampening"]
                wd, nesterov, maximize = group["weight_decay"], group["nesterov"], group["maximize"]
                for p in self._params_with_grad(group):
                    d_p = p.grad.data
                    if maximize:
                        d_p = -d_p
                    if wd != 0:
                        d_p = d_p + wd * p.data
                    if mu != 0:
                        state = self.state.setdefault(p, {})
                        buf = state.get("momentum_buffer")
                        if buf is None:
                            buf = state["momentum_buffer"] = np.array(d_p, dtype=p.dtype, copy=True)
                        else:
                            buf *= mu
                            buf += (1 - damp) * d_p
                        d_p = d_p + mu * buf if nesterov else buf
                    p.data -= lr * d_p
                    self._bump(p)
        return loss
