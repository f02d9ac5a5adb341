"""PyTorch's checkpoint files, both ways, against real PyTorch 2.13: what torch.save
writes, autograd.load reads; what autograd.save writes to a .pt name, torch.load(...,
weights_only=True) reads, with the same dtypes, shapes, strides, offsets, shared
memory, containers, model state dicts and optimizer state."""
import io
import math
import os
import zipfile
from collections import OrderedDict

import numpy as np
import pytest
import torch

import autograd as ag
import nn
from autograd.serialization import CheckpointError
from nn import models

# Every real dtype both libraries hold (bfloat16 and complex have no tapegrad tensor).
DTYPES = ["float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint8", "bool",
          "uint16", "uint32", "uint64"]


def _values(name, shape):
    rng = np.random.default_rng(abs(hash((name, shape))) % 2**32)
    if name == "bool":
        return np.array(rng.integers(0, 2, shape).astype(bool))
    if name.startswith("float"):
        return np.array(rng.standard_normal(shape) * 100).astype(name)
    info = np.iinfo(name)
    return np.array(rng.integers(info.min, info.max, shape, dtype=name, endpoint=True))


def _torch_tensor(arr):
    return torch.from_numpy(np.array(arr, order="C"))      # np.array keeps 0-d 0-d


def _elem_strides(arr):
    return tuple(s // arr.itemsize for s in arr.strides)


@pytest.mark.parametrize("name", DTYPES)
def test_every_real_dtype_from_torch_keeps_dtype_shape_and_values(tmp_path, name):
    tensors = {f"s{shape}": _values(name, shape) for shape in [(), (0,), (2, 0, 3), (3,), (2, 3, 4)]}
    torch.save({k: _torch_tensor(v) for k, v in tensors.items()}, tmp_path / "t.pt")
    back = ag.load(tmp_path / "t.pt")
    assert back.keys() == tensors.keys()
    for k, want in tensors.items():
        got = back[k]
        assert isinstance(got, ag.Tensor) and str(got.dtype) == f"torch.{name}", (k, got.dtype)
        assert got.shape == want.shape
        np.testing.assert_array_equal(got.numpy(), want, err_msg=k)


@pytest.mark.parametrize("name", DTYPES)
def test_every_real_dtype_to_torch_keeps_dtype_shape_and_values(tmp_path, name):
    tensors = {f"s{shape}": _values(name, shape) for shape in [(), (0,), (2, 0, 3), (3,), (2, 3, 4)]}
    ag.save({k: ag.tensor(v) for k, v in tensors.items()}, tmp_path / "t.pt")
    back = torch.load(tmp_path / "t.pt", weights_only=True)
    for k, want in tensors.items():
        got = back[k]
        assert got.dtype == getattr(torch, name) and tuple(got.shape) == want.shape
        np.testing.assert_array_equal(got.numpy(), want, err_msg=k)


def test_views_from_torch_keep_strides_offsets_and_share_memory(tmp_path):
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    views = {"base": base, "t": base.t(), "cols": base[:, 1::2], "row": base[2], "expanded":
             base[1:2].expand(3, 6), "narrow": base.narrow(1, 2, 3), "scalar": base[3, 5]}
    torch.save(views, tmp_path / "v.pt")
    back = ag.load(tmp_path / "v.pt")
    for k, v in views.items():
        arr = back[k].numpy()
        np.testing.assert_array_equal(arr, v.numpy(), err_msg=k)
        assert _elem_strides(arr) == v.stride(), k
        assert np.shares_memory(arr, back["base"].numpy()), k
        offset = (arr.__array_interface__["data"][0] - back["base"].numpy().__array_interface__["data"][0])
        assert offset // 4 == v.storage_offset(), k
    back["base"].numpy()[2, 1] = -1.0            # one storage: a write shows through every view
    assert back["row"].numpy()[1] == -1.0 and back["t"].numpy()[1, 2] == -1.0
    assert back["cols"].numpy()[2, 0] == -1.0


def test_views_to_torch_share_one_storage(tmp_path):
    base = ag.arange(24, dtype=ag.float32).reshape(4, 6)
    views = {"base": base, "t": base.t(), "cols": base[:, 1::2], "row": base[2], "flipped": base.flip(0)}
    ag.save(views, tmp_path / "v.pt")
    back = torch.load(tmp_path / "v.pt", weights_only=True)
    for k, v in views.items():
        np.testing.assert_array_equal(back[k].numpy(), v.numpy(), err_msg=k)
    ptr = back["base"].untyped_storage().data_ptr()
    for k in ("t", "cols", "row"):
        assert back[k].untyped_storage().data_ptr() == ptr, k
        assert back[k].stride() == _elem_strides(views[k].numpy()), k
    # NumPy's negative strides have no PyTorch form: the flipped view is written as a copy
    assert back["flipped"].untyped_storage().data_ptr() != ptr
    back["base"][2, 1] = -1.0
    assert back["row"][1] == -1.0 and back["t"][1, 2] == -1.0 and back["cols"][2, 0] == -1.0


def _nested(lib):
    return OrderedDict(
        ints=[1, -2, 2**62], floats=(0.5, math.inf, -0.0), text="héllo", raw=b"\x00\xff",
        nothing=None, flags={True, False}, size=lib.Size([2, 3]), dtype=lib.float16,
        device=lib.device("cpu"), deep={"a": [{"b": (lib.ones(2),)}]}, empty=((), [], {}))


def _same(ours, theirs, where="obj"):
    if isinstance(theirs, torch.Tensor):
        assert isinstance(ours, ag.Tensor), where
        assert str(ours.dtype) == str(theirs.dtype) and ours.shape == tuple(theirs.shape), where
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy(), err_msg=where)
    elif isinstance(theirs, dict):
        assert type(ours) is type(theirs) and list(ours) == list(theirs), where
        for k in theirs:
            _same(ours[k], theirs[k], f"{where}[{k!r}]")
    elif isinstance(theirs, (list, tuple)) and not isinstance(theirs, torch.Size):
        assert type(ours) is type(theirs) and len(ours) == len(theirs), where
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _same(a, b, f"{where}[{i}]")
    else:
        assert str(ours) == str(theirs) and repr(ours) == repr(theirs), (where, ours, theirs)


