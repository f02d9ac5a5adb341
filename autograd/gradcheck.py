"""Numerical gradient checking: the analytical Jacobian (built from VJPs, one
backward per output element) against central differences in float64.

On a mismatch the check diagnoses before it reports: it retries the worst element
with other step sizes and compares the one-sided differences, to tell a kink
(a non-differentiable point such as relu at 0) from a wrong VJP, and prints the
few worst elements as a table.  Both Jacobians stay on the exception.
"""
import warnings

import numpy as np

from . import forward_ad
from .engine import grad as _grad
from .grad_mode import enable_grad, no_grad
from .tensor import Tensor


class GradcheckError(RuntimeError):
    """Raised by gradcheck; ``analytical``/``numerical`` hold the two Jacobians
    (rows: output elements, columns: input elements) of the failing pair."""

    def __init__(self, message, input_index=None, output_index=None, analytical=None, numerical=None):
        super().__init__(message)
        self.input_index, self.output_index = input_index, output_index
        self.analytical, self.numerical = analytical, numerical


def _as_tuple(x):
    return tuple(x) if isinstance(x, (tuple, list)) else (x,)


def _outputs(fn, inputs):
    return _as_tuple(fn(*inputs))


def _differentiable(outs):
    return [j for j, o in enumerate(outs) if isinstance(o, Tensor) and o.dtype.kind == "f"]


def _forward_values(fn, inputs, out_idx):
    with no_grad():
        outs = _outputs(fn, inputs)
    return [np.array(outs[j].array, dtype=np.float64, copy=True).reshape(-1) for j in out_idx]


def _numerical_jacobians(fn, inputs, x_idx, out_idx, out_sizes, eps):
    """jac[j][i]: (output j size, input i size) matrix by central differences."""
    jac = [[np.zeros((out_sizes[j], inputs[i].array.size)) for i in x_idx] for j in range(len(out_idx))]
    for col, i in enumerate(x_idx):
        x = inputs[i].array
        for k, idx in enumerate(np.ndindex(*x.shape)):
            orig = x[idx]
            x[idx] = orig + eps
            plus = _forward_values(fn, inputs, out_idx)
            x[idx] = orig - eps
            minus = _forward_values(fn, inputs, out_idx)
            x[idx] = orig
            for j in range(len(out_idx)):
                jac[j][col][:, k] = (plus[j] - minus[j]) / (2 * eps)
    return jac


def _analytical_jacobians(outs, inputs, x_idx, out_idx):
    xs = [inputs[i] for i in x_idx]
    jac = []
    for j in out_idx:
        o = outs[j]
        rows = [np.zeros((o.array.size, x.array.size)) for x in xs]
        if o.requires_grad:
            for r in range(o.array.size):
                seed = np.zeros(o.array.size, o.dtype)
                seed[r] = 1
                with enable_grad():
                    gs = _grad(o, xs, Tensor._make(seed.reshape(o.shape)), retain_graph=True,
                               allow_unused=True)
                for c, g in enumerate(gs):
                    if g is not None:
                        rows[c][r] = np.asarray(g.array, dtype=np.float64).reshape(-1)
        jac.append(rows)
    return jac


# The kink diagnosis gradcheck and gradcheck_tape share: one-sided difference quotients
# that disagree (beyond 1% and 1e-6) mean the function is not differentiable at the
# point (relu at 0, max-pool ties), so a mismatch there is no wrong VJP.
def one_sided_step(eps):
    """Step of the one-sided differences: ``eps``, but not below 1e-5, where rounding
    error swamps a one-sided quotient."""
    return max(eps, 1e-5)


def is_kink(forward, backward):
    """Whether the forward and backward one-sided difference quotients disagree."""
    return abs(forward - backward) > 1e-2 * max(abs(forward), abs(backward), 1e-8) + 1e-6


def _diagnose(fn, inputs, i, j_pos, out_idx, col, row, eps):
    """Retry one Jacobian entry with other steps and one-sided differences."""
    x = inputs[i].array
    idx = np.unravel_index(col, x.shape) if x.ndim else ()
    orig = x[idx]

    def value(delta):
        x[idx] = orig + delta
        try:
            return _forward_values(fn, inputs, out_idx)[j_pos][row]
        finally:
            x[idx] = orig
    f0 = value(0.0)
    steps = {h: (value(h) - value(-h)) / (2 * h) for h in (1e-3, 1e-4, 1e-5, 1e-7)}
    h = one_sided_step(eps)
    forward, backward = (value(h) - f0) / h, (f0 - value(-h)) / h
    return steps, forward, backward, is_kink(forward, backward)


