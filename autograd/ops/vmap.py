"""``vmap``: PyTorch's ``torch.func.vmap`` over batching.py's levels.

``vmap(func, in_dims, out_dims, randomness, chunk_size)(*args)`` moves each mapped
input's batch dim to the front, wraps it as a `BatchedTensor` at a new `VmapLevel`,
runs ``func`` once, and unwraps the outputs, moving the batch dim to ``out_dims``.
``in_dims`` and ``out_dims`` follow PyTorch's nesting: an int or None for everything,
or a tuple with one entry per argument (per output), each an int, None, or a structure
of tuples, lists and dicts matching that argument.  It lives with the ops (not in
autograd/func) because autograd.functional, below autograd.func, vectorises with it.
"""
import functools

from ..tensor import Tensor
from . import creation_random
from .batching import VmapLevel, physical, wrap
from .layout import movedim
from .shape import cat

RANDOMNESS = ("error", "different", "same")


def _leaves(tree):
    """The leaves of a structure of tuples, lists and dicts, in order, and a rebuilder."""
    if isinstance(tree, (tuple, list)):
        parts = [_leaves(x) for x in tree]
        flat = [leaf for p, _ in parts for leaf in p]

        def build(it, parts=parts, kind=type(tree)):
            items = [b(it) for _, b in parts]
            return kind(*items) if hasattr(kind, "_fields") else kind(items)
        return flat, build
    if isinstance(tree, dict):
        keys = list(tree)
        parts = [_leaves(tree[k]) for k in keys]
        flat = [leaf for p, _ in parts for leaf in p]
        return flat, lambda it: type(tree)((k, b(it)) for k, (_, b) in zip(keys, parts))
    return [tree], lambda it: next(it)


def _broadcast_dims(dims, tree, who, what):
    """``dims`` (an int/None, or a structure) as one entry per leaf of ``tree``."""
    if dims is None or isinstance(dims, int):
        return [dims] * len(_leaves(tree)[0])
    if isinstance(dims, (tuple, list)) and isinstance(tree, (tuple, list)):
        if len(dims) != len(tree):
            raise ValueError(f"{who}: {what} has {len(dims)} entries but the {_noun(what)} "
                             f"structure has {len(tree)} (expected one entry per element)")
        return [d for sub, t in zip(dims, tree) for d in _broadcast_dims(sub, t, who, what)]
    if isinstance(dims, dict) and isinstance(tree, dict):
        if set(dims) != set(tree):
            raise ValueError(f"{who}: {what} has keys {sorted(dims)} but the {_noun(what)} "
                             f"has keys {sorted(tree)}")
        return [d for k in tree for d in _broadcast_dims(dims[k], tree[k], who, what)]
    raise ValueError(f"{who}: {what}={dims!r} does not fit the {_noun(what)} "
                     f"({type(tree).__name__}): expected an int, None, or a matching "
                     f"structure of tuples, lists and dicts")


def _noun(what):
    return "inputs" if what == "in_dims" else "outputs"


def vmap(func, in_dims=0, out_dims=0, randomness="error", *, chunk_size=None):
    """PyTorch's ``torch.func.vmap``: ``func`` mapped over a dim of its inputs."""
    if not callable(func):
        raise TypeError(f"vmap: expected a function, got {type(func).__name__}")
    if randomness not in RANDOMNESS:
        raise ValueError(f"vmap: randomness must be one of {RANDOMNESS}, got {randomness!r}")
    if chunk_size is not None and (not isinstance(chunk_size, int) or chunk_size < 1):
        raise ValueError(f"vmap: chunk_size must be a positive int or None, got {chunk_size!r}")
    if not (in_dims is None or isinstance(in_dims, (int, tuple))):
        raise ValueError(f"vmap: in_dims must be an int, None or a tuple, got "
                         f"{type(in_dims).__name__}")

    @functools.wraps(func)
    def mapped(*args, **kwargs):
        dims_tree = in_dims if isinstance(in_dims, tuple) else (in_dims,) * len(args)
        if isinstance(in_dims, tuple) and len(in_dims) != len(args):
            raise ValueError(f"vmap({_name(func)}): in_dims is a tuple of {len(in_dims)} but "
                             f"the function got {len(args)} positional argument(s); expected "
                             "one in_dims entry per argument")
        leaves, build = _leaves(tuple(args))
        dims = _broadcast_dims(tuple(dims_tree), tuple(args), f"vmap({_name(func)})", "in_dims")
        size = _batch_size(func, leaves, dims)
        step = size if chunk_size is None else min(chunk_size, size)
        parts = []
        for lo in range(0, size, step):
            parts.append(_run(func, leaves, build, dims, kwargs, size, lo, min(lo + step, size),
                              out_dims, randomness))
            if parts[-1] is _PER_SAMPLE:
                break
        if parts[-1] is _PER_SAMPLE:
            creation_random.warn_per_sample(_name(func), size)
            parts = [_run(func, leaves, build, dims, kwargs, size, lo, lo + 1, out_dims,
                          randomness) for lo in range(size)]
        return parts[0] if len(parts) == 1 else _concat(parts, out_dims)
    return mapped


