"""RNN, LSTM, GRU and their cells against PyTorch CPU (a pinned dev dependency, imported
unconditionally: this file fails, never skips, without it).  PyTorch's modules are built
with the same arguments, their state dicts loaded into ours unchanged; outputs, final
states and the gradients of inputs, initial states and every parameter must match.
Cells are also gradchecked and gradgradchecked in float64."""
import math

import numpy as np
import pytest
import torch

import autograd as ag
import nn
import optim
from nn_helpers import check_module

L, N, H_IN, H = 4, 2, 3, 5

CASES = [
    ("RNN", {}),
    ("RNN", dict(nonlinearity="relu", num_layers=2, bias=False)),
    ("RNN", dict(num_layers=2, bidirectional=True, batch_first=True)),
    ("LSTM", {}),
    ("LSTM", dict(proj_size=2, num_layers=2, bidirectional=True)),
    ("LSTM", dict(batch_first=True, bias=False, num_layers=2, dropout=0.5)),
    ("GRU", {}),
    ("GRU", dict(num_layers=2, bidirectional=True, batch_first=True)),
    ("GRU", dict(bias=False, dropout=0.3, num_layers=3)),
]


def _pair_modules(name, kw, size=(H_IN, H)):
    theirs = getattr(torch.nn, name)(*size, **kw).double()
    ours = getattr(nn, name)(*size, **kw)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for (k, a), b in zip(ours.state_dict().items(), theirs.state_dict().values()):
        assert tuple(a.shape) == tuple(b.shape), k
    ours.double().load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    return ours, theirs


def _pair(shape, seed):
    x = np.random.default_rng(seed).standard_normal(shape)
    return ag.tensor(x, dtype=ag.float64, requires_grad=True), torch.tensor(x, requires_grad=True)


def _flat(out):
    """output, h_n[, c_n] as a flat list."""
    y, state = out
    return [y, *state] if isinstance(state, tuple) else [y, state]


def _same(a, b, rtol=1e-9, atol=1e-12):
    np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=rtol, atol=atol)


def _state_shapes(name, kw, batched):
    layers = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
    batch = (N,) if batched else ()
    h = (layers, *batch, kw.get("proj_size") or H)
    return [h, (layers, *batch, H)] if name == "LSTM" else [h]


@pytest.mark.parametrize("with_hx", [False, True], ids=["zero-state", "given-state"])
@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_recurrent_layer_matches_pytorch(name, kw, batched, with_hx):
    ours, theirs = _pair_modules(name, kw)
    ours.eval(), theirs.eval()          # dropout between layers is off in eval, as in PyTorch
    shape = ((N, L) if kw.get("batch_first") else (L, N)) if batched else (L,)
    x, xt = _pair((*shape, H_IN), 0)
    inputs = [(x, xt)]
    args, targs = [x], [xt]
    if with_hx:
        states = [_pair(s, i + 1) for i, s in enumerate(_state_shapes(name, kw, batched))]
        inputs += states
        hx, hxt = ([s[k] for s in states] for k in (0, 1))
        args.append(tuple(hx) if name == "LSTM" else hx[0])
        targs.append(tuple(hxt) if name == "LSTM" else hxt[0])
    got, want = _flat(ours(*args)), _flat(theirs(*targs))
    assert [tuple(g.shape) for g in got] == [tuple(w.shape) for w in want]
    for g, w in zip(got, want):
        _same(g, w)
    rng = np.random.default_rng(7)
    weights = [rng.standard_normal(w.shape) for w in want]
    sum((g * ag.tensor(r)).sum() for g, r in zip(got, weights)).backward()
    sum((w * torch.tensor(r)).sum() for w, r in zip(want, weights)).backward()
    for a, b in inputs:
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-8, atol=1e-11)
    for (k, p), q in zip(ours.named_parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-8, atol=1e-11,
                                   err_msg=k)


CELLS = [("RNNCell", {}), ("RNNCell", dict(nonlinearity="relu", bias=False)),
         ("LSTMCell", {}), ("LSTMCell", dict(bias=False)), ("GRUCell", {}),
         ("GRUCell", dict(bias=False))]


@pytest.mark.parametrize("batched", [True, False], ids=["batched", "unbatched"])
@pytest.mark.parametrize("name,kw", CELLS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CELLS)])
def test_cell_matches_pytorch_over_a_loop(name, kw, batched):
    ours, theirs = _pair_modules(name, kw)
    batch = (N,) if batched else ()
    xs = [_pair((*batch, H_IN), t) for t in range(3)]
    h, ht = _pair((*batch, H), 10)
    c, ct = _pair((*batch, H), 11)
    state, tstate = ((h, c), (ht, ct)) if name == "LSTMCell" else (h, ht)
    outs, touts = [], []
    for x, xt in xs:                      # a user's own time loop, PyTorch style
        state, tstate = ours(x, state), theirs(xt, tstate)
        outs.append(state[0] if name == "LSTMCell" else state)
        touts.append(tstate[0] if name == "LSTMCell" else tstate)
    for o, t in zip(outs, touts):
        _same(o, t)
    ag.stack(outs).sum().backward()
    torch.stack(touts).sum().backward()
    for a, b in xs + [(h, ht)] + ([(c, ct)] if name == "LSTMCell" else []):
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-8, atol=1e-11)
    for p, q in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-8, atol=1e-11)


