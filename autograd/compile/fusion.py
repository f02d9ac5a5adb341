"""Elementwise fusion: a run of elementwise steps of one shape becomes two generated
Numba kernels, one loop each, with no temporaries between the ops.

The kernels come from the primitives' own code, not from a second table of formulas:
each step's ``forward`` and its VJP ``formula`` (formula.py: written once with ``m``,
NumPy or the ops) are run on `Sym` values, 0-d stand-ins that turn every NumPy ufunc,
operator and ``m.<name>`` call into scalar source.  A primitive that does anything else
with its arrays (a Python branch on their data, a reshape, ``np.asarray``) raises
`NotFusible` and stays a step of its own.

- the forward kernel computes the group's values element by element and writes only
  those read after the group (``exports``);
- the backward kernel recomputes them in registers from the group's inputs and runs
  the steps' VJPs in reverse, summing the gradients of values used twice.  Only the
  values of ops that call libm (tanh, exp, ...) are not recomputed: the forward kernel
  writes them to one saved array, the ``tape``, as eager's nodes save them, and the
  backward reads them (W1c: 50 tanh a step that its backward no longer makes).

Elementwise here means: a `FormulaPrimitive` with the elementwise batching rule, whose
tensor arguments all have the group's shape and dtype (no broadcasting), and whose
other arguments are Python numbers.  On arrays of ``LIBM_SPLIT_MIN`` elements or more
(16384 in float32, 4096 in float64), an op whose forward or VJP calls a transcendental
function (exp, tanh, sin, ...) stays a step of its own: in a kernel's loop that is one
scalar libm call an element, which keeps the loop from vectorising and which NumPy's
SIMD ufuncs beat (float32: NumPy's exp 1.7 and tanh 4.4 ns an element, a kernel's libm
exp 3.9 and tanhf 26, its own tanh32 5.7).  The groups are then the arithmetic between
them, which LLVM vectorises.

A full ``sum`` or ``mean`` of one of the group's values right after it (a loss's last
step) joins the group as its epilogue: the forward kernel sums it in float64 after its
loop, and the backward kernel reads its gradient as one number, the same for every
element (``dx = g``, or ``g / N`` for the mean).  So ``(a * b).sum()`` is one kernel each
way, with no array between the ops and no broadcast gradient.

Buffer planning: the arrays a forward kernel writes (its exports, the epilogue's
per-element scratch and the tape; from ``POOL_MIN_BYTES``) come from a pool on the
fused step and go back to it when the run that took them ends (`Run.__del__`, after
backward or when the graph is dropped), so a training loop reuses the same memory
call after call.  An array that leaves the region
(a region output, or an input's gradient, or a view of one) is not returned: it is the
caller's now.  The gradients the backward kernel writes are not pooled, since they
become ``.grad`` or reach other VJPs, which may return them; a missing gradient is one
zeros array per step, made once.
"""
import numpy as np

from .. import kernels  # noqa: F401  (Numba's threading layer is the library's)
from ..ops.batching import elementwise_batch_rule
from ..ops.formula import FormulaPrimitive
from ..ops.reduction import Mean, Sum

MIN_GROUP = 2           # a lone op gains nothing from a kernel of its own
# buffer sets a fused step keeps free: one for the run in flight, one for the graph that
# a loss kept for backward while the next forward runs (a deeper pool only holds memory)
POOL_DEPTH = 2
# A fused step pools its buffers when they hold at least this many bytes.  Below it a
# fresh np.empty costs 0.3-3 us (malloc hands back the block the last call freed; no
# page faults) and the pool's bookkeeping about as much; from 1 MiB the kernel runs for
# 50 us or more, and above glibc's 32 MiB mmap ceiling every fresh array is page faults
# (64 MiB written: 8 ms fresh, 0.11 ms reused).
POOL_MIN_BYTES = 1 << 20
# From this many elements (per dtype) a transcendental op is not fused (module
# docstring).  Measured on W1's chain of 40 ops (10 tanh), compiled, forward and
# backward, fused against split: float32 0.74 against 1.08 ms at 8192, level at 32768,
# 6.7 against 12.7 at 131072 (tanh32 is cheap; float32 exp or log, libm's in a kernel
# against NumPy's SIMD, would turn earlier, hence 16384); float64 0.52 against 0.77 at
# 2048, 1.37 against 1.09 at 4096.
LIBM_SPLIT_MIN = {np.dtype(np.float32): 16384, np.dtype(np.float64): 4096}
# the functions kernels call that compile to a vector instruction or a few, not a libm call
_VECTOR_CALLS = {"sqrt", "absolute", "fabs", "floor", "ceil", "trunc", "rint", "maximum",
                 "minimum", "fmax", "fmin", "sign", "divide", "true_divide", "copysign",
                 "isnan", "isinf", "isfinite", "bitwise_and", "bitwise_or", "bitwise_xor",
                 "invert", "deg2rad", "rad2deg", "square", "reciprocal"}
