"""PyTorch's samplers: their order, their draws, their laziness, and DataLoader with them."""
import itertools

import numpy as np
import pytest

import autograd as ag
from autograd import data as D


def test_sequential_and_random_permutations():
    ds = range(7)
    assert list(D.SequentialSampler(ds)) == list(range(7))
    perm = list(D.RandomSampler(ds, generator=0))
    assert sorted(perm) == list(range(7)) and len(D.RandomSampler(ds)) == 7
    # without replacement, num_samples beyond the data set repeats whole permutations
    long = list(D.RandomSampler(ds, num_samples=16, generator=1))
    assert sorted(long[:7]) == list(range(7)) and sorted(long[7:14]) == list(range(7)) and len(long) == 16


def test_random_sampler_with_replacement_draws_uniformly():
    draws = np.array(list(D.RandomSampler(range(4), replacement=True, num_samples=40_000, generator=2)))
    counts = np.bincount(draws, minlength=4)
    assert counts.sum() == 40_000 and np.all(np.abs(counts - 10_000) < 5 * np.sqrt(10_000))


def test_huge_samplers_are_lazy():
    s = D.RandomSampler(range(10), replacement=True, num_samples=10 ** 12)
    assert len(list(itertools.islice(iter(s), 5))) == 5
    w = D.WeightedRandomSampler([1.0, 3.0], num_samples=10 ** 12)
    assert len(list(itertools.islice(iter(w), 5))) == 5


def test_subset_random_sampler_permutes_the_given_indices():
    got = list(D.SubsetRandomSampler([3, 9, 4], generator=0))
    assert sorted(got) == [3, 4, 9]


def test_weighted_sampler_follows_the_weights():
    draws = np.array(list(D.WeightedRandomSampler([1.0, 0.0, 3.0], 40_000, generator=3)))
    counts = np.bincount(draws, minlength=3)
    assert counts[1] == 0 and abs(counts[2] / counts[0] - 3.0) < 0.15
    once = list(D.WeightedRandomSampler([1.0, 2.0, 3.0], 3, replacement=False, generator=4))
    assert sorted(once) == [0, 1, 2]


def test_batch_sampler_groups_and_the_loader_reads_it():
    bs = D.BatchSampler(D.SequentialSampler(range(7)), 3, drop_last=False)
    assert list(bs) == [[0, 1, 2], [3, 4, 5], [6]] and len(bs) == 3
    assert len(D.BatchSampler(range(7), 3, drop_last=True)) == 2
    ds = D.TensorDataset(ag.arange(7))
    assert [b[0].numpy().tolist() for b in D.DataLoader(ds, batch_sampler=bs)] == [[0, 1, 2], [3, 4, 5], [6]]
    loader = D.DataLoader(ds, batch_size=2, sampler=D.SubsetRandomSampler([0, 2, 4, 6], generator=0))
    assert sorted(v for b in loader for v in b[0].numpy().tolist()) == [0, 2, 4, 6]


@pytest.mark.parametrize("make, match", [
    (lambda: D.RandomSampler(range(3), num_samples=0), "RandomSampler: num_samples should be an integer >= 1"),
    (lambda: D.RandomSampler(range(3), replacement=1), "RandomSampler: replacement should be a bool"),
    (lambda: D.WeightedRandomSampler([-1.0, 2.0], 3), "WeightedRandomSampler: weights should be"),
    (lambda: D.WeightedRandomSampler([1.0, 0.0], 2, replacement=False), "cannot draw 2 samples"),
    (lambda: D.BatchSampler(range(3), 0, False), "BatchSampler: batch_size should be an integer >= 1"),
    (lambda: D.BatchSampler(range(3), 2.5, False), "BatchSampler: batch_size"),
])
def test_bad_sampler_arguments_are_named(make, match):
    with pytest.raises((ValueError, TypeError), match=match):
        make()
