"""Loading PyTorch files safely: malicious pickles inside a PyTorch-format zip are
refused by name before anything runs (the marker file they would write never
appears), as PyTorch's weights_only loader refuses them; damaged archives and pickles
raise CheckpointError naming the file, never a crash, a hang or a silently wrong load."""
import io
import os
import pickle
import subprocess
import zipfile
from collections import OrderedDict

import numpy as np
import numpy.testing._private.utils as numpy_test_utils
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import autograd as ag
from autograd.serialization import CheckpointError, safe_globals


def _archive(path, data_pkl, storages=()):
    """A PyTorch-format zip around ``data_pkl`` (records as torch.save names them)."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", data_pkl)
        zf.writestr("archive/byteorder", b"little")
        for key, blob in storages:
            zf.writestr(f"archive/data/{key}", blob)
        zf.writestr("archive/version", b"3\n")
    return path


class Call:
    """Pickles as ``fn(*args)``: what a malicious file's __reduce__ does."""

    def __init__(self, fn, *args):
        self.fn, self.args = fn, args

    def __reduce__(self):
        return (self.fn, self.args)

    def __call__(self):
        raise AssertionError("never called; only pickled")


def _attacks(marker):
    touch = f"open({str(marker)!r}, 'w').close()"
    return {
        "posix.system": Call(os.system, f"touch {marker}"),
        "builtins.exec": Call(exec, touch),
        "builtins.eval": Call(eval, touch),
        # getattr(__import__('os'), 'system')('touch marker')
        "builtins.getattr": Call(Call(getattr, Call(__import__, "os"), "system"), f"touch {marker}"),
        # a function of an installed package that runs its argument as code
        "numpy.testing._private.utils.runstring": Call(numpy_test_utils.runstring, touch, {}),
        "subprocess.check_call": Call(subprocess.check_call, ["touch", str(marker)]),
    }


@pytest.mark.parametrize("zip_format", [True, False], ids=["zip", "legacy"])
@pytest.mark.parametrize("name", list(_attacks("m")))
def test_malicious_pickles_are_refused_by_name_and_never_run(tmp_path, name, zip_format):
    marker = tmp_path / "marker"
    payload = {"weights": torch.ones(2), "attack": _attacks(marker)[name]}
    buf = io.BytesIO()
    # a real PyTorch file, carrying the attack
    torch.save(payload, buf, _use_new_zipfile_serialization=zip_format)
    path = tmp_path / "evil.pt"
    path.write_bytes(buf.getvalue())
    with pytest.raises(CheckpointError) as info:
        ag.load(path)
    assert f"evil.pt: Weights only load failed. Unsupported global: GLOBAL {name} " in str(info.value)
    assert "add_safe_globals" in str(info.value)
    assert not marker.exists()
    # PyTorch refuses the same global (it prints builtins bare, and subprocess by the
    # Python 2 name a protocol-2 pickle spells it with)
    with pytest.raises(pickle.UnpicklingError, match=rf"GLOBAL \S*{name.rpartition('.')[2]}\b"):
        torch.load(path, weights_only=True)
    assert not marker.exists()


calls = []


def record(value):
    calls.append(value)
    return value


def test_nothing_runs_before_a_refused_global_not_even_allowed_ones(tmp_path):
    marker = tmp_path / "marker"
    data = pickle.dumps([Call(record, 1), Call(os.system, f"touch {marker}")], protocol=2)
    path = _archive(tmp_path / "mixed.pt", data)
    calls.clear()
    with safe_globals([record]):
        with pytest.raises(CheckpointError, match="GLOBAL posix.system was not an allowed global"):
            ag.load(path)
        assert calls == [] and not marker.exists()        # the dry run refused before the real one
        safe = _archive(tmp_path / "safe.pt", pickle.dumps([Call(record, 7)], protocol=2))
        assert ag.load(safe) == [7] and calls == [7]       # allowlisted: it runs
    with pytest.raises(CheckpointError, match=r"GLOBAL test_torch_files_safety\.record|GLOBAL tests\."):
        ag.load(safe)                                       # outside the block it is refused again


