"""Image transforms as small callables (torchvision's names and arguments).

Each takes a float array or Tensor shaped (C, H, W) or a batch (N, C, H, W) and
returns a NumPy array of the same rank.  Random transforms draw independently per
image in a batch, from ``generator`` (a numpy Generator or int seed) or from the
global generator that ``autograd.manual_seed`` seeds.
"""
import numpy as np

from ..tensor import Tensor
from .dataset import _generator


def _array(x):
    return x.array if isinstance(x, Tensor) else np.asarray(x)


class Compose:
    def __init__(self, transforms):
        self.transforms = list(transforms)

    def __call__(self, x):
        for t in self.transforms:
            x = t(x)
        return x

    def __repr__(self):
        return "Compose(" + ", ".join(repr(t) for t in self.transforms) + ")"


class Lambda:
    def __init__(self, fn):
        self.fn = fn

    def __call__(self, x):
        return self.fn(x)


class ToTensor:
    """torchvision's ToTensor: an image (H, W) or (H, W, C), uint8 in [0, 255] (a PIL
    image or an array), becomes a float32 (C, H, W) array in [0, 1]; float images are
    only transposed."""

    def __call__(self, img):
        x = np.asarray(img)
        if x.ndim == 2:
            x = x[:, :, None]
        if x.ndim != 3:
            raise ValueError(f"ToTensor: expected an image of shape (H, W) or (H, W, C), got {x.shape}")
        x = x.transpose(2, 0, 1)
        if x.dtype == np.uint8:
            return x.astype(np.float32) / np.float32(255)
        return np.ascontiguousarray(x, dtype=x.dtype if x.dtype.kind == "f" else np.float32)

    def __repr__(self):
        return "ToTensor()"


class Normalize:
    """(x - mean[c]) / std[c] per channel c."""

    def __init__(self, mean, std, inplace=False):
        self.mean = np.asarray(mean, dtype=np.float32).reshape(-1, 1, 1)
        self.std = np.asarray(std, dtype=np.float32).reshape(-1, 1, 1)
        if np.any(self.std == 0):
            raise ValueError(f"Normalize: std evaluated to zero, leading to division by zero ({std})")
        self.inplace = inplace

    def __call__(self, x):
        x = _array(x)
        channels = x.shape[-3] if x.ndim >= 3 else None
        if channels is None or len(self.mean) not in (1, channels):
            raise ValueError(f"Normalize: expected an image (C, H, W) or batch (N, C, H, W) with "
                             f"{len(self.mean)} channels, got shape {x.shape}")
        if self.inplace and x.dtype == np.float32:
            x -= self.mean
            x /= self.std
            return x
        return ((x - self.mean) / self.std).astype(np.float32 if x.dtype != np.float64 else x.dtype)

    def __repr__(self):
        return f"Normalize(mean={self.mean.ravel().tolist()}, std={self.std.ravel().tolist()})"


class RandomCrop:
    """Pad by ``padding`` (int or (left/right, top/bottom)) with ``fill``, then crop a
    random ``size`` window."""

    def __init__(self, size, padding=None, fill=0, padding_mode="constant", generator=None):
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        if padding is None:
            padding = 0
        if isinstance(padding, int):
            padding = (padding, padding)
        self.padding = tuple(padding)
        if padding_mode not in ("constant", "edge", "reflect", "symmetric"):
            raise ValueError(f"RandomCrop: unknown padding_mode {padding_mode!r}")
        self.fill, self.padding_mode = fill, padding_mode
        self.generator = generator

    def __call__(self, x):
        x = _array(x)
        single = x.ndim == 3
        batch = x[None] if single else x
        px, py = self.padding
        if px or py:
            widths = ((0, 0), (0, 0), (py, py), (px, px))
            kw = {"constant_values": self.fill} if self.padding_mode == "constant" else {}
            batch = np.pad(batch, widths, mode=self.padding_mode, **kw)
        n, c, h, w = batch.shape
        th, tw = self.size
        if h < th or w < tw:
            raise ValueError(f"RandomCrop: crop size {self.size} is larger than the (padded) image "
                             f"size {(h, w)}")
        g = _generator(self.generator)
        tops = g.integers(0, h - th + 1, n)
        lefts = g.integers(0, w - tw + 1, n)
        # Gather every image's window at once: rows[i] = tops[i] + arange(th), etc.
        rows = tops[:, None] + np.arange(th)
        cols = lefts[:, None] + np.arange(tw)
        out = batch[np.arange(n)[:, None, None, None], np.arange(c)[None, :, None, None],
                    rows[:, None, :, None], cols[:, None, None, :]]
        return out[0] if single else out

    def __repr__(self):
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class RandomHorizontalFlip:
    def __init__(self, p=0.5, generator=None):
        self.p = p
        self.generator = generator

    def __call__(self, x):
        x = _array(x)
        g = _generator(self.generator)
        if x.ndim == 3:
            return x[..., ::-1].copy() if g.random() < self.p else x
        flip = g.random(len(x)) < self.p
        out = x.copy()
        out[flip] = x[flip][..., ::-1]
        return out

    def __repr__(self):
        return f"RandomHorizontalFlip(p={self.p})"
