"""nn.Module system: registration, traversal, state_dict round trips and errors,
hooks, name scopes on the tape, modes, dtype conversion, containers and repr."""
import copy
from collections import OrderedDict

import numpy as np
import pytest

import autograd as ag
import nn


class Block(nn.Module):
    def __init__(self, cin=3):
        super().__init__()
        self.conv1 = nn.Linear(cin, 4)
        self.bn = nn.BatchNorm1d(4)
        self.register_buffer("step", ag.zeros(1))
        self.register_buffer("scratch", ag.zeros(2), persistent=False)

    def forward(self, x):
        return self.bn(self.conv1(x)).relu()


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer1 = nn.Sequential(Block(3), Block(4))
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        return self.fc(self.layer1(x))


def test_registration_and_traversal():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["layer1.0.conv1.weight", "layer1.0.conv1.bias", "layer1.0.bn.weight",
                     "layer1.0.bn.bias", "layer1.1.conv1.weight", "layer1.1.conv1.bias",
                     "layer1.1.bn.weight", "layer1.1.bn.bias", "fc.weight", "fc.bias"]
    # a module's own buffers come before its children's (PyTorch's order)
    assert [n for n, _ in net.named_buffers()][:5] == [
        "layer1.0.step", "layer1.0.scratch", "layer1.0.bn.running_mean",
        "layer1.0.bn.running_var", "layer1.0.bn.num_batches_tracked"]
    assert [n for n, _ in net.named_modules()] == [
        "", "layer1", "layer1.0", "layer1.0.conv1", "layer1.0.bn", "layer1.1", "layer1.1.conv1",
        "layer1.1.bn", "fc"]
    assert [n for n, _ in net.named_children()] == ["layer1", "fc"]
    assert len(list(net.parameters(recurse=False))) == 0
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen[-1] == "Net" and seen[0] == "Linear"


def test_shared_parameters_are_listed_once():
    lin = nn.Linear(2, 2)
    seq = nn.Sequential(lin, lin)
    assert len(list(seq.parameters())) == 2
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]


def test_state_dict_keys_and_round_trip():
    a, b = Net(), Net()
    sd = a.state_dict()
    assert "layer1.0.scratch" not in sd               # non-persistent buffer
    assert "layer1.1.bn.num_batches_tracked" in sd and sd["layer1.1.bn.num_batches_tracked"].dtype == np.int64
    # NumPy arrays (as exported from PyTorch) load unchanged
    result = b.load_state_dict({k: np.array(v.array) for k, v in sd.items()})
    assert result.missing_keys == [] and result.unexpected_keys == []
    for (k, v), (_, w) in zip(a.state_dict().items(), b.state_dict().items()):
        np.testing.assert_array_equal(v.array, w.array)
    # state_dict values share memory with the module
    sd["fc.bias"].array[0] = 42.0
    assert a.fc.bias.array[0] == 42.0


def test_load_state_dict_reports_every_problem_and_loads_nothing():
    net = Net()
    before = net.fc.weight.array.copy()
    sd = {k: v.array.copy() + 1 for k, v in net.state_dict().items()}
    del sd["fc.bias"]
    sd["extra.weight"] = np.zeros(3)
    sd["layer1.0.conv1.weight"] = np.zeros((5, 3))
    with pytest.raises(RuntimeError) as e:
        net.load_state_dict(sd)
    msg = str(e.value)
    assert '"fc.bias"' in msg and '"extra.weight"' in msg
    assert "layer1.0.conv1.weight" in msg and "(5, 3)" in msg and "(4, 3)" in msg
    np.testing.assert_array_equal(net.fc.weight.array, before)
    # non-strict: missing/unexpected are reported, shape mismatches still refuse
    del sd["layer1.0.conv1.weight"]
    res = net.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["layer1.0.conv1.weight", "fc.bias"]
    assert res.unexpected_keys == ["extra.weight"]
    np.testing.assert_array_equal(net.fc.weight.array, before + 1)


def test_assigning_non_parameter_over_parameter_raises():
    lin = nn.Linear(2, 3)
    with pytest.raises(TypeError, match="weight"):
        lin.weight = ag.zeros(3, 2)
    lin.weight = nn.Parameter(ag.zeros(3, 2))
    assert isinstance(lin.weight, nn.Parameter)
    lin.bias = None
    assert [n for n, _ in lin.named_parameters()] == ["weight"]
    with pytest.raises(TypeError):
        lin.register_buffer("b", np.zeros(2))


def test_parameter_is_a_leaf_that_requires_grad():
    p = nn.Parameter(ag.ones(2))
    assert p.requires_grad and p.is_leaf and isinstance(p, ag.Tensor)
    assert "Parameter containing" in repr(p)
    q = copy.deepcopy(p)
    assert isinstance(q, nn.Parameter) and q.array is not p.array


def test_hooks_modify_and_remove():
    lin = nn.Linear(2, 2)
    calls = []
    h1 = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    h2 = lin.register_forward_hook(lambda m, args, out: calls.append(out.shape) or out + 1)
    out = lin(ag.ones(1, 2))
    np.testing.assert_allclose(out.array, lin.bias.array[None] + 1, rtol=1e-6)
    assert calls == [(1, 2)]
    h1.remove()
    h2.remove()
    out = lin(ag.ones(1, 2))
    np.testing.assert_allclose(out.array, lin.weight.array.sum(1)[None] + lin.bias.array, rtol=1e-5)