def test_weights_only_false_runs_the_pickle_and_warns_first(tmp_path):
    marker = tmp_path / "marker"
    buf = io.BytesIO()
    torch.save({"attack": Call(os.system, f"touch {marker}")}, buf)
    path = tmp_path / "trusted.pt"
    path.write_bytes(buf.getvalue())
    with pytest.warns(UserWarning, match="arbitrary code execution. Do it only if you got the file "
                                         "from a trusted source"):
        ag.load(path, weights_only=False)
    assert marker.exists()                    # explicitly asked for: the file's code ran


# -- damaged files --------------------------------------------------------------------------
def _good_file():
    buf = io.BytesIO()
    base = torch.arange(12, dtype=torch.float32).reshape(3, 4)
    torch.save(OrderedDict(w=base, v=base[:, 1:], n=torch.tensor(7), meta={"k": [1, 2.5, "x"]}), buf)
    return buf.getvalue()


GOOD = _good_file()


def _loads(blob, name="f.pt"):
    buf = io.BytesIO(blob)
    buf.name = name
    return ag.load(buf)


def _as_plain(obj):
    if isinstance(obj, ag.Tensor):
        return ("tensor", str(obj.dtype), obj.shape, obj.numpy().tobytes())
    if isinstance(obj, dict):
        return {k: _as_plain(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_as_plain(v) for v in obj]
    return obj


EXPECTED = _as_plain(_loads(GOOD))


def test_truncated_zip_is_a_checkpoint_error_naming_the_file():
    for cut in (0, 10, len(GOOD) // 2, len(GOOD) - 1):
        with pytest.raises(CheckpointError, match=r"f\.pt: "):
            _loads(GOOD[:cut])


def _rezip(blob, edit):
    """The archive with ``edit(name, data) -> data`` applied to each record, CRCs recomputed."""
    src = zipfile.ZipFile(io.BytesIO(blob))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_STORED) as zf:
        for info in src.infolist():
            zf.writestr(info.filename, edit(info.filename, src.read(info)))
    return out.getvalue()


def test_bad_crc_wrong_storage_size_and_offsets_out_of_range():
    start = GOOD.index(b"\x00\x00\x80?")           # 1.0f inside the storage record data/0
    flipped = GOOD[:start] + b"\x01" + GOOD[start + 1:]
    with pytest.raises(CheckpointError, match=r"f\.pt: record .*data/0 is damaged \(Bad CRC-32"):
        _loads(flipped)
    short = _rezip(GOOD, lambda n, d: d[:-4] if n.endswith("data/0") else d)
    with pytest.raises(CheckpointError, match=r"record .*data/0 holds 44 bytes, its storage needs 48"):
        _loads(short)

    class Storage:
        pass

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", torch.FloatStorage, "0", "cpu", 4) if isinstance(obj, Storage) else None

    for offset, size, stride in [(3, (2,), (1,)), (0, (3,), (2,)), (5, (0,), (1,))]:
        buf = io.BytesIO()
        Pickler(buf, protocol=2).dump(Call(torch._utils._rebuild_tensor_v2, Storage(), offset, size, stride,
                                           False, OrderedDict()))
        blob = _rezip(GOOD, lambda n, d: buf.getvalue() if n.endswith("data.pkl") else d[:16])
        with pytest.raises(CheckpointError, match=r"reaches element \d+ of storage 0, which has 4"):
            _loads(blob)


def test_deeply_nested_pickle_is_refused():
    depth = 100_000
    data = b"\x80\x02" + b"]" * depth + b"a" * (depth - 1) + b"."      # [[[[...]]]]
    with pytest.raises(CheckpointError, match=r"f\.pt: the pickle nests deeper than 200 levels"):
        _loads(_rezip(GOOD, lambda n, d: data if n.endswith("data.pkl") else d))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(1, 255)), min_size=1, max_size=4))
