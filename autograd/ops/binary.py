"""Broadcasting binary ops and comparisons.

Inputs are promoted with PyTorch's rules (``dtypes.result_type``).  A VJP returns
the gradient of the broadcast result; ``sum_to_shape`` sums it back to each
input's shape (d/da of a broadcast is a sum over the broadcast axes).
"""
import numpy as np

from .. import dtypes
from ..tensor import Tensor, tensor_method
from .batching import BatchedTensor, batched_values, elementwise_batch_rule
from .registry import SampleInput, binary_samples, make, op, unary_samples
from .formula import FormulaPrimitive, sum_to_shape, tensor_namespace
from ..forward_ad import derived_jvp


def promote(a, b):
    """Cast ``a`` and ``b`` (arrays or Python scalars) to their common dtype."""
    ta, tb = type(a), type(b)
    if ta is np.ndarray and tb is np.ndarray:
        if a.dtype is b.dtype:
            return a, b
    elif ta is np.ndarray and (tb is float or tb is int) and a.dtype.kind == "f":
        return a, b
    elif tb is np.ndarray and (ta is float or ta is int) and b.dtype.kind == "f":
        return a, b
    dt = dtypes.result_type(a, b)
    if isinstance(a, np.ndarray) and a.dtype != dt:
        a = a.astype(dt)
    if isinstance(b, np.ndarray) and b.dtype != dt:
        b = b.astype(dt)
    return a, b


def _shape(x):
    return getattr(x, "shape", ())       # Python scalars are 0-d


def elementwise(ctx, name, ufunc, a, b):
    """Shared forward: promote, apply, explain broadcast and type errors."""
    if type(a) is np.ndarray and type(b) is np.ndarray and a.dtype is b.dtype \
            and a.shape == b.shape:
        return ufunc(a, b)      # nothing to promote or broadcast: most calls
    ctx._shapes = (_shape(a), _shape(b))
    try:
        x, y = promote(a, b)
        return ufunc(x, y)
    except ValueError:
        raise ValueError(f"{name}: shapes {_shape(a)} and {_shape(b)} cannot be broadcast "
                         "together (trailing dimensions must match or be 1)") from None
    except TypeError as e:
        raise TypeError(f"{name}: unsupported operands {_describe(a)} and {_describe(b)}: "
                        f"{e}") from None


def _describe(x):
    return f"{x.dtype} {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__


class Broadcasting(FormulaPrimitive):
    """A binary op whose VJP formulas ``da``/``db`` ``(m, g, *saved)`` give the gradient
    of the broadcast result; each is summed back to its input's shape.  The two
    operands are the last inputs (``where`` has its condition first)."""
    batch_rule = elementwise_batch_rule

    @staticmethod
    def jvp(ctx, *tangents):
        # The partial derivatives are elementwise: J v = da(v_a) + db(v_b), each the
        # VJP formula applied to a tangent (broadcast by the formula's products), and
        # the sum expanded to the output's shape where a tangent was smaller.
        m, saved = tensor_namespace(), ctx.saved_tensors
        ta, tb = tangents[-2:]
        out = None if ta is None else ctx.da(m, ta, *saved)
        if tb is not None:
            t = ctx.db(m, tb, *saved)
            out = t if out is None else out + t
        shape = ctx._out_meta[0][0]
        return out if out.shape == shape else out.expand(shape)

    # The operands' shapes, set by forward only where it may have broadcast or promoted
    # (`elementwise`): most calls see two arrays of one shape and dtype and skip the sums
    _shapes = None

    def formula(ctx, m, g, *saved):
        needs = ctx.needs_input_grad
        da = ctx.da(m, g, *saved) if needs[-2] else None
        db = ctx.db(m, g, *saved) if needs[-1] else None
        shapes = ctx._shapes
        if shapes is not None:
            if da is not None:
                da = sum_to_shape(m, da, shapes[0])
            if db is not None:
                db = sum_to_shape(m, db, shapes[1])
        return (da, db) if len(needs) == 2 else (None, da, db)


class Add(Broadcasting):
    @staticmethod
    def forward(ctx, a, b):
        return elementwise(ctx, "add", np.add, a, b)

    da = db = staticmethod(lambda m, g: g)                             # da = g, db = g


class Sub(Broadcasting):
    @staticmethod
    def forward(ctx, a, b):
        return elementwise(ctx, "sub", np.subtract, a, b)

    da = staticmethod(lambda m, g: g)                                  # da = g
    db = staticmethod(lambda m, g: -g)                                 # db = -g


class Mul(Broadcasting):
    saved_names = ("self", "other")         # PyTorch's _saved_self, _saved_other

    @staticmethod
    def forward(ctx, a, b):
        need_a, need_b = ctx.needs_input_grad
        ctx.save_for_backward(a if need_b else None, b if need_a else None)  # only what the VJPs read
        return elementwise(ctx, "mul", np.multiply, a, b)

    da = staticmethod(lambda m, g, a, b: g * b)                        # da = g b
    db = staticmethod(lambda m, g, a, b: g * a)                        # db = g a