def test_nested_containers_and_scalars_from_torch(tmp_path):
    torch.save(_nested(torch), tmp_path / "n.pt")
    _same(ag.load(tmp_path / "n.pt"), _nested(torch))


def test_nested_containers_and_scalars_to_torch(tmp_path):
    ag.save(_nested(ag), tmp_path / "n.pt")
    back = torch.load(tmp_path / "n.pt", weights_only=True)
    _same(_nested(ag), back)
    assert ag.load(tmp_path / "n.pt")["size"] == ag.Size([2, 3])


NET = '''
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(2, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4)
        self.fc = torch.nn.Linear(4 * 5 * 5, 3)

    def forward(self, x):
        return self.fc(torch.relu(self.bn(self.conv(x))).flatten(1))
'''


def _net(lib):
    scope = {"torch": lib}
    exec(NET, scope)
    return scope["Net"]()


def _train_bn(model, lib, x, steps=2):
    model.train()
    for _ in range(steps):          # moves running stats and num_batches_tracked
        model(lib.tensor(x)).sum().backward()
    model.eval()


@pytest.mark.parametrize("writer", ["torch", "tapegrad"])
def test_model_state_dict_with_batchnorm_loads_into_the_other_library(tmp_path, writer):
    """One library trains a BatchNorm net (running stats, num_batches_tracked), saves its
    state_dict to a .pth; the other loads it into the same architecture: same outputs."""
    x = np.random.default_rng(0).standard_normal((3, 2, 5, 5)).astype(np.float32)
    src, dst = (torch, ag) if writer == "torch" else (ag, torch)
    trained = _net(src)
    _train_bn(trained, src, x)
    src.save(trained.state_dict(), tmp_path / "net.pth")
    state = dst.load(tmp_path / "net.pth", weights_only=True)
    count = state["bn.num_batches_tracked"]
    assert str(count.dtype) == "torch.int64" and count.shape == () and count.item() == 2
    loaded = _net(dst)
    loaded.load_state_dict(state)
    loaded.eval()
    np.testing.assert_allclose(loaded(dst.tensor(x)).detach().numpy(),
                               trained(src.tensor(x)).detach().numpy(), rtol=1e-5, atol=1e-5)


