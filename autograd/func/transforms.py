"""``grad``, ``grad_and_value``, ``vjp``, ``jvp``, ``jacrev``, ``jacfwd``, ``hessian``:
PyTorch's ``torch.func`` transforms over the tape, forward mode and vmap.

Inside vmap a transform sees logical values; it differentiates their *physical* values,
one leading dim per open vmap level (``batching.to_physical``), where the tape and the
tangents live (function.py's transform stack).  An input not batched at some level is
broadcast there first, so that each sample gets its own gradient: that is how
``vmap(grad(f))`` gives per-sample gradients from ONE backward over the whole batch.

A ``vjp`` function called under vmap levels opened after its forward (``jacrev``:
``vmap(vjp_fn)`` over the basis) runs the differentiable backward with cotangents
batched at those levels, so each VJP's ops are batched by their rules: one forward,
one batched backward.  ``jvp`` makes dual tensors of the physical values; ``jacfwd``
maps it over the basis of the inputs.
"""
import functools

import numpy as np

from .. import engine, forward_ad
from ..grad_mode import STATE, enable_grad
from ..ops import batching
from ..ops.layout import movedim
from ..ops.vmap import _leaves, vmap
from ..tensor import Tensor

_depth = [0]     # how many of these transforms are running (nested ones keep the graph)


def _name(func):
    return getattr(func, "__name__", type(func).__name__)


def _check_argnums(who, argnums, nargs):
    nums = argnums if isinstance(argnums, tuple) else (argnums,)
    if not nums or not all(isinstance(a, int) and not isinstance(a, bool) for a in nums):
        raise RuntimeError(f"{who}: argnums must be an int or a non-empty tuple of ints, got "
                           f"{argnums!r}")
    for a in nums:
        if not -nargs <= a < nargs:
            raise RuntimeError(f"{who}: got argnums={argnums!r}, but only {nargs} positional "
                               f"input(s) (expected -{nargs} <= argnum < {nargs})")
    if len({a % nargs for a in nums}) != len(nums):
        raise RuntimeError(f"{who}: argnums {argnums!r} names an input twice")
    return tuple(a % nargs for a in nums)


def _named_inputs(who, argnums, args):
    """(argnums as positions, the tensor leaves of those inputs, their rebuilder)."""
    nums = _check_argnums(who, argnums, len(args))
    leaves, build = _tensor_leaves(who, tuple(args[i] for i in nums), "the inputs named by argnums")
    return nums, leaves, build


def _partial(func, args, kwargs, nums):
    """``func`` of the inputs named by argnums (``nums``), the other arguments fixed."""
    def partial(*diff):
        new = list(args)
        for i, a in zip(nums, diff):
            new[i] = a
        return func(*new, **kwargs)
    return partial


def _tensor_leaves(who, tree, what):
    leaves, build = _leaves(tree)
    for k, x in enumerate(leaves):
        if not isinstance(x, Tensor):
            raise RuntimeError(f"{who}: expected {what} to be tensors (or tuples, lists and "
                               f"dicts of them), but leaf {k} is a {type(x).__name__}")
        if x.array.dtype.kind != "f":
            raise RuntimeError(f"{who}: expected {what} to be floating-point tensors, but leaf "
                               f"{k} has dtype {x.dtype}")
    return leaves, build


class _Differentiable:
    """The inputs of one differentiation, as physical tensors that require grad, and the
    logical tensors the function sees."""

    def __init__(self, leaves, levels):
        self.levels = levels
        self.keeps_graph = _depth[0] > 1 or STATE.dual_level is not None
        with batching.closed_levels(levels):
            self.physical = []
            for x in leaves:
                p = batching.to_physical(x, levels)
                if p._requires_grad:
                    self.keeps_graph = True
                elif p._fw is not None:       # a tangent to keep: an alias that requires grad
                    p = p + Tensor._make(np.zeros((), p.array.dtype)).requires_grad_()
                else:
                    p = p.detach().requires_grad_()
                self.physical.append(p)
        self.logical = [batching.from_physical(p, levels) for p in self.physical]

    def grads(self, outputs, cotangents, retain_graph):
        """d<outputs, cotangents>/d inputs, logical; ``outputs`` and ``cotangents`` are
        physical at these levels (cotangents may be batched at levels opened since)."""
        with batching.closed_levels(self.levels) if not _newer_levels(self.levels) \
                else _unchanged():
            got = engine.grad(outputs, self.physical, cotangents, retain_graph=retain_graph,
                              create_graph=self.keeps_graph or _newer_levels(self.levels),
                              allow_unused=True)
            got = [g if g is not None else _zeros(p) for g, p in zip(got, self.physical)]
        return got