def test_name_scope_records_module_paths_on_the_tape():
    net = Net()
    out = net(ag.randn(3, 3))
    scopes, stack, seen = set(), [out.grad_fn], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen or not hasattr(node, "_edges"):
            continue
        seen.add(id(node))
        scopes.add(node.scope)
        stack.extend(e[0] for e in node.next_functions if e is not None)
    assert {"fc", "layer1.0.conv1", "layer1.1.bn", "layer1.0"} <= scopes
    assert "" not in scopes - {""} and all(not s.startswith("Net") for s in scopes)


def test_errors_name_the_module_path_and_shapes():
    net = Net()
    with pytest.raises(ValueError, match=r"layer1\.0\.conv1.*\(\*, 3\).*\(2, 5\)"):
        net(ag.randn(2, 5))
    with pytest.raises(ValueError, match=r"^head \(Linear\).*\(2, 4\)"):
        nn.Sequential(OrderedDict(head=nn.Linear(3, 2)))(ag.randn(2, 4))
    with pytest.raises(ValueError, match=r"^Linear \(Linear\)"):     # called as the root
        nn.Linear(3, 2)(ag.randn(2, 4))


def test_train_eval_zero_grad_requires_grad():
    net = Net()
    net.eval()
    assert all(not m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())
    net(ag.randn(4, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(np.all(p.grad.array == 0) for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_to_dtype_converts_floats_only():
    net = Net().double()
    assert all(p.dtype == np.float64 for p in net.parameters())
    assert net.layer1[0].bn.num_batches_tracked.dtype == np.int64
    assert net.layer1[0].bn.running_mean.dtype == np.float64
    net.to(ag.float32)
    assert all(p.dtype == np.float32 for p in net.parameters())
    assert net.float() is net


def test_repr_nested_pytorch_style():
    net = nn.Sequential(nn.Conv2d(1, 2, 3), nn.Sequential(nn.ReLU(), nn.Flatten()))
    assert repr(net) == (
        "Sequential(\n"
        "  (0): Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1))\n"
        "  (1): Sequential(\n"
        "    (0): ReLU()\n"
        "    (1): Flatten(start_dim=1, end_dim=-1)\n"
        "  )\n"
        ")")


def test_sequential_indexing_slicing_and_containers():
    seq = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))
    assert isinstance(seq[-1], nn.Linear) and len(seq) == 3
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[0] is seq[0]
    assert head(ag.randn(4, 2)).shape == (4, 3)
    del seq[1]
    assert list(seq.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    with pytest.raises(IndexError):
        seq[5]
    ml = nn.ModuleList([nn.Linear(1, 1)])
    ml.append(nn.Linear(1, 2))
    ml += [nn.Identity()]
    assert len(ml) == 3 and [n for n, _ in ml.named_parameters()][-1] == "1.bias"
    md = nn.ModuleDict({"a": nn.Linear(1, 1)})
    md["b"] = nn.ReLU()
    assert list(md.keys()) == ["a", "b"] and "a" in md
    pl = nn.ParameterList([ag.ones(2), nn.Parameter(ag.zeros(3))])
    assert [n for n, _ in pl.named_parameters()] == ["0", "1"] and pl[0].requires_grad
    pd = nn.ParameterDict({"w": ag.ones(2)})
    assert isinstance(pd["w"], nn.Parameter)
    x = ag.randn(2, 3, 4)
    assert nn.Identity(54, unused=1)(x) is x
    assert nn.Flatten()(x).shape == (2, 12)
    assert nn.Flatten(0)(x).shape == (24,)
    assert nn.Unflatten(1, (3, 1))(ag.randn(2, 3)).shape == (2, 3, 1)


def test_deepcopy_gives_independent_parameters():
    net = Net()
    twin = copy.deepcopy(net)
    twin.fc.weight.array[...] = 0
    assert not np.all(net.fc.weight.array == 0)
    assert twin.fc._scope_name == "fc"


def test_get_submodule_and_parameter():
    net = Net()
    assert net.get_submodule("layer1.1.bn") is net.layer1[1].bn
    assert net.get_parameter("layer1.0.conv1.bias") is net.layer1[0].conv1.bias
    with pytest.raises(AttributeError, match="nope"):
        net.get_submodule("layer1.nope")


def test_manual_seed_makes_init_reproducible():
    ag.manual_seed(3)
    a = Net().state_dict()
    ag.manual_seed(3)
    b = Net().state_dict()
    for k in a:
        np.testing.assert_array_equal(a[k].array, b[k].array)


@pytest.mark.parametrize("owner", ["module", "optimizer"])
def test_both_zero_grads_behave_as_pytorchs(owner):
    import optim
    model = nn.Linear(3, 2)
    opt = optim.SGD(model.parameters(), lr=0.1)
    zero = model.zero_grad if owner == "module" else opt.zero_grad
    model(ag.randn(4, 3)).sum().backward()
    grad = model.weight.grad
    zero(set_to_none=False)
    assert model.weight.grad is grad and not grad.numpy().any()    # the same tensor, zeroed
    assert grad.grad_fn is None and not grad.requires_grad
    zero()
    assert model.weight.grad is None
