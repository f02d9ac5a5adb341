"""nn.save / nn.load, property-based: any storable object comes back exactly (types,
shapes, dtypes, bytes), and any single bit flip in the header is rejected."""
import json
import random
import struct
from collections import OrderedDict

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autograd as ag
import nn
import optim
from autograd.serialization import DTYPES, CheckpointError, load, save
from optim import lr_scheduler as S


def assert_same(a, b, where="obj"):
    """Exact equality: same Python/NumPy types, shapes, dtypes (byte order aside) and bytes."""
    if isinstance(a, ag.Tensor):
        assert type(b) is ag.Tensor, where
        assert a.requires_grad == b.requires_grad, where
        a, b = a.array, b.array
    assert type(a) is type(b), f"{where}: {type(a).__name__} came back as {type(b).__name__}"
    if isinstance(a, (np.ndarray, np.generic)):
        assert a.shape == b.shape and a.dtype.newbyteorder("=") == b.dtype, where
        assert b.dtype.isnative, f"{where}: loaded in byte order {b.dtype.byteorder}"
        little = a.dtype.newbyteorder("<")
        assert np.asarray(a).astype(little).tobytes() == np.asarray(b).astype(little).tobytes(), where
    elif isinstance(a, dict):
        assert len(a) == len(b), where
        for (ka, va), (kb, vb) in zip(a.items(), b.items()):      # in the same order
            assert_same(ka, kb, f"{where} key")
            assert_same(va, vb, f"{where}[{ka!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float):
        assert repr(a) == repr(b), where          # -0.0, inf and nan included
    else:
        assert a == b, where


dtypes = st.sampled_from(sorted(DTYPES, key=str)).flatmap(
    lambda d: st.sampled_from([d.newbyteorder("<"), d.newbyteorder(">")]))
arrays = dtypes.flatmap(lambda d: hnp.arrays(d, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0,
                                                                 max_side=4)))
tensors = st.builds(lambda a, g: ag.tensor(a, requires_grad=g),
                    hnp.arrays(st.sampled_from(["float16", "float32", "float64"]),
                               hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=3)),
                    st.booleans()) | \
    st.builds(ag.tensor, hnp.arrays(st.sampled_from(["int64", "int32", "uint8", "bool"]),
                                    hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=3)))
numpy_scalars = arrays.filter(lambda a: a.size > 0).map(lambda a: a.reshape(-1)[0])
keys = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5)
leaves = (st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=8)
          | arrays | tensors | numpy_scalars)
objects = st.recursive(leaves, lambda inner: st.lists(inner, max_size=3)
                       | st.lists(inner, max_size=3).map(tuple)
                       | st.dictionaries(keys, inner, max_size=3)
                       | st.dictionaries(keys, inner, max_size=3).map(OrderedDict), max_leaves=12)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(obj=objects)
def test_any_storable_object_round_trips_exactly(tmp_path, obj):
    save(obj, tmp_path / "ck.st")
    assert_same(obj, load(tmp_path / "ck.st"))


def _trained_states():
    """State dicts of real optimizers and schedulers after a few steps."""
    ag.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
    params = list(model.parameters())
    opts = [optim.SGD(params, lr=0.1, momentum=0.9, nesterov=True), optim.Adam(params, lr=0.01, amsgrad=True),
            optim.AdamW(params), optim.RMSprop(params, momentum=0.5, centered=True), optim.Adagrad(params)]
    out = []
    for opt in opts:
        scheds = [S.OneCycleLR(opt, max_lr=0.1, total_steps=20, cycle_momentum=not isinstance(opt, optim.Adagrad)),
                  S.SequentialLR(opt, [S.LinearLR(opt, start_factor=0.5, total_iters=2),
                                       S.CosineAnnealingLR(opt, T_max=5)], milestones=[2]),
                  S.ReduceLROnPlateau(opt, patience=0), S.MultiStepLR(opt, milestones=[1, 2])]
        for _ in range(3):
            loss = (model(ag.randn(5, 3)) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            for s in scheds:
                s.step(float(loss)) if isinstance(s, S.ReduceLROnPlateau) else s.step()
        out.append((opt, scheds))
    return model, out


def test_model_optimizer_and_scheduler_states_round_trip(tmp_path):
    model, pairs = _trained_states()
    for opt, scheds in pairs:
        state = {"model": model.state_dict(), "optimizer": opt.state_dict(),
                 "schedulers": [s.state_dict() for s in scheds], "epoch": 5}
        save(state, tmp_path / "ck.st")
        back = load(tmp_path / "ck.st")
        assert_same(state, back)
        fresh = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))
        fresh.load_state_dict(back["model"])                     # num_batches_tracked is 0-d
        assert fresh[1].num_batches_tracked.shape == ()
        type(opt)(fresh.parameters(), lr=0.1).load_state_dict(back["optimizer"])


