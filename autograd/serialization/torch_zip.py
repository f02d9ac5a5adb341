"""PyTorch's checkpoint format, read and written without PyTorch.

``torch.save`` writes a zip archive (uncompressed, each record's data 64-byte aligned):
``ARCHIVE/data.pkl`` is a pickle of the object in which every tensor is a call to one
of ``torch._utils``'s rebuild functions, and every storage a persistent id
``("storage", torch.FloatStorage, "0", "cpu", numel)`` naming the record
``ARCHIVE/data/0`` that holds its raw bytes; ``byteorder``, ``version`` and a few
bookkeeping records sit beside them.

Reading rebuilds each storage as one NumPy array and each tensor as a strided view of
it, so tensors that shared a storage in PyTorch share memory here.  With
``weights_only=True`` (the default) the pickle goes through `restricted_loads`: only
the names in `_ALLOWED` (PyTorch's own ``weights_only`` allowlist, less what tapegrad
cannot hold) and the user's safe globals may appear.  Every record is checked:
its CRC (zipfile), its size against the storage it claims to be, and every tensor's
offset, shape and strides against its storage's extent.
"""
import collections
import io
import os
import pickle
import struct
import zipfile
from collections import OrderedDict

import numpy as np

from .. import dtypes
from ..creation import from_numpy
from ..device import device
from ..tensor import Size, Tensor
from .files import Malformed, short
from .restricted_unpickler import restricted_loads, trusting_loads

# Storage classes -> the NumPy dtype of their elements (None: raw bytes).
_STORAGE_DTYPES = {"DoubleStorage": np.float64, "FloatStorage": np.float32, "HalfStorage": np.float16,
                   "LongStorage": np.int64, "IntStorage": np.int32, "ShortStorage": np.int16,
                   "CharStorage": np.int8, "ByteStorage": np.uint8, "BoolStorage": np.bool_}
# Real dtypes PyTorch names that NumPy holds; the other torch dtypes (bfloat16, complex,
# quantized, float8, sub-byte ints) are read as `_Unholdable` and refused by name.
_TORCH_DTYPES = {"float64": np.float64, "float32": np.float32, "float16": np.float16,
                 "int64": np.int64, "int32": np.int32, "int16": np.int16, "int8": np.int8,
                 "uint8": np.uint8, "uint16": np.uint16, "uint32": np.uint32, "uint64": np.uint64,
                 "bool": np.bool_}
_UNHOLDABLE_DTYPES = ("bfloat16", "complex32", "complex64", "complex128", "qint8", "qint32", "quint8",
                      "quint4x2", "quint2x4", "float8_e4m3fn", "float8_e4m3fnuz", "float8_e5m2",
                      "float8_e5m2fnuz", "float8_e8m0fnu", "float4_e2m1fn_x2", "bits1x8", "bits2x4",
                      "bits4x2", "bits8", "bits16", *(f"int{n}" for n in range(1, 8)),
                      *(f"uint{n}" for n in range(1, 8)))
_UNHOLDABLE_STORAGES = {"BFloat16Storage": "bfloat16", "ComplexDoubleStorage": "complex128",
                        "ComplexFloatStorage": "complex64", "QInt8Storage": "qint8",
                        "QInt32Storage": "qint32", "QUInt8Storage": "quint8",
                        "QUInt4x2Storage": "quint4x2", "QUInt2x4Storage": "quint2x4"}
# In PyTorch's allowlist, but with no tapegrad equivalent: refused with the reason.
_UNSUPPORTED = {"_rebuild_qtensor": "quantized tensors", "_rebuild_sparse_tensor": "sparse tensors",
                "_rebuild_nested_tensor": "nested tensors", "_rebuild_meta_tensor_no_storage":
                "meta tensors", "_rebuild_wrapper_subclass": "tensor subclasses without storage",
                "_rebuild_device_tensor_from_cpu_tensor": "tensors of another device type",
                "_rebuild_device_tensor_from_numpy": "tensors of another device type"}
