"""Finite differences and integrals along a dim: diff, gradient, trapezoid (trapz),
cumulative_trapezoid.

All are linear combinations of shifted slices of the input (narrow), joined by cat
and summed or cumulated, so their gradients and tangents are the composites'; the
spacings and sample points are constant coefficients (as in PyTorch, which does not
differentiate them either, except trapezoid's ``x``, a tensor input there too).
"""
import numpy as np

from ..dtypes import get_default_dtype
from ..tensor import Tensor
from .layout import narrow
from .reduction import Cumsum, Sum, cumsum, sum
from .registry import SampleInput, make, op
from .scans import check_tensor
from .shape import Cat, Reshape, cat, normalize_dim


def _as_float(t):
    return t if t.dtype.kind == "f" else t.to(get_default_dtype())


def _shifted(t, d, start, stop):
    """t[start:stop] along d (stop <= 0 counts from the end; empty where they cross)."""
    n = t.shape[d]
    start, stop = min(start, n), n + stop if stop <= 0 else stop
    return narrow(t, d, start, max(stop - start, 0))


def _along(coefficients, ndim, d):
    """A 1-D coefficient tensor shaped to broadcast along dim d of an ndim tensor."""
    return coefficients.reshape((-1,) + (1,) * (ndim - 1 - d))


# -- diff ---------------------------------------------------------------------------------
def _diff_samples(rng):
    yield SampleInput((make(rng, (3, 5)),), {}, "last-dim")
    yield SampleInput((make(rng, (4, 3)),), dict(n=2, dim=0), "n2-dim0")
    yield SampleInput((make(rng, (2, 4)),), dict(prepend=make(rng, (2, 1)), append=make(rng, (2, 2))),
                      "prepend-append")
    yield SampleInput((make(rng, (3,)),), dict(n=3), "to-empty")
    yield SampleInput((make(rng, (2, 3)),), dict(n=0), "n0")


def _diff_ref(x, n=1, dim=-1, prepend=None, append=None):
    extras = {k: v for k, v in (("prepend", prepend), ("append", append)) if v is not None}
    return np.diff(x, n, axis=dim, **extras) if n else x


@op(Cat, Reshape, samples=_diff_samples, ref=_diff_ref, method=True)
def diff(input, n=1, dim=-1, prepend=None, append=None):
    """The ``n``-th forward difference along ``dim``, after joining ``prepend`` and
    ``append`` to ``input`` along it (bools: ``!=`` of neighbours, as PyTorch)."""
    check_tensor(input, "diff")
    if input.ndim == 0:
        raise ValueError("diff: expected at least a 1-D tensor, got a 0-d tensor")
    d = normalize_dim(dim, input.ndim, "diff")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ValueError(f"diff: order n must be a non-negative integer, got {n!r}")
    parts = []
    for what, extra in (("prepend", prepend), (None, input), ("append", append)):
        if extra is None:
            continue
        check_tensor(extra, "diff", what or "input")
        if extra.ndim != input.ndim or any(a != b for i, (a, b) in enumerate(zip(extra.shape, input.shape))
                                           if i != d):
            raise ValueError(f"diff: {what} of shape {tuple(extra.shape)} must match input's shape "
                             f"{tuple(input.shape)} except along dim {d}")
        parts.append(extra)
    if n == 0:                                # PyTorch's: input itself, prepend and append unused
        return input
    x = cat(parts, d) if len(parts) > 1 else input
    for _ in range(int(n)):
        if x.shape[d] == 0:
            break
        ahead, behind = _shifted(x, d, 1, 0), _shifted(x, d, 0, -1)
        x = ahead != behind if x.dtype == np.bool_ else ahead - behind
    return x


# -- gradient -----------------------------------------------------------------------------
def _coordinates(name, spacing, dims, shape, dtype):
    """One 1-D coordinate tensor per dim in ``dims``, from PyTorch's spacing forms: a
    number (the same step everywhere), a list of numbers (a step per dim) or a list of
    1-D tensors (the sample points along each dim, differentiable as PyTorch's)."""
    if spacing is None:                       # PyTorch's default: a unit step
        spacing = 1
    if not isinstance(spacing, (list, tuple)):
        spacing = [spacing] * len(dims)
    if len(spacing) != len(dims):
        raise ValueError(f"{name}: expected spacing to be a number or to have one entry per "
                         f"dim ({len(dims)}), got {len(spacing)}")
    out = []
    for s, d in zip(spacing, dims):
        if isinstance(s, Tensor) and s.ndim == 1:
            if s.shape[0] != shape[d]:
                raise ValueError(f"{name}: the coordinates for dim {d} have {s.shape[0]} entries, "
                                 f"but that dim has size {shape[d]}")
            out.append(s.to(dtype))
        else:
            step = float(s.array) if isinstance(s, Tensor) else float(s)
            out.append(Tensor._make(np.arange(shape[d], dtype=dtype) * step))
    return out


