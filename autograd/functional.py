"""The higher-order API: ``vjp``, ``jvp``, ``vhp``, ``hvp``, ``jacobian``, ``hessian``.

PyTorch's ``torch.autograd.functional`` (also reached through the alias), with its
signatures and its nesting of results: a function of one Tensor or of a tuple of
Tensors, returning one Tensor or a tuple.  ``jacobian(f, x)[i][j]`` has the shape
``out_i.shape + x_j.shape`` (the outer index dropped where that side is a single Tensor).

How each is computed:
- ``vjp`` and ``vhp``: reverse mode (one backward; ``vhp`` a backward of a backward);
- ``jvp`` and ``hvp``: forward mode (``forward_ad``; ``hvp`` forward over reverse, the
  tangent of the gradient), where PyTorch's functional API uses the double-backward trick;
- ``jacobian``: by rows (``strategy="reverse-mode"``, one backward per output element)
  or by columns (``"forward-mode"``, one forward per input element);
- ``hessian``: the Jacobian of the gradient, the outer one by either strategy.

``vectorize=True`` with reverse mode computes all the rows of an output at once: one
backward with ``vmap`` over the basis of the output space (ops/vmap.py), so each VJP
runs once on the whole basis.  With forward mode it gives the same results by the
loops (a tangent under vmap needs ``autograd.func.jvp``, above this module); unlike
PyTorch, ``strategy="forward-mode"`` does not require ``vectorize=True``.
"""
import numpy as np

from . import forward_ad
from .engine import grad as _grad
from .grad_mode import enable_grad
from .ops.shape import stack
from .ops.vmap import vmap
from .tensor import Tensor

_STRATEGIES = ("reverse-mode", "forward-mode")


def _as_tuple(x, what, fn_name):
    """(was it a tuple, the tuple), checking that every element is a Tensor."""
    is_tuple = isinstance(x, (tuple, list))
    items = tuple(x) if is_tuple else (x,)
    for i, t in enumerate(items):
        if not isinstance(t, Tensor):
            raise TypeError(f"The {what} given to {fn_name} must be either a Tensor or a tuple "
                            f"of Tensors but the value at index {i} has type {type(t).__name__}.")
    return is_tuple, items


def _prepare(inputs, create_graph):
    """Inputs the function is differentiated at: the caller's own tensors under
    create_graph (so results stay connected to them), else fresh leaves."""
    return tuple(x if create_graph and x.requires_grad else x.detach().requires_grad_(True)
                 for x in inputs)


def _call(func, inputs, fn_name):
    with enable_grad():
        out = func(*inputs)
    return _as_tuple(out, "outputs of the user-provided function", fn_name)


def _finish(t, create_graph):
    return t if create_graph else t.detach()


def _zero_or_strict(g, like, strict, i, fn_name, what="output"):
    if g is not None:
        return g
    if strict:
        raise RuntimeError(f"{fn_name}: the {what} of the user-provided function is independent "
                           f"of input {i}. This is not allowed in strict mode.")
    return Tensor._make(np.zeros(like.shape, like.array.dtype))


def _check_v(v, like, what, fn_name):
    is_tuple, vs = _as_tuple(v, f"v ({what})", fn_name)
    if len(vs) != len(like):
        raise RuntimeError(f"{fn_name}: v has {len(vs)} tensor(s), but the {what} has {len(like)}")
    for i, (a, b) in enumerate(zip(vs, like)):
        if a.shape != b.shape:
            raise RuntimeError(f"{fn_name}: entry {i} of v has shape {tuple(a.shape)}, but the "
                               f"{what} has shape {tuple(b.shape)} there")
    return vs


def _default_v(v, like, what, fn_name):
    if v is not None:
        return _check_v(v, like, what, fn_name)
    if len(like) != 1 or like[0].numel() != 1:
        raise RuntimeError(f"{fn_name}: The vector v can only be None if the {what} is a single "
                           "Tensor with a single element.")
    return (Tensor._make(np.ones(like[0].shape, like[0].array.dtype)),)


def _unpack(is_tuple, items):
    return tuple(items) if is_tuple else items[0]


