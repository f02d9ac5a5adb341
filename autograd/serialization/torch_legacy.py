"""PyTorch's legacy checkpoint format: what ``torch.save`` wrote before PyTorch 1.6, and
still writes with ``_use_new_zipfile_serialization=False``.  Read as safely as the
zip format, through the same restricted unpickler.

The file is five pickles and then the storages' bytes:

1. the magic number 0x1950a86a20f9469cfc6c; 2. the protocol version, 1001;
3. the writer's system information (``{"little_endian": True, ...}``);
4. the object, whose storages are persistent ids ``("storage", torch.FloatStorage,
   key, location, numel, None)``, as in the zip format plus an unused view field;
5. the list of storage keys, in the order their data follows;

then, per key, its length as a little-endian int64 (elements; bytes for an untyped
storage) and its raw bytes in the writer's byte order.  The storages are allocated
while the object is unpickled (their size checked against what the file has left),
so its tensors are views of them, and filled from the data that follows.
"""
import io
import pickletools
import struct

import numpy as np

from .files import Malformed, short
from .restricted_unpickler import restricted_loads
from .torch_zip import _Storage, _Unholdable, storage_id, unpickle

MAGIC = 0x1950A86A20F9469CFC6C
PROTOCOL = 1001


def _next_pickle(data, start):
    """(the bytes of the pickle that starts at ``start``, where it ends)."""
    f = io.BytesIO(data)
    f.seek(start)
    try:
        for _ in pickletools.genops(f):
            pass
    except (ValueError, EOFError, UnicodeDecodeError, struct.error) as e:
        raise Malformed(f"truncated or corrupt legacy PyTorch file ({e})") from None
    return data[start:f.tell()], f.tell()


def _no_storage(pid):
    raise Malformed(f"a storage id {short(pid)} in a header pickle")


def _plain(data, start):
    """A header pickle: plain data only, no global allowed."""
    chunk, end = _next_pickle(data, start)
    return restricted_loads(chunk, {}, _no_storage), end


def read(data, weights_only=True):
    """Load the object of a legacy PyTorch checkpoint held in the bytes ``data``."""
    magic, pos = _plain(data, 0)
    protocol, pos = _plain(data, pos)
    info, pos = _plain(data, pos)
    if magic != MAGIC or protocol != PROTOCOL:
        raise Malformed(f"not a legacy PyTorch file (magic number {short(magic)}, protocol {short(protocol)})")
    if not isinstance(info, dict) or info.get("little_endian") not in (True, False):
        raise Malformed(f"the legacy file's system information {short(info)} lacks little_endian")
    order = "<" if info["little_endian"] else ">"
    chunk, pos = _next_pickle(data, pos)
    storages = {}                  # key -> (dtype, numel, _Storage), allocated, filled below

    def storage(pid):
        dtype, key, numel = storage_id(pid, fields=6)
        if isinstance(dtype, _Unholdable):
            return dtype
        if key not in storages:
            nbytes = numel * (1 if dtype is None else dtype.itemsize)
            if nbytes > len(data) - pos:
                raise Malformed(f"storage {key} claims {nbytes} bytes; the file has {len(data) - pos} left")
            if dtype is None and order == ">":
                raise Malformed(f"untyped storage {key} in a big-endian file cannot be byte-swapped")
            storages[key] = (dtype, numel, _Storage(np.empty(numel, dtype or np.uint8), key))
        if storages[key][:2] != (dtype, numel):
            raise Malformed(f"storage {key} is named twice with different types or sizes")
        return storages[key][2]

    obj = unpickle(chunk, weights_only, storage)
    keys, pos = _plain(data, pos)
    if not isinstance(keys, list) or sorted(keys) != sorted(storages) or len(set(keys)) != len(keys):
        raise Malformed(f"the storage list {short(keys)} does not match the storages the object uses "
                        f"{short(sorted(storages))}")
    for key in keys:
        flat = storages[key][2].array
        if data[pos:pos + 8] != struct.pack("<q", flat.size):
            raise Malformed(f"storage {key}'s data does not start with its length {flat.size}")
        pos += 8
        blob = data[pos:pos + flat.nbytes]
        if len(blob) != flat.nbytes:
            raise Malformed(f"truncated legacy PyTorch file: storage {key} needs {flat.nbytes} bytes, "
                            f"{len(blob)} remain")
        flat[...] = np.frombuffer(blob, flat.dtype.newbyteorder(order))
        pos += flat.nbytes
    if pos != len(data):
        raise Malformed(f"{len(data) - pos} bytes after the last storage of a legacy PyTorch file")
    return obj
