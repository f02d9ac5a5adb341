"""Shape ops: views, broadcasting, joining and splitting, triangles (padding: pad.py).

Most VJPs are the inverse rearrangement of the gradient; broadcasting's VJP is a
sum (``sum_to``) and summing's VJP is a broadcast (``expand``), so the pair are
each other's adjoints and double backward comes for free.
"""
import numpy as np

from ..dtypes import is_int
from ..function import Primitive
from ..tensor import Tensor, tensor_method
from .formula import FormulaPrimitive
from .registry import SampleInput, make, op, unary_samples
from ..forward_ad import derived_jvp, linear_jvp
from .batching import batch_as_leading_dim_rule, dims_batch_rule


def normalize_dim(dim, ndim, name):
    """A dim in [-ndim, ndim) made non-negative, or a clear IndexError."""
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"{name}: dim {dim} is out of range for a tensor with {ndim} "
                         f"dimension(s) (expected -{max(ndim, 1)} <= dim < {max(ndim, 1)})")
    return dim % max(ndim, 1)


def _sizes(args):
    """Accept f(2, 3) and f((2, 3)) like PyTorch."""
    return tuple(args[0]) if len(args) == 1 and isinstance(args[0], (tuple, list)) else tuple(args)


def _pad_rank(x, rank):
    """A batched physical value with size-1 dims after the batch dim, up to ``rank``
    logical dims (NumPy aligns shapes from the right, past the batch dim)."""
    pad = rank - (x.ndim - 1)
    return x if pad <= 0 else Reshape.apply(x, (x.shape[0],) + (1,) * pad + tuple(x.shape[1:]))


class Reshape(FormulaPrimitive):
    @staticmethod
    def batch_rule(b, x, shape):
        return Reshape.apply(x, (x.shape[0],) + tuple(shape))
    jvp = linear_jvp

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        try:
            return x.reshape(shape)
        except ValueError:
            raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} ({x.size} "
                             f"elements) into shape {tuple(shape)}") from None

    def formula(ctx, m, g):
        return g.reshape(ctx.in_shape), None        # dx = g, in x's shape


def _reshape_samples(rng):
    yield SampleInput((make(rng, (3, 4)), (4, 3)), {}, "2d")
    yield SampleInput((make(rng, (2, 3, 4)), (-1,)), {}, "flatten")
    yield SampleInput((make(rng, (4, 3), noncontig=True), (2, 6)), {}, "noncontig")
    yield SampleInput((make(rng, ()), (1, 1)), {}, "0d")


@op(Reshape, samples=_reshape_samples, ref=np.reshape)
def reshape(input, *shape):
    shape = _sizes(shape)
    if not all(is_int(s, -1) for s in shape) \
            or shape.count(-1) > 1:
        raise ValueError(f"reshape: shape {shape} is invalid: expected integers >= 0, with at "
                         f"most one -1 (inferred), for a tensor of shape {tuple(input.shape)}")
    if shape == input.shape:
        return input
    return Reshape.apply(input, shape)


tensor_method(reshape)
tensor_method(reshape, name="view")


@tensor_method
def view_as(input, other):
    return reshape(input, other.shape)


@tensor_method
def reshape_as(input, other):
    return reshape(input, other.shape)


def _flatten_samples(rng):
    yield SampleInput((make(rng, (2, 3, 4)),), {}, "all")
    yield SampleInput((make(rng, (2, 3, 4)),), dict(start_dim=1), "from-1")
    yield SampleInput((make(rng, (2, 3, 4, 2)),), dict(start_dim=1, end_dim=2), "middle")


@op(Reshape, samples=_flatten_samples, method=True,
    ref=lambda x, start_dim=0, end_dim=-1: x.reshape(x.shape[:start_dim] + (-1,) + x.shape[end_dim % x.ndim + 1:]))
def flatten(input, start_dim=0, end_dim=-1):
    if input.ndim == 0:
        return reshape(input, (1,))
    s = normalize_dim(start_dim, input.ndim, "flatten")
    e = normalize_dim(end_dim, input.ndim, "flatten")
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim} for a "
                         f"tensor of shape {tuple(input.shape)}")
    shape = input.shape[:s] + (int(np.prod(input.shape[s:e + 1])),) + input.shape[e + 1:]
    return reshape(input, shape)


@tensor_method
def unflatten(input, dim, sizes):
    d = normalize_dim(dim, input.ndim, "unflatten")
    return reshape(input, input.shape[:d] + tuple(sizes) + input.shape[d + 1:])


