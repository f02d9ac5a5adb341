"""PyTorch programs that change only their imports: the same source text runs with
``torch`` bound to PyTorch and to tapegrad, and the results agree."""
import numpy as np
import pytest

import autograd

import torch as torch_ref  # noqa: E402  (the reference; a dev dependency)

PROGRAM = '''
device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
torch.manual_seed(0)
x = torch.tensor(X, dtype=torch.float).to(device, non_blocking=True)
y = torch.tensor(Y, dtype=torch.long, device=device)
model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.GELU(), torch.nn.Linear(8, 3)).to(device)
model.load_state_dict({k: torch.tensor(v) for k, v in WEIGHTS.items()})
opt = torch.optim.AdamW(model.parameters(), lr=0.1)
loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=3)
for xb, yb in loader:
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(xb), yb, label_smoothing=0.1)
    loss.backward()
    opt.step()
result = {k: v.detach().cpu().numpy() for k, v in model.state_dict().items()}
result["loss"] = loss.detach().cpu().numpy()
'''


def _run(torch):
    rng = np.random.default_rng(0)
    weights = {"0.weight": rng.standard_normal((8, 4)), "0.bias": rng.standard_normal(8),
               "2.weight": rng.standard_normal((3, 8)), "2.bias": rng.standard_normal(3)}
    scope = {"torch": torch, "X": rng.standard_normal((6, 4)).tolist(),
             "Y": [0, 2, 1, 1, 0, 2], "WEIGHTS": {k: v.astype(np.float32) for k, v in weights.items()}}
    exec(PROGRAM, scope)
    return scope["result"]


def test_the_same_program_runs_on_both_and_agrees():
    ours, theirs = _run(autograd), _run(torch_ref)
    assert ours.keys() == theirs.keys()
    for k in ours:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=1e-5, atol=1e-6, err_msg=k)


def test_namespaces_reached_through_the_alias():
    import nn
    import optim
    from autograd import data
    from autograd.utils.data import DataLoader
    assert autograd.nn is nn and autograd.optim is optim and autograd.utils.data is data
    assert autograd.autograd.Function is autograd.Function and DataLoader is data.DataLoader
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        autograd.nope


def test_dtype_aliases_do_not_leak_into_star_imports():
    assert (autograd.long, autograd.float, autograd.double, autograd.half, autograd.bool) == \
        (np.int64, np.float32, np.float64, np.float16, np.bool_)
    scope = {}
    exec("from autograd import *", scope)
    assert "float" not in scope and "int" not in scope and "bool" not in scope


def test_dtypes_print_and_compare_as_pytorchs():
    import pickle
    x = autograd.ones(2, dtype=autograd.float64)
    assert repr(autograd.float32) == str(autograd.float32) == str(torch_ref.float32) == "torch.float32"
    assert [repr(d) for d in (autograd.long, autograd.bool, autograd.half)] == \
        [repr(d) for d in (torch_ref.long, torch_ref.bool, torch_ref.half)]
    assert repr(x) == repr(torch_ref.ones(2, dtype=torch_ref.float64))
    assert repr(autograd.tensor([1, 2], dtype=autograd.int32)) == repr(torch_ref.tensor([1, 2], dtype=torch_ref.int32))
    assert x.dtype == autograd.float64 and autograd.float64 == x.dtype and autograd.long == "int64"
    assert autograd.float32 == np.float32 and autograd.float32 != autograd.float64 and autograd.float64 != None  # noqa: E711
    assert repr(x.dtype) == str(x.dtype) == "torch.float64" and x.dtype is autograd.float64
    assert isinstance(x.dtype, autograd.dtype) and x.dtype.kind == "f" and x.array.dtype == np.float64
    assert {np.dtype(np.float32): "found"}[autograd.float32] == "found"      # same hash as NumPy's
    assert np.zeros(2, autograd.half).dtype == np.float16 and autograd.ones(1, dtype=autograd.int8).dtype == np.int8
    assert autograd.float16.is_floating_point and not autograd.long.is_floating_point
    assert autograd.float64.itemsize == 8 and autograd.get_default_dtype() == autograd.float32
    assert repr(autograd.get_default_dtype()) == "torch.float32"
    assert pickle.loads(pickle.dumps(autograd.int16)) == autograd.int16
    for lib in (autograd, torch_ref):
        assert lib.finfo(lib.float32).min == np.finfo(np.float32).min
        assert lib.finfo(lib.ones(1).dtype).eps == np.finfo(np.float32).eps
        assert lib.iinfo(lib.long).max == np.iinfo(np.int64).max


