"""Datasets, DataLoader, random_split, transforms and the spiral set."""
import numpy as np
import pytest

import autograd as ag
from autograd.data import (ConcatDataset, DataLoader, Dataset, Subset, TensorDataset,
                           default_collate, random_split, spiral, transforms as T)


class Squares(Dataset):
    """A map-style data set without get_batch: exercises the per-sample path."""

    def __len__(self):
        return 10

    def __getitem__(self, i):
        return np.full((2,), i, np.float32), i * i


def test_tensor_dataset_indexing_and_errors():
    x, y = ag.arange(12.0).reshape(6, 2), ag.tensor([0, 1, 0, 1, 0, 1])
    ds = TensorDataset(x, y)
    assert len(ds) == 6
    xi, yi = ds[2]
    assert xi.tolist() == [4.0, 5.0] and int(yi) == 0
    with pytest.raises(ValueError, match="size mismatch"):
        TensorDataset(x, ag.zeros(5))


def test_loader_batches_cover_dataset_in_order_without_shuffle():
    ds = TensorDataset(np.arange(10, dtype=np.float32)[:, None], np.arange(10))
    dl = DataLoader(ds, batch_size=4)
    batches = list(dl)
    assert len(dl) == 3 and [len(b[1]) for b in batches] == [4, 4, 2]
    assert np.concatenate([b[1].array for b in batches]).tolist() == list(range(10))
    assert isinstance(batches[0][0], ag.Tensor) and batches[0][0].dtype == np.float32
    assert batches[0][1].dtype == np.int64
    dl = DataLoader(ds, batch_size=4, drop_last=True)
    assert len(dl) == 2 and [len(b[1]) for b in dl] == [4, 4]


def test_shuffle_is_seeded_and_differs_between_epochs():
    ds = TensorDataset(np.arange(100))

    def epoch_orders(**kw):
        dl = DataLoader(ds, batch_size=10, shuffle=True, **kw)
        return [np.concatenate([b[0].array for b in dl]) for _ in range(2)]

    a = epoch_orders(generator=np.random.default_rng(3))
    b = epoch_orders(generator=np.random.default_rng(3))
    assert all(np.array_equal(u, v) for u, v in zip(a, b))
    assert not np.array_equal(a[0], a[1])
    assert sorted(a[0].tolist()) == list(range(100))
    # The global generator: manual_seed makes it reproducible.
    ag.manual_seed(7)
    c = epoch_orders()
    ag.manual_seed(7)
    d = epoch_orders()
    assert np.array_equal(c[0], d[0]) and np.array_equal(c[1], d[1])
    assert np.array_equal(epoch_orders(generator=5)[0], epoch_orders(generator=5)[0])


def test_per_sample_path_and_default_collate():
    batches = list(DataLoader(Squares(), batch_size=3))
    x, y = batches[1]
    assert x.shape == (3, 2) and x.dtype == np.float32 and y.tolist() == [9, 16, 25]
    out = default_collate([{"a": 1.5, "b": [1, 2]}, {"a": 2.5, "b": [3, 4]}])
    assert out["a"].dtype == np.float32 and out["b"][0].tolist() == [1, 3]
    with pytest.raises(TypeError, match="default_collate"):
        default_collate([object(), object()])
    custom = list(DataLoader(Squares(), batch_size=5, collate_fn=lambda s: len(s)))
    assert custom == [5, 5]
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(Squares(), batch_size=0)


def test_random_split_lengths_fractions_and_reproducibility():
    ds = TensorDataset(np.arange(10))
    a, b = random_split(ds, [7, 3], generator=np.random.default_rng(0))
    assert len(a) == 7 and len(b) == 3
    idx = sorted([int(a[i][0]) for i in range(7)] + [int(b[i][0]) for i in range(3)])
    assert idx == list(range(10))
    c, d, e = random_split(ds, [0.5, 0.3, 0.2], generator=1)
    assert (len(c), len(d), len(e)) == (5, 3, 2)
    assert list(random_split(ds, [5, 5], generator=1)[0].indices) == \
        list(random_split(ds, [5, 5], generator=1)[0].indices)
    with pytest.raises(ValueError, match="does not equal"):
        random_split(ds, [4, 4])
    # Subsets keep the batched fast path and batch the right rows.
    xb, = next(iter(DataLoader(a, batch_size=7)))
    assert xb.tolist() == [int(a[i][0]) for i in range(7)]


def test_subset_and_concat():
    base = Squares()
    sub = Subset(base, [9, 1])
    assert sub[0][1] == 81 and not hasattr(sub, "get_batch")
    cat = base + Squares()
    assert isinstance(cat, ConcatDataset) and len(cat) == 20 and cat[12][1] == 4 and cat[-1][1] == 81
    with pytest.raises(IndexError):
        cat[20]


def test_transforms_normalize_crop_flip_compose():
    img = np.arange(2 * 4 * 4, dtype=np.float32).reshape(2, 4, 4)
    n = T.Normalize([1.0, 2.0], [2.0, 4.0])(img)
    np.testing.assert_allclose(n[1], (img[1] - 2) / 4)
    with pytest.raises(ValueError, match="channels"):
        T.Normalize([0, 0, 0], [1, 1, 1])(img)
    # Crop without padding at full size is the identity; with padding it is a shifted window.
    np.testing.assert_array_equal(T.RandomCrop(4)(img), img)
    crop = T.RandomCrop(4, padding=2, generator=0)
    batch = np.stack([img] * 50)
    out = crop(batch)
    assert out.shape == batch.shape
    padded = np.pad(img, ((0, 0), (2, 2), (2, 2)))
    windows = {(i, j) for i in range(5) for j in range(5)
               if any(np.array_equal(o, padded[:, i:i + 4, j:j + 4]) for o in out)}
    assert len(windows) > 5           # different offsets per image
    for o in out:
        assert any(np.array_equal(o, padded[:, i:i + 4, j:j + 4]) for i in range(5) for j in range(5))
    flip = T.RandomHorizontalFlip(p=1.0)
    np.testing.assert_array_equal(flip(img), img[..., ::-1])
    flipped = T.RandomHorizontalFlip(p=0.5, generator=1)(batch)
    kinds = {np.array_equal(f, img) for f in flipped}
    assert kinds == {True, False}
    pipeline = T.Compose([T.RandomHorizontalFlip(p=0.0), T.Normalize([0.0], [2.0])])
    np.testing.assert_allclose(pipeline(ag.tensor(img)), img / 2)