# ufuncs written as operators in the kernels (IEEE arithmetic either way; Numba compiles
# operators faster, and they read better)
_OPERATORS = {"add": "+", "subtract": "-", "multiply": "*", "true_divide": "/", "negative": "-",
              "power": "**", "greater": ">", "less": "<", "greater_equal": ">=",
              "less_equal": "<=", "equal": "==", "not_equal": "!="}
_new = object.__new__
_KERNELS = {}           # source -> compiled function (one compilation per process)
# float32 kernels call these instead of NumPy's name: Numba's np.tanh on a float32 is
# libm's tanhf, 24.5 ns an element here and 2 ulp; tanh32 is 5.7 ns and 0.5 ulp (NumPy's
# own SIMD tanh: 1.3 ulp)
_FLOAT32_FORMS = {"np.tanh": "tanh32"}
_HELPERS = {}           # their compiled forms, made by the first _compile


def tanh32(x):
    """tanh of a float32 in float64 from one exp, (1 - e) / (1 + e) with e = exp(-2|x|),
    rounded to float32; below 1e-8 tanh(x) is x to float64's precision (1 - e would lose
    it).  NaN, infinities and -0.0 come out as NumPy's."""
    v = np.float64(x)
    a = abs(v)
    e = np.exp(-2.0 * a)
    t = (1.0 - e) / (1.0 + e)
    return np.float32(np.copysign(a if a < 1e-8 else t, v))


class NotFusible(Exception):
    """The step does something a scalar kernel cannot express."""


class Sym(np.ndarray):
    """A symbolic array element: ``_expr`` is its scalar source; ``shape`` and ``ndim``
    claim the group's, so the primitives' shape logic sees what it saw at capture."""
    _expr = None
    _group_shape = ()
    _kernel = None

    @property
    def shape(self):
        return self._group_shape

    @property
    def ndim(self):
        return len(self._group_shape)

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__" or kwargs:
            raise NotFusible(f"{ufunc.__name__}.{method}")
        k = self._kernel
        op = _OPERATORS.get(ufunc.__name__)
        if op is None:
            return k.call(f"np.{ufunc.__name__}", inputs)
        if len(inputs) == 1:
            return k.sym(f"({op}{k.text(inputs[0])})")
        return k.sym(f"({k.text(inputs[0])} {op} {k.text(inputs[1])})")

    def __array_function__(self, func, types, args, kwargs):
        raise NotFusible(f"np.{func.__name__}")

    def __bool__(self):
        raise NotFusible("a Python branch on the data")

    def _method(*_, **__):
        raise NotFusible("an array method")

    astype = reshape = copy = any = all = sum = view = _method
    __getitem__ = __setitem__ = __float__ = __int__ = __index__ = _method


class Namespace:
    """``m`` of the VJP formulas, as scalar source."""

    def __init__(self, kernel):
        self._kernel = kernel

    def __getattr__(self, name):
        kernel = self._kernel
        if name == "zeros_like":
            return lambda x: kernel.const(0)
        if name == "where":
            return lambda c, a, b: kernel.sym(f"({kernel.text(a)} if {kernel.text(c)} else "
                                              f"{kernel.text(b)})")
        return lambda *args: kernel.call(f"np.{name}", args)


