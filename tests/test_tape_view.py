"""autograd.tape(output): the entries backward replays, their shapes and memory."""
import numpy as np

import autograd as ag


def model():
    x = ag.tensor(np.ones((4, 3)), dtype=ag.float32)                  # no grad
    w = ag.tensor(np.full((3, 2), 0.5), dtype=ag.float32, requires_grad=True)
    with ag.name_scope("layer"):
        h = (x @ w).tanh()
    loss = (h * h).sum()
    return loss, w


def test_entries_in_tape_order_with_shapes_and_modules():
    loss, w = model()
    t = ag.tape(loss)
    assert [e.op for e in t] == ["MatMul", "Tanh", "Mul", "Sum"]
    positions = [e.position for e in t]
    assert positions == sorted(positions)
    assert [e.module for e in t] == ["layer", "layer", "", ""]
    mm = t[0]
    assert mm.input_shapes == [None, (3, 2)]          # x needs no gradient
    assert mm.output_shapes == [(4, 2)]
    assert t[2].input_shapes == [(4, 2), (4, 2)]
    assert t[3].output_shapes == [()]


def test_saved_bytes_per_entry_and_total():
    loss, w = model()
    t = ag.tape(loss)
    # MatMul saves x (4x3 float32 = 48 B; read by dW) and, as x needs no gradient,
    # only w's shape (a zero-stride stand-in: 4 B); Tanh its output (32 B); Mul its
    # two inputs, both h (32 B each); Sum nothing.
    assert [e.saved_bytes for e in t] == [52, 32, 64, 0]
    # h is Tanh's output and both Mul inputs: one array, counted once in the total.
    assert t.total_saved_bytes == 48 + 4 + 32
    text = str(t)
    assert "4 ops; saved for backward: 84 B" in text
    lines = text.splitlines()
    assert lines[0].split() == ["#", "op", "module", "inputs", "outputs", "saved", "|grad|"]
    assert "MatMul" in lines[2] and "layer" in lines[2] and "52 B" in lines[2]


def test_gradient_norms_after_a_recorded_backward():
    loss, w = model()
    assert all(e.grad_norm is None for e in ag.tape(loss))
    with ag.record_gradients():
        loss.backward()
    t = ag.tape(loss)
    h = np.tanh(np.full((4, 2), 1.5))
    np.testing.assert_allclose(t[3].grad_norm, 1.0)                       # d loss / d loss
    np.testing.assert_allclose(t[2].grad_norm, 2 * np.sqrt(2), rtol=1e-6)  # ones(4, 2)
    np.testing.assert_allclose(t[1].grad_norm, np.linalg.norm(2 * h), rtol=1e-5)
    # backward released what MatMul, Tanh and Mul saved; Sum saved nothing, and a node
    # that saved nothing can run again (as in PyTorch), so it has nothing to release
    assert [e.saved_bytes for e in t] == [None, None, None, 0]
    assert "released" in str(t)


def test_tape_of_a_tensor_without_graph_is_empty():
    t = ag.tape(ag.tensor([1.0]))
    assert len(t) == 0 and "0 ops" in str(t)
