"""nn.save / nn.load: round trips, atomic writes, no pickle, clear errors on bad files."""
import json
import os
import pathlib
import signal
import struct
import subprocess
import sys

import numpy as np
import pytest

import autograd as ag
import optim
from autograd.serialization import CheckpointError, load, save


def _state():
    w = ag.tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    b = ag.zeros(3, requires_grad=True)
    opt = optim.Adam([w, b], lr=1e-2)
    w.grad, b.grad = ag.ones(2, 3), ag.ones(3)
    opt.step()
    return {"model": {"fc.weight": w, "fc.bias": b, "bn.num_batches_tracked": ag.tensor(7)},
            "optimizer": opt.state_dict(), "epoch": 3, "best": float("inf"),
            "rng": np.arange(4, dtype=np.uint64), "tags": ("a", None, True), "history": [0.5, 0.25]}


def test_round_trip_preserves_structure_types_and_values(tmp_path):
    obj = _state()
    path = tmp_path / "ck.safetensors"
    save(obj, path)
    back = load(path)
    assert set(back) == set(obj)
    for k in ("fc.weight", "fc.bias", "bn.num_batches_tracked"):
        assert isinstance(back["model"][k], ag.Tensor)
        assert back["model"][k].dtype == obj["model"][k].dtype
        np.testing.assert_array_equal(back["model"][k].array, obj["model"][k].array)
    assert back["model"]["fc.weight"].requires_grad
    st = back["optimizer"]["state"]
    assert set(st) == {0, 1} and st[0]["step"] == 1.0            # int keys survive JSON
    np.testing.assert_array_equal(st[0]["exp_avg"], obj["optimizer"]["state"][0]["exp_avg"])
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert back["epoch"] == 3 and back["best"] == float("inf") and back["tags"] == ("a", None, True)
    assert isinstance(back["rng"], np.ndarray) and back["rng"].dtype == np.uint64
    assert back["history"] == [0.5, 0.25]


def test_file_is_plain_safetensors(tmp_path):
    from safetensors.numpy import load_file
    path = tmp_path / "ck.safetensors"
    save({"w": ag.ones(2, 2)}, path)
    assert list(load_file(str(path))) == ["0"]


def test_optimizer_state_round_trip_continues_training(tmp_path):
    obj = _state()
    save(obj["optimizer"], tmp_path / "opt.st")
    w = ag.tensor(obj["model"]["fc.weight"].array.copy(), requires_grad=True)
    b = ag.tensor(obj["model"]["fc.bias"].array.copy(), requires_grad=True)
    opt = optim.Adam([w, b], lr=1e-2)
    opt.load_state_dict(load(tmp_path / "opt.st"))
    assert opt.state[w]["step"] == 1.0


def test_refuses_unsupported_objects(tmp_path):
    with pytest.raises(TypeError, match=r"cannot store an object of type object at obj\['x'\]"):
        save({"x": object()}, tmp_path / "a")
    with pytest.raises(TypeError, match="dict keys"):
        save({(1, 2): 3}, tmp_path / "a")
    assert not os.listdir(tmp_path)          # nothing half-written


def test_atomic_save_keeps_old_checkpoint_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / "ck.st"
    save({"epoch": 1, "w": ag.ones(3)}, path)

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        save({"epoch": 2, "w": ag.zeros(3)}, path)
    monkeypatch.undo()
    assert load(path)["epoch"] == 1
    assert os.listdir(tmp_path) == ["ck.st"]          # the temporary file was removed


def test_truncated_file(tmp_path):
    path = tmp_path / "ck.st"
    save(_state(), path)
    blob = path.read_bytes()
    for cut, what in [(4, "truncated checkpoint"), (60, "truncated checkpoint"),
                      (len(blob) - 10, "corrupt or truncated tensor data")]:
        path.write_bytes(blob[:cut])
        with pytest.raises(CheckpointError, match=f"ck.st: {what}"):
            load(path)


def _rewrite_metadata(path, edit, recompute_digest):
    """Apply ``edit`` to the tapegrad metadata of the checkpoint at ``path``, optionally
    recomputing the digest as a forger would."""
    from autograd.serialization import _digest
    from safetensors.numpy import load as st_load
    blob = path.read_bytes()
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n])
    meta = json.loads(header["__metadata__"]["tapegrad"])
    edit(meta)
    if recompute_digest:
        meta["sha256"] = _digest(meta, st_load(blob))
    header["__metadata__"]["tapegrad"] = json.dumps(meta)
    new = json.dumps(header).encode()
    new += b" " * (-len(new) % 8)
    path.write_bytes(struct.pack("<Q", len(new)) + new + blob[8 + n:])


def test_tampered_tensor_bytes_and_metadata(tmp_path):
    path = tmp_path / "ck.st"
    save(_state(), path)
    blob = bytearray(path.read_bytes())
    blob[-1] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.raises(CheckpointError, match="checksum mismatch"):
        load(path)
    # The digest covers the metadata: an edited learning rate or epoch is caught.
    for edit in (lambda m: m["tree"]["dict"][3].__setitem__(1, 4),            # epoch 3 -> 4
                 lambda m: m["tree"]["dict"][0][1]["dict"].reverse()):       # reordered keys
        save(_state(), path)
        _rewrite_metadata(path, edit, recompute_digest=False)
        with pytest.raises(CheckpointError, match="ck.st: checksum mismatch"):
            load(path)
    # Behind a valid digest (a forged file), the structure is still checked.
    save({"w": ag.ones(2)}, path)
    _rewrite_metadata(path, lambda m: m["tree"]["dict"][0][1].__setitem__("tensor", "9"), True)
    with pytest.raises(CheckpointError, match="refers to tensor '9'"):
        load(path)


