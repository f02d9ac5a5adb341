"""Sampling grids: ``affine_grid`` and ``grid_sample`` (spatial transformers, Jaderberg et
al. 2015), composed from tensor ops, so gradients reach the input and the grid.

grid_sample follows aten/src/ATen/native/GridSampler.h: a grid value g in [-1, 1]
maps to the pixel coordinate
    ((g + 1) / 2) (size - 1)        with align_corners,
    ((g + 1) size - 1) / 2          without,
then 'border' clamps it to [0, size - 1] and 'reflection' folds it at the borders
(at the pixel centres with align_corners, else at the outer edges) and clamps.
Bilinear (trilinear for volumes) takes the 2^nd corners floor(c) + {0, 1} with weights
(1 - t) or t per axis, t = c - floor(c); bicubic the 4 x 4 taps floor(c) - 1 .. + 2 with
Keys' weights (A = -0.75), padding applied to each tap; nearest rounds half to even.
Taps outside the input read 0 ('zeros').  Each tap is one row gather of the input's
channels (its VJP scatters back to the input) times a weight that is a tensor
function of the grid (its VJP reaches the grid); the corner indices are constants.
"""
import itertools

import numpy as np

from ..tensor import Tensor
from .batching import BatchedTensor, batched_fold
from .indexing import GetItem, IndexAddZeros
from .linalg import matmul
from .registry import SampleInput, make, op
from .upsample import _cubic_weights


def _check(name, input, grid):
    for what, t in (("input", input), ("grid", grid)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name}: {what} must be a Tensor, got {type(t).__name__}")
        if t.dtype.kind != "f":
            raise TypeError(f"{name}: {what} must be floating point, got {t.dtype}")
    nd = input.ndim - 2
    if nd not in (2, 3) or grid.ndim != input.ndim or grid.shape[-1] != nd or \
            grid.shape[0] != input.shape[0]:
        raise ValueError(f"{name}: expected input (N, C, H, W) with grid (N, H_out, W_out, 2), or "
                         f"input (N, C, D, H, W) with grid (N, D_out, H_out, W_out, 3); got input "
                         f"{tuple(input.shape)} and grid {tuple(grid.shape)}")
    if input.dtype != grid.dtype:
        raise TypeError(f"{name}: input ({input.dtype}) and grid ({grid.dtype}) must have the "
                        f"same dtype")
    return nd


def _unnormalize(g, size, align_corners):
    return (g + 1) * ((size - 1) / 2) if align_corners else ((g + 1) * size - 1) / 2


def _reflect(c, twice_low, twice_high):
    """Fold c into [twice_low / 2, twice_high / 2] by reflection (GridSampler.h's
    reflect_coordinates): extra = |c - low| mod span, mirrored on odd flips."""
    if twice_low == twice_high:
        return c * 0.0
    low, span = twice_low / 2, (twice_high - twice_low) / 2
    dist = (c - low).abs()
    flips = np.floor(dist.array / span)
    extra = dist - Tensor._make((flips * span).astype(dist.dtype))
    odd = (flips % 2).astype(dist.dtype)
    return extra * Tensor._make(1 - 2 * odd) + Tensor._make((low + odd * span).astype(dist.dtype))


def _source(g, size, padding_mode, align_corners):
    """The pixel coordinate of one axis after the padding mode (a tensor of the grid)."""
    c = _unnormalize(g, size, align_corners)
    if padding_mode == "reflection":
        c = _reflect(c, 0, 2 * (size - 1)) if align_corners else _reflect(c, -1, 2 * size - 1)
    if padding_mode in ("border", "reflection"):
        c = c.clamp(0, size - 1)
    return c