def _squeeze_samples(rng):
    yield SampleInput((make(rng, (2, 1, 3, 1)),), {}, "all")
    yield SampleInput((make(rng, (2, 1, 3)),), dict(dim=1), "dim")
    yield SampleInput((make(rng, (2, 3)),), dict(dim=0), "not-1")


@op(Reshape, samples=_squeeze_samples, method=True,
    ref=lambda x, dim=None: np.squeeze(x, dim) if dim is None or x.shape[dim] == 1 else x)
def squeeze(input, dim=None):
    if dim is None:
        shape = tuple(s for s in input.shape if s != 1)
    else:
        dims = {normalize_dim(d, input.ndim, "squeeze") for d in (dim if isinstance(dim, (tuple, list)) else (dim,))}
        shape = tuple(s for i, s in enumerate(input.shape) if not (i in dims and s == 1))
    return reshape(input, shape)


def _unsqueeze_samples(rng):
    yield SampleInput((make(rng, (2, 3)), 0), {}, "front")
    yield SampleInput((make(rng, (2, 3)), -1), {}, "back")
    yield SampleInput((make(rng, ()), 0), {}, "0d")


@op(Reshape, samples=_unsqueeze_samples, method=True, ref=lambda x, dim: np.expand_dims(x, dim))
def unsqueeze(input, dim):
    d = normalize_dim(dim, input.ndim + 1, "unsqueeze")
    return reshape(input, input.shape[:d] + (1,) + input.shape[d:])


class Permute(Primitive):
    @staticmethod
    def batch_rule(b, x, dims):
        return Permute.apply(x, (0,) + tuple(d % max(x.ndim - 1, 1) + 1 for d in dims))
    jvp = linear_jvp

    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return x.transpose(dims)

    @staticmethod
    def backward(ctx, g):
        return g.permute(tuple(np.argsort(ctx.dims))), None   # dx = g with dims inverted


def _permute_samples(rng):
    yield SampleInput((make(rng, (2, 3, 4)), (2, 0, 1)), {}, "3d")
    yield SampleInput((make(rng, (4, 3), noncontig=True), (1, 0)), {}, "noncontig")


@op(Permute, samples=_permute_samples, ref=np.transpose)
def permute(input, *dims):
    dims = _sizes(dims)
    if sorted(normalize_dim(d, input.ndim, "permute") for d in dims) != list(range(input.ndim)):
        raise ValueError(f"permute: dims {dims} are not a permutation of the {input.ndim} "
                         f"dimensions of a tensor of shape {tuple(input.shape)}")
    dims = tuple(d % input.ndim for d in dims)
    return Permute.apply(input, dims)


tensor_method(permute)


def _transpose_samples(rng):
    yield SampleInput((make(rng, (2, 3, 4)), 0, 2), {}, "outer")
    yield SampleInput((make(rng, (3, 4)), -1, -2), {}, "negative")


@op(Permute, samples=_transpose_samples, method=True, ref=lambda x, a, b: np.swapaxes(x, a, b))
def transpose(input, dim0, dim1):
    if input.ndim < 2:
        return input
    dims = list(range(input.ndim))
    a, b = normalize_dim(dim0, input.ndim, "transpose"), normalize_dim(dim1, input.ndim, "transpose")
    dims[a], dims[b] = dims[b], dims[a]
    return Permute.apply(input, tuple(dims))


tensor_method(transpose, name="swapaxes")
Tensor.T = property(lambda self: permute(self, tuple(range(self.ndim))[::-1]) if self.ndim > 1 else self)
Tensor.mT = property(lambda self: transpose(self, -2, -1))


@tensor_method
def t(input):
    if input.ndim > 2:
        raise ValueError(f"t: expects a tensor with <= 2 dimensions, got shape {tuple(input.shape)}")
    return transpose(input, 0, 1)


class Expand(Primitive):
    @staticmethod
    def batch_rule(b, x, shape):
        return Expand.apply(_pad_rank(x, len(shape)), (x.shape[0],) + tuple(shape))
    jvp = linear_jvp

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        return np.broadcast_to(x, shape)

    @staticmethod
    def backward(ctx, g):
        return sum_to(g, ctx.in_shape), None        # dx = g summed over broadcast axes


class SumTo(Primitive):
    @staticmethod
    def batch_rule(b, x, shape):
        extra = x.ndim - 1 - len(shape)          # the leading dims sum_to drops
        if extra > 0:
            x = x.sum(tuple(range(1, extra + 1)))
        return SumTo.apply(x, (x.shape[0],) + tuple(shape))
    jvp = linear_jvp

    @staticmethod
    def forward(ctx, x, shape):
        ctx.in_shape = x.shape
        lead = x.ndim - len(shape)
        axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape)
                                          if s == 1 and x.shape[lead + i] != 1)
        out = x.sum(axis=axes, keepdims=True) if axes else x
        return out.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return expand(g, ctx.in_shape), None        # dx = g broadcast back


