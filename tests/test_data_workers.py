"""DataLoader(num_workers=N): the same batches as in-process loading, in order, from
worker processes seeded as PyTorch seeds them; errors and dead workers are reported."""
import os

import numpy as np
import pytest

import autograd as ag
from autograd.data import DataLoader, Dataset, TensorDataset, get_worker_info


class Probe(Dataset):
    """Each sample says which process and worker read it, and draws from the generators."""

    offset = 0

    def __len__(self):
        return 12

    def __getitem__(self, i):
        info = get_worker_info()
        return {"i": i + self.offset, "pid": os.getpid(), "worker": -1 if info is None else info.id,
                "ag": float(ag.rand(1).array[0]), "np": float(np.random.random())}


class Failing(Dataset):
    def __init__(self, how, flag=None):
        self.how, self.flag = how, flag

    def __len__(self):
        return 8

    def __getitem__(self, i):
        if i == 5:
            if self.how == "raise":
                raise KeyError(f"no sample {i}")
            if self.flag is None or not self.flag.exists():      # with a flag file: die once
                if self.flag is not None:
                    self.flag.write_text("died")
                os._exit(3)
        return np.float32(i)


def _epoch(loader):
    return {k: np.concatenate([b[k].array for b in loader]).tolist() for k in ("i", "pid", "worker", "ag", "np")}


def test_workers_give_the_same_batches_in_order():
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    ds = TensorDataset(x, np.arange(20))
    for kw in ({}, {"shuffle": True, "generator": 3}, {"batch_size": 3, "drop_last": True}):
        kw = {"batch_size": 4, **kw}
        gen = kw.pop("generator", None)
        plain = [b[1].tolist() for b in DataLoader(ds, generator=gen, **kw)]
        workers = [b[1].tolist() for b in DataLoader(ds, num_workers=2, pin_memory=True, generator=gen, **kw)]
        assert workers == plain and plain
    per_sample = DataLoader(Probe(), batch_size=5, num_workers=2)
    assert _epoch(per_sample)["i"] == list(range(12)) and len(per_sample) == 3


def test_worker_info_seeding_and_worker_init_fn():
    assert get_worker_info() is None
    ag.manual_seed(0)
    main = _epoch(DataLoader(Probe(), batch_size=3))
    assert set(main["worker"]) == {-1} and set(main["pid"]) == {os.getpid()}

    def init(worker_id):
        get_worker_info().dataset.offset = 100 * worker_id     # each worker has its own copy

    def run():
        return _epoch(DataLoader(Probe(), batch_size=3, num_workers=2, worker_init_fn=init, generator=7))

    a, b = run(), run()
    assert a["worker"] == [0] * 3 + [1] * 3 + [0] * 3 + [1] * 3           # batch k -> worker k % 2
    assert a["i"] == [0, 1, 2, 103, 104, 105, 6, 7, 8, 109, 110, 111]
    assert os.getpid() not in a["pid"] and len(set(a["pid"])) == 2
    assert a["ag"] == b["ag"] and a["np"] == b["np"]                     # same generator seed
    assert a["ag"][:3] != a["ag"][3:6] and a["np"][:3] != a["np"][3:6]     # workers differ
    assert Probe.offset == 0                                             # the main copy untouched


def test_persistent_workers_are_reused_across_epochs():
    loader = DataLoader(Probe(), batch_size=4, num_workers=2, persistent_workers=True)
    first, second = _epoch(loader), _epoch(loader)
    assert set(first["pid"]) == set(second["pid"]) and len(set(first["pid"])) == 2
    it = iter(loader)
    next(it)                              # abandon an epoch half-way ...
    assert _epoch(loader)["i"] == list(range(12))      # ... the next one is still complete
    fresh = DataLoader(Probe(), batch_size=4, num_workers=2)
    assert not set(_epoch(fresh)["pid"]) & set(_epoch(fresh)["pid"])


def test_endless_sampler_with_workers_stays_bounded():
    from test_data import EndlessSampler
    sampler = EndlessSampler()
    it = iter(DataLoader(Probe(), batch_size=2, sampler=sampler, num_workers=2, prefetch_factor=2))
    batches = [next(it)["i"].tolist() for _ in range(6)]
    assert batches == [[0, 1], [2, 3], [4, 5], [6, 7], [8, 9], [0, 1]]          # the sampler cycles 0..9
    assert sampler.drawn <= (6 + 2 * 2) * 2           # asked for + prefetch window
    del it


def test_worker_errors_name_the_worker_and_keep_the_type():
    with pytest.raises(KeyError, match=r"(?s)Caught KeyError while reading a batch in DataLoader worker "
                                       r"process 0.\nOriginal Traceback.*no sample 5"):
        list(DataLoader(Failing("raise"), batch_size=2, num_workers=2))
    with pytest.raises(RuntimeError, match=r"DataLoader worker \(pid \d+\) exited unexpectedly with exit code 3"):
        list(DataLoader(Failing("exit"), batch_size=2, num_workers=2))

    def bad_init(worker_id):
        raise ValueError("no init")

    with pytest.raises(ValueError, match="Caught ValueError in worker_init_fn in DataLoader worker process 0"):
        list(DataLoader(Failing("raise"), batch_size=2, num_workers=2, worker_init_fn=bad_init))


def test_persistent_workers_restart_after_a_worker_died(tmp_path):
    loader = DataLoader(Failing("exit", tmp_path / "flag"), batch_size=2, num_workers=2, persistent_workers=True)
    with pytest.raises(RuntimeError, match="exited unexpectedly with exit code 3"):
        list(loader)
    assert [b.tolist() for b in loader] == [[0, 1], [2, 3], [4, 5], [6, 7]]


def test_an_unpicklable_batch_is_an_error_not_a_hang():
    loader = DataLoader(Failing("raise"), batch_size=2, num_workers=1, collate_fn=lambda s: (lambda: s))
    with pytest.raises(Exception, match=r"(?s)while reading a batch in DataLoader worker process 0.*pickle"):
        next(iter(loader))
