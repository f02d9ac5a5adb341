"""What every checkpoint format shares: the error a damaged file raises, opening a file
to read, and atomic writes.

Atomicity: ``write_atomically`` writes a temporary file ``NAME.tapegrad-PID-XXXX.tmp``
in the same folder, fsyncs it and renames it over ``path`` (``os.replace``), so a crash
mid-save leaves the previous checkpoint intact; the next save into that folder removes
the temporary files of writers that are no longer running.
"""
import os
import re
import tempfile

_TEMP = re.compile(r".+\.tapegrad-(\d+)-[A-Za-z0-9_]+\.tmp\Z")


class CheckpointError(RuntimeError):
    """A checkpoint file is missing, truncated, tampered with, refused or not a checkpoint."""


class Malformed(Exception):
    """Raised while decoding; `load` turns it into a `CheckpointError` naming the file."""


def short(value, limit=80):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def open_for_reading(path):
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise CheckpointError(f"{path}: checkpoint file not found") from None
    except OSError as e:
        raise CheckpointError(f"{path}: cannot read checkpoint ({e.strerror})") from None


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


def write_atomically(path, write):
    """Call ``write(binary_file)`` on a temporary file beside ``path``, then rename it
    over ``path``; on any error the temporary file is removed and ``path`` is untouched."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    _remove_stale_temps(folder)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f"{os.path.basename(path)}.tapegrad-{os.getpid()}-",
                               suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
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