# What zipfile raises for a damaged archive (NotImplementedError: a "zip version" or
# compression method it does not know, as a flipped header byte can claim).
_ZIP_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, OSError, ValueError,
               NotImplementedError, struct.error, UnicodeDecodeError)
_MAX_VERSION = 3            # the highest ``version`` record this reader knows (torch 2.x writes 3)

_parameter_class = [None]   # nn.Parameter, registered by nn (a floor above this one)


def register_parameter_class(cls):
    """nn registers its Parameter: tensors rebuilt by ``_rebuild_parameter`` become one,
    and one is written as PyTorch writes its Parameter."""
    _parameter_class[0] = cls


class _Unholdable:
    """A dtype, storage or tensor of a dtype NumPy/tapegrad cannot hold; the loader
    refuses it after the pickle ran, naming the dtype and where it sits in the object."""

    def __init__(self, dtype, storage_key=None):
        self.dtype, self.storage_key = dtype, storage_key


class _Storage:
    """One storage record: a flat array (uint8 for an untyped storage)."""

    def __init__(self, array, key):
        self.array, self.key = array, key


class _TensorType:
    """``torch.Tensor`` / ``torch.nn.parameter.Parameter`` as the pickle names them (the
    new_type of ``_rebuild_from_type_v2``); not a class, so NEWOBJ cannot make one."""

    def __init__(self, name):
        self.name = name


_TORCH_TENSOR, _TORCH_PARAMETER = _TensorType("torch.Tensor"), _TensorType("torch.nn.parameter.Parameter")


# -- reading ---------------------------------------------------------------------------
def _check_ints(what, values, ndim=None):
    if not isinstance(values, tuple) or any(type(v) is not int or v < 0 for v in values) \
            or (ndim is not None and len(values) != ndim):
        raise Malformed(f"{what} must be a tuple of non-negative ints"
                        + (f" of length {ndim}" if ndim is not None else "") + f", got {short(values)}")


def _view(storage, offset, size, stride, dtype=None):
    """The tensor ``storage[offset + sum(i_k * stride_k)]``, checked against the storage."""
    if isinstance(storage, _Unholdable) or isinstance(dtype, _Unholdable):
        return storage if isinstance(storage, _Unholdable) else _Unholdable(dtype.dtype, None)
    if not isinstance(storage, _Storage):
        raise Malformed(f"a tensor's storage is {short(storage)}, not a storage record")
    if type(offset) is not int or offset < 0:
        raise Malformed(f"storage offset {short(offset)} is not a non-negative int")
    _check_ints("a tensor's size", size)
    _check_ints("a tensor's stride", stride, len(size))
    flat = storage.array
    if dtype is not None:          # an untyped (byte) storage viewed as ``dtype``
        if flat.dtype != np.uint8 or flat.size % dtype.itemsize:
            raise Malformed(f"storage {storage.key} of {flat.nbytes} bytes cannot hold {dtype.name} elements")
        flat = flat.view(dtype)
    if 0 in size:
        extent = offset
    else:
        extent = offset + 1 + sum((n - 1) * s for n, s in zip(size, stride))
    if extent > flat.size:
        raise Malformed(f"a tensor of size {list(size)}, stride {list(stride)} at offset {offset} reaches "
                        f"element {extent} of storage {storage.key}, which has {flat.size}")
    base = flat[offset:] if flat.size else flat
    item = flat.itemsize
    arr = np.lib.stride_tricks.as_strided(base, shape=size, strides=tuple(s * item for s in stride))
    return from_numpy(arr)


def _requires_grad(t, requires_grad):
    if type(requires_grad) is not bool:
        raise Malformed(f"requires_grad must be a bool, got {short(requires_grad)}")
    if requires_grad and not isinstance(t, _Unholdable):
        if t.array.dtype.kind != "f":
            raise Malformed(f"a {t.array.dtype} tensor cannot require grad")
        t.requires_grad_()
    return t