@pytest.mark.parametrize("tree, message", [
    ({"dict": [[{"list": []}, 2]]}, "malformed dict key"),
    ({"dict": [[1, 2, 3]]}, "malformed dict item"),
    ({"list": 5}, "malformed metadata node"),
    ({"float": "1.5"}, "malformed metadata node"),
    ({"set": []}, "malformed metadata node"),
    ({"list": [], "tuple": []}, "malformed metadata node with keys"),
    ({"tensor": "0", "kind": "pickle"}, "malformed tensor node"),
    ({"tensor": "0", "kind": "Tensor", "requires_grad": False}, "malformed tensor node"),
    ({"tensor": 0, "kind": "Tensor"}, "metadata refers to tensor 0,"),
    ({"list": [{"tensor": "0", "kind": "Tensor"}] * 2}, "metadata refers to tensor '0' twice"),
    ({"list": []}, "the file holds 1 tensor.s. the metadata does not use"),
    ({"tensor": "0", "kind": "scalar"}, "malformed tensor node"),                # not 0-d
    ({"tensor": "0", "kind": "Tensor", "requires_grad": True}, "malformed checkpoint"),  # int64
    (json.loads('{"list":[' * 70 + "]}" * 70), "metadata nested deeper than 64"),
])
def test_forged_metadata_is_refused_with_checkpoint_error(tmp_path, tree, message):
    path = tmp_path / "ck.st"
    save(ag.tensor([1, 2]), path)
    _rewrite_metadata(path, lambda m: m.__setitem__("tree", tree), recompute_digest=True)
    with pytest.raises(CheckpointError, match=f"ck.st: {message}"):
        load(path)


def test_deeply_nested_json_is_a_checkpoint_error(tmp_path):
    path = tmp_path / "deep.st"
    deep = "[" * 100_000 + "]" * 100_000
    for text in (json.dumps({"__metadata__": {"tapegrad": deep}}), '{"a":' + deep + "}"):
        raw = text.encode()
        path.write_bytes(struct.pack("<Q", len(raw)) + raw)
        with pytest.raises(CheckpointError, match="deep.st: not a tapegrad checkpoint"):
            load(path)
    with pytest.raises(TypeError, match="nested deeper than 64 levels"):
        nested = []
        for _ in range(100):
            nested = [nested]
        save(nested, path)


def test_old_format_version_is_named(tmp_path):
    path = tmp_path / "ck.st"
    save({"epoch": 1}, path)
    _rewrite_metadata(path, lambda m: m.__setitem__("version", 1), recompute_digest=True)
    with pytest.raises(CheckpointError, match="version 1 is from an older tapegrad"):
        load(path)
    _rewrite_metadata(path, lambda m: m.__setitem__("version", 3), recompute_digest=True)
    with pytest.raises(CheckpointError, match="version 3 is newer"):
        load(path)


def test_not_a_checkpoint_and_missing(tmp_path):
    from safetensors.numpy import save_file
    other = tmp_path / "other.safetensors"
    save_file({"x": np.zeros(2, np.float32)}, str(other))
    with pytest.raises(CheckpointError, match="not a tapegrad checkpoint"):
        load(other)
    pickled = tmp_path / "model.pt"
    pickled.write_bytes(b"\x80\x04\x95" + b"\x00" * 40)
    with pytest.raises(CheckpointError):
        load(pickled)
    with pytest.raises(CheckpointError, match="not found"):
        load(tmp_path / "nope.st")


def test_temporary_files_of_killed_writers_are_removed(tmp_path):
    # A writer killed between writing its temporary file and renaming it.
    script = ("import os, signal, sys, numpy as np; from autograd.serialization import save; "
              "os.replace = lambda *a: os.kill(os.getpid(), signal.SIGKILL); "
              "save({'w': np.zeros(1000)}, sys.argv[1])")
    proc = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "ck.st")],
                            cwd=pathlib.Path(__file__).resolve().parents[1])
    assert proc.wait() == -signal.SIGKILL
    (left,) = os.listdir(tmp_path)
    assert left.startswith(f"ck.st.tapegrad-{proc.pid}-") and left.endswith(".tmp")
    # Temporary files of live writers (this process, its parent) and look-alikes stay.
    keep = [f"ck.st.tapegrad-{os.getpid()}-abc.tmp", f"other.tapegrad-{os.getppid()}-x1.tmp",
            "notes.tmp", f"ck.st.{proc.pid}.tmp"]
    for name in keep:
        (tmp_path / name).write_bytes(b"x")
    save({"epoch": 1}, tmp_path / "ck.st")
    assert sorted(os.listdir(tmp_path)) == sorted(keep + ["ck.st"])
    assert load(tmp_path / "ck.st") == {"epoch": 1}
