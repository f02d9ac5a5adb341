"""The public, read-only node API of tape nodes (autograd/function.py): what viz, the
tape table and gradcheck_tape read instead of the engine's private fields, and the
engine call nn and optim use to report writes made through ``Tensor.array``."""
import numpy as np
import pytest

import autograd as ag


def test_next_functions_sequence_nr_scope_and_output_metadata():
    x = ag.tensor(np.ones((2, 3)), dtype=ag.float32, requires_grad=True)
    with ag.name_scope("block"):
        with ag.name_scope("0"):
            h = x.tanh()
    y = (h * 2.0).sum()
    mul = y.grad_fn.next_functions[0][0]
    tanh = mul.next_functions[0][0]
    ((acc, nr),) = tanh.next_functions          # a leaf: its AccumulateGrad, as in PyTorch
    assert tanh is h.grad_fn and acc.variable is x and nr == 0
    assert y.grad_fn.sequence_nr() > mul.sequence_nr() > tanh.sequence_nr()
    assert tanh.scope == "block.0" and tanh.scope_path == ("block", "0")
    assert mul.scope == "" and mul.scope_path == ()
    assert tanh.output_metadata == ((((2, 3)), np.dtype(np.float32)),)
    assert tanh.output_metadata[0].shape == (2, 3)
    assert y.grad_fn.output_metadata[0].dtype == np.float32


def test_saved_tensor_info_names_inputs_outputs_and_constants():
    x = ag.tensor([-1.0, 2.0], dtype=ag.float64, requires_grad=True)
    w = ag.tensor([3.0, 4.0], dtype=ag.float64, requires_grad=True)
    m = x * w                     # saves both inputs
    t = m.tanh()                  # saves its own output
    r = t.relu()                  # saves a mask computed in forward: a constant
    (mul_in0, mul_in1) = m.grad_fn.saved_tensor_info
    assert (mul_in0.kind, mul_in1.kind) == ("input", "input")
    assert mul_in0.value is x.array and mul_in1.value is w.array
    assert (mul_in0.shape, mul_in0.dtype, mul_in0.nbytes) == ((2,), np.float64, 16)
    (out,) = t.grad_fn.saved_tensor_info
    assert out.kind == "output" and out.output_nr == 0 and out.value is t.array
    (mask,) = r.grad_fn.saved_tensor_info
    assert mask.kind == "constant" and mask.output_nr is None and mask.dtype == np.bool_
    assert r.sum().grad_fn.saved_tensor_info == ()          # sum saves nothing


def test_saved_tensor_info_is_none_after_backward_released_it():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    node = y.grad_fn
    y.sum().backward(retain_graph=True)
    assert node.saved_tensor_info[0].kind == "output"
    y.sum().backward()
    assert node.saved_tensor_info is None


def test_reading_saved_tensor_info_runs_no_version_check():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1.0
    z = y * y
    y.add_(1.0)                   # z's saved inputs are now stale
    info = z.grad_fn.saved_tensor_info
    np.testing.assert_array_equal(info[0].value, [2.0, 3.0])


def test_call_site_is_recorded_only_under_detect_anomaly():
    x = ag.tensor([1.0], requires_grad=True)
    assert (x * 2.0).grad_fn.call_site is None
    with ag.detect_anomaly():
        y = x * 2.0                                   # the call site
    assert y.grad_fn.call_site.endswith(f"test_node_api.py:{_line_of('# the call site')}")


def _line_of(marker):
    with open(__file__) as f:
        for i, line in enumerate(f, 1):
            if line.rstrip().endswith(marker) and "_line_of" not in line:
                return i
    raise AssertionError(marker)


def test_the_viewers_leave_every_node_as_the_engine_made_it():
    from autograd.tape_check import record_inputs
    w = ag.tensor(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=True)
    x = ag.tensor(np.ones((4, 2)))
    with record_inputs():
        with ag.name_scope("layer"):
            h = (x @ w).tanh()
        loss = (h * h).sum()
    nodes = _nodes(loss)
    before = {id(n): dict(vars(n)) for n in nodes}
    with ag.record_gradients():
        (g,) = ag.grad(loss, w, create_graph=True)     # tags nodes with order 1
        g.sum().backward(retain_graph=True)
    ag.to_dot(loss, show_saved=True).source
    str(ag.tape(loss))
    ag.backprop_frames(loss)
    assert ag.gradcheck_tape(loss, print_table=False).ok
    for n in nodes:
        assert vars(n).keys() == before[id(n)].keys(), type(n).__name__
        assert all(vars(n)[k] is v for k, v in before[id(n)].items()), type(n).__name__


def _nodes(out):
    seen, stack = [], [out.grad_fn]
    while stack:
        n = stack.pop()
        if n is not None and all(n is not s for s in seen):
            seen.append(n)
            stack += [e[0] for e in n.next_functions if isinstance(e[0], ag.Primitive)]
    return seen


def test_increment_version_makes_saved_tensors_refuse_a_write_behind_autograds_back():
    from autograd.graph import increment_version
    w = ag.tensor([1.0, 2.0], requires_grad=True)
    y = (w * w).sum()
    w.array[0] = 5.0              # what an optimizer step does
    increment_version(w)
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        y.backward()
