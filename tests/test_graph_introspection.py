"""Graph introspection as PyTorch spells it (issue 33, item 1): ``next_functions``
pairs with ``(None, 0)`` and ``AccumulateGrad`` leaves, and a node's saved values
under PyTorch's ``_saved_*`` / ``_raw_saved_*`` names.  Each program runs as the same
source text under PyTorch 2.13 and under tapegrad, and the results are compared."""
import numpy as np
import pytest

import autograd
import torch as torch_ref


def _run(program, torch):
    rng = np.random.default_rng(0)
    scope = {"torch": torch, "X": rng.standard_normal((5, 4)).astype(np.float32).tolist()}
    exec(program, scope)
    return scope["result"]


# torchviz's walk: index every pair unconditionally, hash nodes, read .variable of leaves
TORCHVIZ_WALK = '''
torch.manual_seed(0)
model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Tanh(), torch.nn.Linear(8, 8),
                            torch.nn.Tanh(), torch.nn.Linear(8, 3))
for p in model[2].parameters():
    p.requires_grad_(False)
names = {id(p): n for n, p in model.named_parameters()}
out = model(torch.tensor(X)).sum()
seen, leaves, nones, pairs_ok, stack = set(), [], 0, True, [out.grad_fn]
while stack:
    fn = stack.pop()
    if fn in seen:
        continue
    seen.add(fn)
    if hasattr(fn, "variable"):
        leaves.append((names[id(fn.variable)], type(fn).__name__, fn.variable.requires_grad))
    for u in fn.next_functions:
        pairs_ok = pairs_ok and type(u) is tuple and len(u) == 2 and isinstance(u[1], int)
        if u[0] is None:
            nones += 1
        else:
            stack.append(u[0])
# the same AccumulateGrad object each time a pair is read (torchviz keys nodes by id)
stable = all(u[0] is v[0] for fn in seen for u, v in zip(fn.next_functions, fn.next_functions)
             if hasattr(u[0], "variable"))
result = dict(leaves=sorted(leaves), nones=nones, pairs_ok=pairs_ok,
              stable=stable)
'''


def test_a_torchviz_style_walk_of_next_functions_with_frozen_parameters():
    ours, theirs = _run(TORCHVIZ_WALK, autograd), _run(TORCHVIZ_WALK, torch_ref)
    assert ours == theirs and ours["stable"] and ours["pairs_ok"]
    assert ours["nones"] == 3            # x, and the frozen layer's weight and bias
    assert [n for n, _, _ in ours["leaves"]] == ["0.bias", "0.weight", "4.bias", "4.weight"]
    assert {kind for _, kind, _ in ours["leaves"]} == {"AccumulateGrad"}


def test_one_accumulate_grad_per_leaf_while_it_is_referenced():
    w = autograd.tensor([1.0, 2.0], requires_grad=True)
    y = w * w
    a, b = y.grad_fn.next_functions
    assert a[0] is b[0] and a[0].variable is w and a[0].next_functions == ()
    assert a[0].name() == torch_ref.tensor([1.0], requires_grad=True).mul(2).grad_fn \
        .next_functions[0][0].name()


SAVED_NAMES = '''
a = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
b = torch.tensor([4.0, 0.5, 6.0], requires_grad=True)
c = torch.tensor([2.0, 2.0, 2.0])
m = a * b
mc = a * c                      # c needs no gradient: only a's factor c is saved
p = a.pow(2)
pt = a ** b
e = a.exp()
result = dict(
    mul_self_is_a=m.grad_fn._saved_self is a, mul_other=m.grad_fn._saved_other.tolist(),
    mc_other=mc.grad_fn._saved_other.tolist(), mc_self=mc.grad_fn._saved_self,
    pow_self_is_a=p.grad_fn._saved_self is a, pow_exponent=p.grad_fn._saved_exponent,
    powt=[pt.grad_fn._saved_self.tolist(), pt.grad_fn._saved_exponent.tolist(),
          pt.grad_fn._saved_result.tolist()],
    powt_result_is_pt=pt.grad_fn._saved_result is pt,
    exp_result=e.grad_fn._saved_result.tolist(),
    exp_result_is_e=e.grad_fn._saved_result is e,
    exp_result_equal=bool(torch.equal(e.grad_fn._saved_result, e)),
    exp_result_fn=e.grad_fn._saved_result.grad_fn is e.grad_fn,
)
'''


def test_saved_value_names_on_mul_pow_exp():
    ours, theirs = _run(SAVED_NAMES, autograd), _run(SAVED_NAMES, torch_ref)
    assert ours.keys() == theirs.keys()
    for k in ours:
        if isinstance(ours[k], list):
            np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-6, err_msg=k)
        else:
            assert ours[k] == theirs[k], k


CUSTOM = '''
class Cube(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x ** 3

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        x_again, = ctx.saved_tensors
        return g * 3 * x * x_again

x = torch.tensor([1.0, -2.0], requires_grad=True)
y = Cube.apply(x)
saved, = y.grad_fn.saved_tensors
y.sum().backward()
try:
    y.grad_fn.saved_tensors
    freed = False
except RuntimeError:
    freed = True
result = dict(saved_is_x=saved is x, grad=x.grad.tolist(), freed=freed)
'''


def test_a_custom_function_saved_tensors_read_twice_and_freed_after_backward():
    assert _run(CUSTOM, autograd) == _run(CUSTOM, torch_ref)


RAW = '''
calls = []
def pack(t):
    calls.append("pack")
    return t * 2
def unpack(t):
    calls.append("unpack")
    return t / 2
x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
y = x.pow(2)
y.grad_fn._raw_saved_self.register_hooks(pack, unpack)
try:
    y.grad_fn._raw_saved_self.register_hooks(pack, unpack)
    twice = "no error"
except RuntimeError:
    twice = "RuntimeError"
after_register = list(calls)
y.sum().backward()
try:
    y.grad_fn._saved_self
    released = "no error"
except RuntimeError:
    released = "RuntimeError"
result = dict(after_register=after_register, calls=calls, twice=twice, grad=x.grad.tolist(),
              released=released)
'''


def test_raw_saved_register_hooks_pack_now_and_unpack_in_backward():
    ours, theirs = _run(RAW, autograd), _run(RAW, torch_ref)
    assert ours == theirs
    assert ours["calls"] == ["pack", "unpack"]


def test_an_unknown_saved_name_is_an_attribute_error_naming_what_the_node_saved():
    x = autograd.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    with pytest.raises(AttributeError, match=r"ExpBackward.*_saved_result"):
        y.grad_fn._saved_other
    assert not hasattr(y.grad_fn, "_saved_other") and hasattr(y.grad_fn, "_saved_result")