class _unchanged:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        pass


def _zeros(p):
    return Tensor._make(np.zeros(p.shape, p.array.dtype))


def _newer_levels(levels):
    return len(batching.open_levels()) > len(levels)


class _running:
    def __enter__(self):
        _depth[0] += 1

    def __exit__(self, *exc):
        _depth[0] -= 1


def _split_aux(who, out, has_aux):
    if not has_aux:
        return out, None
    if not (isinstance(out, tuple) and len(out) == 2):
        raise RuntimeError(f"{who}: has_aux=True, so the function must return a tuple "
                           f"(output, aux), got {type(out).__name__}")
    return out


# -- vjp ---------------------------------------------------------------------------------
def vjp(func, *primals, has_aux=False):
    """PyTorch's ``torch.func.vjp``: ``(output, vjp_fn)`` (and ``aux``), where
    ``vjp_fn(cotangents)`` returns one gradient per primal (their structure)."""
    who = f"vjp({_name(func)})"
    leaves, build = _tensor_leaves(who, tuple(primals), "the primals")
    levels = batching.open_levels()
    with _running(), enable_grad():
        inputs = _Differentiable(leaves, levels)
        out, aux = _split_aux(who, func(*build(iter(inputs.logical))), has_aux)
    out_leaves, _ = _tensor_leaves(who, out, "the function's outputs")
    with batching.closed_levels(levels):
        out_phys = [batching.to_physical(o, levels) for o in out_leaves]

    def vjp_fn(cotangents):
        ct_leaves, _ = _tensor_leaves(f"{who}'s vjp_fn", cotangents, "the cotangents")
        if len(ct_leaves) != len(out_leaves):
            raise RuntimeError(f"{who}'s vjp_fn: expected {len(out_leaves)} cotangent(s), one per "
                               f"output, got {len(ct_leaves)}")
        for k, (c, o) in enumerate(zip(ct_leaves, out_leaves)):
            if tuple(c.shape) != tuple(o.shape):
                raise RuntimeError(f"{who}'s vjp_fn: cotangent {k} has shape {tuple(c.shape)} "
                                   f"but output {k} has shape {tuple(o.shape)}")
        cts, newer = _cotangents(ct_leaves, levels)
        roots = [(o, c) for o, c in zip(out_phys, cts) if o._requires_grad]
        with _running(), enable_grad():
            if roots:
                grads = inputs.grads([o for o, _ in roots], [c for _, c in roots], True)
            else:
                grads = [_zeros(p) for p in inputs.physical]
        return build(iter(_logical_grads(grads, levels, newer)))

    return (out, vjp_fn) if not has_aux else (out, vjp_fn, aux)


def _cotangents(ct_leaves, levels):
    """Cotangents physical at ``levels`` (the forward's); those batched at levels opened
    since stay batched there (the backward's ops are then batched by their rules)."""
    current = batching.open_levels()
    newer = current[len(levels):]
    out = []
    with batching.closed_levels(current):
        for c in ct_leaves:
            p = batching.to_physical(c, current)        # (forward's..., newer..., *shape)
            for k in range(len(newer)):
                p = movedim(p, len(levels) + k, k)
            out.append(p)
    return [batching.from_physical(p, newer) for p in out], newer


def _logical_grads(grads, levels, newer):
    current = levels + newer
    res = []
    with batching.closed_levels(current):
        for g in grads:
            p = batching.to_physical(g, newer)          # (newer..., forward's..., *shape)
            for k in range(len(newer)):
                p = movedim(p, 0, len(current) - 1)
            res.append(p)
    return [batching.from_physical(p, current) for p in res]