def _table(A, N, atol, rtol, count=5):
    err = np.abs(A - N)
    worst = np.argsort(-(err - rtol * np.abs(N)), axis=None)[:count]
    lines = [f"    {'out elem':>9} {'in elem':>9} {'analytical':>14} {'numerical':>14} {'abs err':>11}"]
    for flat in worst:
        r, c = np.unravel_index(flat, A.shape)
        if err[r, c] <= atol + rtol * abs(N[r, c]):
            break
        lines.append(f"    {r:>9} {c:>9} {A[r, c]:>14.6g} {N[r, c]:>14.6g} {err[r, c]:>11.3g}")
    return "\n".join(lines)


def _fail(raise_exception, message, **info):
    if raise_exception:
        raise GradcheckError(message, **info)
    return False


def gradcheck(fn, inputs, *, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
              fast_mode=False, check_forward_ad=False, check_backward_ad=True, what="gradient"):
    """Check ``fn``'s derivatives against central differences for every input that
    requires grad and every floating output: the VJPs (reverse mode, unless
    ``check_backward_ad=False``) and, with ``check_forward_ad=True``, the JVPs (forward
    mode, one column of the Jacobian per input element).  Returns True, or raises
    ``GradcheckError`` (False with ``raise_exception=False``)."""
    inputs = _as_tuple(inputs)
    x_idx = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not x_idx:
        raise ValueError("gradcheck: no input requires grad; pass tensors with requires_grad=True")
    for i in x_idx:
        if inputs[i].dtype != np.float64:
            warnings.warn(f"gradcheck: input {i} is {inputs[i].dtype}, not float64; central "
                          "differences in low precision are unreliable", stacklevel=2)
    with enable_grad():
        outs = _outputs(fn, inputs)
    out_idx = _differentiable(outs)
    if not out_idx:
        raise ValueError("gradcheck: fn returned no floating-point tensor output")
    checks = []
    if check_backward_ad:
        if fast_mode:
            ok = _fast_check(fn, inputs, outs, x_idx, out_idx, eps, atol, rtol)
            if ok is not True and not raise_exception:
                return False
            # Report a failure with the full Jacobians (affordable at gradcheck's sizes).
        if not fast_mode or ok is not True:
            checks.append((what, "VJP", _analytical_jacobians(outs, inputs, x_idx, out_idx)))
    if check_forward_ad:
        checks.append((f"forward-mode {what}", "JVP", _forward_jacobians(fn, inputs, outs, x_idx, out_idx)))
    if not checks:
        return True
    out_sizes = [outs[j].array.size for j in out_idx]
    numerical = _numerical_jacobians(fn, inputs, x_idx, out_idx, out_sizes, eps)
    for kind, rule, analytical in checks:
        for jp, j in enumerate(out_idx):
            for col, i in enumerate(x_idx):
                A, N = analytical[jp][col], numerical[jp][col]
                if A.size == 0 or np.allclose(A, N, atol=atol, rtol=rtol):
                    continue
                msg = _mismatch(fn, inputs, outs, i, j, jp, out_idx, A, N, eps, atol, rtol, kind, rule)
                return _fail(raise_exception, msg, input_index=i, output_index=j,
                             analytical=A, numerical=N)
    return True


def _forward_jacobians(fn, inputs, outs, x_idx, out_idx):
    """jac[j][i] by forward mode: column k is the tangent of output j when input i
    carries the k-th unit tangent."""
    jac = [[np.zeros((outs[j].array.size, inputs[i].array.size)) for i in x_idx] for j in out_idx]
    for col, i in enumerate(x_idx):
        x = inputs[i]
        for k in range(x.array.size):
            seed = np.zeros(x.shape, x.array.dtype)
            seed.reshape(-1)[k] = 1
            args = list(inputs)
            with forward_ad.dual_level(), enable_grad():
                args[i] = forward_ad.make_dual(x, Tensor._make(seed))
                new = _outputs(fn, args)
                for jp, j in enumerate(out_idx):
                    t = forward_ad.unpack_dual(new[j]).tangent
                    if t is not None:
                        jac[jp][col][:, k] = np.asarray(t.array, dtype=np.float64).reshape(-1)
    return jac


