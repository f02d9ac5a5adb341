"""A synthetic spiral classification set (the classic "K interleaved arms" toy data),
for runs that need no files: 2-D points, ``n_classes`` arms, Gaussian angle noise."""
import numpy as np

from .dataset import TensorDataset


def make_spiral(n_per_class=100, n_classes=3, noise=0.2, seed=0):
    """Points (n_per_class * n_classes, 2) float32 and labels int64.

    Arm k: x = r (sin t, cos t), the radius r going linearly over [0, 1] while the
    angle t goes over [4k, 4k + 4] radians, plus N(0, noise^2) jitter on t."""
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for k in range(n_classes):
        r = np.linspace(0.0, 1.0, n_per_class)
        t = np.linspace(k * 4.0, (k + 1) * 4.0, n_per_class) + rng.standard_normal(n_per_class) * noise
        xs.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1))
        ys.append(np.full(n_per_class, k, dtype=np.int64))
    x = np.concatenate(xs).astype(np.float32)
    y = np.concatenate(ys)
    order = rng.permutation(len(y))
    return x[order], y[order]


def spiral(train=True, n_per_class=None, n_classes=3, noise=0.2, seed=0):
    """A `TensorDataset` of spiral points; the test split is drawn with another seed."""
    if n_per_class is None:
        n_per_class = 1000 if train else 300
    x, y = make_spiral(n_per_class, n_classes, noise, seed if train else seed + 1)
    ds = TensorDataset(x, y)
    ds.classes = [str(k) for k in range(n_classes)]
    return ds
