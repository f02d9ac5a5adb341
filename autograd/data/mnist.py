"""MNIST and Fashion-MNIST from the standard IDX files.

``MNIST(root, train=True, transform=None, target_transform=None, download=False)``
reads ``train-images-idx3-ubyte`` etc. (``.gz`` or not) from ``root`` or, as
torchvision lays them out, ``root/MNIST/raw``.  Samples are a float32 image of shape
(1, 28, 28) in [0, 1] (PyTorch users get this from ``ToTensor()``; we have no PIL
step) and an int64 label.  ``download=True`` fetches the official files into
``root`` when they are missing and checks their MD5 sums.
"""
import os

import numpy as np

from .dataset import DataFileError, ImageDataset
from .download import download_file
from .idx import read_idx


class MNIST(ImageDataset):
    mirrors = ["https://ossci-datasets.s3.amazonaws.com/mnist/",
               "http://yann.lecun.com/exdb/mnist/"]
    resources = [("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
                 ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
                 ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
                 ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c")]
    classes = ["0 - zero", "1 - one", "2 - two", "3 - three", "4 - four",
               "5 - five", "6 - six", "7 - seven", "8 - eight", "9 - nine"]

    def __init__(self, root, train=True, transform=None, target_transform=None, download=False):
        self.root = os.fspath(root)
        self.train = train
        self.target_transform = target_transform
        prefix = "train" if train else "t10k"
        if download and not self._all_present():
            for filename, md5 in self.resources:
                if self._find(filename.removesuffix(".gz")) is None:
                    download_file(self.mirrors, filename, md5, self.root)
        images = read_idx(self._require(f"{prefix}-images-idx3-ubyte"), expected_ndim=3)
        labels = read_idx(self._require(f"{prefix}-labels-idx1-ubyte"), expected_ndim=1)
        if images.dtype != np.uint8 or labels.dtype != np.uint8:
            raise DataFileError(f"{self.root}: {type(self).__name__} files must hold uint8 data, "
                                f"found images {images.dtype}, labels {labels.dtype}")
        if len(images) != len(labels):
            raise DataFileError(f"{self.root}: {prefix} images file has {len(images)} images but "
                                f"the labels file has {len(labels)} labels")
        if labels.size and labels.max() >= len(self.classes):
            raise DataFileError(f"{self._require(f'{prefix}-labels-idx1-ubyte')}: label "
                                f"{labels.max()} is out of range for {len(self.classes)} classes")
        self.data = images                      # (N, 28, 28) uint8, as torchvision
        self.targets = labels.astype(np.int64)
        super().__init__(images[:, None], self.targets, transform=transform)

    def _dirs(self):
        return [self.root, os.path.join(self.root, type(self).__name__, "raw")]

    def _find(self, stem):
        for d in self._dirs():
            for name in (stem, stem + ".gz"):
                path = os.path.join(d, name)
                if os.path.isfile(path):
                    return path
        return None

    def _all_present(self):
        return all(self._find(f.removesuffix(".gz")) for f, _ in self.resources)

    def _require(self, stem):
        path = self._find(stem)
        if path is None:
            raise DataFileError(f"{type(self).__name__}: missing file {stem}[.gz]; looked in "
                                + " and ".join(self._dirs())
                                + " (pass download=True to fetch the official files)")
        return path

    def __repr__(self):
        split = "train" if self.train else "test"
        return f"{type(self).__name__}(root={self.root!r}, split={split}, n={len(self)})"


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: same format and file names as MNIST."""
    mirrors = ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"]
    resources = [("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
                 ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
                 ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
                 ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310")]
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot"]