class KernelSource:
    """The scalar source of one group, built while its steps run on `Sym` values."""

    def __init__(self, shape, dtype):
        self.shape, self.dtype = shape, np.dtype(dtype)
        self.consts = {}        # name -> value (the group dtype's scalar)
        self.lines = []
        self.libm_calls = 0     # calls of functions not in _VECTOR_CALLS

    def sym(self, expr):
        s = np.zeros((), self.dtype).view(Sym)
        s._expr, s._group_shape, s._kernel = expr, self.shape, self
        return s

    def const(self, value):
        if isinstance(value, (bool, np.bool_)):
            return self.sym("True" if value else "False")
        name = f"c{len(self.consts)}"
        self.consts[name] = self.dtype.type(value)
        return self.sym(name)

    def text(self, x):
        if isinstance(x, Sym):
            return x._expr
        if isinstance(x, (bool, int, float, np.bool_, np.integer, np.floating)) and \
                not isinstance(x, np.ndarray):
            return self.const(x)._expr
        raise NotFusible(f"an operand of type {type(x).__name__}")

    def call(self, fn, args):
        if fn[3:] not in _VECTOR_CALLS:
            self.libm_calls += 1
        if self.dtype == np.float32:
            fn = _FLOAT32_FORMS.get(fn, fn)
        return self.sym(f"{fn}({', '.join(self.text(a) for a in args)})")

    def assign(self, name, x):
        self.lines.append(f"{name} = {self.text(x)}")


def fusible(step, meta):
    """Whether ``step`` may join a group: an elementwise formula primitive whose
    tensor arguments are plan values of its output's shape and dtype."""
    cls = step.cls
    if not (issubclass(cls, FormulaPrimitive) and cls.batch_rule is elementwise_batch_rule
            and len(step.outs) == 1 and step.out_meta[0][1].kind == "f"):
        return False
    shape, dtype = step.out_meta[0]
    for kind, x in step.args:
        if kind == "v":
            if meta[x] != (shape, dtype):
                return False
        elif kind != "k" or isinstance(x, np.ndarray) or not isinstance(x, (int, float, bool)):
            return False
    limit = LIBM_SPLIT_MIN.get(dtype, LIBM_SPLIT_MIN[np.dtype(np.float64)])   # float16 too
    return int(np.prod(shape)) < limit or not _calls_libm(step)


def _calls_libm(step):
    """Whether the step's forward or VJP, written as a kernel, calls a transcendental
    function (a scalar libm call an element)."""
    k = KernelSource(*step.out_meta[0])
    try:
        _, ctx = _symbolic_forward(step, {x: k.sym("x") for kind, x in step.args if kind == "v"})
        step.cls.formula(ctx, Namespace(k), k.sym("g"), *ctx.replay_saved)
    except NotFusible:
        return False          # build will find it cannot be fused either
    return k.libm_calls > 0


def reduces(step, made, meta):
    """Whether ``step`` is a full sum or mean of a value the group ``made``, so that it
    can be the group's epilogue."""
    if not _is_step(step) or step.cls not in (Sum, Mean) or step.args[0][0] != "v":
        return False
    slot = step.args[0][1]
    if slot not in made:
        return False
    shape, dtype = meta[slot]
    return len(shape) > 0 and sorted(step.args[1][1]) == list(range(len(shape))) and \
        step.out_meta[0][1] == dtype


