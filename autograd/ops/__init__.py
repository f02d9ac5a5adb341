"""Primitive ops, one module per family; importing this attaches Tensor methods."""
from . import registry  # noqa: F401  (first: every module registers into it)
from . import shape, reduction, elementwise, binary, indexing, inplace, linalg, activation  # noqa: F401
from . import conv, pool, normalization, loss, pointwise, rearrange, dropout  # noqa: F401
from . import attention, pad, recurrent  # noqa: F401
from . import layout, grids, diagonal, indexing_more, products  # noqa: F401
from . import math_unary, math_binary, special_functions, activation_piecewise, math_inplace  # noqa: F401
from . import loss_more, ctc, embedding_bag  # noqa: F401  (losses, embedding bags: issue 27)
from . import scans, order_statistics, statistics, calculus, random_ops, fills_and_slices  # noqa: F401  (reductions, scans, statistics: issue 27)
from . import conv_nd, pool_nd, upsample, unpool, grid_sampling  # noqa: F401  (convolution, pooling, up-sampling: issue 27)
