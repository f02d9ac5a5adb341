"""State a compiled region touches outside the tape, and how a replay redoes it.

Two kinds of state change happen in NumPy, not in primitives, so the tape never sees
them; a capture must find them, or the replay would freeze them:

- **Random draws** from the global generator (dropout masks, ``rand``/``randn``).
  During a capture the generator is wrapped by `RecordingGenerator`: each draw comes
  back as a `Drawn` array, which records the elementwise NumPy arithmetic applied to it
  (``random(shape) >= p``, ``* scale``) and the final cast.  When a value derived that
  way reaches a primitive, the plan keeps the *recipe* (draw, then the same ufuncs), so
  a replay draws fresh numbers, in eager's order, and derives the mask as eager does.
  A draw used in any other way (indexed, reduced, combined with another array, turned
  into a Python number) cannot be replayed: the capture reports it as a graph break.
- **Buffer writes**: BatchNorm's running statistics (``update_running_stat`` in
  ops/normalization.py) and its batch counter (``num_batches_tracked += 1`` in nn).
  See capture.py: the first is recorded through a wrapper installed for the capture,
  the second found by comparing the buffers before and after.
"""
import numpy as np

from .. import creation


class Drawn(np.ndarray):
    """An array drawn from the global generator during a capture, or derived from one
    by elementwise arithmetic with scalars.  ``_origin`` is (draw, ops): the draw
    record and the ufuncs applied since, each (ufunc, position of the drawn operand,
    the operands)."""
    _origin = None
    _recorder = None

    def __array_finalize__(self, obj):
        # A view or copy made by anything but `_wrap` (indexing, reshape) is a use the
        # recipe cannot follow: the draw becomes unreplayable.
        if isinstance(obj, Drawn) and obj._origin is not None and not obj._recorder.in_step:
            obj._recorder.escape(obj._origin[0], "viewed or reshaped in NumPy")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        rec = self._recorder
        plain = [x.view(np.ndarray) if isinstance(x, Drawn) else x for x in inputs]
        if "out" in kwargs:
            kwargs["out"] = tuple(o.view(np.ndarray) if isinstance(o, Drawn) else o
                                  for o in kwargs["out"])
        result = getattr(ufunc, method)(*plain, **kwargs)
        if rec is None or rec.in_step:      # inside a primitive: the step is replayed
            return result
        drawn = [k for k, x in enumerate(inputs) if isinstance(x, Drawn)]
        origin = inputs[drawn[0]]._origin
        scalars_only = all(np.ndim(x) == 0 and not isinstance(x, Drawn)
                           for k, x in enumerate(inputs) if k != drawn[0])
        if method != "__call__" or kwargs or len(drawn) != 1 or not scalars_only \
                or origin is None or not isinstance(result, np.ndarray):
            if origin is not None:
                rec.escape(origin[0], f"used in NumPy's {ufunc.__name__}.{method}")
            return result
        operands = tuple(None if k == drawn[0] else x for k, x in enumerate(inputs))
        return rec.wrap(result, (origin[0], origin[1] + ((ufunc, drawn[0], operands),)))

    def __array_function__(self, func, types, args, kwargs):
        rec = self._recorder
        if rec is not None and not rec.in_step and self._origin is not None:
            rec.escape(self._origin[0], f"used in np.{func.__name__}")
        args = tuple(a.view(np.ndarray) if isinstance(a, Drawn) else a for a in args)
        return func(*args, **kwargs)

    def astype(self, dtype, *args, **kwargs):
        # ``rand``'s ``random(shape).astype(float32)``, attention's ``keep.astype(dtype) *
        # scale``: the cast is one more step of the recipe
        result = self.view(np.ndarray).astype(dtype, *args, **kwargs)
        rec = self._recorder
        if rec is None or rec.in_step or self._origin is None:
            return result
        draw, ops = self._origin
        return rec.wrap(result, (draw, ops + ((Cast(result.dtype), 0, (None,)),)))

    def __reduce__(self):       # pickling, printing through copies: plain data
        return self.view(np.ndarray).__reduce__()


