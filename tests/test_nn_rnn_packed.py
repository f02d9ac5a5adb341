"""nn.utils.rnn (PackedSequence, pack/pad) and the recurrent layers on packed input,
against PyTorch CPU: the same source text runs with ``torch`` bound to PyTorch and to
tapegrad, on shared weights; outputs, final states and gradients must match."""
import numpy as np
import pytest
import torch as torch_ref

import autograd
import nn
from nn.utils.rnn import PackedSequence, pack_sequence

UTILS_PROGRAM = '''
from_list = [torch.tensor(s, requires_grad=True) for s in SEQS]
padded = torch.nn.utils.rnn.pad_sequence(from_list, batch_first=True, padding_value=-1.0)
left = torch.nn.utils.rnn.pad_sequence(from_list, padding_side="left")
packed = torch.nn.utils.rnn.pack_padded_sequence(padded, LENGTHS, batch_first=True,
                                                 enforce_sorted=False)
back, lengths = torch.nn.utils.rnn.pad_packed_sequence(packed, padding_value=7.0, total_length=6)
sorted_pack = torch.nn.utils.rnn.pack_sequence(sorted(from_list, key=len, reverse=True))
loss = (back * back).sum() + (packed.data ** 3).sum() + left.sum() * 2 + sorted_pack.data.sum()
loss.backward()
result = dict(padded=padded, left=left, data=packed.data, batch_sizes=packed.batch_sizes,
              sorted_indices=packed.sorted_indices, unsorted_indices=packed.unsorted_indices,
              back=back, lengths=lengths, sorted_data=sorted_pack.data,
              sorted_sizes=sorted_pack.batch_sizes, grads=[s.grad for s in from_list])
'''

LENGTHS = [3, 5, 1, 4]


def _seqs(feature=(2,), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal((n, *feature)) for n in LENGTHS]


def _numpy(v):
    if isinstance(v, list):
        return [_numpy(x) for x in v]
    return v.detach().numpy() if hasattr(v, "detach") else v


def _run(program, lib, **scope):
    scope = dict(scope, torch=lib)
    exec(program, scope)
    return {k: _numpy(v) for k, v in scope["result"].items()}


def _same(ours, theirs, rtol=1e-10):
    assert ours.keys() == theirs.keys()
    for k, v in theirs.items():
        for a, b in (zip(ours[k], v) if isinstance(v, list) else [(ours[k], v)]):
            assert np.asarray(a).dtype == np.asarray(b).dtype, k
            np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-12, err_msg=k)


def test_pack_and_pad_utilities_match_pytorch_with_gradients():
    scope = dict(SEQS=_seqs(), LENGTHS=LENGTHS)
    _same(_run(UTILS_PROGRAM, autograd, **scope), _run(UTILS_PROGRAM, torch_ref, **scope))


LAYER_PROGRAM = '''
rnn = getattr(torch.nn, NAME)(3, 4, **KW).double()
rnn.load_state_dict({k: torch.tensor(v) for k, v in WEIGHTS.items()})
seqs = [torch.tensor(s, requires_grad=True) for s in SEQS]
padded = torch.nn.utils.rnn.pad_sequence(seqs, batch_first=KW.get("batch_first", False))
packed = torch.nn.utils.rnn.pack_padded_sequence(padded, LENGTHS, batch_first=KW.get("batch_first", False),
                                                 enforce_sorted=False)
args = [packed]
if HX is not None:
    hx = [torch.tensor(h, requires_grad=True) for h in HX]
    args.append(tuple(hx) if NAME == "LSTM" else hx[0])
out, state = rnn(*args)
states = list(state) if NAME == "LSTM" else [state]
y, lengths = torch.nn.utils.rnn.pad_packed_sequence(out, batch_first=KW.get("batch_first", False))
loss = (y * y).sum() + sum(((s * s * (i + 2)).sum() for i, s in enumerate(states)))
loss.backward()
result = dict(y=y, lengths=lengths, data=out.data, states=states,
              seq_grads=[s.grad for s in seqs], hx_grads=[h.grad for h in hx] if HX else [],
              param_grads=[p.grad for p in rnn.parameters()],
              is_packed=isinstance(out, torch.nn.utils.rnn.PackedSequence))
'''

