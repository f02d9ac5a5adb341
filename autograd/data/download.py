"""Fetching data set files: try each mirror, verify the MD5 published for the file,
then move it into place (a failed or partial download never leaves a file behind)."""
import hashlib
import os
import tempfile
import urllib.error
import urllib.request

from .dataset import DataFileError


def md5sum(path, chunk=1 << 20):
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def download_file(mirrors, filename, md5, root, timeout=60):
    """Download ``filename`` from the first mirror that serves it into ``root``."""
    os.makedirs(root, exist_ok=True)
    dest = os.path.join(root, filename)
    errors = []
    for mirror in mirrors:
        url = mirror.rstrip("/") + "/" + filename
        fd, tmp = tempfile.mkstemp(dir=root, prefix="." + filename, suffix=".part")
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                while True:
                    block = resp.read(1 << 20)
                    if not block:
                        break
                    out.write(block)
            got = md5sum(tmp)
            if got != md5:
                errors.append(f"{url}: checksum mismatch (md5 {got}, expected {md5})")
                continue
            os.replace(tmp, dest)
            return dest
        except (urllib.error.URLError, OSError, ValueError) as e:
            errors.append(f"{url}: {getattr(e, 'reason', e)}")
        finally:
            if os.path.exists(tmp):
                os.remove(tmp)
    raise DataFileError(f"could not download {filename} into {root}:\n  " + "\n  ".join(errors))