class Cast:
    """``astype(dtype)`` as a step of a recipe (see `Drawn`)."""
    __name__ = "astype"

    def __init__(self, dtype):
        self.dtype = dtype

    def __call__(self, v):
        return v.astype(self.dtype)


class Draw:
    """One call on a generator: ``method(*args, **kwargs)``; ``slot`` is the plan value
    holding the raw numbers at replay.  ``source``: the `autograd.Generator` a
    ``generator=`` argument named, or None for the global one (whichever it is then)."""
    __slots__ = ("method", "args", "kwargs", "slot", "site", "escaped", "used", "value", "source")

    def __init__(self, method, args, kwargs, site, source=None):
        self.method, self.args, self.kwargs, self.site = method, args, kwargs, site
        self.source = source
        self.slot = None
        self.escaped = None
        self.used = False
        self.value = None        # the numbers drawn at capture, for mode="check"

    def run(self, run):
        if run.given is not None:       # a recomputation: the numbers drawn before
            run.vals[self.slot] = run.given[self.slot]
            return
        gen = creation.default_generator() if self.source is None else self.source
        out = getattr(gen, self.method)(*self.args, **self.kwargs)
        run.vals[self.slot] = run.draws[self.slot] = out

    def reads(self):
        return ()

    def describe(self, name):
        args = ", ".join([repr(a) for a in self.args] + [f"{k}={v!r}" for k, v in self.kwargs.items()])
        gen = "generator" if self.source is None else "user_generator"
        return f"{name} = {gen}.{self.method}({args})"


def derive(raw, ops, cast):
    """The value a recipe gives for the numbers ``raw`` (see `Drawn`)."""
    v = raw
    for ufunc, pos, operands in ops:
        args = list(operands)
        args[pos] = v
        v = ufunc(*args)
    if cast is not None:
        how, dtype = cast
        v = v.astype(dtype) if how == "astype" else np.asarray(v, dtype=dtype)
    return v


def recipe_text(name, ops, cast):
    """The recipe as one Python expression over the draw ``name``."""
    expr = name
    for ufunc, pos, operands in ops:
        if type(ufunc) is Cast:
            expr = f"{expr}.astype({ufunc.dtype.name})"
            continue
        shown = ", ".join(expr if k == pos else repr(x) for k, x in enumerate(operands))
        expr = f"np.{ufunc.__name__}({shown})"
    if cast is not None:
        expr = f"{expr}.astype({np.dtype(cast[1]).name})"
    return expr


def recording(attr, name, rec, site, source=None):
    """``attr``, a generator's method ``name``, recording each call (see the module
    docstring)."""
    if not callable(attr):
        return attr

    def draw(*args, **kwargs):
        out = attr(*args, **kwargs)
        record = rec.new_draw(name, args, kwargs, site(), source)
        record.value = out
        if not isinstance(out, np.ndarray):
            rec.escape(record, f"generator.{name}() returned a Python number")
            return out
        return rec.wrap(out, (record, ()))
    return draw


class RecordingGenerator:
    """Stands for the global generator during a capture: forwards every call and
    records it."""

    def __init__(self, real, recorder, site):
        self._real, self._recorder, self._site = real, recorder, site

    def __getattr__(self, name):
        return recording(getattr(self._real, name), name, self._recorder, self._site)


class RecordingUserGenerators:
    """While installed, calls on any `autograd.Generator` (a ``generator=`` argument)
    are recorded like the global generator's, to be redrawn from it at replay."""

    def __init__(self, recorder, site):
        self._recorder, self._site = recorder, site

    def install(self):
        rec, site = self._recorder, self._site

        def __getattr__(gen, name):
            attr = getattr(gen.__dict__["_rng"], name)
            return attr if name == "bit_generator" else recording(attr, name, rec, site, gen)
        creation.Generator.__getattr__ = __getattr__

    @staticmethod
    def uninstall():
        creation.Generator.__getattr__ = _generator_getattr


