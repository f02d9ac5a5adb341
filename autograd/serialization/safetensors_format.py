"""The safetensors checkpoint: tapegrad's default format.

Every tensor, NumPy array and NumPy scalar in ``obj`` (nested dicts, lists and tuples
of tensors, arrays, numbers, strings, bools and None: a model's and an optimizer's
state dicts, epoch counters, ...) is stored as a safetensors tensor named ``"0"``,
``"1"``, ... with its own shape (0-d included) in little-endian byte order; the rest of
the structure is JSON in the header's ``__metadata__["tapegrad"]`` (OrderedDicts stay
ordered dicts, tuples tuples), with a SHA-256 over a canonical encoding of that JSON
*and* every tensor's name, dtype, shape and bytes.

Safety: loading parses JSON and raw arrays only; nothing is unpickled or executed.
Any file that does not decode to exactly what was saved (truncated, bit-flipped,
edited without recomputing the digest, foreign) raises `CheckpointError` naming the
file.  The digest is an integrity check, not a signature: someone who rewrites the
file and recomputes it is not detected.
"""
import hashlib
import json
import math
import struct
from collections import OrderedDict

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as _st_load
from safetensors.numpy import save as _st_save

from ..creation import from_numpy
from ..tensor import Tensor
from .files import Malformed, short

FORMAT = "tapegrad-checkpoint"
VERSION = 2
MAX_DEPTH = 64          # nesting of dicts/lists/tuples; deeper is refused on save and load
# The dtypes safetensors stores (bfloat16 has no NumPy dtype; complex128 no safetensors one).
DTYPES = frozenset(np.dtype(t) for t in (np.bool_, np.uint8, np.int8, np.uint16, np.int16, np.uint32,
                                         np.int32, np.uint64, np.int64, np.float16, np.float32,
                                         np.float64, np.complex64))


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
                    "dicts/lists/tuples of them (nothing is pickled); to pickle other objects "
                    "(a whole module) in PyTorch's format, name the file *.pt or *.pth")


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
        raise Malformed(f"malformed metadata node {short(node)}")
    keys = set(node)
    if "tensor" in node:
        if not keys <= {"tensor", "kind", "requires_grad"} or node.get("requires_grad", True) is not True:
            raise Malformed(f"malformed tensor node {short(node)}")
        name, kind = node["tensor"], node.get("kind")
        if not isinstance(name, str) or name not in arrays:
            raise Malformed(f"metadata refers to tensor {short(name)}, which the file lacks")
        if name in used:
            raise Malformed(f"metadata refers to tensor {name!r} twice")
        used.add(name)
        arr = arrays[name]
        if kind == "ndarray":
            return arr
        if kind == "scalar" and arr.ndim == 0:
            return arr[()]
        if kind == "Tensor":
            return from_numpy(arr).requires_grad_() if "requires_grad" in node else from_numpy(arr)
        raise Malformed(f"malformed tensor node {short(node)}")
    if len(keys) != 1:
        raise Malformed(f"malformed metadata node with keys {sorted(keys)}")
    (tag, body), = node.items()
    if tag == "float" and body in ("inf", "-inf", "nan"):
        return float(body)
    if tag not in ("dict", "odict", "list", "tuple") or not isinstance(body, list):
        raise Malformed(f"malformed metadata node {short(node)}")
    if depth >= MAX_DEPTH:
        raise Malformed(f"metadata nested deeper than {MAX_DEPTH} levels")
    if tag == "list":
        return [_decode(v, arrays, used, depth + 1) for v in body]
    if tag == "tuple":
        return tuple(_decode(v, arrays, used, depth + 1) for v in body)
    out = OrderedDict() if tag == "odict" else {}
    for item in body:
        if not isinstance(item, list) or len(item) != 2:
            raise Malformed(f"malformed dict item {short(item)}")
        key = _decode(item[0], arrays, used, depth + 1)
        if not isinstance(key, (str, int, float, type(None), np.integer, np.floating, np.bool_)):
            raise Malformed(f"malformed dict key {short(item[0])}")
        out[key] = _decode(item[1], arrays, used, depth + 1)
    return out


def _no_constants(name):
    raise ValueError(f"{name} is not JSON")       # json.loads would accept NaN / Infinity


def _parse(blob):
    """Bytes of a checkpoint -> the saved object; raises `Malformed` on any problem."""
    if len(blob) < 8:
        raise Malformed(f"truncated checkpoint ({len(blob)} bytes, no safetensors header)")
    (header_len,) = struct.unpack("<Q", blob[:8])
    if 8 + header_len > len(blob):
        raise Malformed(f"truncated checkpoint: the header claims {header_len} bytes but the file "
                         f"has {len(blob) - 8} after the length field")
    try:
        header = json.loads(blob[8:8 + header_len], parse_constant=_no_constants)
        meta = json.loads(header["__metadata__"]["tapegrad"], parse_constant=_no_constants)
    except (ValueError, KeyError, TypeError, RecursionError):
        raise Malformed("not a tapegrad checkpoint (safetensors header without valid tapegrad "
                         "metadata)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = short(meta.get("format")) if isinstance(meta, dict) else type(meta).__name__
        raise Malformed(f"not a tapegrad checkpoint (format {found})")
    if set(meta) != {"format", "version", "tree", "sha256"} or type(meta["version"]) is not int:
        raise Malformed(f"malformed tapegrad metadata (keys {sorted(meta)})")
    if meta["version"] != VERSION:
        newer = meta["version"] > VERSION
        raise Malformed(f"checkpoint format version {meta['version']} is "
                         + ("newer than this tapegrad supports" if newer else "from an older tapegrad, "
                            "whose checksum did not cover the metadata; it is no longer read")
                         + f" (this one reads version {VERSION})")
    try:
        arrays = _st_load(blob)
    except (SafetensorError, ValueError, KeyError, TypeError) as e:
        raise Malformed(f"corrupt or truncated tensor data ({e})") from None
    if any(not (name.isascii() and name.isdigit()) or a.dtype not in DTYPES for name, a in arrays.items()):
        raise Malformed("foreign tensors in the file (names must be 0, 1, ...)")
    if _digest(meta, arrays) != meta["sha256"]:
        raise Malformed("checksum mismatch: the metadata or tensor data does not match the SHA-256 "
                         "recorded when it was saved (file tampered with or corrupted)")
    # Writable copies (safetensors hands out read-only arrays), made one at a time.
    for name in arrays:
        arrays[name] = np.array(arrays[name])
    used = set()
    obj = _decode(meta["tree"], arrays, used)
    if used != set(arrays):
        raise Malformed(f"the file holds {len(arrays) - len(used)} tensor(s) the metadata does not use")
    return obj


def encode(obj):
    """``obj`` -> the bytes of a safetensors checkpoint (TypeError naming the place of
    anything the format cannot hold)."""
    arrays = {}
    meta = {"format": FORMAT, "version": VERSION, "tree": _encode(obj, arrays, "obj")}
    meta["sha256"] = _digest(meta, arrays)
    return _st_save(arrays, metadata={"tapegrad": _canonical(meta).decode()})


def decode(blob):
    """The bytes of a safetensors checkpoint -> the saved object (`Malformed` on any
    problem, including errors from deep inside the decoder of a crafted file)."""
    try:
        return _parse(blob)
    except Malformed:
        raise
    # A file that passed the checksum yet fails to decode was crafted, not corrupted.
    except (RuntimeError, ValueError, TypeError, KeyError, IndexError, AttributeError,
            OverflowError, SafetensorError) as e:
        raise Malformed(f"malformed checkpoint ({type(e).__name__}: {e})") from None
