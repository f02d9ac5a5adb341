"""The reduction family against PyTorch's own OpInfo sample inputs (op_db's
``sample_inputs``, float64): for each sample, our outputs and the gradients of
sum(out * w) equal PyTorch 2.13's (integer samples for the integer-only bincount).  A child process draws the samples and runs
PyTorch (importing PyTorch's test helpers freezes torch.backends' flags for the
process, see tests/test_api_coverage.py); this process runs ours on the same arrays.
"""
import pickle
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import autograd as ag

pytest.importorskip("torch")
pytest.importorskip("expecttest")       # PyTorch's test helpers import it (the dev extra)

# the ops checked, with how ours is called when it is not autograd.<name>(input, ...)
OURS = {
    "zero_": lambda x: ag.zero_(x.clone()),
    "fill": lambda x, value: ag.fill(x, value),
    "unsafe_chunk": lambda x, *a, **k: ag.unsafe_chunk(x, *a, **k),
}
NAMES = sorted({"aminmax", "cummax", "cummin", "cumprod", "logcumsumexp", "median", "nanmedian",
                "mode", "kthvalue", "msort", "nanmean", "nansum", "quantile", "nanquantile",
                "std_mean", "var_mean", "count_nonzero", "diff", "gradient", "trapezoid", "trapz",
                "cumulative_trapezoid", "dist", "renorm", "cov", "corrcoef", "histc", "bincount",
                "unique", "unique_consecutive", "t", "fill", "zero_", "slice", "unsafe_chunk",
                "unsafe_split", "as_strided_scatter"})
# bernoulli, normal and poisson draw random numbers: tests/test_random_draws.py

CHILD = textwrap.dedent('''
    import pickle, sys
    import numpy as np
    import torch
    from torch.testing._internal.common_methods_invocations import op_db

    def enc(v):
        if isinstance(v, torch.Tensor):
            return ("T", v.detach().numpy().copy(), v.requires_grad)
        if isinstance(v, (list, tuple)) and not hasattr(v, "_fields"):
            return (type(v).__name__, [enc(x) for x in v])
        if isinstance(v, torch.dtype):
            return ("D", str(v).replace("torch.", ""))
        return ("V", v)

    cases = []
    for info in op_db:
        if info.name not in sys.argv[2].split(",") or info.variant_test_name not in ("", "unbiased"):
            continue
        dtype = torch.float64 if torch.float64 in info.dtypes else torch.int64   # bincount: ints
        grad = info.supports_autograd and dtype.is_floating_point
        for k, s in enumerate(info.sample_inputs("cpu", dtype, requires_grad=grad)):
            out = info.op(s.input, *s.args, **s.kwargs)
            outs = list(out) if isinstance(out, (tuple, list)) else [out]
            leaves = [t for t in [s.input, *s.args, *s.kwargs.values()]
                      if isinstance(t, torch.Tensor) and t.requires_grad]
            diff = [i for i, o in enumerate(outs) if isinstance(o, torch.Tensor) and o.requires_grad]
            rng = np.random.default_rng(k)
            ws = [rng.standard_normal(tuple(outs[i].shape)) for i in diff]
            grads = None
            if leaves and diff:
                try:
                    total = sum((outs[i] * torch.tensor(w)).sum() for i, w in zip(diff, ws))
                    grads = [None if g is None else g.numpy()
                             for g in torch.autograd.grad(total, leaves, allow_unused=True)]
                except RuntimeError as e:            # PyTorch's own backward fails
                    grads = str(e)
            cases.append(dict(name=info.name, k=k, input=enc(s.input), args=enc(list(s.args)),
                              kwargs={n: enc(v) for n, v in s.kwargs.items()},
                              outs=[enc(o) for o in outs], diff=diff, ws=ws, grads=grads))
    with open(sys.argv[1], "wb") as f:
        pickle.dump(cases, f)
''')


@pytest.fixture(scope="module")
def torch_cases(tmp_path_factory):
    path = tmp_path_factory.mktemp("opinfo") / "cases.pkl"
    subprocess.run([sys.executable, "-c", CHILD, str(path), ",".join(NAMES)], check=True)
    with open(path, "rb") as f:
        return pickle.load(f)


def _dec(v):
    kind, *rest = v
    if kind == "T":
        arr, requires_grad = rest
        return ag.tensor(arr, requires_grad=requires_grad and arr.dtype.kind == "f")
    if kind in ("list", "tuple"):
        items = [_dec(x) for x in rest[0]]
        return items if kind == "list" else tuple(items)
    if kind == "D":
        return getattr(ag, rest[0])
    return rest[0]


def _array(t):
    return np.asarray(t.array) if isinstance(t, ag.Tensor) else np.asarray(t)


def _check(case):
    x, args = _dec(case["input"]), _dec(case["args"])
    kwargs = {n: _dec(v) for n, v in case["kwargs"].items()}
    fn = OURS.get(case["name"], getattr(ag, case["name"]))
    out = fn(x, *args, **kwargs)
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    assert len(outs) == len(case["outs"])
    for o, (_, want, _) in zip(outs, case["outs"]):
        assert tuple(o.shape) == want.shape, (tuple(o.shape), want.shape)
        assert np.dtype(o.dtype).kind == want.dtype.kind, (o.dtype, want.dtype)
        np.testing.assert_allclose(_array(o), want, rtol=1e-7, atol=1e-10, equal_nan=True)
    if case["grads"] is None or isinstance(case["grads"], str):
        return
    leaves = [t for t in [x, *args, *kwargs.values()] if isinstance(t, ag.Tensor) and t.requires_grad]
    total = sum(((outs[i] * ag.tensor(w)).sum() for i, w in zip(case["diff"], case["ws"])),
                ag.tensor(0.0, dtype=ag.float64))
    ours = ag.grad(total, leaves, allow_unused=True)
    for k, (g, want) in enumerate(zip(ours, case["grads"])):
        want = np.zeros(leaves[k].shape) if want is None else want
        got = np.zeros(leaves[k].shape) if g is None else g.array
        single = leaves[k].dtype == ag.float32          # cov's float32 aweights
        np.testing.assert_allclose(got, want, rtol=1e-5 if single else 1e-7, atol=1e-10,
                                   equal_nan=True, err_msg=f"gradient of leaf {k}")


# PyTorch's own results that we deliberately differ from (README: Known differences)
DIFFERENT = {"as_strided_scatter": "PyTorch 2.13's input gradient fails its own gradcheck"}


@pytest.mark.parametrize("name", NAMES)
def test_against_torch_opinfo_samples(torch_cases, name):
    cases = [c for c in torch_cases if c["name"] == name]
    assert cases, f"op_db gave no samples for {name}"
    for case in cases:
        if name in DIFFERENT:
            case = dict(case, grads=None)          # values still compared
        try:
            _check(case)
        except AssertionError as e:
            raise AssertionError(f"{name} sample {case['k']}: {e}") from None
