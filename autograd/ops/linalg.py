"""Matrix products: matmul (batched, broadcasting, 1-D cases), dot, outer, einsum."""
import string

import numpy as np

from ..function import Primitive
from ..tensor import Tensor, tensor_method
from .formula import FormulaPrimitive, sum_to_shape
from .registry import SampleInput, make, op
from ..forward_ad import multilinear_jvp
from .autocast import lower_precision


def _matmul_batched(b, x, y):
    """matmul's batching rule: a vector operand (one logical dim) becomes a matrix (a
    row for x, a column for y) so that the batch is a leading matrix-batch dim, with
    size-1 dims padding the lower-ranked operand; the added dim is dropped after."""
    rx = x.ndim - b.batched[0]
    ry = y.ndim - b.batched[1]
    B = b.size
    if rx == 1:
        x = x.unsqueeze(-2)
    if ry == 1:
        y = y.unsqueeze(-1)
    rank = max(x.ndim - b.batched[0], y.ndim - b.batched[1])
    x, y = [_lead(t, B, rank) if batched else t for t, batched in zip((x, y), b.batched)]
    out = MatMul.apply(x, y)
    if rx == 1:
        out = out.squeeze(-2)
    if ry == 1:
        out = out.squeeze(-1)
    return out


def _linear_by_matmul(x, w, bias=None):
    y = matmul(x, w.transpose(-1, -2))
    return y if bias is None else y + bias


def _lead(t, B, rank):
    """A batched matrix operand with size-1 batch dims after the batch, up to ``rank``."""
    pad = rank - (t.ndim - 1)
    return t if pad <= 0 else t.reshape((B,) + (1,) * pad + tuple(t.shape[1:]))


class MatMul(FormulaPrimitive):
    @staticmethod
    def batch_rule(b, x, y):
        return _matmul_batched(b, x, y)
    jvp = multilinear_jvp()

    @staticmethod
    def forward(ctx, a, b):
        need_a, need_b = ctx.needs_input_grad
        # dA reads b and dB reads a; the other is read for its shape only
        ctx.save_for_backward(a if need_b else shape_only(a), b if need_a else shape_only(b))
        if a.dtype is not b.dtype:
            from .binary import promote
            a, b = promote(a, b)
        return np.matmul(a, b)

    def formula(ctx, m, g, a, b):
        da, db = ctx.needs_input_grad
        return (_matmul_grad_a(m, g, a, b) if da else None,
                _matmul_grad_b(m, g, a, b) if db else None)


_ZEROS = bytes(16)


def shape_only(x):
    """A stand-in for a saved operand whose value no needed VJP reads, only its shape:
    zeros of x's shape and dtype in no memory.  Being a constant, it is not
    version-checked, so a later in-place write to x is allowed, as in PyTorch."""
    return np.ndarray(x.shape, x.dtype, _ZEROS, 0, (0,) * x.ndim)


def _as_matrices(g, a, b):
    """1-D operands are matrices with a unit dim (PyTorch/NumPy semantics): put the
    unit dims back on a, b and g so the 2-D formulas apply."""
    a2 = a.reshape((1,) + a.shape) if a.ndim == 1 else a
    b2 = b.reshape(b.shape + (1,)) if b.ndim == 1 else b
    if a.ndim == 1:
        g = g.reshape(g.shape[:-1] + (1,) + g.shape[-1:]) if b.ndim > 1 else g.reshape((1,) + g.shape)
    if b.ndim == 1:
        g = g.reshape(g.shape + (1,))
    return g, a2, b2


def _matmul_grad_a(m, g, a, b):
    g2, a2, b2 = _as_matrices(g, a, b)
    return sum_to_shape(m, g2 @ b2.mT, a2.shape).reshape(a.shape)      # dA = G B^T


def _matmul_grad_b(m, g, a, b):
    g2, a2, b2 = _as_matrices(g, a, b)
    if a2.shape[-2] == 1 and a2.ndim > 2:
        # one row per matrix (a per-sample gradient under vmap): A^T G is an outer product,
        # which NumPy's stacked matmul computes 7x slower than einsum (64x400x120: 11 vs
        # 1.5 ms; a broadcast product 2.5 ms)
        outer = np.einsum("...ki,...ko->...io", a2, g2) if m is np else a2.mT * g2
        return sum_to_shape(m, outer, b2.shape).reshape(b.shape)
    return sum_to_shape(m, a2.mT @ g2, b2.shape).reshape(b.shape)      # dB = A^T G


