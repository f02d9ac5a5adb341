"""tapegrad's engine: tensors over NumPy, a dynamic tape, reverse-mode VJPs.

``import autograd as ag``; the public API follows PyTorch's names (``ag.tensor``,
``ag.no_grad``, ``ag.grad``, ``ag.Function``, ...).  See README.md for a tour.
"""
import numpy as _np

from .kernels import allocator as _allocator  # noqa: F401  (keeps freed arrays for reuse)
from .kernels.threads import get_num_threads, set_num_threads
from . import dtypes
from .dtypes import dtype, set_default_dtype
from .tensor import Tensor
from .function import Primitive
from .custom_function import Function, FunctionCtx, InplaceFunction, once_differentiable
from .grad_mode import (detect_anomaly, enable_grad, inference_mode, is_anomaly_enabled,
                        is_grad_enabled, name_scope, no_grad, set_grad_enabled)
from .engine import backward, grad
from . import ops
from .ops.elementwise import (abs, ceil, clamp, clip, cos, erf, exp, expm1, floor, log, log1p,
                              neg, reciprocal, round, rsqrt, sigmoid, sign, sin, sqrt, square, tan,
                              tanh)
from .ops.binary import (add, allclose, div, eq, equal, floor_divide, ge, gt, isfinite, isinf,
                         isnan, le, logical_and, logical_not, logical_or, logical_xor, lt,
                         maximum, minimum, mul, ne, pow, remainder, sub, where)
from .ops.reduction import (all, amax, amin, any, argmax, argmin, cumsum, logsumexp, max, mean,
                            min, norm, prod, std, sum, var)
from .ops.shape import (broadcast_to, cat, chunk, clone, concatenate, expand, flatten, flip,
                        permute, repeat, reshape, split, squeeze, stack, sum_to, transpose, tril,
                        triu, unbind, unsqueeze)
from .ops.pad import pad
from .ops.indexing import (argsort, gather, index_add, index_select, masked_fill, nonzero, scatter,
                           scatter_add, sort, topk)
from .ops.linalg import bmm, dot, einsum, matmul, mm, outer
from .ops.pointwise import addcdiv, addcmul, lerp
from .ops.rearrange import repeat_interleave, roll
from .ops.search import bucketize, searchsorted
# Layout, diagonals, more indexing and products (issue 27, part B)
from .ops.layout import (adjoint, as_strided, atleast_1d, atleast_2d, atleast_3d, block_diag,
                         column_stack, dsplit, dstack, fliplr, flipud, hsplit, hstack, moveaxis,
                         movedim, narrow, ravel, rot90, row_stack, select, select_scatter,
                         slice_scatter, split_with_sizes, swapaxes, swapdims, tensor_split, tile,
                         unflatten, vsplit, vstack)
from .ops.grids import (broadcast_shapes, broadcast_tensors, cartesian_prod, combinations,
                        meshgrid, tril_indices, triu_indices)
from .ops.diagonal import diag, diag_embed, diagflat, diagonal, diagonal_scatter
from .ops.indexing_more import (index_copy, index_fill, index_put, index_reduce, masked_scatter,
                                masked_select, put, scatter_reduce, take, take_along_dim)
from .ops.products import (addbmm, addmm, addmv, addr, baddbmm, cdist, chain_matmul, cross, inner,
                           kron, mv, pdist, tensordot, trace, vdot)
from .ops.activation import elu, gelu, leaky_relu, log_softmax, relu, silu, softmax, softplus
from .creation import (Generator, Variable, arange, as_tensor, empty, empty_like, eye, from_numpy,
                       full, full_like, linspace, logspace, manual_seed, multinomial, ones,
                       ones_like, rand, rand_like, randint, randn, randn_like, randperm, tensor,
                       zeros, zeros_like)
from .tensor import Size
from . import hub
from .gradcheck import GradcheckError, gradcheck, gradgradcheck
from . import forward_ad, functional, func
from . import amp, backends
from .amp import autocast
from .viz import backprop_frames, record_gradients, to_dot
from .viz.tape_view import tape
from .tape_check import gradcheck_tape
from .device import accelerator, cuda, device
from .serialization import CheckpointError, load, save
# The math family (issue 27): inverse trig and hyperbolic functions, special functions,
# more broadcasting math; and the torch.special face
from .ops.math_unary import (acos, acosh, arccos, arccosh, arcsin, arcsinh, arctan, arctanh,
                             asin, asinh, atan, atanh, cosh, deg2rad, exp2, fix, frac, log10,
                             log2, logit, nan_to_num, positive, rad2deg, sgn, sinc, sinh, trunc)