def test_devices_other_than_the_cpu_are_named_but_refused():
    assert str(autograd.device("cpu")) == "cpu" and autograd.device("cpu") == "cpu"
    assert repr(autograd.device("cuda:1")) == "device(type='cuda', index=1)"
    assert not autograd.cuda.is_available() and autograd.accelerator.current_accelerator() is None
    x = autograd.ones(2, device=autograd.device("cpu"))
    assert x.device == "cpu" and x.cpu() is x and x.to("cpu") is x
    for call in (lambda: autograd.zeros(2, device="cuda"), lambda: x.to("cuda:0"), x.cuda,
                 lambda: autograd.nn.Linear(2, 2).to("mps"), lambda: autograd.randn_like(x, device="cuda")):
        with pytest.raises(RuntimeError, match="runs on the CPU only, so device '(cuda|cuda:0|mps)'"):
            call()
    with pytest.raises(ValueError, match="invalid device string"):
        autograd.device("cuda:x")


def test_to_takes_pytorchs_argument_forms():
    x = autograd.ones(2)
    assert x.to(autograd.double).dtype == np.float64
    assert x.to("cpu", autograd.half).dtype == np.float16
    assert x.to(autograd.zeros(1, dtype=autograd.double)).dtype == np.float64
    y = x.to(copy=True)
    assert y is not x and np.array_equal(y.numpy(), x.numpy())


def test_small_helpers():
    x = autograd.ones(2, 3)
    assert autograd.is_tensor(x) and not autograd.is_tensor(np.ones(2)) and autograd.numel(x) == 6
    with autograd.inference_mode():
        assert not autograd.ones(2, requires_grad=True).exp().requires_grad


def test_in_place_methods_ported_programs_call_match_pytorch():
    rng = np.random.default_rng(1)
    a, b, c = (rng.standard_normal((3, 4)).astype(np.float32) for _ in range(3))
    mask = a > 0
    calls = [lambda t, x, y, z, m: t.add_(x(b), alpha=2), lambda t, x, y, z, m: t.sub_(x(b), alpha=0.5),
             lambda t, x, y, z, m: t.clamp_(min=0), lambda t, x, y, z, m: t.clamp_(max=0.1),
             lambda t, x, y, z, m: t.addcmul_(x(b), x(c), value=0.3),
             lambda t, x, y, z, m: t.addcdiv_(x(b), x(np.abs(c) + 1), value=-2),
             lambda t, x, y, z, m: t.lerp_(x(b), 0.25), lambda t, x, y, z, m: t.masked_fill_(m, -1.0)]
    for call in calls:
        ours = autograd.tensor(a)
        out = call(ours, autograd.tensor, None, None, autograd.tensor(mask))
        theirs = torch_ref.tensor(a)
        call(theirs, torch_ref.tensor, None, None, torch_ref.tensor(mask))
        assert out is ours
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-6)


SCATTER_PROGRAM = '''
x = torch.tensor(X, requires_grad=True)
src = torch.tensor(S, requires_grad=True)
idx = torch.tensor([[2, 0, 1, 0], [0, 1, 2, 2]])
rows = torch.tensor([3, 0, 3])
h = x * 1.0
a = h.scatter(0, idx, src[:2, :4])
b = torch.scatter(h, 1, idx[:, :2], 7.5)
c = h.scatter_add(0, idx, src[:2, :4] * 2)
d = h.index_add(0, rows, src[:3, :4], alpha=-0.5)
e = torch.index_add(h, 1, torch.tensor([1, 1]), src[:4, :2])
k = h.clone()
k.scatter_(1, idx[:, :1], src[:2, :1]).scatter_add_(0, idx, src[:2, :4]).index_add_(0, rows, src[:3, :4])
k.scatter_(0, idx[:1], -1.0)
loss = sum(((t * t).sum() for t in (a, b, c, d, e, k)))
loss.backward()
with torch.no_grad():
    plain = torch.zeros(3, 4).index_add_(1, torch.tensor([3, 3, 0]), torch.ones(3, 3)).scatter_(0, idx[:1], value=2.0)
result = dict(a=a, b=b, c=c, d=d, e=e, k=k, plain=plain, x=x.grad, src=src.grad)
'''