def _no_hooks(hooks):
    if not isinstance(hooks, dict) or hooks:
        raise Malformed(f"backward hooks cannot be loaded (found {short(hooks)})")


def _rebuild_tensor(storage, storage_offset, size, stride):
    return _view(storage, storage_offset, size, stride)


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks, metadata=None):
    _no_hooks(backward_hooks)
    return _requires_grad(_view(storage, storage_offset, size, stride), requires_grad)


def _rebuild_tensor_v3(storage, storage_offset, size, stride, requires_grad, backward_hooks, dtype,
                       metadata=None):
    _no_hooks(backward_hooks)
    if not isinstance(dtype, (dtypes.dtype, _Unholdable)):
        raise Malformed(f"_rebuild_tensor_v3's dtype is {short(dtype)}")
    np_dtype = dtype if isinstance(dtype, _Unholdable) else dtype.dtype
    return _requires_grad(_view(storage, storage_offset, size, stride, np_dtype), requires_grad)


def _as_parameter(data, requires_grad):
    if isinstance(data, _Unholdable):
        return data
    if not isinstance(data, Tensor):
        raise Malformed(f"a Parameter's data is {short(data)}, not a tensor")
    cls = _parameter_class[0]
    if cls is None:          # nn not imported: a leaf tensor that requires grad stands in
        return _requires_grad(from_numpy(data.array), requires_grad)
    if type(requires_grad) is not bool:
        raise Malformed(f"requires_grad must be a bool, got {short(requires_grad)}")
    return cls(data, requires_grad=requires_grad)


def _rebuild_parameter(data, requires_grad, backward_hooks):
    _no_hooks(backward_hooks)
    return _as_parameter(data, requires_grad)


def _set_attributes(obj, state):
    """Python attributes saved with a tensor; names the Tensor class defines (slots,
    methods, properties) are refused, so a file cannot replace a tensor's array."""
    if state is None or isinstance(obj, _Unholdable):
        return obj
    if not isinstance(state, dict) or any(not isinstance(k, str) or hasattr(type(obj), k) for k in state):
        raise Malformed(f"a tensor's saved attributes {short(state)} cannot be set")
    for k, v in state.items():
        setattr(obj, k, v)
    return obj


def _rebuild_parameter_with_state(data, requires_grad, backward_hooks, state):
    return _set_attributes(_rebuild_parameter(data, requires_grad, backward_hooks), state)


_REBUILDERS = (_rebuild_tensor, _rebuild_tensor_v2, _rebuild_tensor_v3, _rebuild_parameter,
               _rebuild_parameter_with_state)


def _rebuild_from_type_v2(func, new_type, args, state):
    """A tensor pickled with its class and Python attributes: ``func(*args)`` must be one
    of the rebuild functions above, ``new_type`` torch.Tensor or torch.nn.Parameter."""
    if func not in _REBUILDERS or new_type not in (_TORCH_TENSOR, _TORCH_PARAMETER) \
            or not isinstance(args, tuple):
        raise Malformed(f"_rebuild_from_type_v2 of {short(new_type)} with {short(func)} is not a tensor")
    t = func(*args)
    if new_type is _TORCH_PARAMETER and not isinstance(t, _Unholdable):
        t = _as_parameter(t, t.requires_grad)
    if isinstance(state, tuple) and len(state) == 2:      # (__dict__, slots) as copyreg writes it
        state = {**(state[0] or {}), **(state[1] or {})}
    return _set_attributes(t, state)