class Div(Broadcasting):
    saved_names = ("self", "other")

    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a if ctx.needs_input_grad[1] else None, b)   # a: db's VJP only
        if dtypes.result_type(a, b).kind != "f":
            # int / int is true division into the default float dtype, as in PyTorch
            a = np.asarray(a, dtypes.get_default_dtype())
        return elementwise(ctx, "div", np.true_divide, a, b)

    da = staticmethod(lambda m, g, a, b: g / b)                        # da = g / b
    db = staticmethod(lambda m, g, a, b: -g * a / (b * b))             # db = -g a / b^2


def _base(m, a, one):
    """``a`` with 1 where ``one`` (see Pow.forward)."""
    return a if one is None else m.where(one, 1.0, a)


class Pow(Broadcasting):
    saved_names = ("self", "exponent", "result", None, None)

    @staticmethod
    def forward(ctx, a, b):
        out = elementwise(ctx, "pow", np.power, a, b)
        # PyTorch defines da = 0 where b == 0 (any a) and db = 0 where a == 0 <= b, where
        # the formulas meet 0 * inf or 0 * nan.  A base of 1 there makes them give that 0.
        x, e = promote(a, b)
        need_a, need_b = ctx.needs_input_grad
        fa = np.equal(e, 0) if need_a else None
        fb = np.equal(x, 0) & np.greater_equal(e, 0) if need_b else None
        # only what the needed VJPs read: da reads a and b, db reads a and the output
        ctx.save_for_backward(a, b if need_a else None, out if need_b else None,
                              fa if fa is not None and fa.any() else None,
                              fb if fb is not None and fb.any() else None)
        return out

    da = staticmethod(lambda m, g, a, b, y, fa, fb: g * b * _base(m, a, fa) ** (b - 1.0))  # da = g b a^(b-1)
    db = staticmethod(lambda m, g, a, b, y, fa, fb: g * y * m.log(_base(m, a, fb)))        # db = g a^b ln a


class Maximum(Broadcasting):
    @staticmethod
    def forward(ctx, a, b):
        out = elementwise(ctx, "maximum", np.maximum, a, b)
        ctx.save_for_backward(*_shares(a, b, np.less, out.dtype))
        return out

    # da = g [not a < b], db = g [not b < a]; ties split the gradient evenly, and a
    # NaN (which wins) gives both the whole gradient, as PyTorch's masks do
    da = staticmethod(lambda m, g, sa, sb: m.where(sa != 0, g * sa, 0.0))
    db = staticmethod(lambda m, g, sa, sb: m.where(sb != 0, g * sb, 0.0))


class Minimum(Maximum):              # the same VJP, from masks saved by forward
    @staticmethod
    def forward(ctx, a, b):
        out = elementwise(ctx, "minimum", np.minimum, a, b)
        ctx.save_for_backward(*_shares(a, b, np.greater, out.dtype))
        return out


def _shares(a, b, loses, dtype):
    """Each input's share of the gradient: 1, 0 where it loses, 1/2 at a tie."""
    x, y = promote(a, b)
    tie = 0.5 * (x == y)
    return (1.0 - loses(x, y) - tie).astype(dtype), (1.0 - loses(y, x) - tie).astype(dtype)


class Remainder(Broadcasting):
    @staticmethod
    def forward(ctx, a, b):
        need_b = ctx.needs_input_grad[1]     # da = g reads nothing
        ctx.save_for_backward(a if need_b else None, b if need_b else None)
        return elementwise(ctx, "remainder", np.remainder, a, b)

    da = staticmethod(lambda m, g, a, b: g)                            # da = g
    db = staticmethod(lambda m, g, a, b: -g * m.floor_divide(a, b))    # db = -g floor(a/b)


class FloorDivide(Broadcasting):
    @staticmethod
    def forward(ctx, a, b):
        return elementwise(ctx, "floor_divide", np.floor_divide, a, b)

    da = db = staticmethod(lambda m, g: m.zeros_like(g))               # piecewise constant


class Where(Broadcasting):
    @staticmethod
    def forward(ctx, cond, a, b):
        x, y = promote(a, b)
        ctx.save_for_backward(cond)
        ctx._shapes = (_shape(a), _shape(b))
        try:
            return np.where(cond, x, y)
        except ValueError:
            raise ValueError(f"where: condition {_shape(cond)}, input {_shape(a)} and "
                             f"other {_shape(b)} cannot be broadcast together") from None

    da = staticmethod(lambda m, g, c: m.where(c, g, 0.0))              # da = g [cond]
    db = staticmethod(lambda m, g, c: m.where(c, 0.0, g))              # db = g [not cond]


