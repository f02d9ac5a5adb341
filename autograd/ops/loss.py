"""Loss primitives whose PyTorch gradient is not the chain rule of a composition.

Binary cross entropy clamps its logs at -100, so its value stays finite at p in
{0, 1}; PyTorch's VJP is not the derivative of the clamped logs (that would give
0/0 at the clamp) but (p - t) / max(p (1 - p), 1e-12), finite everywhere.  The
other losses are compositions in ``nn.functional``.
"""
import numpy as np

from ..function import Function
from .formula import evaluate
from .registry import SampleInput, make, op

_LOG_FLOOR = -100.0       # PyTorch's clamp of log(p) and log(1 - p)
_EPSILON = 1e-12          # PyTorch's floor of p (1 - p) in the VJP


class BinaryCrossEntropy(Function):
    @staticmethod
    def forward(ctx, p, t):
        ctx.save_for_backward(p, t)
        with np.errstate(divide="ignore"):
            log_p = np.maximum(np.log(p), _LOG_FLOOR)
            log_1mp = np.maximum(np.log1p(-p), _LOG_FLOOR)
        return -(t * log_p + (1 - t) * log_1mp)

    @staticmethod
    def backward(ctx, g):
        need_p, need_t = ctx.needs_input_grad
        with np.errstate(divide="ignore"):
            # dp = g (p - t) / max(p (1 - p), eps)
            dp = evaluate(lambda m, g, p, t: g * (p - t) / m.maximum(p * (1.0 - p), _EPSILON),
                          g, *ctx.saved_tensors) if need_p else None
            # dt = g (log(1 - p) - log p), unclamped as in PyTorch (+-inf at p in {0, 1})
            dt = evaluate(lambda m, g, p, t: g * (m.log1p(-p) - m.log(p)),
                          g, *ctx.saved_tensors) if need_t else None
        return dp, dt


def _bce_ref(p, t):
    return -(t * np.maximum(np.log(p), _LOG_FLOOR) + (1 - t) * np.maximum(np.log1p(-p), _LOG_FLOOR))


def _bce_samples(rng):
    for shape in [(), (5,), (3, 4)]:
        yield SampleInput((make(rng, shape, 0.05, 0.95), make(rng, shape, 0.0, 1.0)), {}, f"shape{shape}")
    yield SampleInput((make(rng, (4, 3), 0.05, 0.95, noncontig=True),
                       make(rng, (4, 3), 0.0, 1.0, requires_grad=False)), {}, "noncontig-constant-target")


@op(BinaryCrossEntropy, samples=_bce_samples, ref=_bce_ref)
def binary_cross_entropy(input, target):
    """The elementwise binary cross entropy -[t log p + (1 - t) log(1 - p)], logs clamped
    at -100 (no weight, no reduction: ``nn.functional.binary_cross_entropy`` adds them)."""
    return BinaryCrossEntropy.apply(input, target)