class FusedStep:
    """A group of elementwise steps run as one forward and one backward kernel (see
    the module docstring).  ``members``: the original steps (for the readable code, the
    recomputation of double backward, and ``mode="check"``).  With an epilogue
    (``reduction`` is Sum or Mean), its result is the last export, of ``reduced_shape``."""
    __slots__ = ("members", "inputs", "exports", "needs", "recorded", "shape", "dtype", "size",
                 "forward_source", "backward_source", "_fwd", "_bwd", "name", "reduction",
                 "reduced_shape", "sizes", "taped", "free", "zeros")

    def run(self, run):
        vals = run.vals
        n = self.size
        ins = [vals[s] for s in self.inputs]
        if self.free is None:             # not pooled: small buffers
            flat = [np.empty(k, self.dtype) for k in self.sizes]
        else:
            try:
                flat = self.free.pop()    # the kernel's flat outputs and scratch, reused
            except IndexError:
                flat = [None] * len(self.sizes)
            if any(a is None for a in flat):   # new, or one left the region (Run.hand_over)
                flat = [np.empty(k, self.dtype) if a is None else a
                        for a, k in zip(flat, self.sizes)]
            run.lent.append((self, flat))
        self._fwd(n, *[_flat(a, n) for a in ins], *flat)
        exports = self.exports
        if self.reduction is not None:
            vals[exports[-1]] = flat[len(exports) - 1].reshape(self.reduced_shape)
            exports = exports[:-1]
        for s, o in zip(exports, flat):
            vals[s] = o.reshape(self.shape)
        if self.recorded:
            run.ctxs[self] = _Saved(ins, flat[-1:] if self.taped else ())

    def give_back(self, flat):
        """``flat`` from a run that ended: free for the next one."""
        if len(self.free) < POOL_DEPTH:
            self.free.append(flat)

    def reads(self):
        return iter(self.inputs)

    def vjp(self, saved, grads):
        """Gradients per input (None where not needed) from those of the exports."""
        n, dtype = self.size, self.dtype
        sizes = [n] * len(grads)
        if self.reduction is not None:
            sizes[-1] = 1
            if self.reduction is Mean and grads[-1] is not None:
                grads = list(grads)
                grads[-1] = grads[-1] / n          # Mean's VJP: g / N, in the gradient's dtype
        g = [self._zeros(k) if x is None else _flat(x.astype(dtype, copy=False), k)
             for x, k in zip(grads, sizes)]
        outs = [np.empty(self.shape, dtype) if need else None for need in self.needs]
        self._bwd(n, *[_flat(a, n) for a in saved.replay_saved], *saved.tape, *g,
                  *[o.reshape(n) for o in outs if o is not None])
        return outs

    def _zeros(self, k):
        """A zero gradient of ``k`` elements, made once: the kernel only reads it (its
        signature takes writeable arrays, so it is not flagged read-only)."""
        z = self.zeros.get(k)
        if z is None:
            z = self.zeros[k] = np.zeros(k, self.dtype)
        return z


def _flat(a, n):
    """``a`` as the contiguous 1-d array a kernel takes (a copy only if strided)."""
    return a.reshape(n) if a.flags.c_contiguous else np.ascontiguousarray(a).reshape(n)


class _Saved:
    """What a fused step keeps for its backward: its inputs (plan.forward reads
    ``replay_saved`` to know which region inputs must not change before backward) and
    its tape, if any (a 1-tuple)."""
    __slots__ = ("replay_saved", "tape")

    def __init__(self, arrays, tape):
        self.replay_saved, self.tape = arrays, tape


def _symbolic_forward(step, vals):
    """(output, ctx) of the step's forward run on the `Sym` values ``vals`` (slot ->
    value) of its plan arguments."""
    ctx = _new(step.replay)
    ctx.needs_input_grad = list(step.needs)
    return step.cls.forward(ctx, *[vals[x] if kind == "v" else x for kind, x in step.args]), ctx


