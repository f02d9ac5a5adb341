"""Max un-pooling and fractional max pooling, composed from scatter and gather.

max_unpool{1,2,3}d writes each value at its flat index (the indices a max pool with
return_indices gave) in a zero plane of the output size: ``scatter`` along the
flattened spatial axis, so its VJP gathers the gradient back at the indices.  Where
indices repeat (overlapping pool windows), the last write wins the forward and every
repeat gets the gradient, both as PyTorch's.

fractional_max_pool{2,3}d (Graham, 2014) takes one random sample u in [0, 1) per
(batch, plane, axis) and starts window i of each axis at
    floor((i + u) alpha) - floor(u alpha),  alpha = (in - k) / (out - 1),
the last window at in - k (PyTorch's generate_intervals, in the input's precision).
A kernel picks each window's winner with PyTorch's rule (the first maximum, or the
last NaN; autograd/kernels/fractional.py) and the output gathers it per plane
(PoolGather), so the gradient scatters back to it with the compiled scatter-add.
"""
import numpy as np

from ..creation import default_generator
from ..kernels.fractional import fractional_argmax
from ..tensor import Tensor
from .batching import BatchedTensor, batched_fold, values_of
from .half import via_float32
from .indexing import Gather, Scatter, scatter
from .pool import PoolGather, PoolScatter, _ints
from .registry import SampleInput, make, op

_LAYOUT = {1: "(N, C, L) or (C, L)", 2: "(N, C, H, W) or (C, H, W)",
           3: "(N, C, D, H, W) or (C, D, H, W)"}


def _check(name, x, nd, what="input"):
    if not isinstance(x, Tensor):
        raise TypeError(f"{name}: {what} must be a Tensor, got {type(x).__name__}")
    if x.ndim not in (nd + 1, nd + 2):
        raise ValueError(f"{name}: expected a {nd + 1}-d or {nd + 2}-d {what} {_LAYOUT[nd]}, got "
                         f"shape {tuple(x.shape)}")
    if 0 in x.shape[x.ndim - nd:]:
        raise ValueError(f"{name}: spatial size of {what} {tuple(x.shape)} must be non-zero")


# -- max_unpool ------------------------------------------------------------------------------
def _unpool_size(name, x, k, s, p, output_size, nd):
    """PyTorch's _unpool_output_size: (in - 1) s - 2 p + k, or output_size when within a
    stride of it."""
    default = [(n - 1) * si + ki - 2 * pi for n, si, ki, pi in zip(x.shape[-nd:], s, k, p)]
    if output_size is None:
        return tuple(default)
    size = tuple(int(v) for v in output_size)
    size = size[2:] if len(size) == nd + 2 else size
    if len(size) != nd:
        raise ValueError(f"{name}: output_size should be a sequence of {nd} or {nd + 2} ints, "
                         f"got {tuple(output_size)}")
    for d, (want, base, si) in enumerate(zip(size, default, s)):
        if not base - si < want < base + si:
            raise ValueError(f"{name}: invalid output_size {size} (dim {d} must be between "
                             f"{base - si} and {base + si})")
    return size


def _max_unpool(name, input, indices, kernel_size, stride, padding, output_size, nd):
    _check(name, input, nd)
    if not isinstance(indices, Tensor) or indices.dtype.kind not in "iu" or \
            indices.shape != input.shape:
        raise ValueError(f"{name}: indices must be an integer tensor of the input's shape "
                         f"{tuple(input.shape)}, got {getattr(indices, 'dtype', None)} "
                         f"{tuple(getattr(indices, 'shape', ()))}")
    k = _ints(name, "kernel_size", kernel_size, nd)
    s = k if stride is None else _ints(name, "stride", stride, nd)
    p = _ints(name, "padding", padding, nd)
    size = _unpool_size(name, input, k, s, p, output_size, nd)
    plane = int(np.prod(size))
    every = values_of(indices)                # all samples' indices under vmap
    if every.size and (every.min() < 0 or every.max() >= plane):
        bad = every[(every < 0) | (every >= plane)][0]
        raise ValueError(f"{name}: found an invalid max index {bad} (output plane of size "
                         f"{size} holds {plane} elements)")
    rows = (-1, int(np.prod(input.shape[-nd:])))
    flat = indices.reshape(*rows)
    flat = flat if flat.dtype == np.int64 else flat.long()
    zeros = Tensor._make(np.zeros((flat.shape[0], plane), input.dtype))
    out = scatter(zeros, 1, flat, input.reshape(*rows))
    return out.reshape(*input.shape[:-nd], *size)


def max_unpool_reference(nd):
    def ref(x, indices, kernel_size, stride=None, padding=0, output_size=None):
        k = _ints("ref", "k", kernel_size, nd)
        s = k if stride is None else _ints("ref", "s", stride, nd)
        p = _ints("ref", "p", padding, nd)
        size = output_size[-nd:] if output_size is not None else \
            [(n - 1) * si + ki - 2 * pi for n, si, ki, pi in zip(x.shape[-nd:], s, k, p)]
        out = np.zeros(x.shape[:-nd] + (int(np.prod(size)),), x.dtype)
        for lead in np.ndindex(*x.shape[:-nd]):
            for pos in np.ndindex(*x.shape[-nd:]):
                out[lead + (indices[lead + pos],)] = x[lead + pos]
        return out.reshape(x.shape[:-nd] + tuple(size))
    return ref