def test_scatter_and_index_add_match_pytorch_with_gradients():
    rng = np.random.default_rng(4)
    X, S = rng.standard_normal((4, 4)).tolist(), rng.standard_normal((4, 5)).tolist()
    ours, theirs = ({"torch": t, "X": X, "S": S} for t in (autograd, torch_ref))
    exec(SCATTER_PROGRAM, ours)
    exec(SCATTER_PROGRAM, theirs)
    for k, v in theirs["result"].items():
        np.testing.assert_allclose(ours["result"][k].detach().numpy(), v.detach().numpy(),
                                   rtol=1e-6, atol=1e-6, err_msg=k)


def test_scatter_and_index_add_errors_name_the_op():
    x, idx = autograd.zeros(3, 4), autograd.tensor([[0, 1]])
    cases = [(lambda: x.index_add(0, autograd.tensor([3]), autograd.ones(1, 4)), IndexError,
              r"index_add: index values must be in \[0, 3\)"),
             (lambda: x.index_add(0, autograd.tensor([0, 1]), autograd.ones(1, 4)), ValueError,
              r"index_add: source must have shape \(2, 4\)"),
             (lambda: x.index_add(0, autograd.tensor([0]), autograd.ones(1, 4, dtype=autograd.float64)),
              TypeError, r"index_add: input \(torch.float32\) and source \(torch.float64\) must have the same dtype"),
             (lambda: x.scatter(0, idx, autograd.ones(1, 1)), ValueError,
              r"scatter: index shape \(1, 2\) is larger than src shape \(1, 1\)"),
             (lambda: x.scatter(0, idx), TypeError, "scatter: give exactly one of src"),
             (lambda: x.scatter(0, idx, 1.0, reduce="multiply"), ValueError,
              "scatter: reduce='multiply' is not supported")]
    for call, kind, message in cases:
        with pytest.raises(kind, match=message):
            call()


def test_in_place_methods_record_like_out_of_place_ones():
    x = autograd.randn(3, 4, requires_grad=True, dtype=autograd.float64)
    b, c = autograd.randn(3, 4, dtype=autograd.float64), autograd.rand(3, 4, dtype=autograd.float64) + 1
    assert autograd.gradcheck(lambda x: x.clone().addcdiv_(b, c, value=0.5).lerp_(b, 0.3), [x])


@pytest.mark.parametrize("name, args, mean, var", [("normal_", (2.0, 3.0), 2.0, 9.0),
                                                    ("uniform_", (-1.0, 3.0), 1.0, 16 / 12),
                                                    ("exponential_", (4.0,), 0.25, 1 / 16)])
def test_random_fills_draw_from_the_named_distribution(name, args, mean, var):
    autograd.manual_seed(0)
    t = autograd.empty(200_000, dtype=autograd.float64)
    assert getattr(t, name)(*args) is t
    # 200k draws: the sample moments sit within a few standard errors of the true ones
    assert abs(t.numpy().mean() - mean) < 5 * np.sqrt(var / t.numel())
    assert abs(t.numpy().var() / var - 1) < 0.02
    g = np.random.default_rng(5)
    first = autograd.empty(4).normal_(generator=g).numpy().copy()
    assert np.array_equal(first, autograd.empty(4).normal_(generator=np.random.default_rng(5)).numpy())


def test_torch_save_and_load_names_and_file_objects(tmp_path):
    import io
    state = {"w": autograd.randn(2, 3), "step": 4, "lrs": [0.1, None, "cos"], "pair": (1, autograd.ones(1))}
    autograd.save(state, tmp_path / "a.pt")                   # os.PathLike, like torch.save
    back = autograd.load(tmp_path / "a.pt", map_location="cpu", weights_only=True)
    buf = io.BytesIO()
    autograd.save(state, buf)
    buf.seek(0)
    again = autograd.load(buf, map_location=autograd.device("cpu"))
    for got in (back, again):
        assert got["step"] == 4 and got["lrs"] == [0.1, None, "cos"] and isinstance(got["pair"], tuple)
        np.testing.assert_array_equal(got["w"].numpy(), state["w"].numpy())
    with pytest.raises(RuntimeError, match="load: tapegrad runs on the CPU only"):
        autograd.load(tmp_path / "a.pt", map_location="cuda:0")
    with pytest.raises(TypeError, match="save: .*"):
        autograd.save({"f": lambda: 0}, tmp_path / "b.pt")         # no pickle, by design