def build(members, live_after, meta, index, reduction=None):
    """A `FusedStep` for the consecutive elementwise ``members`` and, if given, the
    ``reduction`` step after them (see `reduces`); ``live_after``: the slots read after
    them.  Raises NotFusible."""
    shape, dtype = members[0].out_meta[0]
    made = {m.outs[0] for m in members}
    inputs = list(dict.fromkeys(x for m in members for kind, x in m.args
                                if kind == "v" and x not in made))
    exports = [m.outs[0] for m in members if m.outs[0] in live_after]
    fwd = KernelSource(shape, dtype)
    vals = {s: fwd.sym(f"t{s}") for s in inputs}
    ctxs = []
    costly = []             # (slot, its line) of the values a libm call made
    for m in members:
        calls = fwd.libm_calls
        out, ctx = _symbolic_forward(m, vals)
        if not isinstance(out, Sym):
            raise NotFusible(f"{m.cls.__name__}'s forward made a {type(out).__name__}")
        fwd.assign(f"t{m.outs[0]}", out)
        if fwd.libm_calls > calls:
            costly.append((m.outs[0], len(fwd.lines) - 1))
        vals[m.outs[0]] = fwd.sym(f"t{m.outs[0]}")
        # a VJP reading the output reads its variable, not the expression again
        ctx.replay_saved = tuple(vals[m.outs[0]] if x is out else x for x in ctx.replay_saved)
        ctxs.append(ctx)
    forward_lines = list(fwd.lines)
    # the backward: the same forward lines (the tape's values read back), then the
    # adjoints in reverse
    needs = {}
    for m in members:
        for (kind, x), need in zip(m.args, m.needs):
            if kind == "v" and need:
                needs[x] = True
    adjoint = {s: f"a{s}" for s in exports}
    seeds = [f"a{s} = gout{k}[i]" for k, s in enumerate(exports)]
    after = []
    if reduction is not None:
        # the epilogue: acc = sum of t_r, in a second loop over the scratch array ``red``
        # (a float64 sum in the first would keep it from being vectorised); its gradient
        # (g, or g / N from vjp) reaches t_r
        r = reduction.args[0][1]
        forward_lines.append(f"red[i] = t{r}")
        after = ["acc = 0.0", "for i in range(n):", "    acc += red[i]",
                 f"out{len(exports)}[0] = acc" + (" / n" if reduction.cls is Mean else "")]
        seeds.append(f"a{r} = a{r} + gred" if r in adjoint else f"a{r} = gred")
        adjoint[r] = f"a{r}"
        members = members + [reduction]
        exports = exports + [reduction.outs[0]]
    for m, ctx in zip(reversed(members[:len(ctxs)]), reversed(ctxs)):
        s = m.outs[0]
        if not m.recorded or s not in adjoint:
            continue
        res = m.cls.formula(ctx, Namespace(fwd), fwd.sym(adjoint[s]), *ctx.replay_saved)
        res = res if type(res) is tuple else (res,)
        for (kind, x), need, r in zip(m.args, m.needs, res):
            if kind != "v" or not need or r is None:
                continue
            if x in adjoint:
                fwd.lines.append(f"a{x}_ = {fwd.text(r)}")
                fwd.lines.append(f"a{x} = a{x} + a{x}_")
            else:
                fwd.assign(f"a{x}", r)
            adjoint[x] = f"a{x}"
    grad_inputs = [s for s in inputs if needs.get(s)]
    step = _new(FusedStep)
    step.members, step.inputs, step.exports = tuple(members), tuple(inputs), tuple(exports)
    step.needs = tuple(bool(needs.get(s)) for s in inputs)
    step.recorded = any(m.recorded for m in members) and bool(grad_inputs)
    tape = costly if step.recorded else []
    step.taped = bool(tape)
    backward_lines = list(fwd.lines)
    for j, (s, line) in enumerate(tape):
        backward_lines[line] = f"t{s} = tape[{j} * n + i]"
    step.shape, step.dtype, step.name = shape, np.dtype(dtype), f"fused_{index}"
    step.size = int(np.prod(shape))
    step.reduction = None if reduction is None else reduction.cls
    step.reduced_shape = None if reduction is None else reduction.out_meta[0][0]
    # the forward kernel's flat outputs: one per export (one number for the epilogue's),
    # then the epilogue's per-element scratch, then the tape
    step.sizes = [step.size] * len(exports)
    if reduction is not None:
        step.sizes[-1:] = [1, step.size]
    if tape:
        step.sizes.append(len(tape) * step.size)
    step.free = [] if sum(step.sizes) * step.dtype.itemsize >= POOL_MIN_BYTES else None
    step.zeros = {}
    ins = [f"in{k}" for k in range(len(inputs))]
    elementwise = exports[:len(exports) - (reduction is not None)]
    taped = ["tape"] if tape else []
    step.forward_source = _kernel_source(
        f"{step.name}_forward",
        ins + [f"out{k}" for k in range(len(exports))] +
        (["red"] if reduction is not None else []) + taped,
        [f"t{s} = in{k}[i]" for k, s in enumerate(inputs)] + forward_lines +
        [f"out{k}[i] = t{s}" for k, s in enumerate(elementwise)] +
        [f"tape[{j} * n + i] = t{s}" for j, (s, _) in enumerate(tape)], after=after)
    step.backward_source = _kernel_source(
        f"{step.name}_backward",
        ins + taped + [f"gout{k}" for k in range(len(exports))] +
        [f"gin{k}" for k in range(len(grad_inputs))],
        [f"t{s} = in{k}[i]" for k, s in enumerate(inputs)] + seeds + backward_lines +
        [f"gin{k}[i] = {adjoint.get(s, '0')}" for k, s in enumerate(grad_inputs)],
        [f"gred = gout{len(elementwise)}[0]"] if reduction is not None else [])
    nargs = len(inputs) + len(exports) + len(taped)
    step._fwd = _compile(step.forward_source, fwd.consts, step.dtype,
                         nargs + (reduction is not None))
    step._bwd = _compile(step.backward_source, fwd.consts, step.dtype,
                         nargs + len(grad_inputs)) if step.recorded else None
    return step