_generator_getattr = creation.Generator.__getattr__


class DrawRecorder:
    """The draws of one capture and what became of them."""

    def __init__(self, on_draw):
        self.draws = []
        self.wrapped = []        # every Drawn made, newest last (kept alive: ids are keys)
        self.in_step = False
        self._on_draw = on_draw

    def new_draw(self, method, args, kwargs, site, source=None):
        d = Draw(method, args, kwargs, site, source)
        self.draws.append(d)
        self._on_draw(d)
        return d

    def escape(self, draw, why):
        if draw.escaped is None:
            draw.escaped = why

    def wrap(self, array, origin):
        out = array.view(Drawn)
        out._origin, out._recorder = origin, self
        self.wrapped.append(out)
        return out

    def match(self, arr):
        """(draw, ops, cast) if ``arr`` is a value derived from a draw, else None."""
        if not self.draws:
            return None
        if isinstance(arr, Drawn) and arr._origin is not None:
            return arr._origin + (None,)
        base = arr.base
        if isinstance(base, Drawn) and base._origin is not None and base.shape == arr.shape:
            return base._origin + (("asarray", arr.dtype),)
        # np.asarray(mask, float32) of a float64 mask: a converted copy, found by value
        for d in reversed(self.wrapped):
            if d.shape == arr.shape and np.array_equal(d.view(np.ndarray).astype(arr.dtype), arr):
                return d._origin + (("astype", arr.dtype),)
        return None


class OtherRandomness:
    """Random numbers a replay could not redraw: a NumPy Generator the region reaches
    (an argument, a closure or global variable, a module attribute) drawing, NumPy's
    legacy global ``np.random`` drawing, or ``manual_seed`` inside the region.  A
    snapshot before the capture; `breaks` after it names what changed."""

    def __init__(self, fn, leaves):
        self.generators = [(name, g, g.bit_generator.state) for name, g in _reachable(fn, leaves)]
        self.legacy = _legacy_state()

    def breaks(self, reseeded):
        out = [(f"the NumPy Generator {name} drew numbers inside the region; they would be "
                "frozen at replay (pass an autograd.Generator as generator=)", "<region>")
               for name, g, state in self.generators if g.bit_generator.state != state]
        if not _same_state(_legacy_state(), self.legacy):
            out.append(("np.random's global functions drew numbers inside the region; they "
                        "would be frozen at replay (use autograd.rand/randn)", "<region>"))
        if reseeded:
            out.append(("manual_seed() inside the region: reseeding is not replayed", "<region>"))
        return out


def _legacy_state():
    _, keys, pos, has_gauss, cached = np.random.get_state()
    return keys.copy(), pos, has_gauss, cached


def _same_state(a, b):
    return np.array_equal(a[0], b[0]) and a[1:] == b[1:]


def _reachable(fn, leaves):
    """(name, NumPy Generator) among the arguments, ``fn``'s closure and globals, and
    the attributes of the modules among them."""
    objs = [(f"argument {k}", x) for k, x in enumerate(leaves)]
    owner = getattr(fn, "__self__", None)
    if owner is not None:
        objs.append(("self", owner))
    fn = getattr(fn, "__func__", fn)
    code = getattr(fn, "__code__", None)
    if code is not None:
        for name, cell in zip(code.co_freevars, fn.__closure__ or ()):
            try:
                objs.append((name, cell.cell_contents))
            except ValueError:          # an empty cell
                continue
        g = getattr(fn, "__globals__", {})
        objs += [(name, g[name]) for name in code.co_names if name in g]
    found = []
    for name, o in objs:
        if isinstance(o, np.random.Generator):
            found.append((name, o))
        elif hasattr(o, "named_modules"):
            for path, m in o.named_modules():
                found += [(f"{name}.{path}.{a}".replace("..", "."), v) for a, v in vars(m).items()
                          if isinstance(v, np.random.Generator)]
    return found