def vjp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), v^T J)``."""
    in_tuple, xs = _as_tuple(inputs, "inputs", "vjp")
    xs = _prepare(xs, create_graph)
    out_tuple, outs = _call(func, xs, "vjp")
    vs = _default_v(v, outs, "output of the user-provided function", "vjp")
    diff = [k for k, o in enumerate(outs) if o.requires_grad]
    gs = _grad([outs[k] for k in diff], xs, [vs[k] for k in diff], create_graph=create_graph,
               allow_unused=True) if diff else [None] * len(xs)
    gs = [_finish(_zero_or_strict(g, x, strict, i, "vjp"), create_graph) for i, (g, x) in enumerate(zip(gs, xs))]
    return _unpack(out_tuple, [_finish(o, create_graph) for o in outs]), _unpack(in_tuple, gs)


def jvp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), J v)``, by forward mode."""
    in_tuple, xs = _as_tuple(inputs, "inputs", "jvp")
    vs = _default_v(v, xs, "input to the user-provided function", "jvp")
    xs = _prepare(xs, create_graph)
    with forward_ad.dual_level():
        duals = [forward_ad.make_dual(x, t) for x, t in zip(xs, vs)]
        out_tuple, outs = _call(func, duals, "jvp")
        pairs = [forward_ad.unpack_dual(o) for o in outs]
    tangents = [_finish(_zero_or_strict(p.tangent, p.primal, strict, 0, "jvp"), create_graph)
                for p in pairs]
    return (_unpack(out_tuple, [_finish(p.primal, create_graph) for p in pairs]),
            _unpack(out_tuple, tangents))


def _scalar_output(func, fn_name):
    def checked(*xs):
        with enable_grad():
            out = func(*xs)
        _, outs = _as_tuple(out, "outputs of the user-provided function", fn_name)
        if len(outs) != 1 or outs[0].numel() != 1:
            raise RuntimeError(f"{fn_name}: The function given to {fn_name} should return a single "
                               f"Tensor with a single element, got {len(outs)} tensor(s) of "
                               f"shape(s) {[tuple(o.shape) for o in outs]}")
        return outs[0]
    return checked