# -- public functions ---------------------------------------------------------------
def _t(x):
    return x.array if isinstance(x, Tensor) else x


@op(Add, samples=binary_samples(scalars=(2.5,)), ref=np.add, method=("add", "__add__"))
def add(input, other, alpha=1):
    return Add.apply(input, other if alpha == 1 else other * alpha)


@op(Sub, samples=binary_samples(scalars=(2.5,)), ref=np.subtract, method=("sub", "__sub__"))
def sub(input, other, alpha=1):
    return Sub.apply(input, other if alpha == 1 else other * alpha)


@op(Mul, samples=binary_samples(scalars=(2.5,)), ref=np.multiply, method=("mul", "__mul__"))
def mul(input, other):
    return Mul.apply(input, other)


def _nonzero_b(rng):
    yield from binary_samples(low_b=0.5, high_b=2.0, scalars=(2.5,))(rng)


@op(Div, samples=_nonzero_b, ref=np.true_divide, method=("div", "__truediv__"))
def div(input, other):
    return Div.apply(input, other)


def _pow_samples(rng):
    yield from binary_samples(low=0.5, high=2.0)(rng)
    yield SampleInput((2.0, make(rng, (3,))), {}, "scalar-base")
    # 0 ** y for y > 0: d/dy = 0 (PyTorch).  The base stays constant: a central
    # difference around 0 would step outside pow's real domain.
    yield SampleInput((Tensor._make(np.zeros(3)), make(rng, (3,), 0.5, 2.0)), {}, "zero-base")


def _power(x, c):
    """``x ** c`` for a float array and a Python number.  Integral and half-integral
    exponents up to 4 are products and a square root, as in PyTorch: NumPy's general
    power is ~100x slower than ``x*x*x`` (GPT-2's tanh-GELU writes ``x ** 3.0``)."""
    a = abs(c)
    if x.dtype.kind != "f" or c == 0 or a > 4 or 2 * a != int(2 * a):
        return np.power(x, c)
    k, half = int(a), a != int(a)
    r = np.sqrt(x) if half else None
    for _ in range(k):
        r = x if r is None else r * x
    if c < 0:
        return np.reciprocal(r)
    return x.copy() if r is x else r               # never alias the input


class PowScalar(FormulaPrimitive):
    batch_rule = elementwise_batch_rule
    jvp = derived_jvp
    saved_names = {"self": 0, "exponent": "c"}      # the exponent is a Python number

    @staticmethod
    def forward(ctx, x, c):
        ctx.save_for_backward(x)
        ctx.c = c
        return _power(x, c)

    def formula(ctx, m, g, x):
        c = ctx.c
        if c == 0:
            return m.zeros_like(g), None
        return g * c * x ** (c - 1), None           # dx = g c x^(c-1)


def _pow_scalar_samples(rng):
    for c in (2, 3, 0.5, -1.5, 0):
        for s in unary_samples(low=0.3, high=3.0)(rng):
            yield SampleInput(s.args + (c,), {}, f"{s.name}**{c}")
    yield from (SampleInput(s.args + (2,), {}, "negative-base**2") for s in unary_samples()(rng))


@op(PowScalar, samples=_pow_scalar_samples, ref=np.power)
def pow_scalar(input, exponent):
    """``input ** exponent`` for a Python-number exponent."""
    if input.dtype.kind != "f" and isinstance(exponent, float):
        input = input.float()
    return PowScalar.apply(input, exponent)


@op(Pow, samples=_pow_samples, ref=np.power)
def pow(input, exponent):
    """``input ** exponent``; a Python-number exponent uses the cheaper PowScalar."""
    if isinstance(input, Tensor) and isinstance(exponent, (int, float)):
        return pow_scalar(input, exponent)
    return Pow.apply(input, exponent)


def _with_ties(rng):
    yield from binary_samples()(rng)
    x = make(rng, (4,))
    # At a tie each input gets half the gradient: the central difference agrees.
    # A tie is a kink of the VJP itself, so only first derivatives are checked there.
    yield SampleInput((x, x.array.copy()), {}, "ties", gradgrad=False)
    yield SampleInput((x, Tensor._make(x.array.copy()).requires_grad_()), {}, "ties-both", gradgrad=False)


@op(Maximum, samples=_with_ties, ref=np.maximum, method=True)
def maximum(input, other):
    return Maximum.apply(input, other)


@op(Minimum, samples=_with_ties, ref=np.minimum, method=True)
def minimum(input, other):
    return Minimum.apply(input, other)


