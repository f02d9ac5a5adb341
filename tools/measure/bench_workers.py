"""Do DataLoader worker processes pay off?  Times one pass over a data set whose
per-sample transform is costly (CPU work in NumPy, about 1 ms a sample), alone and
with a stand-in for a training step in the main process after each batch
(``--step-ms`` of NumPy work, as a CPU step; or of sleep, as a step on an
accelerator leaves the CPU idle), which workers can overlap with; over one whose
samples wait 1 ms each (like reading files); and over one whose batches are cheap
(MNIST-sized uint8 images through ``get_batch``), with ``num_workers`` 0, 1, 2 and 4.
Worker start-up is included (``persistent_workers`` off), as a user sees it in each
epoch.

    python -m tools.measure.bench_workers [--samples 512] [--repeats 3] [--step-ms 40]
"""
import argparse
import time

import numpy as np

from autograd.data import DataLoader, Dataset, TensorDataset


class Waiting(Dataset):
    """Samples that take 1 ms of waiting each, as reading a file would."""

    def __init__(self, n):
        self.n = n

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        time.sleep(1e-3)
        return np.zeros((3, 32, 32), np.float32), i % 10


class Blurred(Dataset):
    """3x32x32 images, each smoothed 25 times by a 3-tap filter on the fly."""

    def __init__(self, n):
        self.images = np.random.default_rng(0).random((n, 3, 32, 32), dtype=np.float32)

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        img = self.images[i]
        for _ in range(25):
            img = (img + np.roll(img, 1, -1) + np.roll(img, 1, -2)) / 3
        return img, i % 10


def _busy(seconds):
    """CPU work in the main process, like a training step would do."""
    a = np.ones((64, 64))
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        a = np.tanh(a @ a * 1e-3)


def _time_epoch(loader, repeats, step):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in loader:
            step()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m tools.measure.bench_workers", description=__doc__.split("\n\n")[0])
    p.add_argument("--samples", type=int, default=512)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--step-ms", type=float, default=40.0)
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    cheap = TensorDataset(rng.integers(0, 256, (args.samples * 8, 1, 28, 28), dtype=np.uint8),
                          rng.integers(0, 10, args.samples * 8))
    step_s = args.step_ms / 1e3
    costly = Blurred(args.samples)
    sets = [(f"costly transform, {args.samples} samples, batch 64", costly, 64, lambda: None),
            (f"same + {args.step_ms:g} ms CPU step per batch", costly, 64, lambda: _busy(step_s)),
            (f"same + {args.step_ms:g} ms idle step per batch", costly, 64, lambda: time.sleep(step_s)),
            (f"1 ms wait per sample, {args.samples} samples, batch 64", Waiting(args.samples), 64,
             lambda: None),
            (f"cheap get_batch, {args.samples * 8} samples, batch 128", cheap, 128, lambda: None)]
    print("| data set | num_workers=0 | 1 | 2 | 4 |\n|---|---|---|---|---|")
    for name, ds, bs, step in sets:
        cells = [f"{_time_epoch(DataLoader(ds, batch_size=bs, num_workers=w), args.repeats, step) * 1e3:.0f} ms"
                 for w in (0, 1, 2, 4)]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