def _expand_samples(rng):
    yield SampleInput((make(rng, (3, 1)), (3, 4)), {}, "col")
    yield SampleInput((make(rng, (4,)), (2, 3, 4)), {}, "lead")
    yield SampleInput((make(rng, ()), (2, 2)), {}, "0d")


@op(Expand, samples=_expand_samples, ref=np.broadcast_to)
def expand(input, *sizes):
    sizes = _sizes(sizes)
    lead = len(sizes) - input.ndim
    if lead < 0:
        raise ValueError(f"expand: the number of sizes ({len(sizes)}) must be >= the tensor's "
                         f"dimensions ({input.ndim}, shape {tuple(input.shape)})")
    shape = tuple(input.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(sizes))
    if not all(is_int(s, 0) for s in shape):
        raise ValueError(f"expand: sizes {sizes} are invalid for shape {tuple(input.shape)}: "
                         "expected integers >= 0, or -1 to keep an existing dim")
    for i in range(input.ndim):
        if input.shape[i] not in (1, shape[lead + i]):
            raise ValueError(f"expand: cannot expand shape {tuple(input.shape)} to {shape}: "
                             f"dim {i} has size {input.shape[i]} (only size-1 dims can expand)")
    if shape == input.shape:
        return input
    return Expand.apply(input, shape)


tensor_method(expand)
tensor_method(expand, name="broadcast_to")
broadcast_to = expand


@tensor_method
def expand_as(input, other):
    return expand(input, other.shape)


def _sum_to_samples(rng):
    yield SampleInput((make(rng, (3, 4)), (3, 1)), {}, "keep-col")
    yield SampleInput((make(rng, (2, 3, 4)), (4,)), {}, "lead")
    yield SampleInput((make(rng, (2, 2)), ()), {}, "to-0d")


def _sum_to_ref(x, shape):
    lead = x.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(shape) if s == 1)
    return x.sum(axis=axes, keepdims=True).reshape(shape)


@op(SumTo, samples=_sum_to_samples, ref=_sum_to_ref, method=True)
def sum_to(input, shape):
    """Sum ``input`` down to ``shape`` (the adjoint of broadcasting to input's shape)."""
    shape = tuple(shape)
    if input.shape == shape:
        return input
    try:
        ok = np.broadcast_shapes(shape, input.shape) == input.shape
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"sum_to: shape {tuple(input.shape)} cannot be summed to {shape}: "
                         f"{shape} must broadcast to it")
    return SumTo.apply(input, shape)


