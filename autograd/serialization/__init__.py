"""Checkpoints: ``save(obj, f)`` / ``load(f)`` with ``torch.save`` / ``torch.load``'s
signatures (``f`` a path or a binary file object).  ``nn.save`` / ``nn.load`` are the
same functions.  One module per format sits behind them:

- `safetensors_format`: tapegrad's default.  Tensors, arrays and plain containers,
  nothing pickled, a SHA-256 over everything.
- `torch_zip`: PyTorch's zip format, which ``torch.save`` writes and
  ``torch.load(path, weights_only=True)`` reads; `torch_legacy`: the format before
  it (PyTorch < 1.6, ``_use_new_zipfile_serialization=False``), read only.  `save` writes it when the file is
  named ``*.pt`` or ``*.pth`` (PyTorch's own spelling, so a ported script's file is
  the one its PyTorch sibling writes); `load` reads it whatever the name.
- `restricted_unpickler`: what makes reading a pickle safe (``weights_only=True``,
  the default): only PyTorch's tensor-rebuilding names and the user's safe globals.

`load` tells the formats apart by their first bytes, not by the file's name.
"""
import io
import os
import warnings

from ..device import check_device, is_device
from . import safetensors_format, torch_legacy, torch_zip
from .files import CheckpointError, Malformed, open_for_reading, write_atomically
from .restricted_unpickler import add_safe_globals, clear_safe_globals, get_safe_globals, safe_globals
from .safetensors_format import DTYPES, MAX_DEPTH, _digest  # noqa: F401  (the format's constants)
from .torch_zip import register_parameter_class  # noqa: F401  (nn registers its Parameter)

__all__ = ["CheckpointError", "add_safe_globals", "clear_safe_globals", "get_safe_globals", "load",
           "safe_globals", "save"]

TORCH_EXTENSIONS = (".pt", ".pth")
# The legacy (PyTorch < 1.6) format starts with a pickled magic number.
_LEGACY_MAGIC = b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19."
UNSAFE_WARNING = ("load(weights_only=False) unpickles with no restriction: the file can name any "
                  "function, and it will run. It can result in arbitrary code execution. Do it only "
                  "if you got the file from a trusted source.")


def _is_torch_name(f):
    name = getattr(f, "name", None) if hasattr(f, "write") else os.fspath(f)
    return isinstance(name, (str, bytes)) and os.fsdecode(name).lower().endswith(TORCH_EXTENSIONS)


def save(obj, f, pickle_module=None, pickle_protocol=2, _use_new_zipfile_serialization=True):
    """Write ``obj`` (e.g. ``{"model": model.state_dict(), "optimizer": opt.state_dict(),
    "epoch": 3}``, or with a ``.pt``/``.pth`` name a whole module) to the path ``f``
    atomically, or to a binary file object.  Files named ``*.pt`` / ``*.pth`` get
    PyTorch's zip format (pickled, as ``torch.save`` writes them); every other name,
    and a file object without one, gets safetensors, which holds tensors, arrays and
    plain containers and pickles nothing.  ``pickle_module`` is accepted and unused."""
    if _is_torch_name(f):
        if not _use_new_zipfile_serialization:
            raise ValueError("save: tapegrad writes PyTorch's zip format only "
                             "(_use_new_zipfile_serialization=False is the legacy format)")
        name = os.path.basename(os.fsdecode(getattr(f, "name", f)))
        archive = os.path.splitext(name)[0] or "archive"

        def write(fh):
            torch_zip.write(obj, fh, archive, pickle_protocol)
    else:
        blob = safetensors_format.encode(obj)

        def write(fh):
            fh.write(blob)
    if hasattr(f, "write"):
        write(f)
    else:
        write_atomically(os.fspath(f), write)


def load(f, map_location=None, pickle_module=None, *, weights_only=True, mmap=None,
         **pickle_load_args):
    """Read a checkpoint from a path or a binary file object: tapegrad's safetensors
    file, or PyTorch's zip format (whatever ``torch.save`` wrote).  Tensors come back
    as Tensors; containers and Python scalars as saved.  For PyTorch's format
    ``weights_only=True`` (the default, as in PyTorch) allows only tensors, storages,
    dtypes, ``Size``, devices, plain containers and the globals allowlisted with
    `add_safe_globals` / `safe_globals`; any other global is refused by name before
    anything in the file runs.  ``weights_only=False`` loads any pickle and warns: only
    for files from a trusted source.  ``map_location`` may name the CPU only."""
    if map_location is not None and not is_device(map_location):
        raise TypeError(f"load: map_location must be None, 'cpu' or a device, got "
                        f"{map_location!r} (there is only the CPU to map to)")
    check_device(map_location, "load")
    if weights_only is None:
        weights_only = True
    if hasattr(f, "read"):
        path, fh = getattr(f, "name", "<file object>"), f
    else:
        path = os.fspath(f)
        fh = open_for_reading(path)
    try:
        return _load(fh, weights_only)
    except Malformed as e:
        raise CheckpointError(f"{path}: {e}") from None
    finally:
        if fh is not f:
            fh.close()


def _load(fh, weights_only):
    seekable = getattr(fh, "seekable", lambda: False)()
    if not seekable:
        fh = io.BytesIO(fh.read())
    start = fh.tell()
    head = fh.read(len(_LEGACY_MAGIC))
    fh.seek(start)
    torch_format = torch_zip.is_zip(head) or head == _LEGACY_MAGIC
    if torch_format and not weights_only:
        warnings.warn(UNSAFE_WARNING, UserWarning, stacklevel=3)
    if torch_zip.is_zip(head):
        return torch_zip.read(fh, weights_only)
    if head == _LEGACY_MAGIC:
        return torch_legacy.read(fh.read(), weights_only)
    # a pickle's PROTO opcode; a safetensors file starts with its header's length, then "{"
    if head[:1] == b"\x80" and head[8:9] != b"{":
        raise Malformed("a bare pickle, not a checkpoint (tapegrad reads safetensors files and "
                        "PyTorch's zip format)")
    return safetensors_format.decode(fh.read())
