"""tools/api_coverage.py counts what resolves, and not stubs, partial ops or unknown names."""
import json
import subprocess
import sys
import types
from pathlib import Path

from tools import api_coverage as cov

ROOT = Path(__file__).resolve().parents[1]


def _real(x):
    """A documented function."""
    return x


def _stub(x):
    """Documented, but only a placeholder."""
    raise NotImplementedError("later")


class _Layer:
    def __init__(self):
        pass

    def forward(self, x):
        return x


class _StubLayer(_Layer):
    def forward(self, x):
        raise NotImplementedError


class _Abstract:
    def forward(self, x):
        raise NotImplementedError


def test_is_stub():
    assert cov.is_stub(_stub) and not cov.is_stub(_real)
    assert not cov.is_stub(len) and not cov.is_stub(property(_real))
    assert cov.is_stub(_StubLayer, reference=_Layer)
    # an abstract forward is no stub where PyTorch's class is abstract too (nn.Module)
    assert not cov.is_stub(_Abstract, reference=_Abstract)
    assert not cov.is_stub(_Layer, reference=_Layer)


def test_coverage_counts_a_fake_list():
    ns = {"function": types.SimpleNamespace(atan2=_real, erfinv=_stub, hypot=_real),
          "method": type("T", (), {"atan2": _real, "lgamma": staticmethod(_real)}),
          "nn.functional": types.SimpleNamespace(selu=_real),
          "linalg": None,
          "special": types.SimpleNamespace(ndtr=_real, i1=_stub),
          "class": types.SimpleNamespace(SELU=_Layer, GLU=_StubLayer)}
    targets = {"torch": {"atan2": ("function", "method"), "erfinv": ("function",),
                         "hypot": ("function", "method"), "lgamma": ("method",),
                         "nope": ("function",)},
               "nn.functional": {"selu": ("function",), "celu": ("function",)},
               "linalg": {"inv": ("function",)},
               "special": {"ndtr": ("function",), "i1": ("function",)},
               "nn modules": {"SELU": ("class",), "GLU": ("class",)}}
    reference = types.SimpleNamespace(SELU=_Layer, GLU=_Layer)
    report = cov.coverage(targets, ns, reference)
    assert report["torch"][0] == ["atan2", "lgamma"]
    assert report["torch"][1] == {"erfinv": ["function"], "hypot": ["method"],
                                  "nope": ["function"]}
    assert report["nn.functional"] == (["selu"], {"celu": ["function"]})
    assert report["linalg"] == ([], {"inv": ["function"]})
    assert report["special"] == (["ndtr"], {"i1": ["function"]})
    assert report["nn modules"] == (["SELU"], {"GLU": ["class"]})
    table = cov.markdown(report)
    assert "| torch functions and Tensor methods | 2 | 5 | 40% |" in table
    assert "| **all** | **5** | **12** | **42%** |" in table
    assert "hypot (method)" in cov.text(report)


def test_real_target_list_is_filtered():
    # In a child process: importing op_db freezes torch.backends' flags for the process,
    # which later tests set (test_porting.py)
    code = ("import json; from tools import api_coverage as c; "
            "print(json.dumps({f: {n: list(v) for n, v in t.items()} "
            "for f, t in c.torch_targets().items()}))")
    run = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    targets = json.loads(run.stdout)
    assert targets["torch"]["atan2"] == ["function", "method"]
    assert targets["special"]["ndtri"] == ["function"]
    names = set(targets["torch"]) | set(targets["nn.functional"])
    assert not names & (cov.COMPLEX_ONLY | cov.DTYPE_CONVERSIONS | cov.INTERNAL)
    assert not [n for n in names if n.endswith("_copy") or n.startswith(("fft.", "masked.", "_"))]
    assert not [n for n in targets["nn modules"] if n.startswith("Lazy")]
    assert "Conv2d" in targets["nn modules"] and "SyncBatchNorm" not in targets["nn modules"]
