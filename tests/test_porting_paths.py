"""PyTorch's module paths and the small spellings published programs and the
introductory tutorials use: the same source under PyTorch and under tapegrad, compared
(the larger ported programs are in test_porting.py)."""
import numpy as np
import pytest

import autograd

import torch as torch_ref  # noqa: E402  (the reference; a dev dependency)
import torch.utils.benchmark  # noqa: E402,F401  (a submodule PyTorch does not import by itself)


@pytest.mark.parametrize("right", [False, True])
def test_searchsorted_and_bucketize_match_pytorch(right):
    rng = np.random.default_rng(3)
    seq = np.sort(rng.integers(0, 6, (2, 3, 5)), axis=-1).astype(np.float64)
    values = rng.integers(-1, 7, (2, 3, 4)).astype(np.float64)
    values[1, 1, 0] = np.nan
    def run(lib):
        return [
            lib.searchsorted(lib.tensor(seq), lib.tensor(values), right=right),
            lib.searchsorted(lib.tensor(seq[0, 0]), lib.tensor(values), right=right, out_int32=True),
            lib.searchsorted(lib.tensor(seq[1, 2]), 3.0, side="right" if right else "left"),
            lib.bucketize(lib.tensor(values), lib.tensor(seq[1, 1]), right=right),
        ]
    for ours, theirs in zip(run(autograd), run(torch_ref)):
        assert str(ours.dtype) == str(theirs.dtype) and ours.shape == tuple(theirs.shape)
        assert np.array_equal(ours.numpy(), theirs.numpy())
    shuffled = np.array([3.0, 1.0, 2.0])
    order = np.argsort(shuffled)
    assert np.array_equal(autograd.searchsorted(autograd.tensor(shuffled), autograd.tensor([2.5]),
                                                sorter=autograd.tensor(order)).numpy(),
                          torch_ref.searchsorted(torch_ref.tensor(shuffled), torch_ref.tensor([2.5]),
                                                 sorter=torch_ref.tensor(order)).numpy())
    with pytest.raises(ValueError, match="bucketize: boundaries tensor must be 1 dimension"):
        autograd.bucketize(autograd.ones(2), autograd.ones(2, 2))
    with pytest.raises(ValueError, match="first N-1 dimensions of boundaries tensor and input"):
        autograd.searchsorted(autograd.ones(2, 3), autograd.ones(3, 1))


PATHS_AND_IDIOMS = '''
torch.backends.cudnn.benchmark = True
torch.backends.cudnn.deterministic = True
mps = torch.backends.mps.is_available()
Parameter, Module = torch.nn.parameter.Parameter, torch.nn.modules.module.Module
pair = torch.nn.modules.utils._pair(3)


class ScaledMSE(torch.nn.modules.loss._Loss):
    def forward(self, input, target):
        return torch.nn.functional.mse_loss(input, target, reduction=self.reduction) * 2


class Plain(torch.optim.Optimizer):
    def __init__(self, params, lr):
        super().__init__(params, dict(lr=lr))

    def step(self):
        with torch.autograd.grad_mode.no_grad():
            for group in self.param_groups:
                for p in group["params"]:
                    p.add_(p.grad, alpha=-group["lr"])


class Cube(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, power, scale):
        ctx.save_for_backward(x)
        SEEN.append(tuple(ctx.needs_input_grad))      # non-tensor arguments included
        return x ** power * scale

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        again, = ctx.saved_tensors           # read twice in one backward
        return g * 3 * x * again * 2, None, None, None   # one extra None


torch.manual_seed(0)
layer = torch.nn.Linear(3, 2)
with torch.no_grad():
    layer.weight.copy_(torch.tensor(W))
    layer.bias.zero_()
model = torch.nn.DataParallel(layer)
data = torch.utils.data.dataset.TensorDataset(torch.tensor(X), torch.tensor(Y))
opt = Plain(model.parameters(), lr=0.01)
for x, y in torch.utils.data.DataLoader(data, batch_size=2):
    v = torch.autograd.Variable(x, requires_grad=True)
    loss = ScaledMSE()(Cube.apply(model(v), 3, 2.0), y)
    opt.zero_grad()
    loss.backward()
    opt.step()
unused = torch.ones(2, requires_grad=True)
frozen = torch.ones(2, requires_grad=True)
(Cube.apply(unused, 3, 2.0).sum() + (frozen * 0).sum()).backward()
grads = [unused.grad.numpy(), frozen.grad.numpy()]
timer = torch.utils.benchmark.Timer("a + b", globals={"a": torch.ones(3), "b": torch.ones(3)})
m = timer.timeit(10)
result = dict(keys=sorted(model.state_dict()), weight=layer.weight.detach().numpy(), pair=pair,
              mps=mps, loss=f"{loss:.4f}", equal=loss.equal(loss.clone()), needs=SEEN,
              variable=isinstance(x, torch.autograd.Variable) and v.requires_grad and not x.requires_grad,
              grads=[g.tolist() for g in grads], timer=(m.number_per_run, len(m.times), m.mean > 0, "a + b" in repr(m)))
'''