from .ops.math_binary import (arctan2, atan2, clamp_max, clamp_min, copysign, float_power, fmax,
                              fmin, fmod, frexp, hypot, ldexp, logaddexp, logaddexp2, nextafter,
                              rsub, true_divide, xlogy)
from .ops.special_functions import (digamma, erfc, erfinv, i0, lgamma, mvlgamma, polygamma)
from . import special
# Linear algebra (issue 28): the torch.linalg face and PyTorch's top-level forms
from . import linalg
from .ops.matrix_functions import matrix_exp, matrix_power
from .ops.decompositions import det
from .ops.solve import cholesky_solve, inverse, logdet, slogdet
from .ops.linalg_toplevel import (cholesky, cholesky_inverse, lu, lu_solve, lu_unpack, ormqr,
                                  pinverse, qr, svd, triangular_solve)
from .ops.lowrank import pca_lowrank, svd_lowrank

# Reductions, scans, order statistics, calculus and random draws (issue 27)
from .ops.scans import cummax, cummin, cumprod, logcumsumexp
from .ops.order_statistics import (kthvalue, median, mode, msort, nanmedian, nanquantile,
                                   quantile)
from .ops.statistics import (aminmax, bincount, corrcoef, count_nonzero, cov, dist, histc,
                             nanmean, nansum, renorm, std_mean, unique, unique_consecutive,
                             var_mean)
from .ops.calculus import cumulative_trapezoid, diff, gradient, trapezoid, trapz
from .ops.random_ops import bernoulli, normal, poisson, randint_like
from .ops.fills_and_slices import (as_strided_scatter, fill, fill_, unsafe_chunk, unsafe_split,
                                   zero_)
from .ops.shape import t
# saved-tensor hooks, checkpointing and the profiler (torch.autograd.graph, .profiler)
from . import graph


# The dtypes as PyTorch's `torch.dtype` objects (they print as torch.float32 and compare
# equal to the NumPy dtypes, which the engine uses inside).
bool_, float16, float32, float64, int8, int16, int32, int64, uint8 = (
    dtypes.public(d) for d in (dtypes.bool_, dtypes.float16, dtypes.float32, dtypes.float64,
                               dtypes.int8, dtypes.int16, dtypes.int32, dtypes.int64, dtypes.uint8))


def get_default_dtype():
    return dtypes.public(dtypes.get_default_dtype())


# NumPy's machine limits have PyTorch's field names (min, max, eps, tiny, bits, ...).
finfo, iinfo = _np.finfo, _np.iinfo


def is_tensor(obj):
    return isinstance(obj, Tensor)


def numel(input):
    return input.numel()


__all__ = [n for n in dir() if not n.startswith("_")]

# PyTorch's dtype aliases.  Kept out of __all__: `from autograd import *` must not
# shadow the builtins float, int and bool.
long, float, double, int, half, bool, short = int64, float32, float64, int32, float16, bool_, int16

# ATen's slice (op_db tests it as torch's): kept out of __all__ too (the builtin slice).
from .ops.fills_and_slices import slice  # noqa: E402

# Compiled mode, torch.compile's contract.  Also kept out of __all__ (it would shadow
# the builtin compile); the name is the function, the package stays autograd/compile/.
from .compile import compile  # noqa: E402

# PyTorch-style namespaces, so that `import autograd as torch` serves `torch.nn.Linear`,
# `torch.optim.SGD`, `torch.utils.data.DataLoader` and `torch.autograd.Function`.  They
# are loaded on first use: the engine itself never imports nn or optim (the import-floor
# rule), and these names are the one listed exception.
_LAZY_NAMESPACES = {"nn": "nn", "optim": "optim", "utils": "autograd.utils",
                    "profiler": "autograd.profiler"}


def __getattr__(name):
    import importlib
    import sys
    if name == "autograd":
        return sys.modules[__name__]
    if name in _LAZY_NAMESPACES:
        return importlib.import_module(_LAZY_NAMESPACES[name])
    raise AttributeError(f"module 'autograd' has no attribute {name!r}")


def _pytorch_function_module():
    """PyTorch's ``torch.autograd.function`` holds Function and its helpers; tapegrad's
    ``autograd.function`` is the Primitive module below them (custom_function.py imports
    it), so the face adds them there, and ``from autograd.function import
    once_differentiable`` ports ``from torch.autograd.function import ...``."""
    for name in ("Function", "FunctionCtx", "InplaceFunction", "once_differentiable"):
        setattr(function, name, globals()[name])


_pytorch_function_module()
