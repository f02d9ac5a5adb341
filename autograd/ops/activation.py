"""Activations and softmax.  Masks that depend only on the sign of x are saved as
constants (their derivative is zero almost everywhere)."""
import math

import numpy as np

from ..function import Primitive
from ..kernels import rowwise, special
from ..kernels.activation import relu_grad, relu_with_mask
from .binary import where
from .formula import FormulaPrimitive, sum_keepdim
from .half import half_as_float32
from .registry import SampleInput, make, op, unary_samples
from .shape import normalize_dim
from ..forward_ad import derived_jvp, elementwise_jvp
from .batching import dims_batch_rule, elementwise_batch_rule

_KINK = dict(away=(0, 0.05))


class Relu(FormulaPrimitive):
    batch_rule = elementwise_batch_rule
    jvp = elementwise_jvp

    @staticmethod
    def forward(ctx, x):
        y, positive = relu_with_mask(x)         # NaN passes its gradient, as in PyTorch
        ctx.save_for_backward(positive)
        return y

    def formula(ctx, m, g, positive):
        # dx = g [not x <= 0]; selected, not multiplied, so an infinite g gives 0 (PyTorch)
        return m.where(positive, g, 0.0)

    @staticmethod
    def vjp(ctx, g):
        positive, = ctx.saved_arrays
        return relu_grad(g, positive)          # the same select as a kernel: np.where
                                               # mispredicts on a ReLU mask (kernels/activation.py)


@op(Relu, samples=unary_samples(**_KINK), ref=lambda x: np.maximum(x, 0), method=True)
def relu(input):
    return Relu.apply(input)


class LeakyRelu(Primitive):
    batch_rule = elementwise_batch_rule
    jvp = elementwise_jvp

    @staticmethod
    def forward(ctx, x, slope):
        scale = np.where(x > 0, 1, slope).astype(x.dtype)
        ctx.save_for_backward(scale)
        return x * scale

    @staticmethod
    def backward(ctx, g):
        scale, = ctx.saved_tensors
        return g * scale, None                         # dx = g (1 if x > 0 else slope)


@op(LeakyRelu, samples=unary_samples(negative_slope=0.1, **_KINK),
    ref=lambda x, negative_slope: np.where(x > 0, x, x * negative_slope))
def leaky_relu(input, negative_slope=0.01):
    return LeakyRelu.apply(input, negative_slope)


class Elu(Primitive):
    batch_rule = elementwise_batch_rule
    jvp = elementwise_jvp

    @staticmethod
    def forward(ctx, x, alpha):
        positive = ~(x <= 0)                    # NaN takes the identity branch, as in PyTorch
        y = np.where(positive, x, alpha * np.expm1(np.minimum(x, 0))).astype(x.dtype)
        ctx.save_for_backward(positive, y)
        ctx.alpha = alpha
        return y

    @staticmethod
    def backward(ctx, g):
        positive, y = ctx.saved_tensors
        return where(positive, g, g * (y + ctx.alpha)), None   # dx = g (1 if x > 0 else y + alpha)


@op(Elu, samples=unary_samples(alpha=1.3, **_KINK),
    ref=lambda x, alpha: np.where(x > 0, x, alpha * np.expm1(x)))
def elu(input, alpha=1.0):
    return Elu.apply(input, alpha)


class Hardtanh(Primitive):
    batch_rule = elementwise_batch_rule
    jvp = elementwise_jvp

    @staticmethod
    def forward(ctx, x, lo, hi):
        # Open interval, and NaN passes its gradient: PyTorch's hardtanh_backward
        # (clamp's VJP, in elementwise.py, is closed, as PyTorch's clamp_backward).
        ctx.save_for_backward(~((x <= lo) | (x >= hi)))
        return np.clip(x, lo, hi)

    @staticmethod
    def backward(ctx, g):
        inside, = ctx.saved_tensors
        return where(inside, g, 0.0), None, None       # dx = g where lo < x < hi, else 0


@op(Hardtanh, samples=unary_samples(min_val=-0.5, max_val=1.0, away=([-0.5, 1.0], 0.05)),
    ref=lambda x, min_val, max_val: np.clip(x, min_val, max_val))
def hardtanh(input, min_val=-1.0, max_val=1.0):
    if min_val > max_val:
        raise ValueError(f"hardtanh: min_val {min_val} cannot be greater than max_val {max_val}")
    return Hardtanh.apply(input, min_val, max_val)


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_INV_SQRT_2 = 1.0 / math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