def _matmul_samples(rng):
    for sa, sb in [((3, 4), (4, 2)), ((2, 3, 4), (4, 5)), ((2, 1, 3, 4), (3, 4, 2)),
                   ((4,), (4, 3)), ((3, 4), (4,)), ((4,), (4,)), ((2, 3, 4), (4,))]:
        yield SampleInput((make(rng, sa), make(rng, sb)), {}, f"{sa}@{sb}")
    yield SampleInput((make(rng, (4, 3), noncontig=True), make(rng, (4, 3), noncontig=True).mT), {}, "noncontig")
    # one side constant: only the other is saved, the constant side for its shape
    yield SampleInput((make(rng, (2, 3, 4)), make(rng, (4, 2), requires_grad=False)), {}, "constant-other")
    yield SampleInput((make(rng, (4,), requires_grad=False), make(rng, (2, 4, 3))), {}, "constant-input")


@op(MatMul, samples=_matmul_samples, ref=np.matmul, method=("matmul", "__matmul__"))
@lower_precision
def matmul(input, other):
    if input.ndim == 0 or other.ndim == 0:
        raise ValueError(f"matmul: both arguments need at least 1 dimension, got shapes "
                         f"{tuple(input.shape)} and {tuple(other.shape)}")
    k_a = input.shape[-1]
    k_b = other.shape[0] if other.ndim == 1 else other.shape[-2]
    if k_a != k_b:
        raise ValueError(f"matmul: shapes {tuple(input.shape)} and {tuple(other.shape)} are "
                         f"incompatible: the last dim of input ({k_a}) must equal "
                         f"{'the size' if other.ndim == 1 else 'the second-to-last dim'} of other ({k_b})")
    try:
        np.broadcast_shapes(input.shape[:-2], other.shape[:-2])
    except ValueError:
        raise ValueError(f"matmul: batch dims of {tuple(input.shape)} and {tuple(other.shape)} "
                         "cannot be broadcast together") from None
    return MatMul.apply(input, other)


tensor_method(lambda self, other: matmul(other, self), name="__rmatmul__")
mm = bmm = matmul
tensor_method(matmul, name="mm")
tensor_method(matmul, name="bmm")


class Linear(FormulaPrimitive):
    """y = x W^T + b in one node (PyTorch's addmm): x (..., in), W (out, in), b (out,).

    Leading dims of x are flattened into one (N, in) @ (in, out) GEMM; W^T is a view,
    which BLAS reads as a transposed operand, so nothing is copied.
    """
    @staticmethod
    def batch_rule(b, x, w, *bias):
        if not any(b.batched[1:]):
            return Linear.apply(x, w, *bias)     # x's leading dims: the batch is one more
        # per-sample weights (an ensemble, a per-sample gradient): x W^T + b by batched ops
        return b.logical(_linear_by_matmul, x, w, *bias)
    jvp = multilinear_jvp(2)     # in x and w; the bias adds

    @staticmethod
    def forward(ctx, x, w, b=None):
        need_x, need_w = ctx.needs_input_grad[:2]
        ctx.save_for_backward(x if need_w else None, w if need_x else None)   # only what is read
        ctx.x_shape = x.shape
        y = x.reshape(-1, x.shape[-1]) @ w.T
        if b is not None:
            y += b
        return y.reshape(x.shape[:-1] + (w.shape[0],))

    def formula(ctx, m, g, x, w):
        needs = ctx.needs_input_grad                     # 2 or 3 entries: bias is optional
        grads = (_linear_grad_x(g, w, ctx.x_shape) if needs[0] else None,
                 _linear_grad_w(g, x) if needs[1] else None)
        if len(needs) == 3:
            grads += (_linear_grad_b(m, g) if needs[2] else None,)
        return grads


def _rows(t):
    """(..., k) -> (N, k): the matrix the forward's GEMM saw."""
    return t.reshape(-1, t.shape[-1])


def _linear_grad_x(g, w, shape):
    return (_rows(g) @ w).reshape(shape)                  # dx = G W


def _linear_grad_w(g, x):
    return _rows(g).mT @ _rows(x)                         # dW = G^T X


def _linear_grad_b(m, g):
    return sum_to_shape(m, _rows(g), g.shape[-1:])        # db = sum over rows of G


def _linear_samples(rng):
    for sx, out, bias in [((4, 3), 2, True), ((3,), 2, True), ((2, 3, 4), 5, True),
                          ((4, 3), 2, False), ((0, 3), 2, True)]:
        args = (make(rng, sx), make(rng, (out, sx[-1])))
        yield SampleInput(args + ((make(rng, (out,)),) if bias else ()), {}, f"{sx}x{out}")
    yield SampleInput((make(rng, (4, 3), noncontig=True), make(rng, (3, 2), noncontig=True).mT,
                       make(rng, (2,))), {}, "noncontig")


