"""Saved-tensor hooks (autograd.graph, issue 29): the same programs under PyTorch 2.13
and tapegrad give the same pack calls and the same gradients."""
import numpy as np
import pytest

import autograd
import torch as torch_ref
from autograd.graph import disable_saved_tensors_hooks, save_on_cpu, saved_tensors_hooks

STEP = '''
calls = {"pack": 0, "unpack": 0}
def pack(t):
    calls["pack"] += 1
    return t.detach().clone()        # a copy: the graph no longer holds the tensor
def unpack(t):
    calls["unpack"] += 1
    return t
torch.manual_seed(0)
mlp = torch.nn.Sequential(torch.nn.Linear(6, 8), torch.nn.ReLU(), torch.nn.Linear(8, 8),
                          torch.nn.Tanh(), torch.nn.Linear(8, 3))
cnn = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.ReLU(),
                          torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(64, 3))
model = mlp if KIND == "mlp" else cnn
model.load_state_dict({k: torch.tensor(v) for k, v in WEIGHTS[KIND].items()})
x = torch.tensor(X[KIND])
before = calls["pack"]
outside = model(x).sum()                 # no hooks: no calls
with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
    loss = torch.nn.functional.mse_loss(model(x), torch.zeros(x.shape[0], 3)) if KIND == "mlp" \\
        else model(x).sum()
packed = calls["pack"]
loss.backward()
result = {"packed_outside": before, "packed": packed, "unpacked_some": calls["unpack"] > 0,
          "grads": {n: p.grad.numpy().copy() for n, p in model.named_parameters()}}
'''


def _weights(kind):
    rng = np.random.default_rng(1)
    shapes = ({"0.weight": (8, 6), "0.bias": (8,), "2.weight": (8, 8), "2.bias": (8,),
               "4.weight": (3, 8), "4.bias": (3,)} if kind == "mlp" else
              {"0.weight": (4, 1, 3, 3), "0.bias": (4,), "4.weight": (3, 64), "4.bias": (3,)})
    return {k: (rng.standard_normal(s) * 0.5).astype(np.float32) for k, s in shapes.items()}


def _run_step(torch, kind):
    rng = np.random.default_rng(0)
    x = {"mlp": rng.standard_normal((5, 6)), "cnn": rng.standard_normal((2, 1, 8, 8))}
    scope = {"torch": torch, "KIND": kind, "WEIGHTS": {kind: _weights(kind)},
             "X": {k: v.astype(np.float32) for k, v in x.items()}}
    exec(STEP, scope)
    return scope["result"]


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_pack_calls_and_gradients_agree_with_pytorch(kind):
    ours, theirs = _run_step(autograd, kind), _run_step(torch_ref, kind)
    assert ours["packed_outside"] == theirs["packed_outside"] == 0
    assert ours["packed"] == theirs["packed"] > 0
    assert ours["unpacked_some"] and theirs["unpacked_some"]
    for k in theirs["grads"]:
        np.testing.assert_allclose(ours["grads"][k], theirs["grads"][k], rtol=1e-4, atol=1e-5, err_msg=k)


def _exec(program, torch):
    scope = {"torch": torch}
    exec(program, scope)
    return scope["result"]


NESTED = '''
log = []
def hooks(name):
    return (lambda t: log.append(name + " pack") or t, lambda t: log.append(name + " unpack") or t)
a = torch.tensor([0.1, -0.3], requires_grad=True)
with torch.autograd.graph.saved_tensors_hooks(*hooks("outer")):
    y = a.exp()                         # saves its output
    with torch.autograd.graph.saved_tensors_hooks(*hooks("inner")):
        z = y.exp()
    w = z.exp()
(w.sum()).backward()
result = {"log": log, "grad": a.grad.tolist()}
'''


def test_nested_contexts_the_innermost_wins_and_unpack_runs_in_backward():
    ours, theirs = (_exec(NESTED, t) for t in (autograd, torch_ref))
    assert ours["log"] == theirs["log"]
    assert ours["log"][:3] == ["outer pack", "inner pack", "outer pack"]
    np.testing.assert_allclose(ours["grad"], theirs["grad"], rtol=1e-6)


