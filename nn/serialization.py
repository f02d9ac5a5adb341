"""Checkpoints: ``save(obj, path)`` / ``load(path)`` for state dicts.

Format: one safetensors file.  Every tensor / NumPy array in ``obj`` (nested dicts,
lists and tuples of tensors, arrays, numbers, strings, bools and None — a model's and
an optimizer's state dicts, epoch counters, ...) is stored as a safetensors tensor
named ``"0"``, ``"1"``, ...; the rest of the structure is JSON in the header's
``__metadata__["tapegrad"]``, together with a SHA-256 of all tensor bytes.

Safety: loading parses JSON and raw arrays only; nothing is unpickled or executed.
A truncated file, a header that does not parse, or tensor bytes that no longer match
the recorded digest (a tampered or bit-rotted file) raise `CheckpointError`.
Atomicity: ``save`` writes a temporary file in the same folder, fsyncs it and
renames it over ``path`` (``os.replace``), so a crash mid-save leaves the previous
checkpoint intact.
"""
import hashlib
import json
import math
import os
import struct
import tempfile

import numpy as np
from safetensors import SafetensorError
from safetensors.numpy import load as _st_load
from safetensors.numpy import save as _st_save

from autograd.tensor import Tensor

FORMAT = "tapegrad-checkpoint"
VERSION = 1


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated, tampered with or not a tapegrad checkpoint."""


# -- encoding ------------------------------------------------------------------------
def _encode(obj, arrays, where):
    """Structure -> JSON-able tree; tensors go to ``arrays`` and are referenced by name."""
    if isinstance(obj, (Tensor, np.ndarray)):
        arr = obj.data if isinstance(obj, Tensor) else obj
        name = str(len(arrays))
        arrays[name] = np.ascontiguousarray(arr)
        node = {"tensor": name, "kind": "Tensor" if isinstance(obj, Tensor) else "ndarray"}
        if isinstance(obj, Tensor) and obj.requires_grad:
            node["requires_grad"] = True
        return node
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, np.integer)) and not isinstance(obj, np.bool_):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else {"float": repr(f)}      # inf / nan as strings
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if not isinstance(k, (str, int, float, bool, type(None))):
                raise TypeError(f"save: dict keys must be str, int, float, bool or None; "
                                f"found {type(k).__name__} at {where}")
            items.append([k, _encode(v, arrays, f"{where}[{k!r}]")])
        return {"dict": items}
    if isinstance(obj, (list, tuple)):
        tag = "list" if isinstance(obj, list) else "tuple"
        return {tag: [_encode(v, arrays, f"{where}[{i}]") for i, v in enumerate(obj)]}
    raise TypeError(f"save: cannot store an object of type {type(obj).__name__} at {where}; "
                    "checkpoints hold tensors, arrays, numbers, strings, bools, None and "
                    "dicts/lists/tuples of them (nothing is pickled)")


def _decode(node, arrays, path):
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    if isinstance(node, list) and len(node) == 0:
        return node
    if not isinstance(node, dict) or len(node) == 0:
        raise CheckpointError(f"{path}: malformed metadata node {node!r}")
    if "tensor" in node:
        name = node["tensor"]
        if name not in arrays:
            raise CheckpointError(f"{path}: metadata refers to tensor {name!r}, which the file lacks")
        arr = arrays[name]
        if node.get("kind") == "ndarray":
            return arr
        t = Tensor._make(arr)
        if node.get("requires_grad"):
            t.requires_grad = True
        return t
    if "float" in node:
        return float(node["float"])
    if "dict" in node:
        return {k: _decode(v, arrays, path) for k, v in node["dict"]}
    if "list" in node:
        return [_decode(v, arrays, path) for v in node["list"]]
    if "tuple" in node:
        return tuple(_decode(v, arrays, path) for v in node["tuple"])
    raise CheckpointError(f"{path}: malformed metadata node with keys {sorted(node)}")


def _digest(arrays):
    h = hashlib.sha256()
    for name in sorted(arrays, key=int):
        a = arrays[name]
        h.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


# -- public API ----------------------------------------------------------------------
def save(obj, path):
    """Write ``obj`` (e.g. ``{"model": model.state_dict(), "optimizer": opt.state_dict(),
    "epoch": 3}``) to ``path`` atomically."""
    path = os.fspath(path)
    arrays = {}
    tree = _encode(obj, arrays, "obj")
    meta = {"format": FORMAT, "version": VERSION, "tree": tree, "sha256": _digest(arrays)}
    blob = _st_save(arrays, metadata={"tapegrad": json.dumps(meta, allow_nan=False)})
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=os.path.basename(path) + ".", suffix=".tmp")
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


def load(path):
    """Read a checkpoint written by `save`; tensors come back as Tensors (arrays as
    arrays), containers and scalars as they were saved."""
    path = os.fspath(path)
    try:
        with open(path, "rb") as f:
            blob = f.read()
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint file not found") from None
    if len(blob) < 8:
        raise CheckpointError(f"{path}: truncated checkpoint ({len(blob)} bytes, no safetensors header)")
    (header_len,) = struct.unpack("<Q", blob[:8])
    if 8 + header_len > len(blob):
        raise CheckpointError(f"{path}: truncated checkpoint: the header claims {header_len} bytes "
                              f"but the file has {len(blob) - 8} after the length field")
    try:
        header = json.loads(blob[8:8 + header_len])
        meta = json.loads(header["__metadata__"]["tapegrad"])
    except (ValueError, KeyError, TypeError):
        raise CheckpointError(f"{path}: not a tapegrad checkpoint (safetensors header without "
                              "valid tapegrad metadata)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{path}: not a tapegrad checkpoint (format {meta.get('format')!r})")
    if meta.get("version", 0) > VERSION:
        raise CheckpointError(f"{path}: checkpoint format version {meta['version']} is newer than "
                              f"this tapegrad supports ({VERSION})")
    try:
        arrays = _st_load(blob)
    except (SafetensorError, ValueError) as e:
        raise CheckpointError(f"{path}: corrupt or truncated tensor data ({e})") from None
    if _digest(arrays) != meta.get("sha256"):
        raise CheckpointError(f"{path}: checksum mismatch: the tensor data does not match the "
                              "SHA-256 recorded when it was saved (file tampered with or corrupted)")
    return _decode(meta["tree"], arrays, path)