def test_missing_functions_hit_by_the_ports_match_pytorch():
    x = np.array([[3.0, 1.0, 2.0, 1.0], [0.0, 5.0, 4.0, -1.0]], np.float32)
    ours, theirs = autograd.tensor(x), torch_ref.tensor(x)
    pairs = [(lambda t, m: t.argsort(dim=1)), (lambda t, m: m.roll(t, 1, 1)),
             (lambda t, m: m.roll(t, (1, -2), (0, 1))), (lambda t, m: m.roll(t, 3)),
             (lambda t, m: t.repeat_interleave(2, dim=0)), (lambda t, m: t.unfold(1, 2, 1)),
             (lambda t, m: t.new_full((2,), 7.0)), (lambda t, m: t.new_zeros(3)),
             (lambda t, m: m.ones(2, dtype=m.long).type_as(t)), (lambda t, m: t.nonzero())]
    for f in pairs:
        a, b = f(ours, autograd), f(theirs, torch_ref)
        assert a.dtype == b.numpy().dtype
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for a, b in zip(autograd.where(ours > 1), torch_ref.where(theirs > 1)):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert repr(ours.size()) == repr(theirs.size()) == "torch.Size([2, 4])"
    assert ours.size() == (2, 4) and ours.size().numel() == 8


def test_generator_multinomial_and_hub():
    g = autograd.Generator().manual_seed(3)
    assert g.initial_seed() == 3
    a = autograd.rand(3, generator=g).numpy()
    b = autograd.rand(3, generator=autograd.Generator().manual_seed(3)).numpy()
    assert np.array_equal(a, b)
    draws = autograd.multinomial(autograd.tensor([[0.0, 1.0, 3.0]] * 2), 4000, replacement=True, generator=g)
    assert draws.shape == (2, 4000) and draws.dtype == np.int64
    counts = np.bincount(draws.numpy().ravel(), minlength=3)
    assert counts[0] == 0 and abs(counts[2] / counts[1] - 3) < 0.3
    assert sorted(autograd.multinomial(autograd.tensor([1.0, 2.0, 0.5]), 3).numpy().tolist()) == [0, 1, 2]
    with pytest.raises(ValueError, match="multinomial: cannot draw 3 samples without replacement"):
        autograd.multinomial(autograd.tensor([1.0, 0.0, 1.0]), 3)
    with pytest.raises(RuntimeError, match="hub: tapegrad has no model hub"):
        autograd.hub.load("pytorch/vision", "resnet18")


def test_to_tensor_transform_matches_torchvisions_rule():
    from autograd.data import transforms
    img = np.random.default_rng(0).integers(0, 256, (5, 4, 3), dtype=np.uint8)
    out = transforms.ToTensor()(img)
    assert out.shape == (3, 5, 4) and out.dtype == np.float32
    np.testing.assert_allclose(out, img.transpose(2, 0, 1) / 255.0, rtol=1e-6)
    assert transforms.ToTensor()(img[:, :, 0]).shape == (1, 5, 4)


SAVED_PROGRAM = '''
# PyTorch runs each of these: h is saved by no node, since the constant c needs no
# gradient and the gradient with respect to h reads only c (or the output).
OPS = [lambda h, c: h * c, lambda h, c: h / c, lambda h, c: torch.nn.functional.linear(h, c),
       lambda h, c: h % c, lambda h, c: h @ c, lambda h, c: h.mm(c),
       lambda h, c: torch.matmul(c[0], h), lambda h, c: torch.bmm(h.unsqueeze(0), c.unsqueeze(0)),
       lambda h, c: torch.einsum("ij,jk->ik", h, c), lambda h, c: torch.einsum("ij,jk,k->i", c, h, c[0]),
       lambda h, c: torch.addcmul(c, h, c, value=0.5), lambda h, c: torch.addcdiv(h, h, c),
       lambda h, c: torch.lerp(h, c, 0.25), lambda h, c: torch.where(c > 1.5, h, c)]
c = torch.tensor(C)
grads = []
for op in OPS:
    x = torch.tensor(X, requires_grad=True)
    h = x * 1.0
    y = op(h, c)
    h += 1                     # would make a saved h stale
    (y * y).sum().backward()
    grads.append(x.grad.numpy())
'''


