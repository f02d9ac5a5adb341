"""The restricted unpickler behind ``load(..., weights_only=True)``.

A pickle is a program: each ``GLOBAL`` opcode imports a name and ``REDUCE`` calls it,
so unpickling an untrusted file with `pickle.load` can run anything.  Loading here
parses every opcode first (`pickletools`, so that no length field makes the unpickler
allocate more than the data holds), then runs the pickle twice:

1. A *dry run*.  Every global the pickle names resolves to an inert stand-in
   (`_Inert`) that records what it is given and runs nothing; persistent ids (the
   tensor storages) are stand-ins too.  Afterwards every name is checked against the
   allowlist and the nesting depth of the result is measured.  A name outside the
   allowlist is refused here, naming it, before a single function of the file ran.
2. The real run, where `find_class` hands out only allowlisted objects (and refuses
   anything else again, so the two passes cannot disagree).

The allowlist is the caller's (the PyTorch format's rebuild functions, storages,
dtypes, ``torch.Size``, ...) plus what the user allowlisted with `add_safe_globals`
or the `safe_globals` context manager, as ``torch.serialization`` spells them.
"""
import _compat_pickle
import importlib
import io
import pickle
import pickletools
import struct

from .files import Malformed

# Deeper nesting of containers and objects is refused: a loaded object nested this
# deep already breaks repr, copy.deepcopy and == with RecursionError.
MAX_DEPTH = 200

_user_safe_globals = {}        # "module.qualname" -> object, in the order they were added


def _full_name(obj):
    return f"{getattr(obj, '__module__', None)}.{getattr(obj, '__qualname__', None)}"


def add_safe_globals(safe_globals):
    """Allowlist functions and classes for ``weights_only`` loads: each item is the
    object, or ``(object, "module.name")`` when the file spells its path differently."""
    for item in safe_globals:
        if isinstance(item, tuple):
            if len(item) != 2 or not isinstance(item[1], str):
                raise TypeError(f"add_safe_globals: expected an object or (object, 'module.name'), got {item!r}")
            _user_safe_globals[item[1]] = item[0]
        else:
            _user_safe_globals[_full_name(item)] = item


def get_safe_globals():
    """The user-added globals, as `add_safe_globals` was given them."""
    return [obj if _full_name(obj) == name else (obj, name) for name, obj in _user_safe_globals.items()]


def clear_safe_globals():
    _user_safe_globals.clear()


class safe_globals:
    """``with safe_globals([MyClass]): load(f)``: the globals are allowlisted inside the
    block only."""

    def __init__(self, safe_globals):
        self.safe_globals = safe_globals

    def __enter__(self):
        self._saved = dict(_user_safe_globals)
        add_safe_globals(self.safe_globals)

    def __exit__(self, *exc):
        _user_safe_globals.clear()
        _user_safe_globals.update(self._saved)


class RefusedGlobal(Malformed):
    """A pickle names a global outside the allowlist."""

    def __init__(self, full_name):
        self.full_name = full_name
        super().__init__(
            f"Weights only load failed. Unsupported global: GLOBAL {full_name} was not an allowed "
            f"global by default (nothing from the file ran). Use "
            f"`autograd.serialization.add_safe_globals([{full_name}])` or the "
            f"`autograd.serialization.safe_globals([{full_name}])` context manager to allowlist it "
            f"if you trust this class/function, or load with weights_only=False only if you got "
            f"the file from a trusted source (that can result in arbitrary code execution).")


def _python3_name(module, name):
    """Protocol-2 pickles spell builtins ``__builtin__``; map such names as `pickle` does."""
    if (module, name) in _compat_pickle.NAME_MAPPING:
        return _compat_pickle.NAME_MAPPING[(module, name)]
    return _compat_pickle.IMPORT_MAPPING.get(module, module), name