def test_flipped_bytes_raise_or_load_exactly_what_was_saved(flips):
    blob = bytearray(GOOD)
    for at, xor in flips:
        blob[at] ^= xor
    try:
        got = _loads(bytes(blob))
    except CheckpointError as e:
        assert str(e).startswith("f.pt: ")
        return
    assert _as_plain(got) == EXPECTED         # a flip the format ignores (padding, timestamps)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_damaged_pickles_raise_checkpoint_errors_only(data):
    """The pickle rewritten (with a valid CRC): a wrong-but-loadable object can come
    out, but only CheckpointError may escape, and nothing outside the allowlist runs."""
    pkl = zipfile.ZipFile(io.BytesIO(GOOD)).read("archive/data.pkl")
    edit = data.draw(st.sampled_from(["flip", "cut", "insert"]))
    at = data.draw(st.integers(0, len(pkl) - 1))
    if edit == "flip":
        pkl = pkl[:at] + bytes([pkl[at] ^ data.draw(st.integers(1, 255))]) + pkl[at + 1:]
    elif edit == "cut":
        pkl = pkl[:at] + pkl[at + data.draw(st.integers(1, 16)):]
    else:
        pkl = pkl[:at] + data.draw(st.binary(min_size=1, max_size=8)) + pkl[at:]
    try:
        _loads(_rezip(GOOD, lambda n, d: pkl if n.endswith("data.pkl") else d))
    except CheckpointError as e:
        assert str(e).startswith("f.pt: ")


@settings(max_examples=60, deadline=None)
@given(st.integers(-48, 64).filter(lambda n: n != 0))
def test_storage_records_of_the_wrong_size_are_refused(delta):
    blob = _rezip(GOOD, lambda n, d: (d[:len(d) + delta] if delta < 0 else d + b"\x00" * delta)
                  if n.endswith("data/0") else d)
    with pytest.raises(CheckpointError, match=r"data/0 holds \d+ bytes, its storage needs 48"):
        _loads(blob)


def test_a_pickle_may_not_replace_a_tensors_array(tmp_path):
    """``_rebuild_parameter_with_state`` sets Python attributes; names the Tensor class
    defines (its array, grad_fn, methods) are refused."""

    class Storage:
        pass

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", torch.FloatStorage, "0", "cpu", 2) if isinstance(obj, Storage) else None

    buf = io.BytesIO()
    tensor = Call(torch._utils._rebuild_tensor_v2, Storage(), 0, (2,), (1,), False, OrderedDict())
    Pickler(buf, protocol=2).dump(Call(torch._utils._rebuild_parameter_with_state, tensor, True, OrderedDict(),
                                       {"array": 5}))
    path = _archive(tmp_path / "p.pt", buf.getvalue(), [("0", np.ones(2, np.float32).tobytes())])
    with pytest.raises(CheckpointError, match=r"saved attributes .*'array'.* cannot be set"):
        ag.load(path)


def _legacy_file():
    buf = io.BytesIO()
    base = torch.arange(6, dtype=torch.float64)
    torch.save({"w": base, "v": base[2:], "n": torch.tensor([1, 2], dtype=torch.int16)}, buf,
               _use_new_zipfile_serialization=False)
    return buf.getvalue()


LEGACY = _legacy_file()
LEGACY_EXPECTED = _as_plain(_loads(LEGACY))


def test_every_truncation_of_a_legacy_file_is_a_checkpoint_error():
    for cut in range(len(LEGACY)):
        with pytest.raises(CheckpointError, match=r"f\.pt: "):
            _loads(LEGACY[:cut])
    with pytest.raises(CheckpointError, match="bytes after the last storage"):
        _loads(LEGACY + b"\x00")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, len(LEGACY) - 1), st.integers(1, 255)), min_size=1, max_size=3))
def test_flipped_bytes_of_a_legacy_file_raise_or_load_without_other_errors(flips):
    """The legacy format has no checksum: a flip in tensor data loads other numbers,
    but nothing but CheckpointError escapes and the structure cannot change silently
    into something the allowlist refuses."""
    blob = bytearray(LEGACY)
    for at, xor in flips:
        blob[at] ^= xor
    try:
        got = _as_plain(_loads(bytes(blob)))
    except CheckpointError as e:
        assert str(e).startswith("f.pt: ")
        return
    assert isinstance(got, dict)