def _torch_lenet5():
    tnn = torch.nn
    m = tnn.Module()
    m.features = tnn.Sequential(tnn.Conv2d(1, 6, 5, padding=2), tnn.Tanh(), tnn.AvgPool2d(2),
                                tnn.Conv2d(6, 16, 5), tnn.Tanh(), tnn.AvgPool2d(2))
    m.classifier = tnn.Sequential(tnn.Flatten(), tnn.Linear(400, 120), tnn.Tanh(), tnn.Linear(120, 84),
                                  tnn.Tanh(), tnn.Linear(84, 10))
    m.forward = lambda x: m.classifier(m.features(x))
    return m


def test_zoo_lenet5_state_dict_gives_torchs_outputs_in_torch(tmp_path):
    ag.manual_seed(0)
    ours = models.LeNet5()
    ag.save(ours.state_dict(), tmp_path / "lenet.pt")
    theirs = _torch_lenet5()
    theirs.load_state_dict(torch.load(tmp_path / "lenet.pt", weights_only=True))
    x = np.random.default_rng(2).standard_normal((4, 1, 28, 28)).astype(np.float32)
    np.testing.assert_allclose(theirs.forward(torch.tensor(x)).detach().numpy(),
                               ours(ag.tensor(x)).detach().numpy(), rtol=1e-4, atol=1e-5)


def _adam_run(lib, weights, x, steps, state=None):
    model = lib.nn.Linear(3, 2)
    model.load_state_dict({k: lib.tensor(v) for k, v in weights.items()})
    opt = lib.optim.Adam(model.parameters(), lr=0.05)
    if state is not None:
        opt.load_state_dict(state)
    for _ in range(steps):
        opt.zero_grad()
        (model(lib.tensor(x)) ** 2).sum().backward()
        opt.step()
    return model, opt


def _linear_problem(seed):
    rng = np.random.default_rng(seed)
    weights = {"weight": rng.standard_normal((2, 3)).astype(np.float32),
               "bias": rng.standard_normal(2).astype(np.float32)}
    return weights, rng.standard_normal((4, 3)).astype(np.float32)


def test_torch_optimizer_state_dict_continues_training_in_tapegrad(tmp_path):
    weights, x = _linear_problem(3)
    theirs, opt = _adam_run(torch, weights, x, 2)
    torch.save({"model": theirs.state_dict(), "opt": opt.state_dict()}, tmp_path / "ck.pt")
    ck = ag.load(tmp_path / "ck.pt")
    assert ck["opt"]["param_groups"][0]["params"] == [0, 1] and ck["opt"]["param_groups"][0]["betas"] == (0.9, 0.999)
    np.testing.assert_array_equal(ck["opt"]["state"][0]["exp_avg"].numpy(), opt.state_dict()["state"][0]["exp_avg"].numpy())
    ours, _ = _adam_run(ag, {k: v.numpy() for k, v in ck["model"].items()}, x, 1, ck["opt"])
    opt.zero_grad()
    (theirs(torch.tensor(x)) ** 2).sum().backward()
    opt.step()                                    # PyTorch's third step
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[k].numpy(), v.numpy(), rtol=1e-5, atol=1e-6, err_msg=k)


def test_tapegrad_optimizer_state_dict_reads_in_torch(tmp_path):
    weights, x = _linear_problem(4)
    _, opt = _adam_run(ag, weights, x, 2)
    ag.save(opt.state_dict(), tmp_path / "opt.pt")
    back = torch.load(tmp_path / "opt.pt", weights_only=True)
    ours = opt.state_dict()
    assert back["param_groups"][0]["lr"] == 0.05 and back["param_groups"][0]["params"] == [0, 1]
    for i in (0, 1):
        for k in ("exp_avg", "exp_avg_sq"):        # tapegrad's NumPy buffers arrive as tensors
            assert isinstance(back["state"][i][k], torch.Tensor)
            np.testing.assert_array_equal(back["state"][i][k].numpy(), np.asarray(ours["state"][i][k]))


@pytest.mark.parametrize("dtype", ["bfloat16", "complex64", "complex128"])
def test_a_dtype_tapegrad_cannot_hold_is_named_with_its_key(tmp_path, dtype):
    torch.save({"encoder": {"fc.weight": torch.ones(2, dtype=getattr(torch, dtype))}}, tmp_path / "x.pt")
    with pytest.raises(CheckpointError, match=rf"x\.pt: obj\['encoder'\]\['fc\.weight'\] is a torch\.{dtype} "
                                              r"value \(storage 0\), a dtype tapegrad cannot hold"):
        ag.load(tmp_path / "x.pt")