def _unpool_samples(nd):
    # distinct indices: where they repeat, PyTorch's gradient (kept here) reaches every
    # repeat while the forward keeps the last write, so no numerical check can agree
    # (tests/test_spatial_sampling.py holds repeats to PyTorch instead)
    def gen(rng):
        shape = (2, 3) + (2,) * nd
        distinct = np.stack([rng.permutation(4 ** nd)[:2 ** nd] for _ in range(6)])
        yield SampleInput((make(rng, shape), Tensor._make(distinct.reshape(shape)), 2), {},
                          "distinct")
        idx = rng.permutation(3 ** nd)[:2 ** nd].reshape((1,) + (2,) * nd)
        yield SampleInput((make(rng, (1,) + (2,) * nd), Tensor._make(idx), 2),
                          dict(stride=1, output_size=(3,) * nd), "unbatched-output-size")
    return gen


# -- fractional_max_pool ---------------------------------------------------------------------
def fractional_starts(sample, n_in, n_out, k):
    """Window starts of one axis for samples u (any shape): PyTorch's generate_intervals
    computed in u's float type (float32 samples give float32 alpha)."""
    ft = sample.dtype.type
    starts = np.empty(sample.shape + (n_out,), np.int64)
    if n_out > 1:
        alpha = ft(n_in - k) / ft(n_out - 1)
        i = np.arange(n_out - 1, dtype=ft)
        starts[..., :-1] = ((i + sample[..., None]) * alpha).astype(np.int64) - \
            (sample[..., None] * alpha).astype(np.int64)
    starts[..., -1] = n_in - k
    return starts


def _fractional(name, input, kernel_size, output_size, output_ratio, return_indices, samples, nd):
    _check(name, input, nd)
    if input.dtype.kind != "f":
        raise TypeError(f"{name}: input must be floating point, got {input.dtype}")
    sizes = tuple(input.shape[-nd:])
    k = _ints(name, "kernel_size", kernel_size, nd)
    if output_size is None and output_ratio is None:
        raise ValueError(f"{name} requires specifying either an output_size or an output_ratio")
    if output_size is None:
        ratio = (output_ratio,) * nd if np.isscalar(output_ratio) else tuple(output_ratio)
        if len(ratio) != nd or not all(0 < r <= 1 for r in ratio):
            raise ValueError(f"{name}: output_ratio must be {nd} numbers in (0, 1], got "
                             f"{output_ratio!r}")
        output_size = tuple(int(n * r) for n, r in zip(sizes, ratio))
    out = _ints(name, "output_size", output_size, nd)
    for n, o, ki in zip(sizes, out, k):
        if ki < 1 or o < 1 or o + ki - 1 > n:
            raise ValueError(f"{name}: kernel_size {k} and output_size {out} must be positive "
                             f"with output_size + kernel_size - 1 <= input size {sizes}")
    batch = (1,) if input.ndim == nd + 1 else tuple(input.shape[:1])
    planes = batch + tuple(input.shape[-nd - 1:-nd])
    if samples is None:
        samples = default_generator().random(planes + (nd,)).astype(input.dtype)
    if type(input) is BatchedTensor or type(samples) is BatchedTensor:
        return _fractional_folded(name, input, k, out, return_indices, samples, nd)
    u = samples.array if isinstance(samples, Tensor) else np.asarray(samples)
    if u.shape != planes + (nd,):
        raise ValueError(f"{name}: _random_samples must have shape {planes + (nd,)}, got {u.shape}")
    # (P, nd) with column a for axis a: PyTorch's 2-d samples are (W, H), its 3-d (D, H, W)
    u = u.reshape(-1, nd)[:, ::-1] if nd == 2 else u.reshape(-1, nd)
    x = input.reshape(-1, int(np.prod(sizes)))
    starts = [fractional_starts(u[:, a], sizes[a], out[a], k[a]) for a in range(nd)]
    if nd == 2:                                        # run as 3-d with a unit depth
        starts, k, sizes3 = [np.zeros((u.shape[0], 1), np.int64)] + starts, (1,) + k, (1,) + sizes
    else:
        sizes3 = sizes
    # np.reshape (not the method): under vmap the batched array refuses it, as it must
    best = fractional_argmax(np.reshape(input.array, (-1, *sizes3)), *starts, *k)
    best = best.reshape(u.shape[0], -1)
    # the winners' values per plane: PoolGather, whose VJP is the compiled scatter-add
    y = PoolGather.apply(x, Tensor._make(best), 1).reshape(*input.shape[:-nd], *out)
    if not return_indices:
        return y
    return y, Tensor._make(best.reshape(y.shape))