def _tap_index(i, size, padding_mode, align_corners):
    """An integer tap coordinate after the padding mode (bicubic pads each tap)."""
    if padding_mode == "border":
        return np.clip(i, 0, size - 1)
    if padding_mode == "reflection":
        f = i.astype(np.float64)
        tl, th = (0, 2 * (size - 1)) if align_corners else (-1, 2 * size - 1)
        if tl == th:
            return np.zeros_like(i)
        low, span = tl / 2, (th - tl) / 2
        dist = np.abs(f - low)
        flips = np.floor(dist / span)
        extra = dist - flips * span
        f = np.where(flips % 2 == 0, extra + low, span - extra + low)
        return np.clip(f, 0, size - 1).astype(np.int64)
    return i


def _sample(input, taps, sizes, m):
    """sum over taps of input[index] * weight, 0 where an index falls outside; taps are
    (per-axis index arrays, weight tensor) for m output points.  The input is read as
    rows of channels (channels last), so each tap is one row gather whose VJP is the
    compiled row scatter (element gathers' scatter-add was 4x slower)."""
    n, c, plane = input.shape[0], input.shape[1], int(np.prod(sizes))
    table = input.reshape(n, c, plane).permute(0, 2, 1).reshape(n * plane, c)
    out = None
    for idx, weight in taps:
        inside = np.ones(idx[0].shape, bool)
        flat = np.zeros(idx[0].shape, np.int64)
        for i, size in zip(idx, sizes):
            inside &= (i >= 0) & (i < size)
            flat = flat * size + np.clip(i, 0, size - 1)
        rows = (flat.reshape(n, m) + np.arange(n)[:, None] * plane).reshape(n * m)
        w = weight * Tensor._make(inside.astype(weight.dtype))
        term = table[rows] * w.reshape(n * m, 1)
        out = term if out is None else out + term
    return out.reshape(n, m, c).permute(0, 2, 1)


def _grid_sample(input, grid, mode, padding_mode, align_corners, nd):
    sizes = tuple(input.shape[2:])
    out_sp = tuple(grid.shape[1:-1])
    # axis a (D, H, W order) reads grid component nd - 1 - a (x is the width)
    coords = [_source(grid[..., nd - 1 - a], sizes[a], padding_mode, align_corners)
              for a in range(nd)]
    if mode == "nearest":
        idx = [np.rint(c.array).astype(np.int64) for c in coords]      # half to even
        taps = [(idx, coords[0] * 0.0 + 1.0)]     # weight 1 whose gradient (0) reaches the grid
    elif mode == "bilinear":
        base = [np.floor(c.array) for c in coords]
        t = [c - Tensor._make(b.astype(c.dtype)) for c, b in zip(coords, base)]
        taps = []
        for bits in itertools.product((0, 1), repeat=nd):
            weight = None
            for tb, bit in zip(t, bits):
                f = tb if bit else 1 - tb
                weight = f if weight is None else weight * f
            taps.append(([b.astype(np.int64) + bit for b, bit in zip(base, bits)], weight))
    else:   # bicubic: the unpadded coordinate, padding applied per tap
        raw = [_unnormalize(grid[..., nd - 1 - a], sizes[a], align_corners) for a in range(nd)]
        base = [np.floor(c.array) for c in raw]
        weights = [_cubic_weights(c - Tensor._make(b.astype(c.dtype))) for c, b in zip(raw, base)]
        taps = []
        for offs in itertools.product(range(4), repeat=nd):
            idx = [_tap_index(b.astype(np.int64) - 1 + o, size, padding_mode, align_corners)
                   for b, o, size in zip(base, offs, sizes)]
            weight = None
            for w, o in zip(weights, offs):
                weight = w[o] if weight is None else weight * w[o]
            taps.append((idx, weight))
    return _sample(input, taps, sizes, int(np.prod(out_sp))).reshape(*input.shape[:2], *out_sp)


# -- NumPy references: PyTorch's per-output loops (GridSampler.h), independent of the taps -----
def _ref_coord(g, size, padding_mode, align_corners):
    c = ((g + 1) / 2) * (size - 1) if align_corners else ((g + 1) * size - 1) / 2
    return _ref_pad(c, size, padding_mode, align_corners)