# -- grad ----------------------------------------------------------------------------------
def grad_and_value(func, argnums=0, has_aux=False):
    """PyTorch's ``torch.func.grad_and_value``: ``(gradient, value)`` (value is
    ``(output, aux)`` with ``has_aux``)."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        who = f"grad({_name(func)})"
        nums, leaves, build = _named_inputs(who, argnums, args)
        levels = batching.open_levels()
        with _running(), enable_grad():
            inputs = _Differentiable(leaves, levels)
            out = _partial(func, args, kwargs, nums)(*build(iter(inputs.logical)))
            out, aux = _split_aux(who, out, has_aux)
            if not isinstance(out, Tensor):
                raise RuntimeError(f"{who}: expected the function to return a Tensor, got "
                                   f"{type(out).__name__}")
            if out.numel() != 1:
                raise RuntimeError(f"{who}: expected the function to return a scalar tensor "
                                   f"(one element per sample), got shape {tuple(out.shape)}")
            with batching.closed_levels(levels):
                phys = batching.to_physical(out, levels)
            if phys._requires_grad:
                ones = Tensor._make(np.ones(phys.shape, phys.array.dtype))
                grads = inputs.grads([phys], [ones], None)
            else:
                grads = [_zeros(p) for p in inputs.physical]
        g = build(iter([batching.from_physical(p, levels) for p in grads]))
        g = g[0] if not isinstance(argnums, tuple) else g
        return g, ((out, aux) if has_aux else out)
    return wrapper


def grad(func, argnums=0, has_aux=False):
    """PyTorch's ``torch.func.grad``: the gradient of a scalar function with respect to
    the inputs named by ``argnums`` (and ``aux`` with ``has_aux``)."""
    both = grad_and_value(func, argnums, has_aux)

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        g, value = both(*args, **kwargs)
        return (g, value[1]) if has_aux else g
    return wrapper


# -- jvp -----------------------------------------------------------------------------------
def jvp(func, primals, tangents, *, strict=False, has_aux=False):
    """PyTorch's ``torch.func.jvp``: ``(output, jvp_out)`` (and ``aux``) by forward mode."""
    who = f"jvp({_name(func)})"
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise RuntimeError(f"{who}: expected primals and tangents to be tuples, got "
                           f"{type(primals).__name__} and {type(tangents).__name__}")
    p_leaves, build = _tensor_leaves(who, tuple(primals), "the primals")
    t_leaves, _ = _tensor_leaves(who, tuple(tangents), "the tangents")
    if len(p_leaves) != len(t_leaves):
        raise RuntimeError(f"{who}: expected one tangent per primal, got {len(t_leaves)} "
                           f"tangent(s) for {len(p_leaves)} primal(s)")
    for k, (p, t) in enumerate(zip(p_leaves, t_leaves)):
        if tuple(p.shape) != tuple(t.shape) or p.dtype != t.dtype:
            raise RuntimeError(f"{who}: tangent {k} ({t.dtype}, shape {tuple(t.shape)}) does not "
                               f"match its primal ({p.dtype}, shape {tuple(p.shape)})")
    if STATE.dual_level is not None:
        raise RuntimeError(f"{who}: nested forward-mode transforms (jvp of jvp, jacfwd of "
                           "jacfwd) are not supported: tapegrad opens one dual level at a "
                           "time; use jacrev for the inner (or outer) derivative")
    levels = batching.open_levels()
    with _running(), forward_ad.dual_level():
        with batching.closed_levels(levels):
            duals = [forward_ad.make_dual(batching.to_physical(p, levels),
                                          batching.to_physical(t, levels))
                     for p, t in zip(p_leaves, t_leaves)]
        out, aux = _split_aux(who, func(*build(iter([batching.from_physical(d, levels)
                                                      for d in duals]))), has_aux)
        o_leaves, o_build = _tensor_leaves(who, out, "the function's outputs")
        primal_out, tangent_out = [], []
        with batching.closed_levels(levels):
            for o in o_leaves:
                primal, tangent = forward_ad.unpack_dual(batching.to_physical(o, levels))
                primal_out.append(primal)
                tangent_out.append(tangent if tangent is not None else _zeros(primal))
    res = (o_build(iter([batching.from_physical(p, levels) for p in primal_out])),
           o_build(iter([batching.from_physical(t, levels) for t in tangent_out])))
    return res + (aux,) if has_aux else res