def test_pytorch_module_paths_and_idioms_run_unchanged():
    results = []
    for lib in (autograd, torch_ref):
        rng = np.random.default_rng(5)
        scope = {"torch": lib, "W": (0.5 * rng.standard_normal((2, 3))).astype(np.float32),
                 "X": (0.5 * rng.standard_normal((4, 3))).astype(np.float32),
                 "Y": rng.standard_normal((4, 2)).astype(np.float32),
                 "SEEN": []}
        exec(PATHS_AND_IDIOMS, scope)
        results.append(scope["result"])
    ours, theirs = results
    np.testing.assert_allclose(ours.pop("weight"), theirs.pop("weight"), rtol=1e-5, atol=1e-6)
    assert ours == theirs
    from optim.optimizer import Optimizer         # torch.optim.optimizer's path, ported
    assert Optimizer is autograd.optim.Optimizer
    assert ours["keys"] == ["module.bias", "module.weight"] and ours["loss"] != ""


def test_every_nn_class_is_at_pytorchs_module_path():
    """nn.modules.<file>.<Class> for every class tapegrad shares with torch.nn.modules."""
    import inspect
    import nn
    import torch.nn.modules as theirs
    missing = []
    for name in dir(nn):
        cls = getattr(nn, name)
        ref = getattr(theirs, name, None)
        if inspect.isclass(cls) and issubclass(cls, nn.Module) and inspect.isclass(ref):
            file = ref.__module__.rsplit(".", 1)[1]
            ours = getattr(getattr(nn.modules, file, None), name, None)
            if ours is not cls:
                missing.append(f"nn.modules.{file}.{name}")
    assert not missing, missing


def test_format_follows_pytorch():
    for lib in (autograd, torch_ref):
        assert f"{lib.tensor(3.14159):.2f}" == "3.14"
        assert format(lib.ones(2)) == str(lib.ones(2))
        with pytest.raises(TypeError, match="unsupported format string passed to Tensor.__format__"):
            f"{lib.ones(1):.2f}"


def test_out_argument_matches_pytorch():
    import warnings
    for lib in (autograd, torch_ref):
        a = lib.tensor([[1.0, 2.0], [3.0, 4.0]])
        y = lib.empty(0)
        assert lib.matmul(a, a.T, out=y) is y and np.allclose(y.numpy(), (a @ a.T).numpy())
        wide = lib.empty(0, dtype=lib.float64)
        lib.mul(a, a, out=wide)
        assert wide.dtype == lib.float64 and np.allclose(wide.numpy(), (a * a).numpy())
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            lib.add(a, a, out=lib.empty(3))
        assert "resized" in str(caught[0].message)
        with pytest.raises(RuntimeError, match="can't be cast to the desired output type"):
            lib.add(a, a, out=lib.empty(0, dtype=lib.int64))
        with pytest.raises(RuntimeError, match="exp\\(\\): functions with out=... arguments don't "
                                               "support automatic differentiation"):
            lib.exp(lib.ones(2, requires_grad=True), out=lib.empty(2))
        values, indices = lib.empty(0), lib.empty(0, dtype=lib.long)
        res = lib.max(a, 1, out=(values, indices))
        assert res[0] is values and np.array_equal(indices.numpy(), [1, 1])


def test_tutorial_spellings_match_pytorch():
    """Small spellings the introductory tutorials use."""
    for lib in (autograd, torch_ref):
        x = lib.ones(2, 3)
        pred, y = lib.tensor([[0.1, 0.9], [0.8, 0.2]]), lib.tensor([1, 1])
        assert (pred.argmax(1) == y).type(lib.float).sum().item() == 1.0
        assert x.type() == "torch.FloatTensor" and x.type(lib.float64).dtype == lib.float64
        assert x.type("torch.LongTensor").dtype == lib.int64
        assert (x.ndimension(), x.nelement(), x.element_size()) == (2, 6, 4)
        assert repr(x.size()) == "torch.Size([2, 3])"
    for values in ([True, True], [True, False], [[False], [True]]):
        assert repr(autograd.tensor(values)) == repr(torch_ref.tensor(values))
    np.testing.assert_allclose(autograd.logspace(0, 2, 3, base=2).numpy(),
                               torch_ref.logspace(0, 2, 3, base=2).numpy())


def test_torch_autograd_function_names_resolve():
    from autograd.function import Function, FunctionCtx, InplaceFunction, once_differentiable
    import torch.autograd.function as theirs
    for name in ("Function", "FunctionCtx", "InplaceFunction", "once_differentiable"):
        assert hasattr(theirs, name) and getattr(autograd.autograd.function, name) is not None

    class Double(InplaceFunction):
        @staticmethod
        def forward(ctx, x):
            assert isinstance(ctx, FunctionCtx)
            return x * 2

        @staticmethod
        @once_differentiable
        def backward(ctx, g):
            return g * 2
    x = autograd.ones(2, requires_grad=True)
    Double.apply(x).sum().backward()
    assert issubclass(Double, Function) and x.grad.tolist() == [2.0, 2.0]