def vhp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), v^T H)`` for a scalar ``func``: a backward of its gradient."""
    in_tuple, xs = _as_tuple(inputs, "inputs", "vhp")
    vs = _default_v(v, xs, "input to the user-provided function", "vhp")
    xs = _prepare(xs, create_graph)
    out = _scalar_output(func, "vhp")(*xs)
    gs = _grad(out, xs, create_graph=True, allow_unused=True)
    gs = [_zero_or_strict(g, x, strict, i, "vhp") for i, (g, x) in enumerate(zip(gs, xs))]
    diff = [k for k, g in enumerate(gs) if g.requires_grad]
    hs = _grad([gs[k] for k in diff], xs, [vs[k] for k in diff], create_graph=create_graph,
               allow_unused=True) if diff else [None] * len(xs)
    hs = [_finish(_zero_or_strict(h, x, strict, i, "vhp", "gradient"), create_graph)
          for i, (h, x) in enumerate(zip(hs, xs))]
    return _finish(out, create_graph), _unpack(in_tuple, hs)


def hvp(func, inputs, v=None, create_graph=False, strict=False):
    """``(func(inputs), H v)`` for a scalar ``func``: forward over reverse, the tangent
    of the gradient along ``v``."""
    in_tuple, xs = _as_tuple(inputs, "inputs", "hvp")
    vs = _default_v(v, xs, "input to the user-provided function", "hvp")
    xs = _prepare(xs, create_graph)
    with forward_ad.dual_level():
        duals = [forward_ad.make_dual(x, t) for x, t in zip(xs, vs)]
        out = _scalar_output(func, "hvp")(*duals)
        gs = _grad(out, duals, create_graph=create_graph, allow_unused=True)
        gs = [_zero_or_strict(g, x, strict, i, "hvp") for i, (g, x) in enumerate(zip(gs, xs))]
        hs = [forward_ad.unpack_dual(g).tangent for g in gs]
        primal = forward_ad.unpack_dual(out).primal
    hs = [_finish(_zero_or_strict(h, x, strict, i, "hvp", "gradient"), create_graph)
          for i, (h, x) in enumerate(zip(hs, xs))]
    return _finish(primal, create_graph), _unpack(in_tuple, hs)


def _jacobian_rows(outs, xs, create_graph, strict):
    """jac[i][j] by reverse mode: row r of output i is the VJP of the r-th unit vector."""
    jac = []
    for i, o in enumerate(outs):
        rows = [[] for _ in xs]
        for r in range(o.numel()):
            seed = np.zeros(o.numel(), o.array.dtype)
            seed[r] = 1
            gs = _grad(o, xs, Tensor._make(seed.reshape(o.shape)), retain_graph=True,
                       create_graph=create_graph, allow_unused=True) if o.requires_grad \
                else [None] * len(xs)
            for j, (g, x) in enumerate(zip(gs, xs)):
                rows[j].append(_zero_or_strict(g, x, strict, j, "jacobian").reshape(-1))
        jac.append([_stack(rows[j], o.numel(), x.numel(), x.array.dtype).reshape(o.shape + x.shape)
                    for j, x in enumerate(xs)])
    return jac


def _jacobian_rows_vectorized(outs, xs, create_graph, strict):
    """`_jacobian_rows` with the rows of each output from one vmapped backward over the
    basis of its space (the VJPs' ops batched by their rules)."""
    jac = []
    for o in outs:
        n = o.numel()
        unused = set(range(len(xs))) if not o.requires_grad else set()

        def rows(seed):
            gs = _grad(o, xs, seed, retain_graph=True, create_graph=True, allow_unused=True)
            unused.update(j for j, g in enumerate(gs) if g is None)
            return tuple(Tensor._make(np.zeros(x.shape, x.array.dtype)) if g is None else g
                         for g, x in zip(gs, xs))
        if o.requires_grad and n:
            basis = Tensor._make(np.eye(n, dtype=o.array.dtype).reshape((n,) + o.shape))
            got = vmap(rows)(basis)
        else:
            got = [Tensor._make(np.zeros((n,) + x.shape, x.array.dtype)) for x in xs]
        for j in unused:
            _zero_or_strict(None, xs[j], strict, j, "jacobian")
        jac.append([g.reshape(o.shape + x.shape) if create_graph else g.detach().reshape(o.shape + x.shape)
                    for g, x in zip(got, xs)])
    return jac


def _jacobian_columns(func, xs, create_graph, strict):
    """jac[i][j] by forward mode: column c of input j is the JVP of the c-th unit vector."""
    columns, outs, out_tuple = [[] for _ in xs], None, False
    for j, x in enumerate(xs):
        for c in range(x.numel()):
            seed = np.zeros(x.numel(), x.array.dtype)
            seed[c] = 1
            with forward_ad.dual_level():
                args = list(xs)
                args[j] = forward_ad.make_dual(x, Tensor._make(seed.reshape(x.shape)))
                out_tuple, outs = _call(func, args, "jacobian")
                pairs = [forward_ad.unpack_dual(o) for o in outs]
            columns[j].append([_zero_or_strict(p.tangent, p.primal, strict, j, "jacobian").reshape(-1)
                               for p in pairs])
    if outs is None:        # every input is empty: evaluate once for the output shapes
        out_tuple, outs = _call(func, xs, "jacobian")
    jac = [[_stack([col[i] for col in columns[j]], x.numel(), o.numel(), o.array.dtype)
            .transpose(0, 1).reshape(o.shape + x.shape) for j, x in enumerate(xs)]
           for i, o in enumerate(outs)]
    return out_tuple, jac


def _stack(vectors, count, size, dtype):
    return stack(vectors) if vectors else Tensor._make(np.zeros((count, size), dtype))


def jacobian(func, inputs, create_graph=False, strict=False, vectorize=False,
             strategy="reverse-mode"):
    """The Jacobian of ``func`` at ``inputs`` (module docstring for the nesting)."""
    if strategy not in _STRATEGIES:
        raise ValueError(f"jacobian: strategy must be one of {_STRATEGIES}, got {strategy!r}")
    if strict and strategy == "forward-mode":
        raise RuntimeError("jacobian: strict=True and strategy='forward-mode' are not "
                           "compatible (as in PyTorch)")
    in_tuple, xs = _as_tuple(inputs, "inputs", "jacobian")
    xs = _prepare(xs, create_graph)
    if strategy == "reverse-mode":
        out_tuple, outs = _call(func, xs, "jacobian")
        rows = _jacobian_rows_vectorized if vectorize else _jacobian_rows
        jac = rows(outs, xs, create_graph, strict)
    else:
        out_tuple, jac = _jacobian_columns(func, xs, create_graph, strict)
    jac = [[_finish(t, create_graph) for t in row] for row in jac]
    rows = [_unpack(in_tuple, row) for row in jac]
    return _unpack(out_tuple, rows)


def hessian(func, inputs, create_graph=False, strict=False, vectorize=False,
            outer_jacobian_strategy="reverse-mode"):
    """The Hessian of a scalar ``func``: the Jacobian (outer, by
    ``outer_jacobian_strategy``) of its gradient (inner, by reverse mode)."""
    in_tuple, xs = _as_tuple(inputs, "inputs", "hessian")
    scalar = _scalar_output(func, "hessian")

    def gradient(*ys):
        gs = _grad(scalar(*ys), ys, create_graph=True, allow_unused=True)
        return tuple(_zero_or_strict(g, y, strict, i, "hessian") for i, (g, y) in enumerate(zip(gs, ys)))

    h = jacobian(gradient, xs, create_graph=create_graph, strict=strict, vectorize=vectorize,
                 strategy=outer_jacobian_strategy)
    if not in_tuple:
        return h[0][0]
    return h