def test_cell_without_state_starts_from_zeros():
    ours, theirs = _pair_modules("LSTMCell", {})
    x, xt = _pair((N, H_IN), 0)
    for g, w in zip(ours(x), theirs(xt)):
        _same(g, w)
    ours, theirs = _pair_modules("GRUCell", {})
    _same(ours(x[0]), theirs(xt[0]))


@pytest.mark.parametrize("name,kw", CELLS, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CELLS)])
def test_cell_gradcheck_and_gradgradcheck(name, kw):
    rng = np.random.default_rng(0)
    cell = getattr(nn, name)(2, 3, **kw)
    x = ag.tensor(rng.uniform(-1, 1, (2, 2)), dtype=ag.float64, requires_grad=True)
    h = ag.tensor(rng.uniform(-1, 1, (2, 3)), dtype=ag.float64, requires_grad=True)
    if name == "LSTMCell":
        c = ag.tensor(rng.uniform(-1, 1, (2, 3)), dtype=ag.float64, requires_grad=True)
        cell.double()
        params = list(cell.parameters())

        def both(x, h, c, *ps):
            h1, c1 = cell(x, (h, c))
            return h1 * 2 + c1        # both outputs reach the check
        assert ag.gradcheck(both, [x, h, c, *params], atol=1e-5, rtol=1e-3)
        assert ag.gradgradcheck(both, [x, h, c, *params], atol=1e-5, rtol=1e-3)
    else:
        if kw.get("nonlinearity") == "relu":   # keep pre-activations away from relu's kink
            x = ag.tensor(rng.uniform(0.5, 1, (2, 2)), dtype=ag.float64, requires_grad=True)
            cell.double()
            for p in cell.parameters():
                nn.init.uniform_(p, 0.1, 0.5)
        check_module(cell, x, h, gradgrad=True)


def test_stacked_bidirectional_lstm_with_projection_gradchecks():
    rng = np.random.default_rng(1)
    lstm = nn.LSTM(2, 3, num_layers=2, bidirectional=True, proj_size=1, batch_first=True)
    x = ag.tensor(rng.uniform(-1, 1, (2, 3, 2)), dtype=ag.float64, requires_grad=True)
    check_module(lstm, x)


def test_long_sequence_backprop_through_time_matches_pytorch():
    """BPTT over 500 steps replays the tape without recursion."""
    ours, theirs = _pair_modules("GRU", {}, size=(2, 3))
    x, xt = _pair((500, 1, 2), 0)
    out, _ = ours(x)
    ref, _ = theirs(xt)
    out[-1].sum().backward()
    ref[-1].sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-7, atol=1e-12)


def test_dropout_between_layers_acts_in_training_only():
    lstm = nn.LSTM(H_IN, H, num_layers=2, dropout=0.5).double()
    x = ag.tensor(np.random.default_rng(0).standard_normal((L, N, H_IN)))
    lstm.eval()
    y_eval = lstm(x)[0].numpy()
    lstm.train()
    ag.manual_seed(0)
    y_train = lstm(x)[0].numpy()
    ag.manual_seed(0)
    np.testing.assert_array_equal(lstm(x)[0].numpy(), y_train)
    assert not np.allclose(y_train, y_eval)
    lstm.dropout = 0.0
    np.testing.assert_allclose(lstm(x)[0].numpy(), y_eval, rtol=1e-12)


def test_init_is_uniform_in_pytorch_bounds_and_repr_matches():
    lstm = nn.LSTM(10, 16, num_layers=2, bidirectional=True, proj_size=4)
    bound = 1 / math.sqrt(16)
    values = np.concatenate([p.numpy().ravel() for p in lstm.parameters()])
    assert values.dtype == np.float32
    assert np.all(np.abs(values) <= bound) and values.std() > bound / 2   # ~U(-b, b): std b/sqrt(3)
    for m, t in [(lstm, torch.nn.LSTM(10, 16, num_layers=2, bidirectional=True, proj_size=4)),
                 (nn.RNN(3, 4, nonlinearity="relu", batch_first=True, dropout=0.0),
                  torch.nn.RNN(3, 4, nonlinearity="relu", batch_first=True, dropout=0.0)),
                 (nn.GRUCell(3, 4, bias=False), torch.nn.GRUCell(3, 4, bias=False))]:
        assert repr(m) == repr(t)
    assert [[tuple(p.shape) for p in w] for w in lstm.all_weights] == \
        [[tuple(p.shape) for p in w] for w in torch.nn.LSTM(10, 16, 2, bidirectional=True,
                                                            proj_size=4).all_weights]