def _latin1_encode(text, encoding="latin1"):
    """``_codecs.encode``: how protocol-2 pickles spell bytes; only that use is allowed."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise Malformed(f"_codecs.encode is allowed only as bytes' latin1 spelling, got encoding {short(encoding)}")
    return text.encode("latin1")


def _size(dims=()):
    _check_ints("torch.Size", tuple(dims) if isinstance(dims, (list, tuple)) else dims)
    return Size(dims)


def _bytearray(*args):
    if len(args) > 1 or (args and not isinstance(args[0], (bytes, list))):
        raise Malformed(f"bytearray of {short(args)}")
    return bytearray(*args)


def _complex(real=0.0, imag=0.0):
    if not all(isinstance(v, (int, float)) for v in (real, imag)):
        raise Malformed(f"complex of {short((real, imag))}")
    return complex(real, imag)


def _set(items=()):
    return set(items)


def _storage_type(name):
    """A storage class as the pickle names it: its dtype, None for bytes, or _Unholdable."""
    if name in _STORAGE_DTYPES:
        return ("storage", np.dtype(_STORAGE_DTYPES[name]))
    if name in _UNHOLDABLE_STORAGES:
        return ("storage", _Unholdable(_UNHOLDABLE_STORAGES[name]))
    return ("storage", None)


def _allowed():
    """PyTorch's weights_only allowlist, each name mapped to what builds it here."""
    allowed = {"collections.OrderedDict": OrderedDict, "collections.Counter": collections.Counter,
               "builtins.set": _set, "builtins.bytearray": _bytearray, "builtins.complex": _complex,
               "_codecs.encode": _latin1_encode, "torch.Size": _size, "torch.device": device,
               "torch.Tensor": _TORCH_TENSOR, "torch.nn.parameter.Parameter": _TORCH_PARAMETER,
               "torch._tensor._rebuild_from_type_v2": _rebuild_from_type_v2,
               "torch.storage.UntypedStorage": _storage_type("UntypedStorage")}
    allowed.update({f"torch._utils.{f.__name__}": f for f in _REBUILDERS})
    for name in (*_STORAGE_DTYPES, *_UNHOLDABLE_STORAGES):
        allowed[f"torch.{name}"] = allowed[f"torch.cuda.{name}"] = _storage_type(name)
    allowed.update({f"torch.{n}": dtypes.public(np.dtype(t)) for n, t in _TORCH_DTYPES.items()})
    allowed.update({f"torch.{n}": _Unholdable(f"torch.{n}") for n in _UNHOLDABLE_DTYPES})
    return allowed


_ALLOWED = _allowed()


def _refuse_unsupported(name, reason):
    def refuse(*args, **kwargs):
        raise Malformed(f"the file holds PyTorch {reason} ({name}), which tapegrad cannot hold")
    return refuse


_ALLOWED.update({f"torch._utils.{n}": _refuse_unsupported(f"torch._utils.{n}", why)
                 for n, why in _UNSUPPORTED.items()})


