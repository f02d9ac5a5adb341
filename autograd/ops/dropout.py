"""Dropout as one node, as PyTorch's ``NativeDropoutBackward``: y = x * m, where the
caller (nn.functional) draws m from the default generator: 0 where an element is
dropped, 1 / (1 - p) where it is kept, broadcastable to x (per element, or per
channel for dropout1d/2d).  The mask is a saved constant; the VJP is dx = g m."""
import numpy as np

from .formula import FormulaPrimitive
from .registry import SampleInput, make, op
from ..forward_ad import elementwise_jvp
from .batching import elementwise_batch_rule


class Dropout(FormulaPrimitive):
    batch_rule = elementwise_batch_rule
    jvp = elementwise_jvp

    @staticmethod
    def forward(ctx, x, mask):
        ctx.save_for_backward(mask)
        return x * mask

    def formula(ctx, m, g, mask):
        return g * mask, None                        # dx = g m


def _samples(rng):
    for shape, mask_shape in [((3, 4), (3, 4)), ((2, 3, 4, 4), (2, 3, 1, 1)), ((5,), (5,))]:
        keep = rng.random(mask_shape) >= 0.3
        yield SampleInput((make(rng, shape), keep / 0.7), {}, f"{shape} mask {mask_shape}")


@op(Dropout, samples=_samples, ref=lambda x, mask: x * mask)
def dropout_with_mask(input, mask):
    """``input * mask`` as one Dropout node, for a mask the caller drew (see above)."""
    return Dropout.apply(input, np.asarray(mask, dtype=input.dtype))