def test_the_legacy_format_reads_with_its_dtypes_views_and_nesting(tmp_path):
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    state = OrderedDict(base=base, t=base.t(), row=base[1], n=torch.tensor(5),
                        **{name: _torch_tensor(_values(name, (2, 3))) for name in DTYPES},
                        meta={"epoch": 3, "names": ("a", "b")})
    torch.save(state, tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    back = ag.load(tmp_path / "old.pt")
    _same(back, state)
    assert _elem_strides(back["t"].numpy()) == (1, 4) and np.shares_memory(back["t"].numpy(), back["base"].numpy())
    back["base"].numpy()[1, 2] = -7.0
    assert back["row"].numpy()[2] == -7.0 and back["t"].numpy()[2, 1] == -7.0
    torch.save({"x": torch.ones(1, dtype=torch.bfloat16)}, tmp_path / "old.pt", _use_new_zipfile_serialization=False)
    with pytest.raises(CheckpointError, match=r"old\.pt: obj\['x'\] is a torch\.bfloat16 value"):
        ag.load(tmp_path / "old.pt")


def test_the_format_follows_the_name_and_load_follows_the_bytes(tmp_path):
    state = {"w": ag.ones(2)}
    for name in ("a.pt", "a.PTH", "a.st", "a.safetensors", "a"):
        ag.save(state, tmp_path / name)
        is_zip = zipfile.is_zipfile(tmp_path / name)
        assert is_zip == name.lower().endswith((".pt", ".pth")), name
        np.testing.assert_array_equal(ag.load(tmp_path / name)["w"].numpy(), [1, 1])
    os.replace(tmp_path / "a.pt", tmp_path / "renamed.st")          # the bytes decide, not the name
    np.testing.assert_array_equal(ag.load(tmp_path / "renamed.st")["w"].numpy(), [1, 1])
    buf = io.BytesIO()
    ag.save(state, buf)                           # a file object without a name: safetensors
    assert not zipfile.is_zipfile(io.BytesIO(buf.getvalue()))
    with open(tmp_path / "f.pt", "wb") as f:       # a named file object: its name decides
        ag.save(state, f)
    assert torch.load(tmp_path / "f.pt", weights_only=True)["w"].tolist() == [1.0, 1.0]
    buf = io.BytesIO()
    torch.save({"w": torch.ones(2)}, buf)         # PyTorch's file object, read from memory
    buf.seek(0)
    np.testing.assert_array_equal(ag.load(buf, map_location="cpu")["w"].numpy(), [1, 1])


def test_torch_writes_are_atomic_and_refusals_leave_nothing(tmp_path, monkeypatch):
    path = tmp_path / "ck.pt"
    ag.save({"epoch": 1}, path)

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        ag.save({"epoch": 2, "w": ag.zeros(3)}, path)
    monkeypatch.undo()
    assert ag.load(path) == {"epoch": 1} and os.listdir(tmp_path) == ["ck.pt"]
    with pytest.raises(TypeError, match=r"save: cannot store .* in PyTorch's format"):
        ag.save({"f": lambda: 0}, tmp_path / "b.pt")
    with pytest.raises(TypeError, match="complex64 has no PyTorch storage tapegrad writes"):
        ag.save({"c": np.ones(2, np.complex64)}, tmp_path / "c.pt")
    assert os.listdir(tmp_path) == ["ck.pt"]


def test_parameters_and_requires_grad_round_trip(tmp_path):
    p = nn.Parameter(ag.ones(2, 2))
    frozen = nn.Parameter(ag.zeros(3), requires_grad=False)
    leaf = ag.ones(2, requires_grad=True)
    ag.save({"p": p, "frozen": frozen, "leaf": leaf}, tmp_path / "p.pt")
    theirs = torch.load(tmp_path / "p.pt", weights_only=True)
    assert isinstance(theirs["p"], torch.nn.Parameter) and theirs["p"].requires_grad
    assert isinstance(theirs["frozen"], torch.nn.Parameter) and not theirs["frozen"].requires_grad
    assert not isinstance(theirs["leaf"], torch.nn.Parameter) and theirs["leaf"].requires_grad
    ours = ag.load(tmp_path / "p.pt")
    assert isinstance(ours["p"], nn.Parameter) and ours["p"].requires_grad
    assert isinstance(ours["frozen"], nn.Parameter) and not ours["frozen"].requires_grad
    assert not isinstance(ours["leaf"], nn.Parameter) and ours["leaf"].requires_grad