class _Records:
    """The records of one archive, read on demand with their sizes checked."""

    def __init__(self, zf):
        self.zf = zf
        names = [n for n in zf.namelist() if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(names) != 1:
            raise Malformed("a zip archive without PyTorch's ARCHIVE/data.pkl record"
                            if not names else f"a zip archive with {len(names)} data.pkl records")
        self.prefix = names[0][:-len("data.pkl")]
        self.storages = {}
        order = self.small("byteorder", b"little")
        if order not in (b"little", b"big"):
            raise Malformed(f"unknown byteorder record {short(order)}")
        self.byteorder = "<" if order == b"little" else ">"
        version = self.small("version", None) or self.small(".data/version", b"1")
        if not version.strip().isdigit() or int(version) > _MAX_VERSION:
            raise Malformed(f"PyTorch archive version {short(version)} (this reader knows 1 to {_MAX_VERSION})")

    def info(self, name):
        try:
            return self.zf.getinfo(self.prefix + name)
        except KeyError:
            return None

    def read(self, name, size=None):
        info = self.info(name)
        if info is None:
            raise Malformed(f"the archive lacks the record {self.prefix + name}")
        if size is not None and info.file_size != size:
            raise Malformed(f"record {self.prefix + name} holds {info.file_size} bytes, its storage "
                            f"needs {size}")
        try:
            return self.zf.read(info)
        except _ZIP_ERRORS as e:
            raise Malformed(f"record {self.prefix + name} is damaged ({e})") from None

    def small(self, name, default):
        return self.read(name) if self.info(name) is not None else default

    def storage(self, pid):
        """persistent_load: ``("storage", storage type, key, location, numel)``."""
        dtype, key, numel = storage_id(pid)
        if isinstance(dtype, _Unholdable):
            return dtype
        cached = self.storages.get(key)
        if cached is None:
            item = 1 if dtype is None else dtype.itemsize
            blob = self.read(f"data/{key}", numel * item)
            if dtype is None and self.byteorder == ">":
                raise Malformed(f"untyped storage {key} in a big-endian file cannot be byte-swapped")
            flat = np.frombuffer(blob, dtype=np.uint8 if dtype is None else dtype.newbyteorder(self.byteorder))
            # a writable array in native byte order (np.array copies; astype swaps if need be)
            flat = flat.astype(flat.dtype.newbyteorder("="))
            cached = self.storages[key] = (dtype, numel, _Storage(flat, key))
        if cached[:2] != (dtype, numel):
            raise Malformed(f"storage {key} is named twice with different types or sizes")
        return cached[2]


def storage_id(pid, fields=5):
    """The ``(dtype, key, numel)`` of a storage's persistent id ``("storage", storage
    type, key, location, numel)`` (the legacy format adds a sixth field, a view that
    must be None); dtype None means raw bytes, an `_Unholdable` one a refused dtype."""
    if not isinstance(pid, tuple) or len(pid) != fields or pid[0] != "storage":
        raise Malformed(f"unknown persistent id {short(pid)}")
    _, kind, key, location, numel = pid[:5]
    if not (isinstance(kind, tuple) and kind[:1] == ("storage",)) or not isinstance(key, str) \
            or not isinstance(location, str) or type(numel) is not int or numel < 0 or pid[5:] not in ((), (None,)):
        raise Malformed(f"malformed storage id {short(pid)}")
    dtype = kind[1]
    return (_Unholdable(dtype.dtype, key) if isinstance(dtype, _Unholdable) else dtype), key, numel


def _first_unholdable(obj):
    """(path, _Unholdable) for the first unholdable value inside ``obj``, walked without
    recursion through containers and objects' attributes; None when there is none."""
    seen, todo = set(), [(obj, "obj")]
    while todo:
        item, path = todo.pop()
        if isinstance(item, _Unholdable):
            return path, item
        if id(item) in seen or isinstance(item, (Tensor, str, bytes, int, float, np.ndarray)):
            continue
        seen.add(id(item))
        if isinstance(item, dict):
            todo.extend((v, f"{path}[{k!r}]") for k, v in item.items())
        elif isinstance(item, (list, tuple)):
            todo.extend((v, f"{path}[{i}]") for i, v in enumerate(item))
        elif isinstance(item, (set, frozenset)):
            todo.extend((v, f"{path}{{...}}") for v in item)
        elif hasattr(item, "__dict__") and not isinstance(item, type):
            todo.extend((v, f"{path}.{k}") for k, v in vars(item).items())
    return None


def _translations():
    """weights_only=False: PyTorch's tensor names still build tapegrad tensors."""
    return {name: obj for name, obj in _ALLOWED.items()
            if name.startswith(("torch.", "_codecs.")) or name == "builtins.set"}


def read(fh, weights_only=True):
    """Load the object of a PyTorch zip checkpoint from a seekable binary file."""
    try:
        zf = zipfile.ZipFile(fh)
    except _ZIP_ERRORS as e:
        raise Malformed(f"truncated or damaged zip archive ({e})") from None
    with zf:
        records = _Records(zf)
        return unpickle(records.read("data.pkl"), weights_only, records.storage)


def unpickle(data, weights_only, persistent_load):
    """The object of a PyTorch pickle: restricted to `_ALLOWED` and the user's safe
    globals unless ``weights_only`` is False; a dtype tapegrad cannot hold is refused
    naming where it sits."""
    if weights_only:
        obj = restricted_loads(data, _ALLOWED, persistent_load)
    else:
        obj = trusting_loads(data, _translations(), persistent_load)
    found = _first_unholdable(obj)
    if found is not None:
        path, what = found
        where = f" (storage {what.storage_key})" if what.storage_key is not None else ""
        name = what.dtype if what.dtype.startswith("torch.") else f"torch.{what.dtype}"
        raise Malformed(f"{path} is a {name} value{where}, a dtype tapegrad cannot hold "
                        f"(it holds {', '.join(sorted(_TORCH_DTYPES))})")
    return obj


# -- writing ---------------------------------------------------------------------------
class _TorchName:
    """A PyTorch global written by name (PyTorch need not be installed to write it)."""
    _made = {}

    def __new__(cls, module, name):
        key = (module, name)
        if key not in cls._made:
            self = cls._made[key] = object.__new__(cls)
            self.module, self.name = module, name
        return cls._made[key]

    def __call__(self, *args):          # pickle's save_reduce insists on a callable
        raise TypeError(f"{self.module}.{self.name} is PyTorch's; tapegrad only writes its name")


_STORAGE_NAMES = {np.dtype(t): name for name, t in _STORAGE_DTYPES.items()}
_V2, _V3 = _TorchName("torch._utils", "_rebuild_tensor_v2"), _TorchName("torch._utils", "_rebuild_tensor_v3")
_PARAMETER = _TorchName("torch._utils", "_rebuild_parameter")
_WRITABLE = frozenset(np.dtype(t) for t in _TORCH_DTYPES.values())


class _StorageRef:
    def __init__(self, key, flat):
        self.key, self.flat = key, flat


class _AsTensor:
    """The data of a Parameter, written as a plain tensor inside ``_rebuild_parameter``."""

    def __init__(self, tensor):
        self.tensor = tensor


def _root(arr):
    """The array owning ``arr``'s memory, as far as NumPy's ``base`` chain tells."""
    root = arr
    while isinstance(root.base, np.ndarray):
        root = root.base
    return root


class _TorchPickler(pickle._Pickler):
    """Pickles as ``torch.save`` does: tensors (and NumPy arrays, which PyTorch's format
    has only as tensors) as rebuild calls over storages, dtypes, Size and device by
    PyTorch's names, NumPy scalars as Python numbers."""
    dispatch = dict(pickle._Pickler.dispatch)

    def __init__(self, file, protocol):
        super().__init__(file, protocol)
        self.storages = {}         # (id of the memory's root array, dtype) -> _StorageRef
        self.roots = []            # keeps the roots alive, so their ids stay theirs

    def _write_name(self, obj):
        self.write(pickle.GLOBAL + f"{obj.module}\n{obj.name}\n".encode())
        self.memoize(obj)

    def _write_dtype(self, obj):
        if obj.dtype not in _WRITABLE:
            raise pickle.PicklingError(f"dtype {obj} has no PyTorch equivalent tapegrad writes")
        self.save(_TorchName("torch", obj.dtype.name))

    def _write_item(self, obj):
        self.save(obj.item())

    dispatch[_TorchName] = _write_name
    dispatch[dtypes.dtype] = _write_dtype
    for _t in {np.dtype(c).type for c in "?bBhHiIlLqQefdgFDG"}:
        dispatch[_t] = _write_item

    def persistent_id(self, obj):
        if type(obj) is not _StorageRef:
            return None
        dtype = obj.flat.dtype
        if dtype in _STORAGE_NAMES:
            return ("storage", _TorchName("torch", _STORAGE_NAMES[dtype]), obj.key, "cpu", obj.flat.size)
        return ("storage", _TorchName("torch.storage", "UntypedStorage"), obj.key, "cpu", obj.flat.nbytes)

    def _place(self, arr):
        """(storage, offset, size, stride) of ``arr`` in elements, sharing a storage with
        every other array over the same memory; a copy when the memory cannot be one."""
        if arr.dtype not in _WRITABLE:
            raise pickle.PicklingError(f"an array of dtype {arr.dtype} has no PyTorch storage tapegrad "
                                       f"writes (it writes {', '.join(sorted(d.name for d in _WRITABLE))})")
        item = arr.dtype.itemsize
        root = _root(arr)
        offset = arr.__array_interface__["data"][0] - root.__array_interface__["data"][0]
        if (root.dtype != arr.dtype or not arr.dtype.isnative or offset % item
                or not (root.flags.c_contiguous or root.flags.f_contiguous)
                or any(s < 0 or s % item for s in arr.strides)):
            arr = root = np.array(arr, dtype=arr.dtype.newbyteorder("="), order="C")
            offset = 0
        key = (id(root), root.dtype)
        if key not in self.storages:
            self.roots.append(root)
            self.storages[key] = _StorageRef(str(len(self.storages)), root.reshape(-1, order="A"))
        return (self.storages[key], offset // item, tuple(arr.shape), tuple(s // item for s in arr.strides))

    def _tensor(self, arr, requires_grad):
        storage, offset, size, stride = self._place(arr)
        if arr.dtype in _STORAGE_NAMES:
            return (_V2, (storage, offset, Size(size), stride, requires_grad, OrderedDict()))
        return (_V3, (storage, offset, Size(size), stride, requires_grad, OrderedDict(),
                      dtypes.public(arr.dtype)))

    def reducer_override(self, obj):
        if isinstance(obj, Tensor):
            parameter = _parameter_class[0]
            if parameter is not None and isinstance(obj, parameter):
                return (_PARAMETER, (_AsTensor(obj), obj.requires_grad, OrderedDict()))
            return self._tensor(obj.array, obj.requires_grad)
        if type(obj) is _AsTensor:
            return self._tensor(obj.tensor.array, False)
        if isinstance(obj, np.ndarray):
            return self._tensor(obj, False)
        if isinstance(obj, Size):
            return (_TorchName("torch", "Size"), (tuple(obj),))
        if isinstance(obj, device):
            return (_TorchName("torch", "device"), (obj.type,) if obj.index is None else (obj.type, obj.index))
        return NotImplemented


def _aligned(zf, name, data):
    """Write one uncompressed record whose data starts on a 64-byte boundary, padding
    the local header's extra field as PyTorch's writer does."""
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_STORED
    start = zf.fp.tell() + 30 + len(name.encode()) + 4
    pad = -start % 64
    info.extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
    zf.writestr(info, data)


def write(obj, fh, archive="archive", protocol=2):
    """Write ``obj`` as ``torch.save`` does to the seekable binary file ``fh``.  Raises
    TypeError naming the object when something cannot be pickled."""
    buf = io.BytesIO()
    pickler = _TorchPickler(buf, protocol)
    try:
        pickler.dump(obj)
    except (pickle.PicklingError, TypeError, AttributeError, RecursionError) as e:
        raise TypeError(f"save: cannot store {short(obj, 60)} in PyTorch's format: {e}") from None
    with zipfile.ZipFile(fh, "w", zipfile.ZIP_STORED) as zf:
        records = [("data.pkl", buf.getvalue()), (".format_version", b"1"),
                   (".storage_alignment", b"64"), ("byteorder", b"little")]
        records += [(f"data/{ref.key}", memoryview(ref.flat.view(np.uint8)))
                    for ref in pickler.storages.values()]
        records += [("version", b"3\n"), (".data/serialization_id", os.urandom(20).hex().encode())]
        for name, data in records:
            _aligned(zf, f"{archive}/{name}", data)


def is_zip(head):
    return head[:4] in (b"PK\x03\x04", b"PK\x05\x06")
