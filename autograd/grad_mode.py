"""Thread-local switches that govern recording: grad mode, name scopes, anomaly mode.

Each is a context manager and a decorator, like their PyTorch namesakes.  They
live together because `Function.apply` reads all three on every call.
"""
import functools
import threading


class _State(threading.local):
    def __init__(self):
        self.grad_enabled = True
        self.scope = ()          # module path components, outermost first
        self.anomaly = False
        # Called as observer(node, output_grads, input_grads) after each VJP during a
        # backward replay; used by the graph tools (gradient heat, backprop frames).
        self.backward_observer = None
        # Whether the running backward replay keeps the graph (retain_graph): a
        # compiled region's VJP frees its steps' saved arrays as it goes when not.
        self.retain_graph = True
        # Called as observer(node, args, outputs) after each op is recorded on the
        # tape (args as passed to apply); used by gradcheck_tape.
        self.forward_observer = None
        # The top of the stack of transform interpreters (function.py): vmap levels
        # above, then a forward-mode level or a compile capture; None when no transform
        # is open.  Primitive.apply hands every op to it.
        self.interpreter = None
        # The open forward-mode level (forward_ad._Level) or None: where tangents live.
        self.dual_level = None
        # CPU autocast (autograd/amp): the low dtype the listed ops run in, or None; and
        # the casts of leaf tensors made in the region (PyTorch's weight cache), or None.
        self.autocast_dtype = None
        # Called as observer(node, outputs) after forward mode attached the tangents of a
        # recorded op's outputs (forward_ad.py); used by the graph tools (tangent heat).
        self.tangent_observer = None
        self.autocast_cache = None


STATE = _State()


def is_grad_enabled():
    return STATE.grad_enabled


class _DecoratorContext:
    """Base for context managers that can also decorate a function."""

    def __call__(self, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            with self.__class__(*self._args):
                return fn(*args, **kwargs)
        return wrapper

    _args = ()


class set_grad_enabled(_DecoratorContext):
    """Enable or disable recording.  Takes effect immediately (like PyTorch), so it
    also works as a plain function call: ``set_grad_enabled(False)``."""

    def __init__(self, mode):
        self._args = (mode,)
        self.prev = STATE.grad_enabled
        STATE.grad_enabled = bool(mode)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        STATE.grad_enabled = self.prev

    def __call__(self, fn):
        # Used as a decorator: construction must not leave the mode switched.
        STATE.grad_enabled = self.prev
        return super().__call__(fn)


class _GradModeContext(_DecoratorContext):
    mode = None

    def __new__(cls, func=None):
        # ``@no_grad`` without parentheses decorates directly (PyTorch 2 allows it).
        self = super().__new__(cls)
        return self(func) if callable(func) else self

    def __init__(self, func=None):
        pass

    def __enter__(self):
        self.prev = STATE.grad_enabled
        STATE.grad_enabled = self.mode
        return self

    def __exit__(self, *exc):
        STATE.grad_enabled = self.prev


class no_grad(_GradModeContext):
    """Ops inside record nothing on the tape (their outputs do not require grad)."""
    mode = False


class enable_grad(_GradModeContext):
    """Re-enable recording inside a ``no_grad`` block."""
    mode = True


class name_scope(_DecoratorContext):
    """Tag every tape node recorded inside with a path component.

    Nested scopes join with dots: ``with name_scope("layer1"): with name_scope("0"):``
    records ``layer1.0``.  ``nn.Module.__call__`` opens one per module.
    """

    def __init__(self, name):
        self._args = (name,)
        self.name = str(name)

    def __enter__(self):
        self.prev = STATE.scope
        STATE.scope = self.prev + (self.name,)
        return self

    def __exit__(self, *exc):
        STATE.scope = self.prev


def current_scope():
    """The dotted module path of the innermost open name scope ('' when none)."""
    return ".".join(STATE.scope)


class detect_anomaly(_DecoratorContext):
    """Record the user's call site of every op and fail loudly on NaN/Inf.

    Inside, a NaN or Inf in any forward output or VJP result raises an error naming
    the op, its module path and the file:line where the op was called.
    """

    def __init__(self, mode=True):
        self._args = (mode,)
        self.mode = bool(mode)

    def __enter__(self):
        self.prev = STATE.anomaly
        STATE.anomaly = self.mode
        return self

    def __exit__(self, *exc):
        STATE.anomaly = self.prev


def is_anomaly_enabled():
    return STATE.anomaly


inference_mode = no_grad     # PyTorch's faster no_grad; here they are the same mode