class Gelu(FormulaPrimitive):
    """GELU as one node.  Exact: y = x Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2, and
    dy/dx = Phi(x) + x phi(x) with phi(x) = exp(-x^2 / 2) / sqrt(2 pi).
    tanh: y = x (1 + tanh u) / 2, u = sqrt(2/pi) (x + 0.044715 x^3), and
    dy/dx = (1 + tanh u) / 2 + x (1 - tanh^2 u) sqrt(2/pi) (1 + 3 * 0.044715 x^2) / 2."""
    batch_rule = elementwise_batch_rule
    jvp = elementwise_jvp

    @staticmethod
    def forward(ctx, x, approximate):
        ctx.approximate = approximate
        if approximate == "tanh":
            ctx.save_for_backward(x)
            return 0.5 * x * (1.0 + np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * (x * x * x))))
        y, cdf = _gelu_kernel(x)
        ctx.save_for_backward(x, cdf)           # Phi(x), a constant for vjp (backward recomputes it)
        return y

    def formula(ctx, m, g, x, *_):
        return (_gelu_tanh_grad if ctx.approximate == "tanh" else _gelu_grad)(m, g, x), None

    @staticmethod
    def vjp(ctx, g):
        if ctx.approximate == "tanh":
            return FormulaPrimitive.vjp(ctx, g)
        x, cdf = ctx.saved_arrays
        return _gelu_grad_kernel(x, cdf, g), None


_gelu_kernel = half_as_float32(special.gelu)      # (x Phi(x), Phi(x))
_gelu_grad_kernel = half_as_float32(special.gelu_grad)


def _gelu_grad(m, g, x):          # on tensors (the differentiable VJP); arrays use the kernel
    return g * (0.5 * (1.0 + m.erf(x * _INV_SQRT_2)) + x * (_INV_SQRT_2PI * m.exp(-0.5 * x * x)))


def _gelu_tanh_grad(m, g, x):
    t = m.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * (x * x * x)))
    du = _SQRT_2_OVER_PI * (1.0 + 3 * 0.044715 * (x * x))
    return g * (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * du)


def gelu(input, approximate="none"):
    """x Phi(x) (exact) or PyTorch's tanh approximation, as one node."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', got {approximate!r}")
    return Gelu.apply(input, approximate)


def _gelu_ref(x, approximate="none"):
    if approximate == "tanh":
        return 0.5 * x * (1 + np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x ** 3)))
    return x * 0.5 * (1 + np.vectorize(math.erf)(x * _INV_SQRT_2))


def _gelu_samples(rng):
    yield from unary_samples()(rng)
    yield from unary_samples(approximate="tanh")(rng)


gelu = op(Gelu, samples=_gelu_samples, ref=_gelu_ref)(gelu)


def silu(input):
    """x * sigmoid(x), composed from primitives."""
    return input * input.sigmoid()


silu = op(samples=unary_samples(), ref=lambda x: x / (1 + np.exp(-x)))(silu)


class Softplus(Primitive):
    batch_rule = elementwise_batch_rule
    jvp = elementwise_jvp

    @staticmethod
    def forward(ctx, x, beta, threshold):
        bx = x * beta
        linear = bx > threshold
        ctx.save_for_backward(x, linear)
        ctx.beta = beta
        # log(1 + e^z) = max(z, 0) + log1p(e^-|z|): no overflow
        soft = (np.maximum(bx, 0) + np.log1p(np.exp(-np.abs(bx)))) / beta
        return np.where(linear, x, soft).astype(x.dtype)

    @staticmethod
    def backward(ctx, g):
        x, linear = ctx.saved_tensors
        # dx = g sigmoid(beta x), or g where beta x > threshold (the linear part)
        return where(linear, g, g * (x * ctx.beta).sigmoid()), None, None


def _softplus_ref(x, beta=1.0, threshold=20.0):
    return np.where(x * beta > threshold, x, np.log1p(np.exp(x * beta)) / beta)


def _softplus_samples(rng):
    yield from unary_samples()(rng)
    yield SampleInput((make(rng, (3, 4), -3, 3),), dict(beta=2.0, threshold=3.0), "threshold")


@op(Softplus, samples=_softplus_samples, ref=_softplus_ref)
def softplus(input, beta=1.0, threshold=20.0):
    return Softplus.apply(input, beta, threshold)


def on_rows(kernel, *arrays):
    """A fused row kernel (kernels/rowwise.py) over the last axis of same-shape arrays:
    faster than NumPy's passes (tools.measure.bench_kernels)."""
    shape = arrays[0].shape
    rows = [np.ascontiguousarray(a).reshape(-1, shape[-1]) for a in arrays]
    return kernel(*rows).reshape(shape)