def test_batchnorm_checkpoint_loads_into_batchnorm(tmp_path):
    nn.save(nn.BatchNorm1d(3).state_dict(), tmp_path / "bn.st")
    bn = nn.BatchNorm1d(3)
    bn.load_state_dict(nn.load(tmp_path / "bn.st"))
    assert bn.num_batches_tracked.shape == () and bn.num_batches_tracked.dtype == np.int64


def test_big_endian_arrays_are_stored_in_native_order(tmp_path):
    big = np.arange(6, dtype=">f8").reshape(2, 3)
    save({"a": big, "s": big[0, 1], "t": big.T}, tmp_path / "ck.st")
    back = load(tmp_path / "ck.st")
    assert back["a"].dtype == np.float64 and back["a"].dtype.isnative
    np.testing.assert_array_equal(back["a"], big)
    np.testing.assert_array_equal(back["t"], big.T)               # non-contiguous too
    assert type(back["s"]) is np.float64 and back["s"] == 1.0
    load(tmp_path / "ck.st")                                       # and again: still verifies


def test_numpy_scalars_keep_their_types(tmp_path):
    obj = {"f32": np.float32(0.1), "f64": np.float64(0.1), "i8": np.int8(-3), "u64": np.uint64(2**64 - 1),
           "b": np.bool_(True), "py": [0.1, 3, True, None, 2**80], np.int64(7): "numpy key"}
    save(obj, tmp_path / "ck.st")
    back = load(tmp_path / "ck.st")
    assert_same(obj, back)
    assert type(back["f64"]) is np.float64 and type(back["py"][0]) is float


def test_loaded_arrays_are_writable(tmp_path):
    save({"a": np.zeros(3), "t": ag.zeros(2)}, tmp_path / "ck.st")
    back = load(tmp_path / "ck.st")
    back["a"][0] = 1.0
    back["t"].array[1] = 2.0
    assert back["a"][0] == 1.0 and back["t"].array[1] == 2.0


@pytest.mark.parametrize("value", [np.array(["a"]), np.zeros(2, np.complex128), np.str_("x"),
                                   np.array([object()])])
def test_unsupported_dtypes_are_refused_on_save(tmp_path, value):
    with pytest.raises(TypeError, match=r"cannot store an array of dtype .* at obj\['v'\]"):
        save({"v": value}, tmp_path / "ck.st")


def _optimizer_checkpoint(path):
    ag.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=1e-5)
    (model(ag.randn(4, 2)) ** 2).sum().backward()
    opt.step()
    save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 5,
          "best": float("nan"), "names": ["a", "b"]}, path)


def test_every_header_bit_flip_is_rejected(tmp_path):
    path = tmp_path / "ck.st"
    _optimizer_checkpoint(path)
    blob = path.read_bytes()
    original = load(path)
    (n,) = struct.unpack("<Q", blob[:8])
    meta_text = json.loads(blob[8:8 + n])["__metadata__"]["tapegrad"]
    assert "1e-05" in meta_text                          # the weight decay: an exponent to flip
    # All 64 bits of the length field, every bit of each 'e'/'E' byte, and a seeded
    # sample of the rest of the header (the full sweep, 8 bits x ~1,500 bytes, is slower).
    flips = [(i, b) for i in range(8) for b in range(8)]
    flips += [(i, b) for i in range(8, 8 + n) if blob[i] in b"eE" for b in range(8)]
    rng = random.Random(0)
    flips += [(rng.randrange(8, 8 + n), rng.randrange(8)) for _ in range(600)]
    loaded = []
    for offset, bit in flips:
        bad = bytearray(blob)
        bad[offset] ^= 1 << bit
        path.write_bytes(bytes(bad))
        try:
            back = load(path)
        except CheckpointError as e:
            assert str(e).startswith(f"{path}: "), e
            continue
        loaded.append((offset, bit))
        assert_same(original, back)
    # A flip may load only where it cannot change meaning: 'e' <-> 'E' in a number's
    # exponent ("1e-05" and "1E-05" parse to the same float, whose canonical encoding is
    # hashed).  Everything else (keys, digits, the digest's hex, padding, the length
    # field, safetensors' own fields) breaks the JSON, the layout or the SHA-256.
    for offset, bit in loaded:
        assert bit == 5 and blob[offset] in b"eE", (offset, bit, blob[offset - 10:offset + 10])
        assert blob[offset - 1] in b"0123456789." and blob[offset + 1] in b"0123456789-+"
    assert len(loaded) >= 1                              # the 1e-05 flip was tried and loads
