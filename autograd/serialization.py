"""Checkpoints: ``save(obj, f)`` / ``load(f)`` for state dicts, with ``torch.save`` /
``torch.load``'s signatures (``f`` a path or a binary file object; ``map_location``,
``weights_only`` and the pickle arguments are accepted; nothing is ever pickled).
``nn.save`` / ``nn.load`` are the same functions.

Format: one safetensors file.  Every tensor, NumPy array and NumPy scalar in ``obj``
(nested dicts, lists and tuples of tensors, arrays, numbers, strings, bools and None:
a model's and an optimizer's state dicts, epoch counters, ...) is stored as a
safetensors tensor named ``"0"``, ``"1"``, ... with its own shape (0-d included) in
little-endian byte order; the rest of the structure is JSON in the header's
``__metadata__["tapegrad"]`` (OrderedDicts stay ordered dicts, tuples tuples), with a SHA-256 over a canonical encoding of that JSON
*and* every tensor's name, dtype, shape and bytes.

Safety: loading parses JSON and raw arrays only; nothing is unpickled or executed.
Any file that does not decode to exactly what was saved (truncated, bit-flipped,
edited without recomputing the digest, foreign) raises `CheckpointError` naming the
file.  The digest is an integrity check, not a signature: someone who rewrites the
file and recomputes it is not detected.
Atomicity: ``save`` writes a temporary file ``NAME.tapegrad-PID-XXXX.tmp`` in the same
folder, fsyncs it and renames it over ``path`` (``os.replace``), so a crash mid-save
leaves the previous checkpoint intact; the next ``save`` into that folder removes the
temporary files of writers that are no longer running.
"""
import hashlib
import json
import math
import os
import re
import struct
import tempfile
from collections import OrderedDict

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as _st_load
from safetensors.numpy import save as _st_save

from .creation import from_numpy
from .device import check_device, is_device
from .tensor import Tensor

FORMAT = "tapegrad-checkpoint"
VERSION = 2
MAX_DEPTH = 64          # nesting of dicts/lists/tuples; deeper is refused on save and load
# The dtypes safetensors stores (bfloat16 has no NumPy dtype; complex128 no safetensors one).
DTYPES = frozenset(np.dtype(t) for t in (np.bool_, np.uint8, np.int8, np.uint16, np.int16, np.uint32,
                                         np.int32, np.uint64, np.int64, np.float16, np.float32,
                                         np.float64, np.complex64))