def _kernel_source(name, args, body, before=(), after=()):
    """``def name(n, *args)``: ``before``, the loop over ``body``, ``after``."""
    lines = [f"def {name}(n, {', '.join(args)}):"] + [f"    {line}" for line in before]
    lines += ["    for i in range(n):"] + [f"        {line}" for line in body]
    return "\n".join(lines + [f"    {line}" for line in after])


def _compile(source, consts, dtype, nargs):
    """The kernel, compiled now (the first call pays for it, not a later one): every
    argument a contiguous 1-d array of ``dtype``; NumPy's error model (x / 0 is inf)."""
    key = (source, tuple((k, v.dtype.str, v.item()) for k, v in consts.items()))
    fn = _KERNELS.get(key)
    if fn is None:
        import numba
        if not _HELPERS:      # the functions of _FLOAT32_FORMS, inlined into the kernels
            _HELPERS["tanh32"] = numba.njit(inline="always", error_model="numpy")(tanh32)
        namespace = {"np": np, **_HELPERS, **consts}
        exec(compile(source, "<fused kernel>", "exec"), namespace)
        array = numba.types.Array(numba.from_dtype(dtype), 1, "C")
        signature = numba.types.void(numba.types.int64, *[array] * nargs)
        fn = _KERNELS[key] = numba.njit(signature, nogil=True, error_model="numpy")(
            namespace[source.split("(")[0][4:]])
    return fn


def _is_step(entry):
    """A primitive's step (plan.Step: the one entry with a ``cls``; fusion sits below
    plan.py, which runs fused steps)."""
    return type(entry).__name__ == "Step"


def fuse(plan):
    """Replace each maximal run (``MIN_GROUP`` or more) of consecutive fusible steps
    of one shape and dtype by a `FusedStep`; returns the groups made."""
    entries, meta = plan.entries, plan.meta
    reads_after = [set() for _ in range(len(entries) + 1)]
    live = set(plan.outputs) | {g.slot for g in plan.data_guards}
    for k in range(len(entries) - 1, -1, -1):
        reads_after[k] = set(live)
        live |= set(entries[k].reads())
    out, groups, k = [], [], 0
    while k < len(entries):
        e = entries[k]
        end = k
        if _is_step(e) and fusible(e, meta):
            while end + 1 < len(entries) and _is_step(entries[end + 1]) and \
                    fusible(entries[end + 1], meta) and \
                    entries[end + 1].out_meta[0] == e.out_meta[0]:
                end += 1
        last = end
        if end > k or (_is_step(e) and fusible(e, meta)):
            made = {m.outs[0] for m in entries[k:end + 1]}
            if end + 1 < len(entries) and reduces(entries[end + 1], made, meta):
                last = end + 1             # the epilogue (it counts towards MIN_GROUP)
        if last + 1 - k >= MIN_GROUP:
            try:
                fused = build(entries[k:end + 1], reads_after[last], meta, len(groups),
                              entries[last] if last > end else None)
            except NotFusible:
                fused = None
            if fused is not None:
                out.append(fused)
                groups.append(fused)
                k = last + 1
                continue
        out.extend(entries[k:end + 1])
        k = end + 1
    plan.entries = out
    return groups
