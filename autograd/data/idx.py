"""Reader for the IDX format of MNIST-style files (gzipped or not).

Layout (big-endian): 2 zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16,
0x0C int32, 0x0D float32, 0x0E float64), the number of dimensions, one uint32 per
dimension, then the values.  Every failure is a `DataFileError` naming the file.
"""
import gzip
import math
import os
import zlib

import numpy as np

from .dataset import DataFileError

_TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
          0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}


def _read_bytes(path):
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DataFileError(f"{path}: file not found") from None
    except OSError as e:
        raise DataFileError(f"{path}: cannot read file ({e.strerror})") from e
    if raw[:2] == b"\x1f\x8b":          # gzip magic, whatever the file is called
        try:
            return gzip.decompress(raw)
        except EOFError:
            raise DataFileError(f"{path}: truncated gzip stream (the download was probably "
                                "interrupted; delete the file and fetch it again)") from None
        except (gzip.BadGzipFile, zlib.error, OSError) as e:
            raise DataFileError(f"{path}: corrupt gzip data ({e})") from None
    return raw


def read_idx(path, expected_ndim=None):
    """Return the array stored in the IDX file at ``path`` (native byte order)."""
    path = os.fspath(path)
    raw = _read_bytes(path)
    if len(raw) < 4:
        raise DataFileError(f"{path}: file too short for an IDX header ({len(raw)} bytes)")
    if raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES:
        raise DataFileError(f"{path}: bad magic number 0x{raw[:4].hex()} (an IDX file starts with "
                            "0x0000 followed by a type code 08/09/0B/0C/0D/0E and the rank)")
    dtype, ndim = _TYPES[raw[2]], raw[3]
    if expected_ndim is not None and ndim != expected_ndim:
        raise DataFileError(f"{path}: bad magic number 0x{raw[:4].hex()}: expected a rank-"
                            f"{expected_ndim} IDX file, this one has rank {ndim}")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataFileError(f"{path}: truncated header (needs {header} bytes, file has {len(raw)})")
    shape = tuple(int(d) for d in np.frombuffer(raw, ">u4", ndim, 4))
    expected = math.prod(shape) * dtype.itemsize        # Python ints: no overflow
    got = len(raw) - header
    if got != expected:
        what = "truncated" if got < expected else "has trailing bytes"
        raise DataFileError(f"{path}: wrong length, file {what}: shape {shape} of {dtype.name} "
                            f"needs {expected} data bytes after the header, found {got}")
    return np.frombuffer(raw, dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))