def _name(func):
    return getattr(func, "__name__", type(func).__name__)


def _batch_size(func, leaves, dims):
    sizes = []
    for k, (x, d) in enumerate(zip(leaves, dims)):
        if d is None:
            continue
        if not isinstance(x, Tensor):
            raise ValueError(f"vmap({_name(func)}): in_dim={d} given for an input of type "
                             f"{type(x).__name__} (input leaf {k}); only tensors can be mapped, "
                             "use None for other inputs")
        if not -max(x.ndim, 1) <= d < max(x.ndim, 1) or x.ndim == 0:
            raise ValueError(f"vmap({_name(func)}): in_dim={d} is out of range for input leaf "
                             f"{k} of shape {tuple(x.shape)} (expected -{x.ndim} <= in_dim < "
                             f"{x.ndim})")
        sizes.append((x.shape[d], k, d))
    if not sizes:
        raise ValueError(f"vmap({_name(func)}): at least one input must be mapped (all in_dims "
                         "are None, or no tensor inputs were given)")
    if len({s for s, _, _ in sizes}) > 1:
        listed = ", ".join(f"leaf {k} (in_dim={d}) has size {s}" for s, k, d in sizes)
        raise ValueError(f"vmap({_name(func)}): expected all mapped inputs to have the same "
                         f"size in the mapped dimension, but {listed}")
    return sizes[0][0]


_PER_SAMPLE = object()    # _run's answer when randomness="different" met a draw


def _run(func, leaves, build, dims, kwargs, size, lo, hi, out_dims, randomness):
    """``func`` on samples lo..hi of the mapped inputs, at a new level."""
    with VmapLevel(hi - lo, randomness) as level, creation_random.under_vmap(level):
        inner = []
        for x, d in zip(leaves, dims):
            if d is None:
                inner.append(x)
                continue
            p = x if d % x.ndim == 0 else movedim(x, d, 0)
            if lo or hi < size:
                p = p[lo:hi]
            inner.append(wrap(p, level))
        try:
            out = func(*build(iter(inner)), **kwargs)
        except creation_random.PerSampleRedraw as e:
            if e.level is not level:
                raise                     # an enclosing vmap's draw: that one reruns
            return _PER_SAMPLE
        return _unwrap(func, out, out_dims, level)


def _unwrap(func, out, out_dims, level):
    leaves, build = _leaves(out)
    dims = _broadcast_dims(out_dims, out, f"vmap({_name(func)})", "out_dims")
    res = []
    for k, (o, d) in enumerate(zip(leaves, dims)):
        if not isinstance(o, Tensor):
            raise ValueError(f"vmap({_name(func)}): the function must return tensors (or "
                             f"structures of them), but output leaf {k} is a "
                             f"{type(o).__name__}")
        p = physical(o, level)
        if d is None:
            if p is not None:
                raise ValueError(f"vmap({_name(func)}): out_dims is None for output leaf {k}, "
                                 "but it depends on the mapped inputs (it is batched)")
            res.append(o)
            continue
        if p is None:                 # the same for every sample: broadcast it
            p = o.unsqueeze(0).expand((level.size,) + tuple(o.shape))
        if not -p.ndim <= d < p.ndim:
            raise ValueError(f"vmap({_name(func)}): out_dims={d} is out of range for output "
                             f"leaf {k}, which has {p.ndim - 1} dim(s) per sample (expected "
                             f"-{p.ndim} <= out_dim < {p.ndim})")
        res.append(p if d % p.ndim == 0 else movedim(p, 0, d))
    return build(iter(res))


def _concat(parts, out_dims):
    leaves = [_leaves(p)[0] for p in parts]
    _, build = _leaves(parts[0])
    dims = _broadcast_dims(out_dims, parts[0], "vmap", "out_dims")
    res = [col[0] if d is None else cat(list(col), d) for col, d in zip(zip(*leaves), dims)]
    return build(iter(res))