def _gradient_along(f, d, c, edge_order):
    """df/dc along dim d: second-order central differences inside (for uneven steps too),
    first- or second-order one-sided ones at the two ends (NumPy's np.gradient)."""
    ndim = f.ndim
    h = c[1:] - c[:-1]

    def combination(terms):
        total = None
        for coef, (start, stop) in terms:
            term = _shifted(f, d, start, stop) * _along(coef, ndim, d)
            total = term if total is None else total + term
        return total

    hl, hr = h[:-1], h[1:]
    inside = combination([(-hr / (hl * (hl + hr)), (0, -2)), ((hr - hl) / (hl * hr), (1, -1)),
                          (hl / (hr * (hl + hr)), (2, 0))])
    if edge_order == 1:
        first = combination([(-1 / h[:1], (0, 1)), (1 / h[:1], (1, 2))])
        last = combination([(-1 / h[-1:], (-2 + f.shape[d], -1)), (1 / h[-1:], (-1 + f.shape[d], 0))])
    else:
        a, b = h[:1], h[1:2]
        first = combination([(-(2 * a + b) / (a * (a + b)), (0, 1)), ((a + b) / (a * b), (1, 2)),
                             (-a / (b * (a + b)), (2, 3))])
        a, b, n = h[-2:-1], h[-1:], f.shape[d]
        last = combination([(b / (a * (a + b)), (n - 3, n - 2)), (-(a + b) / (a * b), (n - 2, -1)),
                            ((2 * b + a) / (b * (a + b)), (n - 1, 0))])
    return cat([first, inside, last], d)


def _gradient_samples(rng):
    yield SampleInput((make(rng, (4, 5)),), {}, "all-dims")
    yield SampleInput((make(rng, (4, 5)),), dict(spacing=0.5, dim=1, edge_order=2), "step-order2")
    yield SampleInput((make(rng, (3, 4)),), dict(spacing=[Tensor._make(np.array([0.0, 0.5, 1.5, 1.75]))],
                                                 dim=1), "coordinates")
    yield SampleInput((make(rng, (5, 3)),), dict(spacing=[Tensor._make(np.array([0.0, 1.0, 1.5, 3.0, 3.2]))],
                                                 dim=0, edge_order=2), "coordinates-order2")
    yield SampleInput((make(rng, (2, 3)),), dict(spacing=(2.0, 3.0)), "steps-per-dim")
    yield SampleInput((make(rng, (6,)),), {}, "1d")


def _gradient_ref(x, spacing=1, dim=None, edge_order=1):
    dims = list(range(x.ndim)) if dim is None else [dim] if isinstance(dim, int) else list(dim)
    steps = spacing if isinstance(spacing, (list, tuple)) else [spacing] * len(dims)
    steps = [np.asarray(s.array) if isinstance(s, Tensor) else s for s in steps]
    out = np.gradient(x, *steps, axis=dims, edge_order=edge_order)
    return tuple(out) if isinstance(out, (list, tuple)) else (out,)


@op(Cat, Reshape, samples=_gradient_samples, ref=_gradient_ref)
def gradient(input, *, spacing=1, dim=None, edge_order=1):
    """Estimates of the derivative of ``input`` along each dim in ``dim`` (all by
    default), one tensor per dim: central differences inside, one-sided at the ends."""
    check_tensor(input, "gradient")
    if edge_order not in (1, 2):
        raise ValueError(f"gradient: edge_order must be 1 or 2, got {edge_order!r}")
    dims = list(range(input.ndim)) if dim is None else [dim] if isinstance(dim, int) else list(dim)
    dims = [normalize_dim(d, input.ndim, "gradient") for d in dims]
    if any(input.shape[d] < edge_order + 1 for d in dims) or input.ndim == 0:
        raise ValueError(f"gradient: expected each dimension size to be at least edge_order+1 "
                         f"({edge_order + 1}), got shape {tuple(input.shape)}")
    f = _as_float(input)
    coordinates = _coordinates("gradient", spacing, dims, input.shape, f.dtype)
    return tuple(_gradient_along(f, d, c, edge_order) for d, c in zip(dims, coordinates))