class Repeat(Primitive):
    @staticmethod
    def batch_rule(b, x, reps):
        return Repeat.apply(_pad_rank(x, len(reps)), (1,) + tuple(reps))
    jvp = linear_jvp

    @staticmethod
    def forward(ctx, x, reps):
        ctx.in_shape = x.shape
        return np.tile(x, reps)

    @staticmethod
    def backward(ctx, g):
        # dx = sum of g over the copies: view g as (r0, s0, r1, s1, ...) and sum the r axes.
        shape = (1,) * (len(g.shape) - len(ctx.in_shape)) + ctx.in_shape
        reps = [gs // s for gs, s in zip(g.shape, shape)]
        split = tuple(v for r, s in zip(reps, shape) for v in (r, s))
        summed = g.reshape(split).sum(dim=tuple(range(0, len(split), 2)))
        return summed.reshape(ctx.in_shape), None


def _repeat_samples(rng):
    yield SampleInput((make(rng, (2, 3)), (2, 1)), {}, "rows")
    yield SampleInput((make(rng, (3,)), (2, 2)), {}, "new-dim")


@op(Repeat, samples=_repeat_samples, ref=np.tile)
def repeat(input, *sizes):
    sizes = _sizes(sizes)
    if not all(is_int(s, 0) for s in sizes):
        raise ValueError(f"repeat: repeats must be non-negative integers, got {sizes}")
    if len(sizes) < input.ndim:
        raise ValueError(f"repeat: number of repeat dims ({len(sizes)}) can not be smaller "
                         f"than the tensor's dimensions ({input.ndim}, shape {tuple(input.shape)})")
    return Repeat.apply(input, sizes)


tensor_method(repeat)


class Cat(Primitive):
    @staticmethod
    def batch_rule(b, dim, *xs):
        return Cat.apply(dim + 1, *[x if k else b.expand(x) for x, k in zip(xs, b.batched[1:])])
    jvp = linear_jvp

    @staticmethod
    def forward(ctx, dim, *xs):
        ctx.dim = dim
        ctx.sizes = [x.shape[dim] for x in xs]
        return np.concatenate(xs, axis=dim)

    @staticmethod
    def backward(ctx, g):
        return (None,) + tuple(split(g, ctx.sizes, ctx.dim))   # dx_i = g's slice i


def _cat_samples(rng):
    yield SampleInput(([make(rng, (2, 3)), make(rng, (4, 3))],), dict(dim=0), "dim0")
    yield SampleInput(([make(rng, (2, 3)), make(rng, (2, 1)), make(rng, (2, 2))],), dict(dim=-1), "dim-1")


@op(Cat, samples=_cat_samples, ref=lambda xs, dim: np.concatenate(xs, axis=dim))
def cat(tensors, dim=0):
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("cat: expected a non-empty list of tensors")
    ref = tensors[0]
    d = normalize_dim(dim, ref.ndim, "cat")
    for i, t in enumerate(tensors):
        if t.ndim != ref.ndim or t.shape[:d] + t.shape[d + 1:] != ref.shape[:d] + ref.shape[d + 1:]:
            raise ValueError(f"cat: tensors must have the same shape except in dim {d}; "
                             f"tensor 0 has shape {tuple(ref.shape)}, tensor {i} has {tuple(t.shape)}")
    return Cat.apply(d, *tensors)


concatenate = cat


def _stack_samples(rng):
    yield SampleInput(([make(rng, (2, 3)), make(rng, (2, 3))],), dict(dim=0), "dim0")
    yield SampleInput(([make(rng, (3,)), make(rng, (3,)), make(rng, (3,))],), dict(dim=-1), "dim-1")


class Stack(FormulaPrimitive):
    """One node for the whole stack, as in PyTorch (an RNN stacks one output a step)."""
    @staticmethod
    def batch_rule(b, dim, *xs):
        return Stack.apply(dim + 1, *[x if k else b.expand(x) for x, k in zip(xs, b.batched[1:])])
    jvp = linear_jvp

    @staticmethod
    def forward(ctx, dim, *xs):
        ctx.dim = dim
        return np.stack(xs, dim)

    def formula(ctx, m, g):                    # dx_i = g's slice i along dim
        return (None,) + (tuple(np.moveaxis(g, ctx.dim, 0)) if m is np else unbind(g, ctx.dim))


@op(Stack, samples=_stack_samples, ref=lambda xs, dim: np.stack(xs, dim))
def stack(tensors, dim=0):
    tensors = [t if isinstance(t, Tensor) else Tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: expected a non-empty list of tensors")
    d = normalize_dim(dim, tensors[0].ndim + 1, "stack")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: expects each tensor to be equal size, but got "
                             f"{tuple(tensors[0].shape)} at entry 0 and {tuple(t.shape)} at entry {i}")
    return Stack.apply(d, *tensors)


class Split(Primitive):
    batch_rule = dims_batch_rule(2)
    jvp = linear_jvp

    @staticmethod
    def forward(ctx, x, sizes, dim):
        ctx.dim = dim
        bounds = np.cumsum(sizes)[:-1]
        return tuple(np.split(x, bounds, axis=dim))

    @staticmethod
    def backward(ctx, *gs):
        return cat(gs, ctx.dim), None, None         # dx = the pieces' gradients joined


def _split_samples(rng):
    yield SampleInput((make(rng, (5, 3)), 2), dict(dim=0), "size2")
    yield SampleInput((make(rng, (2, 6)), [1, 2, 3]), dict(dim=1), "sections")


@op(Split, samples=_split_samples,
    ref=lambda x, s, dim: tuple(np.split(x, np.cumsum(s)[:-1] if isinstance(s, list) else
                                         range(s, x.shape[dim], s), axis=dim)))
def split(tensor, split_size_or_sections, dim=0):
    d = normalize_dim(dim, tensor.ndim, "split")
    n = tensor.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0:
            raise ValueError(f"split: split_size must be positive, got {step}")
        sizes = [min(step, n - i) for i in range(0, n, step)] or [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != n:
            raise ValueError(f"split: sections {sizes} sum to {sum(sizes)}, but dim {d} of the "
                             f"tensor (shape {tuple(tensor.shape)}) has size {n}")
    if len(sizes) == 1:
        return (tensor,)
    return Split.apply(tensor, sizes, d)


tensor_method(split)


def _chunk_samples(rng):
    yield SampleInput((make(rng, (5, 3)), 2), {}, "uneven")
    yield SampleInput((make(rng, (2, 6)), 3), dict(dim=1), "dim1")


def _chunk_ref(x, chunks, dim=0):
    step = -(-x.shape[dim] // chunks)
    return tuple(np.split(x, range(step, x.shape[dim], step), axis=dim))


@op(Split, samples=_chunk_samples, method=True, ref=_chunk_ref)
def chunk(input, chunks, dim=0):
    if not is_int(chunks, 1):
        raise ValueError(f"chunk: chunks must be a positive integer, got {chunks!r}")
    n = input.shape[normalize_dim(dim, input.ndim, "chunk")]
    return split(input, max(1, -(-n // chunks)), dim)


class Unbind(FormulaPrimitive):
    """The slices along a dim, as views, from one node (PyTorch's UnbindBackward)."""
    batch_rule = dims_batch_rule(1)
    jvp = linear_jvp

    @staticmethod
    def forward(ctx, x, dim):
        ctx.dim = dim
        return tuple(np.moveaxis(x, dim, 0))

    def formula(ctx, m, *gs):                  # dx = the slices' gradients stacked
        return (np.stack(gs, ctx.dim) if m is np else stack(gs, ctx.dim)), None


def _unbind_samples(rng):
    yield SampleInput((make(rng, (3, 2)),), {}, "dim0")
    yield SampleInput((make(rng, (2, 4, 3), noncontig=True), 1), {}, "dim1")


@op(Unbind, samples=_unbind_samples, method=True,
    ref=lambda x, dim=0: tuple(np.moveaxis(x, dim, 0)))
def unbind(input, dim=0):
    return Unbind.apply(input, normalize_dim(dim, input.ndim, "unbind"))


class Flip(Primitive):
    batch_rule = dims_batch_rule(1)
    jvp = linear_jvp

    @staticmethod
    def forward(ctx, x, dims):
        ctx.dims = dims
        return np.flip(x, dims)

    @staticmethod
    def backward(ctx, g):
        return flip(g, ctx.dims), None              # dx = g flipped back


def _flip_samples(rng):
    yield SampleInput((make(rng, (3, 4)), (0,)), {}, "dim0")
    yield SampleInput((make(rng, (2, 3, 4)), (0, 2)), {}, "two-dims")


@op(Flip, samples=_flip_samples, ref=np.flip)
def flip(input, dims):
    dims = tuple(normalize_dim(d, input.ndim, "flip") for d in (dims if isinstance(dims, (tuple, list)) else (dims,)))
    return Flip.apply(input, dims)


tensor_method(flip)


class Triangle(Primitive):
    batch_rule = batch_as_leading_dim_rule      # on the last two dims
    jvp = linear_jvp

    @staticmethod
    def forward(ctx, x, diagonal, upper):
        ctx.diagonal, ctx.upper = diagonal, upper
        return np.triu(x, diagonal) if upper else np.tril(x, diagonal)

    @staticmethod
    def backward(ctx, g):
        return Triangle.apply(g, ctx.diagonal, ctx.upper), None, None   # dx = same mask of g


def _tri_samples(rng):
    yield SampleInput((make(rng, (4, 4)),), {}, "square")
    yield SampleInput((make(rng, (2, 3, 5)),), dict(diagonal=1), "batched")
    yield SampleInput((make(rng, (4, 3)),), dict(diagonal=-1), "tall")


@op(Triangle, samples=_tri_samples, ref=lambda x, diagonal=0: np.triu(x, diagonal), method=True)
def triu(input, diagonal=0):
    return Triangle.apply(_matrices(input, "triu"), diagonal, True)


@op(Triangle, samples=_tri_samples, ref=lambda x, diagonal=0: np.tril(x, diagonal), method=True)
def tril(input, diagonal=0):
    return Triangle.apply(_matrices(input, "tril"), diagonal, False)


def _matrices(input, name):
    if input.ndim < 2:
        raise ValueError(f"{name}: input must have at least 2 dimensions, got shape {tuple(input.shape)}")
    return input


class Copy(Primitive):
    batch_rule = batch_as_leading_dim_rule
    jvp = derived_jvp

    @staticmethod
    def forward(ctx, x, contiguous_only):
        return np.ascontiguousarray(x) if contiguous_only else x.copy()

    @staticmethod
    def backward(ctx, g):
        return g, None                              # dx = g


@op(Copy, samples=unary_samples(), ref=lambda x: x.copy(), method=True)
def clone(input):
    return Copy.apply(input, False)


@tensor_method
def contiguous(input):
    return input if input.array.flags.c_contiguous else Copy.apply(input, True)