def _linear_ref(x, w, b=None):
    return x @ w.T + (0 if b is None else b)


@op(Linear, samples=_linear_samples, ref=_linear_ref)
@lower_precision
def linear(input, weight, bias=None):
    """y = x W^T + b over the last dim of x; W is (out_features, in_features), or
    (in_features,) for a single output with that dim dropped (as PyTorch)."""
    if weight.ndim not in (1, 2) or input.ndim < 1:
        raise ValueError(f"linear: expected a weight of shape (out_features, in_features) or "
                         f"(in_features,) and an input with at least 1 dim, got weight "
                         f"{tuple(weight.shape)} and input {tuple(input.shape)}")
    if input.shape[-1] != weight.shape[-1]:
        raise ValueError(f"linear: input of shape {tuple(input.shape)} has last dim "
                         f"{input.shape[-1]}, weight {tuple(weight.shape)} expects "
                         f"{weight.shape[-1]} (in_features)")
    if weight.ndim == 1:                     # a dot product per row: no GEMM to fuse
        out = input.matmul(weight)
        return out if bias is None else out + bias
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"linear: bias of shape {tuple(bias.shape)} does not match weight "
                         f"{tuple(weight.shape)}; expected ({weight.shape[0]},)")
    # Mixed dtypes are promoted, as matmul does here (PyTorch raises instead): a float64
    # custom op feeding a float32 layer keeps working.
    dt = input.dtype
    if weight.dtype != dt or (bias is not None and bias.dtype != dt):
        dt = np.result_type(dt, weight.dtype, *(() if bias is None else (bias.dtype,)))
        input, weight = input.to(dt), weight.to(dt)
        bias = None if bias is None else bias.to(dt)
    if bias is None:
        return Linear.apply(input, weight)
    return Linear.apply(input, weight, bias)


def _vector_pair(rng):
    yield SampleInput((make(rng, (4,)), make(rng, (4,))), {}, "4")
    yield SampleInput((make(rng, (3,)), make(rng, (5,))), {}, "3x5")


@op(MatMul, samples=lambda rng: list(_vector_pair(rng))[:1], ref=np.dot, method=True)
def dot(input, other):
    if input.ndim != 1 or other.ndim != 1:
        raise ValueError(f"dot: expects 1-D tensors, got shapes {tuple(input.shape)} and {tuple(other.shape)}")
    return matmul(input, other)


@op(samples=_vector_pair, ref=np.outer, method=True)
def outer(input, vec2):
    if input.ndim != 1 or vec2.ndim != 1:
        raise ValueError(f"outer: expects 1-D tensors, got shapes {tuple(input.shape)} and {tuple(vec2.shape)}")
    return input.unsqueeze(1) * vec2.unsqueeze(0)




class Einsum(Primitive):
    """``einsum`` on explicit subscripts (ellipses are expanded by the public function).

    VJP for operand k: an einsum of the output gradient with the other operands that
    produces operand k's subscripts.  Letters that appear only in operand k were
    summed away, so the gradient is broadcast along them; a letter repeated in operand
    k (a diagonal) gets the gradient on the diagonal only, via an identity matrix.
    """
    @staticmethod
    def batch_rule(b, spec, *ops):
        # a letter of its own for the batch, leading each batched operand and the output
        free = next(c for c in "ZYXWVUTSRQPONMLKJIHGFEDCBAzyxwvutsrqponmlkjihgfedcba" if c not in spec)
        ins, out = spec.split("->")
        subs = [free + s if batched else s for s, batched in zip(ins.split(","), b.batched[1:])]
        return Einsum.apply(",".join(subs) + "->" + free + out, *ops)
    jvp = multilinear_jvp()

    @staticmethod
    def forward(ctx, spec, *ops):
        ctx.spec, ctx.shapes = spec, [o.shape for o in ops]
        # operand k is read by the VJPs of the others only
        needs = ctx.needs_input_grad[1:]
        n_need = sum(needs)
        ctx.save_for_backward(*(o if n_need - n > 0 else None for o, n in zip(ops, needs)))
        return np.einsum(spec, *ops, optimize=len(ops) > 2)

    @staticmethod
    def backward(ctx, g):
        ops = ctx.saved_tensors
        ins, out = ctx.spec.split("->")
        ins = ins.split(",")
        grads = [None]
        for k, sub in enumerate(ins):
            if not ctx.needs_input_grad[k + 1]:
                grads.append(None)
                continue
            grads.append(_einsum_operand_grad(g, out, ops, ins, k, ctx.shapes[k]))
        return tuple(grads)