def _fractional_folded(name, input, k, out, return_indices, samples, nd):
    """Under vmap: the windows are chosen on each sample's values, so the batch folds
    into N (samples drawn above for one sample: vmap's randomness modes apply)."""
    samples = samples if isinstance(samples, Tensor) else Tensor._make(np.asarray(samples, input.dtype))
    unbatched = input.ndim == nd + 1
    pool = lambda x, u: _fractional(name, x, k, out, None, True, u, nd)     # noqa: E731
    y, index = batched_fold(pool, input.unsqueeze(0) if unbatched else input, samples)
    if unbatched:
        y, index = y.squeeze(0), index.squeeze(0)
    return (y, index) if return_indices else y


def fractional_reference(nd):
    def ref(x, kernel_size, output_size=None, output_ratio=None, return_indices=False,
            _random_samples=None):
        k = _ints("ref", "k", kernel_size, nd)
        sizes = x.shape[-nd:]
        if output_size is None:
            ratio = (output_ratio,) * nd if np.isscalar(output_ratio) else output_ratio
            output_size = tuple(int(n * r) for n, r in zip(sizes, ratio))
        out = _ints("ref", "o", output_size, nd)
        xs = x.reshape((-1,) + sizes)
        u = _random_samples.reshape(-1, nd)
        u = u[:, ::-1] if nd == 2 else u
        y = np.empty((xs.shape[0],) + out, x.dtype)
        idx = np.empty(y.shape, np.int64)
        for p_ in range(xs.shape[0]):
            starts = [fractional_starts(u[p_, a:a + 1], sizes[a], out[a], k[a])[0]
                      for a in range(nd)]
            for o in np.ndindex(*out):
                best, best_val = None, -np.inf
                for tap in np.ndindex(*k):
                    pos = tuple(starts[a][o[a]] + tap[a] for a in range(nd))
                    v = xs[(p_,) + pos]
                    if v > best_val or np.isnan(v):
                        best, best_val = np.ravel_multi_index(pos, sizes), v
                y[(p_,) + o], idx[(p_,) + o] = best_val, best
        y, idx = y.reshape(x.shape[:-nd] + out), idx.reshape(x.shape[:-nd] + out)
        return (y, idx) if return_indices else y
    return ref


def _fractional_samples(nd):
    def gen(rng):
        shape = (2, 2) + (7, 6, 5)[:nd]
        u = rng.random((2, 2, nd))
        yield SampleInput((make(rng, shape), 2), dict(output_size=(3, 4, 2)[:nd],
                                                      _random_samples=u), "size")
        u1 = rng.random((1, 3, nd))
        yield SampleInput((make(rng, (3,) + (6, 5, 6)[:nd]), (3, 2, 2)[:nd]),
                          dict(output_ratio=0.5, _random_samples=u1, return_indices=True),
                          "unbatched-ratio-indices")
    return gen


# -- public API --------------------------------------------------------------------------------
@op(Scatter, Gather, samples=_unpool_samples(1), ref=max_unpool_reference(1))
def max_unpool1d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The inverse of max_pool1d's selection: each value at its index, zeros elsewhere."""
    return _max_unpool("max_unpool1d", input, indices, kernel_size, stride, padding,
                       output_size, 1)


@op(Scatter, Gather, samples=_unpool_samples(2), ref=max_unpool_reference(2))
def max_unpool2d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The inverse of max_pool2d's selection: each value at its flat index h*W + w."""
    return _max_unpool("max_unpool2d", input, indices, kernel_size, stride, padding,
                       output_size, 2)


@op(Scatter, Gather, samples=_unpool_samples(3), ref=max_unpool_reference(3))
def max_unpool3d(input, indices, kernel_size, stride=None, padding=0, output_size=None):
    """The inverse of max_pool3d's selection: each value at its flat index d*H*W + h*W + w."""
    return _max_unpool("max_unpool3d", input, indices, kernel_size, stride, padding,
                       output_size, 3)


@op(PoolGather, PoolScatter, samples=_fractional_samples(2), ref=fractional_reference(2),
    output_index=0)
@via_float32
def fractional_max_pool2d(input, kernel_size, output_size=None, output_ratio=None,
                          return_indices=False, _random_samples=None):
    """Max over pseudo-random (kH, kW) windows; samples (N, C, 2) in [0, 1) (drawn from the
    default generator when not given), sample 0 for the width, 1 for the height (PyTorch)."""
    return _fractional("fractional_max_pool2d", input, kernel_size, output_size, output_ratio,
                       return_indices, _random_samples, 2)


@op(PoolGather, PoolScatter, samples=_fractional_samples(3), ref=fractional_reference(3),
    output_index=0)
@via_float32
def fractional_max_pool3d(input, kernel_size, output_size=None, output_ratio=None,
                          return_indices=False, _random_samples=None):
    """Max over pseudo-random (kD, kH, kW) windows; samples (N, C, 3) in [0, 1) for
    depth, height and width."""
    return _fractional("fractional_max_pool3d", input, kernel_size, output_size, output_ratio,
                       return_indices, _random_samples, 3)