def _ref_pad(c, size, padding_mode, align_corners):
    if padding_mode == "reflection":
        tl, th = (0, 2 * (size - 1)) if align_corners else (-1, 2 * size - 1)
        if tl == th:
            c = 0.0
        else:
            low, span = tl / 2, (th - tl) / 2
            d = abs(c - low)
            extra, flips = np.fmod(d, span), np.floor(d / span)
            c = extra + low if flips % 2 == 0 else span - extra + low
    if padding_mode in ("border", "reflection"):
        c = min(max(c, 0.0), size - 1.0)
    return c


def grid_sample_reference(x, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    nd = x.ndim - 2
    sizes = x.shape[2:]
    ac = bool(align_corners)
    out = np.zeros(x.shape[:2] + grid.shape[1:-1], x.dtype)

    def at(n, idx):
        ok = all(0 <= i < s for i, s in zip(idx, sizes))
        return x[(n, slice(None)) + tuple(idx)] if ok else 0.0

    for n in range(x.shape[0]):
        for o in np.ndindex(*grid.shape[1:-1]):
            g = grid[(n,) + o][::-1]                 # (D,) H, W order
            if mode == "bicubic":
                raw = [((gi + 1) / 2) * (s - 1) if ac else ((gi + 1) * s - 1) / 2
                       for gi, s in zip(g, sizes)]
                base = [int(np.floor(r)) for r in raw]
                ws = [_cubic_weights(r - b) for r, b in zip(raw, base)]
                for offs in itertools.product(range(4), repeat=nd):
                    idx = [b - 1 + k for b, k in zip(base, offs)]
                    if padding_mode != "zeros":
                        idx = [int(_ref_pad(float(i), s, padding_mode, ac)) for i, s in zip(idx, sizes)]
                    out[(n, slice(None)) + o] += at(n, idx) * np.prod([w[k] for w, k in zip(ws, offs)])
                continue
            c = [_ref_coord(gi, s, padding_mode, ac) for gi, s in zip(g, sizes)]
            if mode == "nearest":
                out[(n, slice(None)) + o] = at(n, [int(np.rint(ci)) for ci in c])
                continue
            base = [int(np.floor(ci)) for ci in c]
            for bits in itertools.product((0, 1), repeat=nd):
                w = np.prod([ci - b if bit else 1 - (ci - b) for ci, b, bit in zip(c, base, bits)])
                out[(n, slice(None)) + o] += at(n, [b + bit for b, bit in zip(base, bits)]) * w
    return out


def _base_coords(steps, align_corners):
    """PyTorch's linspace_from_neg_one: 0 for one step, else -1 .. 1 shrunk by
    (steps - 1) / steps without align_corners."""
    if steps <= 1:
        return np.zeros(max(steps, 1))
    r = np.linspace(-1.0, 1.0, steps)
    return r if align_corners else r * (steps - 1) / steps


def _affine_base(size, align_corners):
    """(prod(spatial), nd + 1) rows [x, y, (z,) 1] of the normalised output grid."""
    sp = tuple(size[2:])
    axes = [_base_coords(s, align_corners) for s in sp]
    mesh = np.meshgrid(*axes, indexing="ij")
    cols = [m.reshape(-1) for m in mesh[::-1]]              # x (width) first
    return np.stack(cols + [np.ones(int(np.prod(sp)))], 1)


def affine_grid_reference(theta, size, align_corners=None):
    base = _affine_base(size, bool(align_corners))
    return (base @ theta.transpose(0, 2, 1)).reshape((theta.shape[0],) + tuple(size[2:]) +
                                                     (len(size) - 2,))


# -- samples -------------------------------------------------------------------------------------
def _grid_sample_samples(rng):
    # grids reach past [-1, 1] so the padding modes matter; away from the pixel lattice,
    # where bilinear's weights (and reflection) bend
    def grid(*shape, spread=1.3):
        return make(rng, shape, -spread, spread)
    yield SampleInput((make(rng, (2, 2, 3, 4)), grid(2, 3, 2, 2)), {}, "bilinear-zeros")
    yield SampleInput((make(rng, (1, 2, 4, 3)), grid(1, 2, 3, 2)),
                      dict(padding_mode="border", align_corners=True), "bilinear-border-corners")
    yield SampleInput((make(rng, (1, 1, 3, 3)), grid(1, 2, 2, 2, spread=2.5)),
                      dict(padding_mode="reflection"), "bilinear-reflection")
    yield SampleInput((make(rng, (1, 2, 3, 4)), grid(1, 2, 2, 2)), dict(mode="bicubic"),
                      "bicubic-zeros")
    yield SampleInput((make(rng, (1, 1, 3, 3)), grid(1, 2, 2, 2, spread=2.0)),
                      dict(mode="bicubic", padding_mode="reflection", align_corners=True),
                      "bicubic-reflection")
    yield SampleInput((make(rng, (1, 2, 2, 3, 2)), grid(1, 2, 1, 2, 3)), {}, "trilinear")
    yield SampleInput((make(rng, (1, 2, 2, 3, 3)), grid(1, 2, 2, 1, 3)),
                      dict(padding_mode="border"), "trilinear-border")


def _affine_grid_samples(rng):
    yield SampleInput((make(rng, (2, 2, 3)), (2, 3, 4, 5)), {}, "2d")
    yield SampleInput((make(rng, (1, 2, 3)), (1, 1, 1, 3)), dict(align_corners=True),
                      "2d-corners-size1")
    yield SampleInput((make(rng, (2, 3, 4)), (2, 1, 2, 3, 2)), {}, "3d")


# -- public API --------------------------------------------------------------------------------
@op(GetItem, IndexAddZeros, samples=_grid_sample_samples, ref=grid_sample_reference)
def grid_sample(input, grid, mode="bilinear", padding_mode="zeros", align_corners=None):
    """Sample ``input`` at the normalised (x, y[, z]) locations of ``grid`` (see above)."""
    name = "grid_sample"
    nd = _check(name, input, grid)
    if mode not in ("bilinear", "nearest", "bicubic"):
        raise ValueError(f"{name}: mode must be 'bilinear', 'nearest' or 'bicubic', got {mode!r}")
    if mode == "bicubic" and nd != 2:
        raise ValueError(f"{name}: mode 'bicubic' needs a 4-d input, got {tuple(input.shape)}")
    if padding_mode not in ("zeros", "border", "reflection"):
        raise ValueError(f"{name}: padding_mode must be 'zeros', 'border' or 'reflection', got "
                         f"{padding_mode!r}")
    if type(input) is BatchedTensor or type(grid) is BatchedTensor:     # vmap: fold into N
        return batched_fold(lambda x, g: grid_sample(x, g, mode, padding_mode, align_corners),
                            input, grid)               # (again, for an outer level)
    return _grid_sample(input, grid, mode, padding_mode, bool(align_corners), nd)


@op(samples=_affine_grid_samples, ref=affine_grid_reference)
def affine_grid(theta, size, align_corners=None):
    """The (N, H, W, 2) / (N, D, H, W, 3) grid of theta's affine map applied to the
    normalised output coordinates: grid = [x, y, (z,) 1] theta^T."""
    name = "affine_grid"
    size = tuple(int(s) for s in size)
    if not isinstance(theta, Tensor) or theta.dtype.kind != "f":
        raise TypeError(f"{name}: theta must be a floating point Tensor, got "
                        f"{getattr(theta, 'dtype', type(theta).__name__)}")
    nd = len(size) - 2
    if nd not in (2, 3) or theta.shape != (size[0], nd, nd + 1) or min(size) < 1:
        raise ValueError(f"{name}: expected theta (N, 2, 3) for a 4-d size or (N, 3, 4) for a "
                         f"5-d size with N = size[0] and positive sizes; got theta "
                         f"{tuple(theta.shape)} and size {size}")
    base = Tensor._make(_affine_base(size, bool(align_corners)).astype(theta.dtype))
    return matmul(base, theta.transpose(1, 2)).reshape(size[0], *size[2:], nd)
