"""CIFAR-10 from its standard "Python version" batches (``cifar-10-batches-py``).

Security note: those batch files are Python pickles.  Unpickling a file can run code,
so only use batches from a trusted source (the official archive, whose MD5 we
check on download).  As a second line of defence they are read with a restricted
unpickler that only rebuilds dicts, lists, strings, numbers and NumPy arrays and
refuses any other global.

Samples: float32 image (3, 32, 32) in [0, 1] and an int64 label.
"""
import io
import os
import pickle
import tarfile

import numpy as np

from .dataset import DataFileError, ImageDataset
from .download import download_file, md5sum

_ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
            ("numpy", "ndarray"), ("numpy", "dtype"), ("_codecs", "encode"),
            ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar")}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR batch")


def _load_batch(path):
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except FileNotFoundError:
        raise DataFileError(f"{path}: file not found") from None
    try:
        entry = _RestrictedUnpickler(io.BytesIO(raw), encoding="latin1").load()
    except Exception as e:   # any unpickling failure means a corrupt or foreign file
        raise DataFileError(f"{path}: not a readable CIFAR batch ({type(e).__name__}: {e})") from None
    if not isinstance(entry, dict):
        raise DataFileError(f"{path}: expected a dict in a CIFAR batch, found {type(entry).__name__}")
    entry = {(k.decode() if isinstance(k, bytes) else k): v for k, v in entry.items()}
    data = entry.get("data")
    labels = entry.get("labels", entry.get("fine_labels"))
    if not isinstance(data, np.ndarray) or labels is None:
        raise DataFileError(f"{path}: CIFAR batch lacks 'data' array or 'labels'")
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DataFileError(f"{path}: wrong shape: 'data' should be uint8 (N, 3072), found "
                            f"{data.dtype} {data.shape}")
    labels = _labels(path, labels, len(CIFAR10.classes))
    if len(labels) != len(data):
        raise DataFileError(f"{path}: {len(data)} images but {len(labels)} labels")
    return data.reshape(-1, 3, 32, 32), labels


def _labels(path, labels, n_classes):
    """The labels as int64, refusing anything but integers in [0, n_classes)."""
    if isinstance(labels, np.ndarray) and labels.ndim == 1 and labels.dtype.kind in "iu":
        values = labels.tolist()
    elif isinstance(labels, (list, tuple)):
        values = labels
    else:
        raise DataFileError(f"{path}: 'labels' should be a list of integers in [0, {n_classes}); found "
                            f"{type(labels).__name__}" + (f" of {labels.dtype} {labels.shape}"
                                                          if isinstance(labels, np.ndarray) else ""))
    for i, x in enumerate(values):
        if isinstance(x, (bool, np.bool_)) or not isinstance(x, (int, np.integer)) or not 0 <= x < n_classes:
            raise DataFileError(f"{path}: label {x!r} at position {i} is not an integer in [0, {n_classes})")
    return np.asarray(values, dtype=np.int64).reshape(-1)


class CIFAR10(ImageDataset):
    base_folder = "cifar-10-batches-py"
    url = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
    archive = ("cifar-10-python.tar.gz", "c58f30108f718f92721af3b95e74349a")
    train_list = [f"data_batch_{i}" for i in range(1, 6)]
    test_list = ["test_batch"]
    classes = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck"]

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        self.root = os.fspath(root)
        self.train = train
        self.target_transform = target_transform
        if download and self._folder() is None:
            self._download()
        folder = self._folder()
        if folder is None:
            raise DataFileError(f"CIFAR10: no {self.base_folder} folder (or its batch files) in "
                                f"{self.root}; pass download=True to fetch the official archive")
        parts = [_load_batch(os.path.join(folder, name))
                 for name in (self.train_list if train else self.test_list)]
        self.data = np.concatenate([p[0] for p in parts])      # (N, 3, 32, 32) uint8
        self.targets = np.concatenate([p[1] for p in parts])
        super().__init__(self.data, self.targets, transform=transform)

    def _folder(self):
        for d in (os.path.join(self.root, self.base_folder), self.root):
            if os.path.isfile(os.path.join(d, "test_batch")) or os.path.isfile(os.path.join(d, "data_batch_1")):
                return d
        return None

    def _download(self):
        name, md5 = self.archive
        path = os.path.join(self.root, name)
        if not (os.path.isfile(path) and md5sum(path) == md5):
            download_file([self.url.rsplit("/", 1)[0]], name, md5, self.root, timeout=120)
        with tarfile.open(path, "r:gz") as tar:
            tar.extractall(self.root, filter="data")   # "data" refuses absolute paths and links out