# -- Jacobians -------------------------------------------------------------------------------
def _basis(x):
    """The standard basis of x's space: (numel, *x.shape)."""
    n = x.numel()
    return Tensor._make(np.eye(n, dtype=x.array.dtype).reshape((n,) + tuple(x.shape)))


def jacrev(func, argnums=0, *, has_aux=False, chunk_size=None):
    """PyTorch's ``torch.func.jacrev``: the Jacobian by reverse mode, its rows by one
    vmap over the output space's basis.  Shape: output.shape + input.shape."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        who = f"jacrev({_name(func)})"
        nums = _check_argnums(who, argnums, len(args))
        res = vjp(_partial(func, args, kwargs, nums), *[args[i] for i in nums], has_aux=has_aux)
        out, vjp_fn = res[0], res[1]
        o_leaves, o_build = _tensor_leaves(who, out, "the function's outputs")
        in_leaves, _ = _leaves(tuple(args[i] for i in nums))
        rows = []               # rows[k]: the Jacobian of output k, per input leaf
        for k, o in enumerate(o_leaves):
            def one(v, k=k):
                cts = [v if j == k else o2.detach() * 0 for j, o2 in enumerate(o_leaves)]
                return _leaves(vjp_fn(o_build(iter(cts))))[0]
            cols = vmap(one, chunk_size=chunk_size)(_basis(o))
            rows.append([c.reshape(tuple(o.shape) + tuple(x.shape))
                         for c, x in zip(cols, in_leaves)])
        jac = _nest(rows, o_build, argnums, nums, args)
        return (jac, res[2]) if has_aux else jac
    return wrapper


def jacfwd(func, argnums=0, has_aux=False, *, randomness="error"):
    """PyTorch's ``torch.func.jacfwd``: the Jacobian by forward mode, its columns by one
    vmap over the input space's basis.  Shape: output.shape + input.shape."""
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        nums, in_leaves, in_build = _named_inputs(f"jacfwd({_name(func)})", argnums, args)
        partial = _partial(func, args, kwargs, nums)
        cols = []              # cols[j]: d outputs / d input leaf j
        aux = None
        for j, x in enumerate(in_leaves):
            def one(v, j=j):
                tangents = [v if i == j else y.detach() * 0 for i, y in enumerate(in_leaves)]
                res = jvp(partial, in_build(iter(in_leaves)), in_build(iter(tangents)),
                          has_aux=has_aux)
                return (res[1], res[2]) if has_aux else res[1]
            got = vmap(one, randomness=randomness, out_dims=(-1, None) if has_aux else -1)(_basis(x))
            if has_aux:
                got, aux = got
            o_leaves, o_build = _leaves(got)
            cols.append([c.reshape(tuple(c.shape[:-1]) + tuple(x.shape)) for c in o_leaves])
        rows = [list(r) for r in zip(*cols)]
        jac = _nest(rows, o_build, argnums, nums, args)
        return (jac, aux) if has_aux else jac
    return wrapper


def _nest(rows, o_build, argnums, nums, args):
    """PyTorch's nesting: the outputs' structure, each entry the inputs' (argnums) one."""
    _, in_build = _leaves(tuple(args[i] for i in nums))
    per_output = []
    for r in rows:
        by_input = in_build(iter(r))
        per_output.append(by_input[0] if not isinstance(argnums, tuple) else by_input)
    return o_build(iter(per_output))


def hessian(func, argnums=0):
    """PyTorch's ``torch.func.hessian``: ``jacfwd(jacrev(func))``."""
    return jacfwd(jacrev(func, argnums), argnums)