LAYER_CASES = [
    ("RNN", {}, False),
    ("RNN", dict(nonlinearity="relu", num_layers=2, bidirectional=True), True),
    ("LSTM", {}, True),
    ("LSTM", dict(num_layers=2, bidirectional=True, proj_size=2, batch_first=True), True),
    ("GRU", dict(bidirectional=True), False),
    ("GRU", dict(num_layers=2, batch_first=True), True),
]


@pytest.mark.parametrize("name,kw,with_hx", LAYER_CASES,
                         ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(LAYER_CASES)])
def test_recurrent_layers_on_packed_input_match_pytorch(name, kw, with_hx):
    theirs = getattr(torch_ref.nn, name)(3, 4, **kw).double()
    weights = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    hx = None
    if with_hx:
        rng = np.random.default_rng(5)
        layers = kw.get("num_layers", 1) * (2 if kw.get("bidirectional") else 1)
        shapes = [(layers, len(LENGTHS), kw.get("proj_size") or 4)]
        if name == "LSTM":
            shapes.append((layers, len(LENGTHS), 4))
        hx = [rng.standard_normal(s) for s in shapes]
    scope = dict(NAME=name, KW=kw, WEIGHTS=weights, SEQS=_seqs((3,), 1), LENGTHS=LENGTHS, HX=hx)
    ours, theirs = _run(LAYER_PROGRAM, autograd, **scope), _run(LAYER_PROGRAM, torch_ref, **scope)
    assert ours["is_packed"] and theirs["is_packed"]
    _same(ours, theirs, rtol=1e-9)


def test_sorted_packing_keeps_no_permutation_and_runs_the_layer():
    seqs = [autograd.randn(n, 3, dtype=autograd.float64) for n in (4, 2, 2)]
    packed = pack_sequence(seqs)
    assert packed.sorted_indices is None and packed.unsorted_indices is None
    assert packed.batch_sizes.tolist() == [3, 3, 1, 1] and packed.batch_sizes.dtype == np.int64
    lstm = nn.LSTM(3, 4).double()
    out, (h, c) = lstm(packed)
    assert isinstance(out, PackedSequence) and out.data.shape == (8, 4) and h.shape == (1, 3, 4)
    # the final state of each sequence is its output at its own last step: rows 3, 4, 5
    # of the packed data are step 1 of sequences 0, 1, 2, and row 7 is step 3 of sequence 0
    np.testing.assert_allclose(h[0, 1:].numpy(), out.data[4:6].numpy())
    np.testing.assert_allclose(h[0, 0].numpy(), out.data[7].numpy())
    assert packed.to(autograd.float32).data.dtype == np.float32 and packed.cpu() is packed


@pytest.mark.parametrize("call, kind, match", [
    (lambda: nn.utils.rnn.pack_padded_sequence(autograd.zeros(3, 2, 1), [1, 2]), RuntimeError,
     r"lengths \[1, 2\] must be sorted in decreasing order"),
    (lambda: nn.utils.rnn.pack_padded_sequence(autograd.zeros(3, 2, 1), [2, 0]), ValueError,
     "every length must be positive"),
    (lambda: nn.utils.rnn.pack_padded_sequence(autograd.zeros(3, 2, 1), [4, 2]), ValueError,
     "a length of 4 exceeds the 3 time steps"),
    (lambda: nn.utils.rnn.pack_padded_sequence(autograd.zeros(3, 2, 1), [3, 2, 1]), ValueError,
     "expected input with a batch of 3 sequences"),
    (lambda: nn.utils.rnn.pad_packed_sequence(pack_sequence([autograd.ones(3, 1)]), total_length=2),
     ValueError, "expected total_length to be at least 3"),
    (lambda: nn.utils.rnn.pad_sequence([autograd.ones(2, 1), autograd.ones(2, 2)]), ValueError,
     r"sequence 1 has shape \(2, 2\)"),
    (lambda: nn.GRU(2, 3)(pack_sequence([autograd.ones(3, 1)])), ValueError,
     r"expected packed data of shape \(N, 2\)"),
])
def test_packing_errors_name_the_function(call, kind, match):
    with pytest.raises(kind, match=match):
        call()
