"""Shared fixtures.

``mnist_dir``: the folder holding the real MNIST IDX files, for the few tests that
read them.  Looked up in ``$TAPEGRAD_MNIST_DIR``, then in ``../shared/data/mnist``
beside the repository.  When neither holds the files the test is skipped with a
reason saying how to get them, except under ``CI=true``, where that is a failure, so
that CI cannot pass without running these tests.
"""
import os
import pathlib

import pytest

MNIST_ENV = "TAPEGRAD_MNIST_DIR"
MNIST_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
SHARED_MNIST = pathlib.Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"


def missing(reason, environ):
    """Skip for a missing install or data, with ``reason``; under ``CI=true`` fail instead,
    so that CI cannot pass without running the test."""
    if environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true: {reason}")
    pytest.skip(reason)


def _has_mnist(folder):
    return all((folder / name).is_file() or (folder / f"{name}.gz").is_file() for name in MNIST_FILES)


def find_mnist(environ, shared=SHARED_MNIST):
    """The MNIST folder, or a skip (a failure under CI=true) saying how to get one."""
    if environ.get(MNIST_ENV):
        folder = pathlib.Path(environ[MNIST_ENV])
        if not _has_mnist(folder):          # set on purpose, so a wrong path is an error
            pytest.fail(f"${MNIST_ENV}={folder} does not hold the four MNIST IDX files "
                        f"({', '.join(MNIST_FILES)}, optionally .gz)")
        return folder
    if _has_mnist(shared):
        return shared
    reason = (f"real MNIST files not found: set {MNIST_ENV} to a folder holding the four IDX files "
              f"({', '.join(MNIST_FILES)}, optionally .gz) or put them in {shared}; "
              "`python -c \"from autograd.data import MNIST; MNIST('DIR', download=True)\"` fetches them")
    missing(reason, environ)


@pytest.fixture(scope="session")
def mnist_dir():
    return find_mnist(os.environ)