def _einsum_operand_grad(g, out, ops, ins, k, shape):
    sub = ins[k]
    others = [(s, o) for i, (s, o) in enumerate(zip(ins, ops)) if i != k]
    available = set(out) | {c for s, _ in others for c in s}
    unique = "".join(dict.fromkeys(c for c in sub if c in available))
    parts = [out] + [s for s, _ in others]
    grad = einsum(",".join(parts) + "->" + unique, g, *[o for _, o in others])
    sizes = {c: n for c, n in zip(sub, shape)}
    # Broadcast along letters summed away inside operand k only.
    missing = "".join(dict.fromkeys(c for c in sub if c not in available))
    if missing:
        full = unique + missing
        grad = grad.reshape(grad.shape + (1,) * len(missing)).expand(
            tuple(sizes[c] for c in full))
        unique = full
    # Repeated letters: put the gradient on the diagonal with identity matrices.
    spare = iter(c for c in string.ascii_letters if c not in sub and c not in available)
    target, eyes, eye_specs = [], [], []
    seen = set()
    for c in sub:
        if c in seen:
            d = next(spare)
            target.append(d)
            eye_specs.append(c + d)
            eyes.append(Tensor._make(np.eye(sizes[c], dtype=g.dtype)))
        else:
            seen.add(c)
            target.append(c)
    if eyes:
        grad = einsum(",".join([unique] + eye_specs) + "->" + "".join(target), grad, *eyes)
    elif unique != sub:
        grad = einsum(unique + "->" + sub, grad)
    return grad


def _expand_ellipsis(spec, shapes):
    if "..." not in spec:
        return spec if "->" in spec else spec + "->" + _implicit_output(spec)
    ins, _, out = spec.partition("->")
    ins = ins.split(",")
    used = set(spec)
    free = [c for c in string.ascii_letters if c not in used]
    n = max(len(s) - (len(sub) - 3) for sub, s in zip(ins, shapes) if "..." in sub)
    ell = "".join(free[:n])
    new_ins = []
    for sub, s in zip(ins, shapes):
        if "..." in sub:
            k = len(s) - (len(sub) - 3)
            sub = sub.replace("...", ell[n - k:])
        new_ins.append(sub)
    if "->" not in spec:
        out = ell + _implicit_output(",".join(ins).replace("...", ""))
    else:
        out = out.replace("...", ell)
    return ",".join(new_ins) + "->" + out


def _implicit_output(ins):
    letters = [c for c in ins if c.isalpha()]
    return "".join(sorted(c for c in set(letters) if letters.count(c) == 1))


def _einsum_samples(rng):
    cases = [("ij,jk->ik", [(3, 4), (4, 2)]), ("bij,bjk->bik", [(2, 3, 4), (2, 4, 2)]),
             ("ii->i", [(3, 3)]), ("ii", [(3, 3)]), ("ij->", [(3, 4)]), ("i,j->ij", [(3,), (4,)]),
             ("ij,j->i", [(3, 4), (4,)]), ("...ij,...jk->...ik", [(2, 3, 4), (2, 4, 5)]),
             ("ijk,kj->i", [(2, 3, 4), (4, 3)]), ("ij,ij,ij->i", [(2, 3), (2, 3), (2, 3)])]
    for spec, shapes in cases:
        yield SampleInput((spec,) + tuple(make(rng, s) for s in shapes), {}, spec)
    # one operand constant: the constant one alone is saved
    yield SampleInput(("ij,jk,k->i", make(rng, (2, 3)), make(rng, (3, 4), requires_grad=False),
                       make(rng, (4,))), {}, "one-constant")


@op(Einsum, samples=_einsum_samples, ref=lambda spec, *ops: np.einsum(spec, *ops))
def einsum(equation, *operands):
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    operands = [o if isinstance(o, Tensor) else Tensor(o) for o in operands]
    spec = _expand_ellipsis(equation.replace(" ", ""), [o.shape for o in operands])
    ins = spec.split("->")[0].split(",")
    if len(ins) != len(operands):
        raise ValueError(f"einsum: '{equation}' names {len(ins)} operands but {len(operands)} were given")
    sizes = {}
    for i, (sub, o) in enumerate(zip(ins, operands)):
        if len(sub) != o.ndim:
            raise ValueError(f"einsum: operand {i} has shape {tuple(o.shape)} but subscripts "
                             f"'{sub}' name {len(sub)} dims")
        for c, n in zip(sub, o.shape):
            if sizes.setdefault(c, n) != n:
                raise ValueError(f"einsum: subscript '{c}' has size {sizes[c]} in one operand and "
                                 f"{n} in operand {i} (shape {tuple(o.shape)}); broadcasting is not supported")
    return Einsum.apply(spec, *operands)