def test_lstm_language_model_trains_like_pytorch():
    """Embedding -> 2-layer LSTM -> Linear, three Adam steps on shared weights."""
    def model(lib):
        class LM(lib.Module):
            def __init__(self):
                super().__init__()
                self.emb = lib.Embedding(7, 4)
                self.rnn = lib.LSTM(4, 6, num_layers=2, batch_first=True)
                self.head = lib.Linear(6, 7)

            def forward(self, tokens, state=None):
                out, state = self.rnn(self.emb(tokens), state)
                return self.head(out), state
        return LM()
    theirs, ours = model(torch.nn).double(), model(nn)
    ours.double().load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    tokens = np.random.default_rng(0).integers(0, 7, (3, 6))
    opt, topt = optim.Adam(ours.parameters(), lr=0.01), torch.optim.Adam(theirs.parameters(), lr=0.01)
    for _ in range(3):
        logits, _ = ours(ag.tensor(tokens[:, :-1]))
        tlogits, _ = theirs(torch.tensor(tokens[:, :-1]))
        loss = nn.functional.cross_entropy(logits.reshape(-1, 7), ag.tensor(tokens[:, 1:].ravel()))
        tloss = torch.nn.functional.cross_entropy(tlogits.reshape(-1, 7),
                                                  torch.tensor(tokens[:, 1:].ravel()))
        np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-10)
        opt.zero_grad(), topt.zero_grad()
        loss.backward(), tloss.backward()
        opt.step(), topt.step()
    for (k, p), q in zip(ours.state_dict().items(), theirs.state_dict().values()):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-9, atol=1e-12, err_msg=k)


@pytest.mark.parametrize("call,match", [
    (lambda: nn.LSTM(3, 5)(ag.zeros(4, 2, 4)), r"LSTM.*input_size. Expected 3, got 4"),
    (lambda: nn.GRU(3, 5)(ag.zeros(4, 2, 1, 3)), r"GRU.*2-D .* or 3-D .* got a 4-D"),
    (lambda: nn.RNN(3, 5)(ag.zeros(4, 2, 3), ag.zeros(1, 3, 5)), r"RNN.*h_0 of shape \(1, 2, 5\)"),
    (lambda: nn.RNN(3, 5)(ag.zeros(4, 3), ag.zeros(1, 1, 5)), r"RNN.*unbatched 2-D input, h_0"),
    (lambda: nn.LSTM(3, 5)(ag.zeros(4, 2, 3), ag.zeros(1, 2, 5)), r"LSTM.*tuple \(h_0, c_0\)"),
    (lambda: nn.LSTM(3, 5, proj_size=2)(ag.zeros(4, 2, 3), (ag.zeros(1, 2, 5), ag.zeros(1, 2, 5))),
     r"LSTM.*h_0 of shape \(1, 2, 2\)"),
    (lambda: nn.GRU(3, 5)(ag.zeros(4, 2, 3), (ag.zeros(1, 2, 5),)), r"GRU.*only LSTM takes a tuple"),
    (lambda: nn.LSTM(3, 5)(ag.zeros(0, 2, 3)), r"LSTM.*at least one step"),
    (lambda: nn.GRUCell(3, 5)(ag.zeros(2, 4)), r"GRUCell.*\(N, 3\) or \(3,\), got \(2, 4\)"),
    (lambda: nn.LSTMCell(3, 5)(ag.zeros(2, 3), (ag.zeros(2, 4), ag.zeros(2, 5))),
     r"LSTMCell.*h_0 of shape \(2, 5\)"),
    (lambda: nn.RNNCell(3, 5)(ag.zeros(3), ag.zeros(1, 5)), r"RNNCell.*h_0 of shape \(5,\)"),
    (lambda: nn.RNNBase("GRU", 3, 5, proj_size=2), r"proj_size argument is only supported for LSTM"),
    (lambda: nn.LSTM(3, 5, proj_size=5), r"LSTM: proj_size 5 has to be smaller than hidden_size 5"),
    (lambda: nn.RNN(3, 5, nonlinearity="gelu"), r"RNN: unknown nonlinearity 'gelu'"),
    (lambda: nn.RNNCell(3, 0), r"RNNCell: hidden_size must be a positive integer"),
    (lambda: nn.GRU(3, 5, num_layers=2, dropout=1.5), r"GRU: dropout should be a number in \[0, 1\]"),
])
def test_clear_errors_name_the_module(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


def test_dropout_on_a_single_layer_warns_like_pytorch():
    with pytest.warns(UserWarning, match="non-zero dropout expects num_layers greater than 1"):
        nn.GRU(3, 5, dropout=0.2)