_TEMP = re.compile(r".+\.tapegrad-(\d+)-[A-Za-z0-9_]+\.tmp\Z")


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated, tampered with or not a tapegrad checkpoint."""


class _Malformed(Exception):
    """Raised inside `load`; turned into a `CheckpointError` that names the file."""


# -- encoding ------------------------------------------------------------------------
def _little_endian(arr, where):
    if arr.dtype.newbyteorder("=") not in DTYPES:
        raise TypeError(f"save: cannot store an array of dtype {arr.dtype} at {where}; "
                        f"checkpoints hold {', '.join(sorted(d.name for d in DTYPES))}")
    little = arr.dtype.newbyteorder("<")
    if arr.dtype == little and arr.flags.c_contiguous:
        return arr
    # np.array keeps 0-d arrays 0-d (np.ascontiguousarray would make them 1-d).
    return np.array(arr, dtype=little, order="C")


def _encode(obj, arrays, where, depth=0):
    """Structure -> JSON-able tree; tensors, arrays and NumPy scalars go to ``arrays``."""
    if isinstance(obj, (Tensor, np.ndarray, np.generic)):
        kind = "Tensor" if isinstance(obj, Tensor) else "ndarray" if isinstance(obj, np.ndarray) else "scalar"
        arr = obj.array if isinstance(obj, Tensor) else np.asarray(obj)
        name = str(len(arrays))
        arrays[name] = _little_endian(arr, where)
        node = {"tensor": name, "kind": kind}
        if isinstance(obj, Tensor) and obj.requires_grad:
            node["requires_grad"] = True
        return node
    if obj is None or isinstance(obj, (bool, int, str)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else {"float": repr(obj)}      # inf / nan as strings
    if depth >= MAX_DEPTH:
        raise TypeError(f"save: {where} is nested deeper than {MAX_DEPTH} levels of dicts/lists/tuples")
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if not isinstance(k, (str, int, float, type(None), np.integer, np.floating, np.bool_)):
                raise TypeError(f"save: dict keys must be str, int, float, bool, None or NumPy "
                                f"scalars; found {type(k).__name__} at {where}")
            items.append([_encode(k, arrays, where), _encode(v, arrays, f"{where}[{k!r}]", depth + 1)])
        return {"odict" if isinstance(obj, OrderedDict) else "dict": items}      # state_dict()s are ordered
    if isinstance(obj, (list, tuple)):
        tag = "list" if isinstance(obj, list) else "tuple"
        return {tag: [_encode(v, arrays, f"{where}[{i}]", depth + 1) for i, v in enumerate(obj)]}
    raise TypeError(f"save: cannot store an object of type {type(obj).__name__} at {where}; "
                    "checkpoints hold tensors, arrays, numbers, strings, bools, None and "
                    "dicts/lists/tuples of them (nothing is pickled)")


def _canonical(meta):
    """The one byte string a metadata tree encodes to (key order and spacing fixed)."""
    return json.dumps(meta, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                      allow_nan=False).encode()


def _digest(meta, arrays):
    """SHA-256 over the canonical metadata (without the digest) and every tensor."""
    h = hashlib.sha256(_canonical({k: v for k, v in meta.items() if k != "sha256"}))
    for name in sorted(arrays, key=int):
        a = arrays[name]
        h.update(f"\n{name}:{a.dtype.name}:{list(a.shape)}\n".encode())
        h.update(a.reshape(-1).view(np.uint8))       # little-endian C-order bytes
    return h.hexdigest()


# -- decoding ------------------------------------------------------------------------
_SCALARS = (type(None), bool, int, float, str)


def _decode(node, arrays, used, depth=0):
    """Tree -> objects, accepting only the node shapes `_encode` writes."""
    if isinstance(node, _SCALARS):
        return node
    if not isinstance(node, dict) or len(node) == 0:
        raise _Malformed(f"malformed metadata node {_short(node)}")
    keys = set(node)
    if "tensor" in node:
        if not keys <= {"tensor", "kind", "requires_grad"} or node.get("requires_grad", True) is not True:
            raise _Malformed(f"malformed tensor node {_short(node)}")
        name, kind = node["tensor"], node.get("kind")
        if not isinstance(name, str) or name not in arrays:
            raise _Malformed(f"metadata refers to tensor {_short(name)}, which the file lacks")
        if name in used:
            raise _Malformed(f"metadata refers to tensor {name!r} twice")
        used.add(name)
        arr = arrays[name]
        if kind == "ndarray":
            return arr
        if kind == "scalar" and arr.ndim == 0:
            return arr[()]
        if kind == "Tensor":
            return from_numpy(arr).requires_grad_() if "requires_grad" in node else from_numpy(arr)
        raise _Malformed(f"malformed tensor node {_short(node)}")
    if len(keys) != 1:
        raise _Malformed(f"malformed metadata node with keys {sorted(keys)}")
    (tag, body), = node.items()
    if tag == "float" and body in ("inf", "-inf", "nan"):
        return float(body)
    if tag not in ("dict", "odict", "list", "tuple") or not isinstance(body, list):
        raise _Malformed(f"malformed metadata node {_short(node)}")
    if depth >= MAX_DEPTH:
        raise _Malformed(f"metadata nested deeper than {MAX_DEPTH} levels")
    if tag == "list":
        return [_decode(v, arrays, used, depth + 1) for v in body]
    if tag == "tuple":
        return tuple(_decode(v, arrays, used, depth + 1) for v in body)
    out = OrderedDict() if tag == "odict" else {}
    for item in body:
        if not isinstance(item, list) or len(item) != 2:
            raise _Malformed(f"malformed dict item {_short(item)}")
        key = _decode(item[0], arrays, used, depth + 1)
        if not isinstance(key, (str, int, float, type(None), np.integer, np.floating, np.bool_)):
            raise _Malformed(f"malformed dict key {_short(item[0])}")
        out[key] = _decode(item[1], arrays, used, depth + 1)
    return out


def _short(value, limit=80):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def _no_constants(name):
    raise ValueError(f"{name} is not JSON")       # json.loads would accept NaN / Infinity


def _parse(blob):
    """Bytes of a checkpoint -> the saved object; raises `_Malformed` on any problem."""
    if len(blob) < 8:
        raise _Malformed(f"truncated checkpoint ({len(blob)} bytes, no safetensors header)")
    (header_len,) = struct.unpack("<Q", blob[:8])
    if 8 + header_len > len(blob):
        raise _Malformed(f"truncated checkpoint: the header claims {header_len} bytes but the file "
                         f"has {len(blob) - 8} after the length field")
    try:
        header = json.loads(blob[8:8 + header_len], parse_constant=_no_constants)
        meta = json.loads(header["__metadata__"]["tapegrad"], parse_constant=_no_constants)
    except (ValueError, KeyError, TypeError, RecursionError):
        raise _Malformed("not a tapegrad checkpoint (safetensors header without valid tapegrad "
                         "metadata)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = _short(meta.get("format")) if isinstance(meta, dict) else type(meta).__name__
        raise _Malformed(f"not a tapegrad checkpoint (format {found})")
    if set(meta) != {"format", "version", "tree", "sha256"} or type(meta["version"]) is not int:
        raise _Malformed(f"malformed tapegrad metadata (keys {sorted(meta)})")
    if meta["version"] != VERSION:
        newer = meta["version"] > VERSION
        raise _Malformed(f"checkpoint format version {meta['version']} is "
                         + ("newer than this tapegrad supports" if newer else "from an older tapegrad, "
                            "whose checksum did not cover the metadata; it is no longer read")
                         + f" (this one reads version {VERSION})")
    try:
        arrays = _st_load(blob)
    except (SafetensorError, ValueError, KeyError, TypeError) as e:
        raise _Malformed(f"corrupt or truncated tensor data ({e})") from None
    if any(not (name.isascii() and name.isdigit()) or a.dtype not in DTYPES for name, a in arrays.items()):
        raise _Malformed("foreign tensors in the file (names must be 0, 1, ...)")
    if _digest(meta, arrays) != meta["sha256"]:
        raise _Malformed("checksum mismatch: the metadata or tensor data does not match the SHA-256 "
                         "recorded when it was saved (file tampered with or corrupted)")
    # Writable copies (safetensors hands out read-only arrays), made one at a time.
    for name in arrays:
        arrays[name] = np.array(arrays[name])
    used = set()
    obj = _decode(meta["tree"], arrays, used)
    if used != set(arrays):
        raise _Malformed(f"the file holds {len(arrays) - len(used)} tensor(s) the metadata does not use")
    return obj


# -- temporary files -----------------------------------------------------------------
def _pid_is_dead(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (OSError, OverflowError):      # alive but not ours (EPERM), or not a valid PID
        return False
    return False


def _remove_stale_temps(folder):
    """Delete ``*.tapegrad-PID-*.tmp`` left in ``folder`` by writers that were killed."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        m = _TEMP.match(name)
        if m and int(m.group(1)) != os.getpid() and _pid_is_dead(int(m.group(1))):
            try:
                os.remove(os.path.join(folder, name))
            except OSError:      # removed by another writer meanwhile, or not ours to remove
                pass