def _remainder_samples(rng):
    # keep a/b away from integers, where remainder jumps
    for sa, sb in [((3, 4), (3, 4)), ((3, 4), (4,))]:
        b = make(rng, sb, 1.0, 2.0)
        q = rng.integers(-3, 3, sa) + rng.uniform(0.2, 0.8, sa)
        a = make(rng, sa)
        a.array[...] = q * b.array
        yield SampleInput((a, b), {}, f"{sa}x{sb}")
    yield SampleInput((make(rng, (3,), 0.2, 0.8), Tensor._make(np.full(3, 1.5))), {}, "constant-divisor")


@op(Remainder, samples=_remainder_samples, ref=np.remainder, method=("remainder", "__mod__"))
def remainder(input, other):
    return Remainder.apply(input, other)


@op(FloorDivide, samples=_remainder_samples, ref=np.floor_divide,
    method=("floor_divide", "__floordiv__"))
def floor_divide(input, other):
    return FloorDivide.apply(input, other)


def _where_samples(rng):
    for sa, sb in [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 3), (4, 1))]:
        cond = rng.random(np.broadcast_shapes(sa, sb)) > 0.5
        yield SampleInput((cond, make(rng, sa), make(rng, sb)), {}, f"{sa}x{sb}")


@op(Where, samples=_where_samples, ref=np.where)
def where(condition, input=None, other=None):
    """``input`` where ``condition`` holds, else ``other``; with the condition alone,
    ``nonzero(condition, as_tuple=True)`` (as PyTorch)."""
    if input is None and other is None:
        c = condition.array if isinstance(condition, Tensor) else np.asarray(condition)
        return tuple(Tensor._make(i.astype(np.int64)) for i in np.nonzero(np.atleast_1d(c)))
    if not isinstance(condition, bool) and _t(condition).dtype != np.bool_:
        condition = _t(condition).astype(bool)
    # A bool tensor goes in as itself: saved by the node, it is version-checked like any
    # saved input (a later in-place write to it is an error, not a silently wrong gradient).
    return Where.apply(condition, input, other)


@tensor_method(name="where")
def _where_method(self, condition, other):
    return where(condition, self, other)


# Reflected operators: ``2 - x`` is sub(2, x); NumPy arrays defer here via __array_ufunc__.
for _name, _fn in [("radd", add), ("rsub", sub), ("rmul", mul), ("rtruediv", div),
                   ("rpow", pow), ("rmod", remainder), ("rfloordiv", floor_divide)]:
    tensor_method(lambda self, other, _fn=_fn: _fn(other, self), name=f"__{_name}__")
tensor_method(pow, name="__pow__")
tensor_method(pow, name="pow")


# -- comparisons and logic: not differentiable, so no node is recorded ------------
def _compare(name, ufunc):
    def compare(input, other):
        if type(input) is BatchedTensor or type(other) is BatchedTensor:     # inside vmap
            return batched_values(compare, input, other)
        x, y = promote(_t(input), _t(other))
        try:
            return Tensor._make(np.asarray(ufunc(x, y)))
        except ValueError:
            raise ValueError(f"{name}: shapes {_shape(_t(input))} and {_shape(_t(other))} "
                             "cannot be broadcast together") from None
    compare.__name__ = name
    return compare


eq = _compare("eq", np.equal)
ne = _compare("ne", np.not_equal)
lt = _compare("lt", np.less)
le = _compare("le", np.less_equal)
gt = _compare("gt", np.greater)
ge = _compare("ge", np.greater_equal)
logical_and = _compare("logical_and", np.logical_and)
logical_or = _compare("logical_or", np.logical_or)
logical_xor = _compare("logical_xor", np.logical_xor)

for _fn, _dunder in [(eq, "eq"), (ne, "ne"), (lt, "lt"), (le, "le"), (gt, "gt"), (ge, "ge"),
                     (logical_and, "and"), (logical_or, "or"), (logical_xor, "xor")]:
    tensor_method(_fn)
    tensor_method(_fn, name=f"__{_dunder}__")


@tensor_method
def logical_not(input):
    if type(input) is BatchedTensor:
        return batched_values(logical_not, input)
    return Tensor._make(np.logical_not(input.array))


tensor_method(logical_not, name="__invert__")


@tensor_method
def isnan(input):
    if type(input) is BatchedTensor:
        return batched_values(isnan, input)
    return Tensor._make(np.isnan(input.array))


@tensor_method
def isinf(input):
    if type(input) is BatchedTensor:
        return batched_values(isinf, input)
    return Tensor._make(np.isinf(input.array))


@tensor_method
def isfinite(input):
    if type(input) is BatchedTensor:
        return batched_values(isfinite, input)
    return Tensor._make(np.isfinite(input.array))


def allclose(input, other, rtol=1e-5, atol=1e-8, equal_nan=False):
    return bool(np.allclose(_t(input), _t(other), rtol, atol, equal_nan))


@tensor_method
def equal(input, other):
    return bool(np.shape(_t(input)) == np.shape(_t(other)) and np.array_equal(_t(input), _t(other)))