# -- trapezoid, cumulative_trapezoid --------------------------------------------------------
def _trapezoid_terms(name, y, x, dx, dim):
    """(d, the trapezoids' areas along d): (y_i + y_{i+1}) / 2 times the step."""
    check_tensor(y, name, "y")
    if y.ndim == 0:
        raise ValueError(f"{name}: expected y to have at least one dimension, got a 0-d tensor")
    d = normalize_dim(dim, y.ndim, name)
    y = _as_float(y)
    pairs = (_shifted(y, d, 1, 0) + _shifted(y, d, 0, -1)) * 0.5
    if x is None:
        return d, pairs if dx is None else pairs * dx
    if dx is not None:
        raise TypeError(f"{name}: give either x or dx, not both")
    check_tensor(x, name, "x")
    if x.ndim == 1:
        if x.shape[0] != y.shape[d]:
            raise ValueError(f"{name}: x of size {x.shape[0]} must have as many points as y along "
                             f"dim {d} ({y.shape[d]})")
        x = x.reshape((-1,) + (1,) * (y.ndim - 1 - d))
        steps = _shifted(x, 0, 1, 0) - _shifted(x, 0, 0, -1)
    else:
        xd = normalize_dim(dim, x.ndim, name)
        steps = _shifted(x, xd, 1, 0) - _shifted(x, xd, 0, -1)
    return d, pairs * steps


def _trapezoid_samples(rng):
    yield SampleInput((make(rng, (3, 5)),), {}, "unit-steps")
    yield SampleInput((make(rng, (4, 3)),), dict(dx=0.5, dim=0), "dx")
    yield SampleInput((make(rng, (2, 4)), make(rng, (4,))), {}, "x-1d")
    yield SampleInput((make(rng, (2, 4)), make(rng, (2, 4))), {}, "x-full")
    yield SampleInput((make(rng, (3, 1)),), {}, "one-point")


def _trapezoid_ref(y, x=None, dx=None, dim=-1):
    return np.trapezoid(y, x, dx=1.0 if dx is None else dx, axis=dim)


@op(Sum, samples=_trapezoid_samples, ref=_trapezoid_ref)
def trapezoid(y, x=None, *, dx=None, dim=-1):
    """The trapezoid rule's integral of ``y`` along ``dim``, at the points ``x`` (1-D, or
    y's shape) or with the even step ``dx`` (1 by default)."""
    if x is None and isinstance(y, Tensor) and y.ndim:
        # even steps: dx (sum y - (y_0 + y_last) / 2), one pass, as PyTorch's
        d = normalize_dim(dim, y.ndim, "trapezoid")
        y = _as_float(y)
        if y.shape[d] == 0:
            return sum(y, d)
        ends = _shifted(y, d, 0, 1) + _shifted(y, d, -1 + y.shape[d], 0)
        total = sum(y, d) - ends.squeeze(d) * 0.5
        return total if dx is None else total * dx
    d, areas = _trapezoid_terms("trapezoid", y, x, dx, dim)
    return sum(areas, d)


@op(Sum, samples=_trapezoid_samples, ref=_trapezoid_ref)
def trapz(y, x=None, *, dx=None, dim=-1):
    """trapezoid's older name."""
    return trapezoid(y, x, dx=dx, dim=dim)


def _cumulative_trapezoid_ref(y, x=None, dx=None, dim=-1):
    y = np.moveaxis(y, dim, -1)
    steps = np.diff(np.moveaxis(x, dim, -1) if x is not None and x.ndim > 1 else x) \
        if x is not None else (1.0 if dx is None else dx)
    return np.moveaxis(np.cumsum((y[..., 1:] + y[..., :-1]) / 2 * steps, -1), -1, dim)


@op(Cumsum, samples=_trapezoid_samples, ref=_cumulative_trapezoid_ref)
def cumulative_trapezoid(y, x=None, *, dx=None, dim=-1):
    """The running trapezoid-rule integral of ``y`` along ``dim`` (one fewer element)."""
    d, areas = _trapezoid_terms("cumulative_trapezoid", y, x, dx, dim)
    return cumsum(areas, d)


__all__ = ["cumulative_trapezoid", "diff", "gradient", "trapezoid", "trapz"]
