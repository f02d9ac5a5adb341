"""Adam's relatives, PyTorch's documented algorithms (``torch.optim.Adamax``, ``NAdam``,
``RAdam``).  All keep Adam's first moment m <- beta1 m + (1 - beta1) g; t counts steps.

    Adamax: u <- max(beta2 u, |g| + eps);  p <- p - lr / (1 - beta1^t) * m / u
    NAdam:  mu_t = beta1 (1 - 0.5 * 0.96^(t psi))  (psi = momentum_decay),  v as in Adam,
            p <- p - lr (1 - mu_t) / (1 - prod_{i<=t} mu_i) * g / denom
                   - lr mu_{t+1} / (1 - prod_{i<=t+1} mu_i) * m / denom,
            denom = sqrt(v / (1 - beta2^t)) + eps
    RAdam:  rho_inf = 2 / (1 - beta2) - 1,  rho_t = rho_inf - 2 t beta2^t / (1 - beta2^t);
            m_hat = m / (1 - beta1^t);  if rho_t > 5 (variance tractable):
            p <- p - lr m_hat r_t sqrt(1 - beta2^t) / (sqrt(v) + eps),
            r_t = sqrt((rho_t - 4)(rho_t - 2) rho_inf / ((rho_inf - 4)(rho_inf - 2) rho_t));
            else p <- p - lr m_hat
NAdam and RAdam take ``decoupled_weight_decay``: p <- p (1 - lr wd) (NAdamW/RAdamW)
instead of the L2 term g <- g + wd p.
"""
import math

import numpy as np

from .optimizer import Optimizer, check_betas, check_cpu_eager, check_nonnegative, count_step


def _check(name, lr, betas, eps, weight_decay, capturable, differentiable):
    check_nonnegative(name, learning_rate=lr, eps=eps, weight_decay=weight_decay)
    check_betas(name, betas)
    check_cpu_eager(name, capturable, differentiable)


def _moments(state, x, grad, betas):
    """Adam's two moment estimates, updated in place; returns (t, m, v)."""
    t = count_step(state, x, "exp_avg", "exp_avg_sq")
    (beta1, beta2), m, v = betas, state["exp_avg"], state["exp_avg_sq"]
    m += (1 - beta1) * (grad - m)        # lerp: m + (1-b1)(g-m) == b1 m + (1-b1) g
    v *= beta2
    v += (1 - beta2) * grad * grad
    return t, m, v


class Adamax(Optimizer):
    """Adam with the infinity norm (Kingma & Ba, 2015, section 7.1)."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 foreach=None, *, maximize=False, differentiable=False, capturable=False):
        _check("Adamax", lr, betas, eps, weight_decay, capturable, differentiable)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, maximize=maximize))

    def _update(self, p, grad, group, state):
        x = p.numpy()
        (beta1, beta2), eps = group["betas"], group["eps"]
        t = count_step(state, x, "exp_avg", "exp_inf")
        m, u = state["exp_avg"], state["exp_inf"]
        m += (1 - beta1) * (grad - m)
        u *= beta2
        np.maximum(u, np.abs(grad) + eps, out=u)
        x -= group["lr"] / (1 - beta1 ** t) * (m / u)


class _DecayedInUpdate(Optimizer):
    # Optimizer.step leaves weight decay to _update, which applies the form the group's
    # ``decoupled_weight_decay`` picks.
    decoupled_weight_decay = True

    def _apply_weight_decay(self, x, grad, group):
        wd = group["weight_decay"]
        if wd == 0:
            return grad
        if group["decoupled_weight_decay"]:
            x *= 1 - group["lr"] * wd
            return grad
        return grad + wd * x


class NAdam(_DecayedInUpdate):
    """Adam with Nesterov momentum (Dozat, 2016)."""

    def __init__(self, params, lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 momentum_decay=4e-3, decoupled_weight_decay=False, *, foreach=None,
                 maximize=False, capturable=False, differentiable=False):
        _check("NAdam", lr, betas, eps, weight_decay, capturable, differentiable)
        check_nonnegative("NAdam", momentum_decay=momentum_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay, momentum_decay=momentum_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def _update(self, p, grad, group, state):
        x = p.numpy()
        lr, (beta1, beta2), psi = group["lr"], group["betas"], group["momentum_decay"]
        grad = self._apply_weight_decay(x, grad, group)
        state.setdefault("mu_product", 1.0)
        t, m, v = _moments(state, x, grad, group["betas"])
        mu = beta1 * (1.0 - 0.5 * 0.96 ** (t * psi))
        mu_next = beta1 * (1.0 - 0.5 * 0.96 ** ((t + 1) * psi))
        state["mu_product"] *= mu
        mu_product = state["mu_product"]
        denom = np.sqrt(v / (1 - beta2 ** t))
        denom += group["eps"]
        x -= lr * (1 - mu) / (1 - mu_product) * (grad / denom)
        x -= lr * mu_next / (1 - mu_product * mu_next) * (m / denom)


class RAdam(_DecayedInUpdate):
    """Rectified Adam (Liu et al., 2019): plain momentum SGD until the variance of the
    adaptive learning rate is tractable (rho_t > 5), rectified Adam after."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
                 decoupled_weight_decay=False, *, foreach=None, maximize=False,
                 capturable=False, differentiable=False):
        _check("RAdam", lr, betas, eps, weight_decay, capturable, differentiable)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay,
                                      decoupled_weight_decay=decoupled_weight_decay,
                                      maximize=maximize))

    def _update(self, p, grad, group, state):
        x = p.numpy()
        lr, (beta1, beta2) = group["lr"], group["betas"]
        grad = self._apply_weight_decay(x, grad, group)
        t, m, v = _moments(state, x, grad, group["betas"])
        bias_correction2 = 1 - beta2 ** t
        m_hat = m / (1 - beta1 ** t)
        rho_inf = 2 / (1 - beta2) - 1
        rho_t = rho_inf - 2 * t * beta2 ** t / bias_correction2
        if rho_t > 5.0:
            rect = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf
                             / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            x -= m_hat * (lr * rect * math.sqrt(bias_correction2)) / (np.sqrt(v) + group["eps"])
        else:
            x -= lr * m_hat
