"""MNIST/Fashion-MNIST/CIFAR-10 readers: the real shared MNIST files, corrupt files
(each error names the file and the problem), download with checksum checks."""
import gzip
import os
import pickle
import shutil

import numpy as np
import pytest

from autograd.data import CIFAR10, MNIST, DataFileError, DataLoader, FashionMNIST, read_idx
from autograd.data.download import md5sum

FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]


def _idx_bytes(arr, type_code=0x08):
    header = bytes([0, 0, type_code, arr.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in arr.shape)
    return header + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def _write_mnist(root, n=20, gz=True, images=None, labels=None):
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8) if images is None else images
    labels = rng.integers(0, 10, n, dtype=np.uint8) if labels is None else labels
    for prefix in ("train", "t10k"):
        for kind, arr in (("images-idx3", images), ("labels-idx1", labels)):
            name = root / f"{prefix}-{kind}-ubyte"
            data = _idx_bytes(arr)
            if gz:
                (root / (name.name + ".gz")).write_bytes(gzip.compress(data))
            else:
                name.write_bytes(data)
    return images, labels


def test_reads_the_shared_mnist_files(mnist_dir):
    train, test = MNIST(mnist_dir), MNIST(mnist_dir, train=False)
    assert len(train) == 60000 and len(test) == 10000
    assert train.data.shape == (60000, 28, 28) and train.data.dtype == np.uint8
    x, y = train[0]
    assert x.shape == (1, 28, 28) and x.dtype == np.float32 and 0 <= x.array.min() <= x.array.max() <= 1
    assert int(y) == 5                       # the famous first training digit
    assert np.bincount(test.targets).tolist()[:3] == [980, 1135, 1032]
    xb, yb = next(iter(DataLoader(test, batch_size=256)))
    assert xb.shape == (256, 1, 28, 28) and yb.dtype == np.int64


def test_plain_and_gzip_and_torchvision_layout(tmp_path):
    imgs, labels = _write_mnist(tmp_path / "plain", gz=False)
    ds = MNIST(tmp_path / "plain")
    np.testing.assert_array_equal(ds.data, imgs)
    _write_mnist(tmp_path / "tv" / "MNIST" / "raw")
    assert len(MNIST(tmp_path / "tv", train=False)) == 20
    _write_mnist(tmp_path / "fashion")
    f = FashionMNIST(tmp_path / "fashion")
    assert f.classes[9] == "Ankle boot" and len(f) == 20


def test_missing_file_names_it(tmp_path):
    _write_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataFileError, match=r"missing file t10k-labels-idx1-ubyte.*download=True"):
        MNIST(tmp_path, train=False)


def test_bad_magic_number(tmp_path):
    _write_mnist(tmp_path)
    bad = tmp_path / "train-images-idx3-ubyte.gz"
    raw = bytearray(gzip.decompress(bad.read_bytes()))
    raw[0:4] = b"\x12\x34\x08\x03"
    bad.write_bytes(gzip.compress(bytes(raw)))
    with pytest.raises(DataFileError, match=r"train-images-idx3-ubyte\.gz: bad magic number 0x12340803"):
        MNIST(tmp_path)
    # Images and labels files swapped: the rank in the magic number gives it away.
    shutil.copy(tmp_path / "t10k-labels-idx1-ubyte.gz", bad)
    with pytest.raises(DataFileError, match=r"train-images-idx3-ubyte\.gz: bad magic.*rank-3.*rank 1"):
        MNIST(tmp_path)


def test_wrong_length(tmp_path):
    _write_mnist(tmp_path, gz=False)
    path = tmp_path / "train-labels-idx1-ubyte"
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(DataFileError, match=r"train-labels-idx1-ubyte: wrong length, file truncated.*"
                                            r"needs 20 data bytes.*found 17"):
        MNIST(tmp_path)
    path.write_bytes(_idx_bytes(np.zeros(20, np.uint8)) + b"xx")
    with pytest.raises(DataFileError, match="trailing bytes"):
        MNIST(tmp_path)
    path.write_bytes(b"\x00\x00")
    with pytest.raises(DataFileError, match="too short"):
        read_idx(path)


def test_count_mismatch_between_images_and_labels(tmp_path):
    _write_mnist(tmp_path, labels=np.zeros(19, np.uint8))
    with pytest.raises(DataFileError, match="20 images but the labels file has 19"):
        MNIST(tmp_path)


def test_truncated_and_corrupt_gzip(tmp_path):
    _write_mnist(tmp_path)
    path = tmp_path / "t10k-images-idx3-ubyte.gz"
    blob = path.read_bytes()
    path.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(DataFileError, match=r"t10k-images-idx3-ubyte\.gz: truncated gzip"):
        MNIST(tmp_path, train=False)
    path.write_bytes(blob[:10] + b"\xff" * (len(blob) - 10))
    with pytest.raises(DataFileError, match=r"t10k-images-idx3-ubyte\.gz: corrupt gzip"):
        MNIST(tmp_path, train=False)