def test_transform_in_dataset_applies_per_batch():
    ds = TensorDataset(np.ones((8, 1, 2, 2), np.float32), np.zeros(8, np.int64),
                       transform=T.Normalize([0.5], [0.5]))
    xb, _ = next(iter(DataLoader(ds, batch_size=8)))
    np.testing.assert_allclose(xb.array, 1.0)
    np.testing.assert_allclose(ds[0][0].array, 1.0)


def test_spiral_dataset():
    tr, te = spiral(), spiral(train=False)
    assert len(tr) == 3000 and len(te) == 900
    x, y = tr.arrays
    assert x.shape == (3000, 2) and x.dtype == np.float32 and set(np.unique(y)) == {0, 1, 2}
    assert np.abs(x).max() < 2.0
    assert not np.array_equal(te.arrays[0][:10], x[:10])
    np.testing.assert_array_equal(spiral().arrays[0], x)      # deterministic


@pytest.mark.parametrize("kwargs, message", [
    ({"batch_size": 2.5}, "batch_size should be a positive integer, got 2.5"),
    ({"batch_size": 0}, "batch_size should be a positive integer, got 0"),
    ({"batch_size": -1}, "batch_size should be a positive integer"),
    ({"batch_size": True}, "batch_size should be a positive integer, got True"),
    ({"batch_size": None}, "batch_size should be a positive integer, got None"),
    ({"num_workers": -1}, "num_workers should be a non-negative integer, got -1"),
    ({"num_workers": 1.5}, "num_workers should be a non-negative integer"),
    ({"persistent_workers": True}, "prefetch_factor and persistent_workers need num_workers > 0"),
    ({"prefetch_factor": 2}, "prefetch_factor and persistent_workers need num_workers > 0"),
    ({"num_workers": 1, "prefetch_factor": 0}, "prefetch_factor should be a positive integer"),
    ({"timeout": -1}, "timeout should be a non-negative number"),
])
def test_loader_options_are_validated(kwargs, message):
    with pytest.raises(ValueError, match=f"DataLoader: {message}"):
        DataLoader(Squares(), **kwargs)
    assert len(DataLoader(Squares(), batch_size=np.int64(4))) == 3       # NumPy ints are ints


class EndlessSampler:
    """Cycles 0..9 forever and counts how many indices were drawn."""

    def __init__(self):
        self.drawn = 0

    def __iter__(self):
        while True:
            yield self.drawn % 10
            self.drawn += 1


def test_loader_reads_an_endless_sampler_lazily():
    sampler = EndlessSampler()
    it = iter(DataLoader(Squares(), batch_size=4, sampler=sampler))
    firsts = [next(it)[1].tolist() for _ in range(3)]
    assert firsts == [[0, 1, 4, 9], [16, 25, 36, 49], [64, 81, 0, 1]]
    assert sampler.drawn <= 3 * 4                 # nothing beyond the batches asked for
    # A finite sampler with a partial last batch, with and without drop_last.
    assert [len(b[1]) for b in DataLoader(Squares(), batch_size=4, sampler=range(7))] == [4, 3]
    assert [len(b[1]) for b in DataLoader(Squares(), batch_size=4, sampler=range(7), drop_last=True)] == [4]
    # A batch sampler (PyTorch's): batches of any size, read lazily too.
    def batches():
        for n in range(1, 10**9):
            yield list(range(n))

    it = iter(DataLoader(Squares(), batch_sampler=batches()))
    assert [next(it)[1].tolist() for _ in range(3)] == [[0], [0, 1], [0, 1, 4]]
    assert len(DataLoader(Squares(), batch_sampler=[[0, 1], [2]])) == 2
    with pytest.raises(ValueError, match="batch_sampler option is mutually exclusive"):
        DataLoader(Squares(), batch_size=2, batch_sampler=[[0]])


@pytest.mark.parametrize("lengths, message", [
    ([-2, 12], "lengths should be non-negative integers or fractions"),
    ([5, float("nan")], "lengths should be non-negative integers or fractions"),
    ([True, 9], "lengths should be non-negative integers or fractions"),
    (["5", 5], "lengths should be non-negative integers or fractions"),
    ([], "lengths should be non-negative integers or fractions"),
    ([1.5, -0.5], "lengths should be non-negative integers or fractions"),
    ([0.5, 0.4], r"fractional lengths should lie in \[0, 1\] and sum to 1"),
    ([5.0, 5.0], r"fractional lengths should lie in \[0, 1\] and sum to 1"),
    ([4, 4], r"sum of input lengths \(8\) does not equal"),
])
def test_random_split_validates_lengths(lengths, message):
    with pytest.raises(ValueError, match=f"random_split: {message}"):
        random_split(TensorDataset(np.arange(10)), lengths)
    assert [len(s) for s in random_split(TensorDataset(np.arange(10)), [np.int64(3), 7])] == [3, 7]
