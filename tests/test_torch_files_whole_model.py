"""Whole-model saves under PyTorch's current rules (issue 33, item 3), as a dual run: the
same source with ``torch`` bound to PyTorch and to tapegrad.  ``torch.save(model)``
pickles the module in the zip format; ``torch.load`` keeps ``weights_only=True`` and
refuses the model's classes by name until they are allowlisted with
``torch.serialization.safe_globals`` / ``add_safe_globals``; ``weights_only=False``
loads it when asked."""
import io
import sys
import types
import warnings
import zipfile

import numpy as np
import pytest
import torch as torch_ref

import autograd

PROGRAM = '''
class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 4)
        self.act = torch.nn.Tanh()
        self.head = torch.nn.Sequential(torch.nn.Linear(4, 2))

    def forward(self, x):
        return self.head(self.act(self.fc(x)))


model = Net()
model.load_state_dict({k: torch.tensor(v) for k, v in WEIGHTS.items()})
torch.save(model, PATH)
refusals = []
try:
    torch.load(PATH)                                      # weights_only=True is the default
except Exception as e:
    refusals.append(str(e))
with torch.serialization.safe_globals([Net]):             # Net alone is not enough
    try:
        torch.load(PATH, weights_only=True)
    except Exception as e:
        refusals.append(str(e))
with torch.serialization.safe_globals([Net, torch.nn.Linear, torch.nn.Tanh, torch.nn.Sequential]):
    again = torch.load(PATH)
left_after_block = [g for g in torch.serialization.get_safe_globals() if g in (Net, torch.nn.Linear)]
torch.serialization.add_safe_globals([Net, torch.nn.Linear, torch.nn.Tanh, torch.nn.Sequential])
twice = torch.load(PATH, weights_only=True)
torch.serialization.clear_safe_globals()
trusted = torch.load(PATH, weights_only=False)
x = torch.tensor(X)
result = {"again": again(x).detach().numpy(), "twice": twice(x).detach().numpy(),
          "trusted": trusted(x).detach().numpy(), "model": model(x).detach().numpy(),
          "kind": type(again).__name__, "params": [n for n, _ in again.named_parameters()],
          "is_parameter": isinstance(again.fc.weight, torch.nn.Parameter)}
'''


def _run(torch, tmp_path, name):
    rng = np.random.default_rng(0)
    weights = {"fc.weight": rng.standard_normal((4, 3)), "fc.bias": rng.standard_normal(4),
               "head.0.weight": rng.standard_normal((2, 4)), "head.0.bias": rng.standard_normal(2)}
    module = types.ModuleType(f"dual_run_{name}")      # pickle finds Net by module and name
    sys.modules[module.__name__] = module
    module.__dict__.update(torch=torch, PATH=str(tmp_path / f"{name}.pt"),
                           X=rng.standard_normal((5, 3)).astype(np.float32).tolist(),
                           WEIGHTS={k: v.astype(np.float32) for k, v in weights.items()})
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            exec(PROGRAM, module.__dict__)
    finally:
        del sys.modules[module.__name__]
    return module.__dict__, [str(w.message) for w in caught]


def test_whole_model_save_and_load_under_safe_globals_match_pytorch(tmp_path):
    ours, our_warnings = _run(autograd, tmp_path, "ours")
    preset = torch_ref.serialization.get_safe_globals()     # PyTorch's own (DTensor's), which
    try:                                                     # the program's clear_safe_globals drops
        theirs, _ = _run(torch_ref, tmp_path, "theirs")
    finally:
        torch_ref.serialization.add_safe_globals(preset)
    for scope, module in ((ours, "dual_run_ours"), (theirs, "dual_run_theirs")):
        first, second = scope["refusals"]
        assert f"GLOBAL {module}.Net was not an allowed global by default" in first
        assert "safe_globals" in first and "weights_only" in first
        assert "Linear was not an allowed global" in second      # the next class, named
        assert scope["left_after_block"] == []
    a, b = ours["result"], theirs["result"]
    assert a["kind"] == b["kind"] == "Net" and a["params"] == b["params"]
    assert a["is_parameter"] and b["is_parameter"]
    for key in ("again", "twice", "trusted"):
        np.testing.assert_allclose(a[key], b[key], rtol=1e-5, atol=1e-6, err_msg=key)
        np.testing.assert_allclose(a[key], a["model"], rtol=0, atol=0, err_msg=key)
    # weights_only=False was asked for explicitly: tapegrad says what that trusts
    assert any("arbitrary code execution. Do it only if you got the file from a trusted source" in w
               for w in our_warnings)


def test_a_whole_module_goes_to_pytorchs_format_by_the_files_name():
    buf = io.BytesIO()
    buf.name = "m.pt"
    autograd.save(autograd.nn.Linear(2, 2), buf)
    assert zipfile.is_zipfile(buf) and "m/data.pkl" in zipfile.ZipFile(buf).namelist()
    with pytest.raises(TypeError, match=r"type Linear at obj; .* name the file \*\.pt or \*\.pth"):
        autograd.save(autograd.nn.Linear(2, 2), io.BytesIO())      # safetensors holds no modules