def test_download_verifies_checksums(tmp_path, monkeypatch):
    """Download from a file:// mirror: the right checksum installs the file; a wrong one
    raises an error naming the file and both sums, and leaves nothing behind."""
    mirror = tmp_path / "mirror"
    _write_mnist(mirror)
    resources = [(f, md5sum(mirror / f)) for f in FILES]
    monkeypatch.setattr(MNIST, "mirrors", [mirror.as_uri() + "/"])
    monkeypatch.setattr(MNIST, "resources", resources)
    ds = MNIST(tmp_path / "dl", download=True)
    assert len(ds) == 20 and sorted(os.listdir(tmp_path / "dl")) == sorted(FILES)
    bad = list(resources)
    bad[3] = (bad[3][0], "0" * 32)
    monkeypatch.setattr(MNIST, "resources", bad)
    with pytest.raises(DataFileError, match=r"t10k-labels-idx1-ubyte\.gz.*checksum mismatch.*expected 0{32}"):
        MNIST(tmp_path / "dl2", download=True)
    assert "t10k-labels-idx1-ubyte.gz" not in os.listdir(tmp_path / "dl2")
    assert not [f for f in os.listdir(tmp_path / "dl2") if f.endswith(".part")]
    monkeypatch.setattr(MNIST, "mirrors", [(tmp_path / "nowhere").as_uri() + "/"])
    with pytest.raises(DataFileError, match="could not download"):
        MNIST(tmp_path / "dl3", download=True)


def _write_cifar(folder, n=6):
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        entry = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 b"labels": rng.integers(0, 10, n).tolist(), b"batch_label": name.encode()}
        (folder / name).write_bytes(pickle.dumps(entry, protocol=2))


def test_cifar10_batches(tmp_path):
    _write_cifar(tmp_path / "cifar-10-batches-py")
    train, test = CIFAR10(tmp_path), CIFAR10(tmp_path, train=False)
    assert len(train) == 30 and len(test) == 6
    x, y = train[0]
    assert x.shape == (3, 32, 32) and x.dtype == np.float32 and y.dtype == np.int64
    assert train.classes[0] == "airplane"


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_cifar10_refuses_foreign_globals_and_corrupt_files(tmp_path):
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar(folder)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": _Evil(), b"labels": []}))
    with pytest.raises(DataFileError, match=r"test_batch: not a readable CIFAR batch.*not allowed"):
        CIFAR10(tmp_path, train=False)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": np.zeros((2, 10), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(DataFileError, match=r"test_batch: wrong shape"):
        CIFAR10(tmp_path, train=False)
    blob = (folder / "data_batch_1").read_bytes()
    (folder / "data_batch_1").write_bytes(blob[:100])
    with pytest.raises(DataFileError, match="data_batch_1: not a readable CIFAR batch"):
        CIFAR10(tmp_path)
    with pytest.raises(DataFileError, match="no cifar-10-batches-py"):
        CIFAR10(tmp_path / "empty")


def test_mnist_lookup_for_tests(tmp_path):
    from conftest import MNIST_ENV, find_mnist
    _write_mnist(tmp_path / "env", gz=False)
    _write_mnist(tmp_path / "shared")
    empty = tmp_path / "none"
    assert find_mnist({MNIST_ENV: str(tmp_path / "env")}, tmp_path / "shared") == tmp_path / "env"
    assert find_mnist({}, tmp_path / "shared") == tmp_path / "shared"
    with pytest.raises(pytest.fail.Exception, match=f"{MNIST_ENV}=.*none does not hold"):
        find_mnist({MNIST_ENV: str(empty)}, tmp_path / "shared")
    with pytest.raises(pytest.skip.Exception, match=f"set {MNIST_ENV} to a folder.*download=True"):
        find_mnist({"CI": "false"}, empty)
    with pytest.raises(pytest.fail.Exception, match="CI=true: real MNIST files not found"):
        find_mnist({"CI": "true"}, empty)


def test_idx_dimensions_that_overflow_int64_are_a_data_file_error(tmp_path):
    path = tmp_path / "huge-idx4-ubyte"
    for dims in ([65536] * 4, [2**32 - 1] * 3):      # 2**64 wraps to 0 bytes in int64
        path.write_bytes(bytes([0, 0, 0x08, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims))
        with pytest.raises(DataFileError, match=r"huge-idx4-ubyte: wrong length, file truncated"):
            read_idx(path)


@pytest.mark.parametrize("labels, message", [
    ([10, -1, 0.7, 0, 0, 0], r"label 10 at position 0 is not an integer in \[0, 10\)"),
    ([0, 1, 0.7, 0, 0, 0], r"label 0.7 at position 2"),
    ([0, 1, 2, "3", 4, 5], r"label '3' at position 3"),
    ([0, True, 2, 3, 4, 5], r"label True at position 1"),
    (np.zeros((6, 1), np.int64), r"'labels' should be a list of integers.*ndarray of int64 \(6, 1\)"),
    ("012345", r"'labels' should be a list of integers in \[0, 10\); found str"),
])
def test_cifar10_labels_are_validated(tmp_path, labels, message):
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar(folder)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": np.zeros((6, 3072), np.uint8), b"labels": labels}))
    with pytest.raises(DataFileError, match=f"test_batch: {message}"):
        CIFAR10(tmp_path, train=False)
    (folder / "test_batch").write_bytes(pickle.dumps({b"data": np.zeros((6, 3072), np.uint8),
                                                      b"labels": np.arange(6, dtype=np.uint8)}))
    assert CIFAR10(tmp_path, train=False).targets.tolist() == list(range(6))