def _mismatch(fn, inputs, outs, i, j, jp, out_idx, A, N, eps, atol, rtol, kind, rule):
    """The report of a failed check: the worst element, the diagnosis, the worst few."""
    bad = np.abs(A - N) - (atol + rtol * np.abs(N))
    row, c = np.unravel_index(np.argmax(bad), A.shape)
    steps, fwd, bwd, kink = _diagnose(fn, inputs, i, jp, out_idx, c, row, eps)
    verdict = ("looks like a kink: the one-sided differences disagree, so the function is "
               "not differentiable at this input (move the sample away from it)"
               if kink else
               f"looks like a wrong {rule}: the function is smooth here (one-sided "
               "differences agree) but the analytical value differs")
    in_pos = tuple(int(v) for v in np.unravel_index(c, inputs[i].shape)) if inputs[i].ndim else ()
    out_pos = tuple(int(v) for v in np.unravel_index(row, outs[j].shape)) if outs[j].ndim else ()
    return (f"{kind} check failed for output {j} w.r.t. input {i}: worst element "
            f"d out{list(out_pos)} / d in{list(in_pos)}: analytical {A[row, c]:.6g}, "
            f"numerical {N[row, c]:.6g} (atol={atol}, rtol={rtol}).\n"
            f"  Diagnosis: {verdict}.\n"
            f"  Central differences at other steps: "
            + ", ".join(f"h={h:g}: {v:.6g}" for h, v in steps.items())
            + f"; one-sided: forward {fwd:.6g}, backward {bwd:.6g}.\n"
            f"  Worst elements (flat indices):\n{_table(A, N, atol, rtol)}")


def _fast_check(fn, inputs, outs, x_idx, out_idx, eps, atol, rtol):
    """Compare v^T J u (random u, v) analytically and numerically for each pair."""
    rng = np.random.default_rng(0)
    us = {i: rng.standard_normal(inputs[i].shape) for i in x_idx}
    for j in out_idx:
        o = outs[j]
        v = rng.standard_normal(o.shape)
        if o.requires_grad:
            with enable_grad():
                gs = _grad(o, [inputs[i] for i in x_idx], Tensor._make(v.astype(o.dtype)),
                           retain_graph=True, allow_unused=True)
        else:
            gs = [None] * len(x_idx)
        for i, g in zip(x_idx, gs):
            analytic = 0.0 if g is None else float((g.array * us[i]).sum())
            x = inputs[i].array
            orig = x.copy()
            x[...] = orig + eps * us[i]
            plus = _forward_values(fn, inputs, [j])[0]
            x[...] = orig - eps * us[i]
            minus = _forward_values(fn, inputs, [j])[0]
            x[...] = orig
            numeric = float(((plus - minus) / (2 * eps) * v.reshape(-1)).sum())
            if abs(analytic - numeric) > atol + rtol * abs(numeric):
                return False
    return True


def gradgradcheck(fn, inputs, grad_outputs=None, *, eps=1e-6, atol=1e-5, rtol=1e-3,
                  raise_exception=True, fast_mode=False):
    """Check second derivatives: gradcheck of (inputs, grad_outputs) -> VJP(inputs)
    with the VJP computed by ``autograd.grad(..., create_graph=True)``."""
    inputs = _as_tuple(inputs)
    x_idx = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    with enable_grad():
        outs = _outputs(fn, inputs)
    out_idx = [j for j in _differentiable(outs) if outs[j].requires_grad]
    if grad_outputs is None:
        rng = np.random.default_rng(1)
        grad_outputs = tuple(Tensor._make(rng.standard_normal(outs[j].shape)).requires_grad_()
                             for j in out_idx)
    grad_outputs = _as_tuple(grad_outputs)
    n = len(inputs)
    if not _vjps_agree(fn, inputs, x_idx, out_idx, grad_outputs, atol, rtol, raise_exception):
        return False

    def vjp(*args):
        xs, gos = args[:n], args[n:]
        with enable_grad():
            o = _outputs(fn, xs)
            gs = _grad([o[j] for j in out_idx], [xs[i] for i in x_idx], list(gos),
                       create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return gradcheck(vjp, inputs + grad_outputs, eps=eps, atol=atol, rtol=rtol,
                     raise_exception=raise_exception, fast_mode=fast_mode,
                     what="second-order gradient")


def _vjps_agree(fn, inputs, x_idx, out_idx, grad_outputs, atol, rtol, raise_exception):
    """A Primitive may carry two VJPs (``vjp`` on arrays, for a plain backward, and the
    differentiable ``backward``, for create_graph).  gradcheck checks the first
    against central differences; this checks that the second gives the same first
    derivatives, before its own derivatives are checked."""
    xs = [inputs[i] for i in x_idx]
    grads = []
    for create_graph in (False, True):
        with enable_grad():
            o = _outputs(fn, inputs)
            grads.append(_grad([o[j] for j in out_idx], xs, list(grad_outputs),
                               create_graph=create_graph, allow_unused=True))
    for k, (first, second) in enumerate(zip(*grads)):
        if (first is None) != (second is None) or first is not None and not np.allclose(
                second.array, first.array, rtol=rtol, atol=atol, equal_nan=True):
            diff = None if first is None or second is None else \
                float(np.nanmax(np.abs(second.array - first.array), initial=0.0))
            return _fail(raise_exception,
                         f"gradgradcheck: the differentiable VJP (backward, run under "
                         f"create_graph) and the first-order one (vjp) disagree on input "
                         f"{x_idx[k]}: max |difference| {diff}", input_index=x_idx[k])
    return True
