"""detect_anomaly: NaN/Inf in a forward output or a VJP names the op, module, line."""
import inspect
import os

import numpy as np
import pytest

import autograd as ag

HERE = os.path.abspath(__file__)


def _line_of(marker):
    src = inspect.getsource(inspect.getmodule(_line_of)).splitlines()
    return next(i + 1 for i, s in enumerate(src) if s.rstrip().endswith(marker))


def test_nan_in_forward_names_op_module_and_line():
    x = ag.tensor([1.0, -1.0], requires_grad=True)
    with ag.detect_anomaly(), np.errstate(invalid="ignore"):
        with ag.name_scope("encoder"):
            with pytest.raises(FloatingPointError) as err:
                x.log()                                   # planted NaN: log(-1)
    msg = str(err.value)
    assert "Log" in msg and "encoder" in msg
    assert f"{HERE}:{_line_of('# planted NaN: log(-1)')}" in msg


def test_inf_in_backward_names_op_module_and_forward_line():
    x = ag.tensor([0.0, 4.0], requires_grad=True)
    with ag.detect_anomaly():
        with ag.name_scope("block.sqrt"):
            y = x.sqrt()                                  # planted: d sqrt/dx at 0 is inf
        loss = y.sum()
        with pytest.raises(FloatingPointError) as err, np.errstate(divide="ignore"):
            loss.backward()
    msg = str(err.value)
    assert "SqrtBackward" in msg and "block.sqrt" in msg
    assert f"{HERE}:{_line_of('# planted: d sqrt/dx at 0 is inf')}" in msg


def test_without_anomaly_mode_nan_passes_silently_and_trace_is_not_recorded():
    x = ag.tensor([-1.0], requires_grad=True)
    with np.errstate(invalid="ignore"):
        y = x.log()
    assert np.isnan(y.array).all()
    assert getattr(y.grad_fn, "_trace", None) is None


def test_trace_shows_in_graph_tooltips():
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    with ag.detect_anomaly():
        y = (x * 3.0).sum()                               # traced line
    src = ag.to_dot(y).source
    assert f"called at {HERE}:{_line_of('# traced line')}" in src