# -- public API ----------------------------------------------------------------------
def save(obj, f, pickle_module=None, pickle_protocol=None, _use_new_zipfile_serialization=True):
    """Write ``obj`` (e.g. ``{"model": model.state_dict(), "optimizer": opt.state_dict(),
    "epoch": 3}``) to the path ``f`` atomically, or to a binary file object.  The pickle
    arguments of ``torch.save`` are accepted and unused: the format has no pickle."""
    arrays = {}
    meta = {"format": FORMAT, "version": VERSION, "tree": _encode(obj, arrays, "obj")}
    meta["sha256"] = _digest(meta, arrays)
    blob = _st_save(arrays, metadata={"tapegrad": _canonical(meta).decode()})
    if hasattr(f, "write"):
        f.write(blob)
        return
    _write_atomically(os.fspath(f), blob)


def _write_atomically(path, blob):
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    _remove_stale_temps(folder)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f"{os.path.basename(path)}.tapegrad-{os.getpid()}-",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(blob)
            f.flush()
            os.fsync(f.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)       # mkstemp makes 0600; give the usual file mode
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    try:      # make the rename itself durable where the OS allows
        dfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass


def load(f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None,
         **pickle_load_args):
    """Read a checkpoint written by `save` from a path or a binary file object; tensors
    come back as Tensors, arrays as arrays, NumPy scalars as NumPy scalars, containers
    and Python scalars as saved.  Loading is always weights-only (no code runs), so
    ``weights_only`` changes nothing; ``map_location`` may name the CPU only."""
    if map_location is not None and not is_device(map_location):
        raise TypeError(f"load: map_location must be None, 'cpu' or a device, got "
                        f"{map_location!r} (there is only the CPU to map to)")
    check_device(map_location, "load")
    if hasattr(f, "read"):
        path = getattr(f, "name", "<file object>")
        blob = f.read()
    else:
        path = os.fspath(f)
        blob = _read(path)
    try:
        return _parse(blob)
    except _Malformed as e:
        raise CheckpointError(f"{path}: {e}") from None
    # A file that passed the checksum yet fails to decode was crafted, not corrupted; still
    # say which file it is instead of leaking an error from deep inside the decoder.
    except (RuntimeError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            OverflowError, SafetensorError) as e:
        raise CheckpointError(f"{path}: malformed checkpoint ({type(e).__name__}: {e})") from None


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint file not found") from None
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read checkpoint ({e.strerror})") from None