def test_ops_save_only_what_their_needed_vjps_read():
    rng = np.random.default_rng(3)
    X, C = rng.standard_normal((3, 3)), rng.uniform(1.0, 2.0, (3, 3))
    ours, theirs = ({"torch": t, "X": X, "C": C} for t in (autograd, torch_ref))
    exec(SAVED_PROGRAM, ours)
    exec(SAVED_PROGRAM, theirs)
    for k, (a, b) in enumerate(zip(ours["grads"], theirs["grads"])):
        np.testing.assert_allclose(a, b, rtol=1e-10, err_msg=f"op {k}")


def test_an_input_a_needed_vjp_reads_is_still_version_checked():
    for op in (lambda h, c: h @ h, lambda h, c: h ** c, lambda h, c: c % h,
               lambda h, c: autograd.einsum("ij,jk->ik", h, h)):
        x = autograd.randn(3, 3, requires_grad=True, dtype=autograd.float64)
        c = autograd.rand(3, 3, dtype=autograd.float64) + 1
        x_needed = x * 1.0 + 2.0       # positive: pow's base, remainder's divisor
        y = op(x_needed, c)
        x_needed += 1
        with pytest.raises(RuntimeError, match="modified by an in-place operation"):
            y.sum().backward()
    cond = autograd.tensor([True, False, True])
    y = autograd.where(cond, autograd.ones(3, requires_grad=True), 0.0)
    cond.fill_(False)
    with pytest.raises(RuntimeError, match="WhereBackward: .* modified by an in-place operation"):
        y.sum().backward()
    y = autograd.ones(3, requires_grad=True).masked_fill(cond, 2.0)
    cond.fill_(True)
    with pytest.raises(RuntimeError, match="WhereBackward: .* modified by an in-place operation"):
        y.sum().backward()


DATA_PROGRAM = '''
w = torch.nn.Parameter(torch.tensor(W))
w.data.mul_(0.5)
w.data.add_(torch.ones_like(w), alpha=2.0)
y = (w * w).sum()
w.data.zero_().add_(torch.tensor(W))     # invisible to autograd: no version error
y.backward()
lin = torch.nn.Linear(3, 2)
lin.weight.data.copy_(torch.tensor(W))
lin.bias.data.fill_(0.25)
lin.weight.data = lin.weight.data * 2    # rebinding keeps the Parameter object
lin(torch.ones(1, 3)).sum().backward()
result = {"w": w.detach().numpy(), "w.grad": w.grad.numpy(), "y": y.detach().numpy(),
          "lin.weight": lin.weight.detach().numpy(), "lin.bias": lin.bias.detach().numpy(),
          "lin.weight.grad": lin.weight.grad.numpy(),
          "flags": [isinstance(lin.weight, torch.nn.Parameter), lin.weight.requires_grad,
                    w.data.requires_grad, w.data.is_leaf]}
'''


def test_tensor_data_is_a_detached_tensor_sharing_memory_as_in_pytorch():
    W = np.random.default_rng(1).standard_normal((2, 3)).astype(np.float32).tolist()
    ours, theirs = ({"torch": t, "W": W} for t in (autograd, torch_ref))
    exec(DATA_PROGRAM, ours)
    exec(DATA_PROGRAM, theirs)
    for k, v in theirs["result"].items():
        np.testing.assert_allclose(ours["result"][k], v, rtol=1e-6, err_msg=k)
    x = autograd.ones(2)
    assert x.data.array is x.array and isinstance(x.data, autograd.Tensor)
    with pytest.raises(TypeError, match="Tensor.data: expected a Tensor to assign, got ndarray"):
        x.data = np.zeros(2)