class _Inert:
    """Stands in for every global and every object built from one during the dry run.
    It takes whatever the pickle gives it (call, __setstate__, items) and keeps it, so
    the nesting can be measured; it runs nothing."""

    def __new__(cls, *args, **kwargs):
        self = object.__new__(cls)
        self.parts = [args, kwargs]
        return self

    def __init__(self, *args, **kwargs):
        pass

    def __call__(self, *args, **kwargs):
        return _Inert(*args, **kwargs)

    def __setstate__(self, state):
        self.parts.append(state)

    def __setitem__(self, key, value):
        self.parts.append((key, value))

    def append(self, value):
        self.parts.append(value)

    def extend(self, values):
        self.parts.append(list(values))

    add = append


_UNPICKLE_ERRORS = (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError,
                    AttributeError, OverflowError, UnicodeDecodeError, struct.error, RecursionError,
                    MemoryError, ImportError)


class _Unpickler(pickle.Unpickler):
    """Globals come from ``resolve(module, name)``, persistent ids (the storages) from
    ``persistent_load``."""

    def __init__(self, data, resolve, persistent_load):
        super().__init__(io.BytesIO(data))
        self.resolve, self._persistent_load = resolve, persistent_load

    def find_class(self, module, name):
        return self.resolve(*_python3_name(module, name))

    def persistent_load(self, pid):
        return self._persistent_load(pid)


def _run(unpickler):
    try:
        return unpickler.load()
    except Malformed:
        raise
    except _UNPICKLE_ERRORS as e:
        raise Malformed(f"corrupt pickle ({type(e).__name__}: {e})") from None


def _depth(obj, limit):
    """How deep ``obj`` nests (containers, `_Inert` parts), walked without recursion;
    stops counting at ``limit + 1``."""
    deepest, seen, todo = 0, set(), [(obj, 1)]
    while todo:
        item, depth = todo.pop()
        if id(item) in seen:
            continue
        if isinstance(item, (list, tuple, set, frozenset, dict, _Inert)):
            seen.add(id(item))
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            children = (item.parts if isinstance(item, _Inert) else
                        [x for kv in item.items() for x in kv] if isinstance(item, dict) else item)
            todo.extend((child, depth + 1) for child in children)
    return deepest


def _check_opcodes(data):
    """Parse every opcode and its argument first (`pickletools`, which reads no more
    than the data holds): a length field claiming gigabytes would otherwise make the
    C unpickler allocate them before finding the data short."""
    try:
        for _ in pickletools.genops(data):
            pass
    except (ValueError, EOFError, UnicodeDecodeError, struct.error) as e:
        raise Malformed(f"corrupt pickle ({e})") from None


def _dry_run(data, allowed):
    _check_opcodes(data)
    names = []

    def record(module, name):
        names.append(f"{module}.{name}")
        return _Inert

    result = _run(_Unpickler(data, record, _Inert))
    for name in names:
        if name not in allowed and name not in _user_safe_globals:
            raise RefusedGlobal(name)
    if _depth(result, MAX_DEPTH) > MAX_DEPTH:
        raise Malformed(f"the pickle nests deeper than {MAX_DEPTH} levels")


def restricted_loads(data, allowed, persistent_load):
    """Unpickle ``data`` calling nothing outside ``allowed`` ({"module.name": object})
    and the user's safe globals; `Malformed` (`RefusedGlobal`) on any problem."""
    _dry_run(data, allowed)

    def resolve(module, name):
        full_name = f"{module}.{name}"
        if full_name in allowed:
            return allowed[full_name]
        if full_name in _user_safe_globals:
            return _user_safe_globals[full_name]
        raise RefusedGlobal(full_name)

    return _run(_Unpickler(data, resolve, persistent_load))


def trusting_loads(data, translate, persistent_load):
    """``weights_only=False``: any global is imported (``translate`` maps PyTorch's names
    onto tapegrad's first).  Runs whatever the file says."""
    _check_opcodes(data)

    def resolve(module, name):
        if f"{module}.{name}" in translate:
            return translate[f"{module}.{name}"]
        obj = importlib.import_module(module)
        for attr in name.split("."):
            obj = getattr(obj, attr)
        return obj

    return _run(_Unpickler(data, resolve, persistent_load))