def test_a_differentiable_backward_reaches_through_packed_copies():
    x = autograd.tensor([0.5, -1.5, 2.0], dtype=autograd.float64, requires_grad=True)
    with saved_tensors_hooks(lambda t: t.detach().clone(), lambda t: t):
        y = (x * x * x).sum()
    g, = autograd.grad(y, x, create_graph=True)
    h, = autograd.grad(g.sum(), x)
    np.testing.assert_allclose(g.numpy(), 3 * x.numpy() ** 2)
    np.testing.assert_allclose(h.numpy(), 6 * x.numpy())
    with saved_tensors_hooks(lambda t: t.detach().clone(), lambda t: t):
        assert autograd.gradgradcheck(lambda u: (u * u.tanh()).sum(), (x,))


def test_the_unpacked_value_must_have_the_saved_shape_and_dtype_and_be_a_tensor():
    x = autograd.tensor([1.0, 2.0], requires_grad=True)
    with saved_tensors_hooks(lambda t: t, lambda t: t.double()):
        y = x.exp()
    with pytest.raises(RuntimeError, match=r"ExpBackward.*dtype float64.*dtype float32"):
        y.sum().backward()
    with saved_tensors_hooks(lambda t: t, lambda t: t[:1]):
        y = x.exp()
    with pytest.raises(RuntimeError, match=r"ExpBackward.*shape \(1,\).*shape \(2,\)"):
        y.sum().backward()
    with saved_tensors_hooks(lambda t: t.numpy(), lambda a: a):
        y = x.exp()
    with pytest.raises(TypeError, match=r"ExpBackward: the unpack hook returned a ndarray.*expected a Tensor"):
        y.sum().backward()
    with pytest.raises(TypeError, match="pack_hook must be callable"):
        saved_tensors_hooks(None, lambda t: t)


def test_an_in_place_write_after_packing_is_still_detected():
    x = autograd.tensor([1.0, 2.0], requires_grad=True)
    a = x * 1.0
    with saved_tensors_hooks(lambda t: t, lambda t: t):
        y = a * a
    a.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.sum().backward()


def test_disable_and_save_on_cpu_as_in_pytorch():
    for torch in (autograd, torch_ref):
        with torch.autograd.graph.disable_saved_tensors_hooks("no hooks here"):
            with pytest.raises(RuntimeError, match="no hooks here"):
                with torch.autograd.graph.save_on_cpu():
                    pass
    x = autograd.tensor([1.0, 2.0], requires_grad=True)
    with save_on_cpu(pin_memory=True):
        y = x.exp()
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.exp([1.0, 2.0]), rtol=1e-6)
    with disable_saved_tensors_hooks("off"):
        z = x.exp()                       # ops still record; only hooks are refused
    assert z.grad_fn is not None


def test_the_tape_table_and_to_dot_show_packed_values():
    x = autograd.tensor(np.ones((4, 3)), requires_grad=True)
    with saved_tensors_hooks(lambda t: t.detach().clone(), lambda t: t):
        y = x.tanh()
    z = (y * 2.0).sum()
    table = autograd.tape(z)
    assert table[0].packed and not table[1].packed
    assert "(packed)" in str(table)
    dot = autograd.to_dot(z, show_saved=True)
    assert "packed by a hook" in str(dot)
    info, = y.grad_fn.saved_tensor_info
    assert info.packed and info.kind == "output" and info.shape == (4, 3) and info.nbytes == 96


def test_a_context_opened_in_another_thread_does_not_pack_here():
    import threading
    calls = []
    opened, release = threading.Event(), threading.Event()

    def other():
        with saved_tensors_hooks(lambda t: calls.append(1) or t, lambda t: t):
            opened.set()
            release.wait(5)
    th = threading.Thread(target=other)
    th.start()
    opened.wait(5)
    x = autograd.tensor([1.0, 2.0], requires_grad=True)
    x.exp().sum().backward()
    release.set()
    th.join()
    assert calls == []