def _fused(x, dim):
    """Whether ``dim`` of ``x`` is its last and the row kernels take its dtype."""
    return x.ndim and dim == x.ndim - 1 and x.dtype != np.float16


def softmax_rows(x):
    """Softmax over the last axis of a float32/64 array (also used by attention)."""
    return on_rows(rowwise.softmax, x)


class _RowsVJP(FormulaPrimitive):
    """Softmax and log-softmax save their output y; along the last dim their array VJP
    is the fused row kernel ``rows_vjp(y, g)`` (kernels/rowwise.py)."""
    jvp = derived_jvp

    @staticmethod
    def vjp(ctx, g):
        y, = ctx.saved_arrays
        if _fused(y, ctx.dim):
            return on_rows(ctx.rows_vjp, y, g), None
        return ctx.formula(np, g, y)


class Softmax(_RowsVJP):
    batch_rule = dims_batch_rule(1)          # the dims, past the batch dim
    rows_vjp = staticmethod(rowwise.softmax_backward)

    @staticmethod
    def forward(ctx, x, dim):
        if _fused(x, dim):
            y = softmax_rows(x)
        else:
            z = np.exp(x - x.max(axis=dim, keepdims=True))
            y = z / z.sum(axis=dim, keepdims=True)
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    def formula(ctx, m, g, y):                                  # dx = y (g - <g, y>)
        return y * (g - sum_keepdim(m, g * y, ctx.dim)), None


def log_softmax_array(x, dim):
    """log(softmax(x)) along ``dim`` of an array, as x - max - log(sum(exp(x - max)))."""
    if _fused(x, dim):
        return on_rows(rowwise.log_softmax, x)
    shifted = x - x.max(axis=dim, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))


class LogSoftmax(_RowsVJP):
    batch_rule = dims_batch_rule(1)          # the dims, past the batch dim
    rows_vjp = staticmethod(rowwise.log_softmax_backward)

    @staticmethod
    def forward(ctx, x, dim):
        y = log_softmax_array(x, dim)
        ctx.save_for_backward(y)
        ctx.dim = dim
        return y

    def formula(ctx, m, g, y):                                  # dx = g - softmax * sum(g)
        return g - m.exp(y) * sum_keepdim(m, g, ctx.dim), None


def _softmax_samples(rng):
    yield SampleInput((make(rng, (3, 4)),), dict(dim=1), "rows")
    yield SampleInput((make(rng, (2, 3, 4)),), dict(dim=0), "dim0")
    yield SampleInput((make(rng, (4, 3), noncontig=True),), dict(dim=-1), "noncontig")
    yield SampleInput((make(rng, (5,)),), dict(dim=0), "1d")


def _masked_softmax_samples(rng):
    yield from _softmax_samples(rng)
    masked = make(rng, (2, 4))
    masked.array[:, 0] = -np.inf  # a masked-out logit (attention masks): probability 0
    yield SampleInput((masked,), dict(dim=1), "minus-inf")   # (log_softmax is -inf there)


def _softmax_ref(x, dim):
    z = np.exp(x - x.max(axis=dim, keepdims=True))
    return z / z.sum(axis=dim, keepdims=True)


def _dim(input, dim, name):
    if dim is None:
        raise TypeError(f"{name}: dim must be given explicitly (PyTorch's implicit dim is deprecated)")
    return normalize_dim(dim, input.ndim, name)


def _as_float(input, dtype):
    if dtype is not None:
        return input.to(dtype)
    return input if input.dtype.kind == "f" else input.float()


@op(Softmax, samples=_masked_softmax_samples, ref=_softmax_ref, method=True)
def softmax(input, dim=None, dtype=None):
    return Softmax.apply(_as_float(input, dtype), _dim(input, dim, "softmax"))


@op(LogSoftmax, samples=_softmax_samples, ref=lambda x, dim: np.log(_softmax_ref(x, dim)), method=True)
def log_softmax(input, dim=None, dtype=None):
    return LogSoftmax.apply(_as_float(input, dtype), _dim(input, dim, "log_softmax"))