LM_DEFS = '''
class Momentum(torch.optim.Optimizer):
    """A custom optimizer in the everyday style: per-parameter state, in-place math."""
    def __init__(self, params, lr=0.1, beta=0.9):
        super().__init__(params, dict(lr=lr, beta=beta))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state[p]
                if "buf" not in state:
                    state["buf"] = torch.zeros_like(p)
                    state["sq"] = torch.zeros_like(p)
                state["buf"].mul_(group["beta"]).add_(p.grad, alpha=1 - group["beta"])
                state["sq"].mul_(0.99).addcmul_(p.grad, p.grad, value=0.01)
                p.addcdiv_(state["buf"], state["sq"].sqrt().add_(1e-8), value=-group["lr"])


class LM(torch.nn.Module):
    def __init__(self, vocab):
        super().__init__()
        self.emb = torch.nn.Embedding(vocab, 8)
        self.lstm = torch.nn.LSTM(8, 16, num_layers=2, batch_first=True)
        self.head = torch.nn.Linear(16, vocab)

    def forward(self, x):
        h, _ = self.lstm(self.emb(x))
        return self.head(h)
'''

LM_PROGRAM = LM_DEFS + '''
model = LM(V)
model.load_state_dict({k: torch.tensor(v) for k, v in WEIGHTS.items()})
opt = Momentum(model.parameters(), lr=0.01)
tokens = torch.tensor(TOKENS)
data = torch.utils.data.TensorDataset(tokens[:, :-1], tokens[:, 1:])
batches = torch.utils.data.BatchSampler(torch.utils.data.SequentialSampler(data), batch_size=3,
                                        drop_last=False)
for x, y in torch.utils.data.DataLoader(data, batch_sampler=batches):
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(model(x).reshape(-1, V), y.reshape(-1))
    loss.backward()
    opt.step()
torch.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "loss": loss.item()}, PATH)
ckpt = torch.load(PATH)
again = LM(V)
again.load_state_dict(ckpt["model"])
opt2 = Momentum(again.parameters(), lr=0.01)
opt2.load_state_dict(ckpt["optimizer"])
result = {k: v.detach().numpy() for k, v in again.state_dict().items()}
result["loss"] = ckpt["loss"]
result["first buf"] = opt2.state[next(iter(again.parameters()))]["buf"].numpy()
'''


def test_lstm_language_model_with_custom_optimizer_sampler_and_checkpoint_matches_pytorch(tmp_path):
    torch_ref.manual_seed(0)
    scope = {"torch": torch_ref}
    exec(LM_DEFS, scope)
    weights = {k: v.detach().numpy().copy() for k, v in scope["LM"](11).state_dict().items()}
    tokens = np.random.default_rng(2).integers(0, 11, (7, 9))
    results = []
    for name, torch in (("ours", autograd), ("theirs", torch_ref)):
        scope = {"torch": torch, "V": 11, "WEIGHTS": weights, "TOKENS": tokens,
                 "PATH": str(tmp_path / f"{name}.pt")}
        exec(LM_PROGRAM, scope)
        results.append(scope["result"])
    ours, theirs = results
    assert ours.keys() == theirs.keys() and "lstm.weight_hh_l1" in ours
    for k in theirs:
        np.testing.assert_allclose(ours[k], theirs[k], rtol=2e-4, atol=2e-6, err_msg=k)


SECOND_BACKWARD = '''
x = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
y = (x + x).sum()          # add and sum save nothing for backward
y.backward()
y.backward()               # so their nodes run again without retain_graph
grad = x.grad.numpy().copy()
z = x.exp().sum()          # exp saves its output, which backward frees
z.backward()
try:
    z.backward()
    error = None
except RuntimeError as e:
    error = str(e)
'''


def test_a_second_backward_through_nodes_that_saved_nothing_runs_as_in_pytorch():
    results = []
    for torch in (autograd, torch_ref):
        scope = {"torch": torch}
        exec(SECOND_BACKWARD, scope)
        results.append(scope)
    ours, theirs = results
    np.testing.assert_allclose(ours["grad"], theirs["grad"])
    np.testing.assert_allclose(ours["grad"], [4.0, 4.0, 4.0])
    assert "second time" in theirs["error"] and "second time" in ours["error"]
