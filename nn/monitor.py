"""Watch a network train: per-layer statistics of activations, gradients and updates.

    monitor = nn.Monitor(model, every=10)
    for x, y in loader:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(); loss.backward(); opt.step()
        monitor.step()                      # once per step, after optimizer.step()
    monitor.save("stats.csv")               # or .json; monitor.records is a list of dicts
    monitor.remove()                        # or: with nn.Monitor(model) as monitor: ...

Steps 0, N, 2N, ... are recorded.  Only during a recording step does the monitor hold
hooks: forward hooks on the watched layers (which summarise each output at once and
register a gradient hook on it) and a copy of the watched parameters, taken when the
step begins, from which ``step()`` computes the update.  Between recordings the model
carries no hook and the monitor keeps no array but the last sample-by-unit matrices,
so a step that is not recorded costs one ``step()`` call.

Per layer and recording (``STATS``; ``None`` where a statistic does not apply):
- ``act_mean``, ``act_std``, ``act_zero_frac``: mean, standard deviation (ddof=0) and
  fraction of exact zeros of the layer's output;
- ``dead_frac``: fraction of its units that are zero for every sample (and position);
- ``unit_corr``: mean absolute correlation between distinct units of the
  sample-by-unit matrix (units that never vary are left out);
- ``grad_std``: standard deviation of the loss gradient with respect to the output;
- ``param_norm``, ``grad_norm``: Euclidean norms of the layer's own parameters (all
  of them, e.g. weight and bias, as one vector) before the update, and of their
  ``.grad``;
- ``update_ratio``: ||w_after - w_before|| / ||w_before||, over the same vector.

Units lie on axis 1 (features of an (N, F) output, channels of (N, C, H, W), averaged
over positions for the unit matrix).  A layer called more than once per step is
summarised at its first call; forward passes without gradient (evaluation) are ignored.
"""
import csv
import json
import math

import numpy as np

from autograd import is_grad_enabled
from autograd.tensor import Tensor

from .layers.activation import ACTIVATIONS
from .module import Module

STATS = ("act_mean", "act_std", "act_zero_frac", "dead_frac", "unit_corr", "grad_std",
         "param_norm", "grad_norm", "update_ratio")
FIELDS = ("step", "layer", "depth", "kind") + STATS

# Sane bands (see README, "Watching a network train").  CS231n ("Neural Networks
# Part 3", babysitting the learning process): the update-to-weight ratio should be
# around 1e-3; much lower and the learning rate is probably too low, much higher and
# it is probably too high.  We allow one decade either side.  Dead ReLUs: a unit
# that is zero for every sample gets no gradient and never recovers; CS231n reports
# that with too high a learning rate "as much as 40%" of a network can end up dead.
# We warn at a quarter, before it gets there.
UPDATE_RATIO_BAND = (1e-4, 1e-2)
DEAD_FRAC_MAX = 0.25


def default_layers(model):
    """The leaf modules worth watching: those with their own parameters, and
    activation functions (where dead units show)."""
    return [(name, m) for name, m in model.named_modules()
            if not any(True for _ in m.children())
            and (isinstance(m, ACTIVATIONS) or any(True for _ in m.parameters(recurse=False)))]


def unit_matrix(output, max_samples=64, max_units=64):
    """The sample-by-unit activation matrix of an output array (float64 copy): units
    on axis 1, averaged over any further axes; at most max_samples x max_units."""
    a = np.asarray(output)
    if a.ndim < 2:
        return None
    u = a[:max_samples, :max_units]
    if u.ndim > 2:
        u = u.reshape(u.shape[0], u.shape[1], -1).mean(axis=2, dtype=np.float64)
    return np.array(u, dtype=np.float64)


def mean_abs_corr(matrix):
    """Mean |Pearson correlation| over pairs of distinct units (columns); units with
    zero variance are left out; None when fewer than two units vary."""
    if matrix is None or matrix.shape[0] < 2:
        return None
    live = matrix[:, matrix.std(axis=0) > 0]
    k = live.shape[1]
    if k < 2:
        return None
    c = np.corrcoef(live, rowvar=False)
    return float((np.abs(c).sum() - np.trace(np.abs(c))) / (k * (k - 1)))


def _sq_norm(arrays):
    return sum(float(np.vdot(a, a)) for a in arrays)     # BLAS dot: no temporary array


class Monitor:
    """Records per-layer training statistics of ``model`` every ``every`` steps.

    ``layers``: dotted module names to watch (default: ``default_layers(model)``).
    ``max_samples``, ``max_units``: size of the kept sample-by-unit matrices.
    """

    def __init__(self, model, every=10, layers=None, max_samples=64, max_units=64):
        if not isinstance(model, Module):
            raise TypeError(f"Monitor: expected an nn.Module to watch, got {type(model).__name__}")
        for name, value in (("every", every), ("max_samples", max_samples), ("max_units", max_units)):
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"Monitor: {name} must be a positive integer, got {value!r}")
        if not any(True for _ in model.parameters()):
            raise ValueError(f"Monitor: {type(model).__name__} has no parameters, so there is "
                             "no training to watch")
        if layers is None:
            chosen = default_layers(model)
        else:
            modules = dict(model.named_modules())
            missing = [n for n in layers if n not in modules]
            if missing:
                raise ValueError(f"Monitor: {type(model).__name__} has no submodule(s) {missing}; "
                                 f"it has {[n for n in modules if n]}")
            chosen = [(n, modules[n]) for n in layers]
        if not chosen:
            raise ValueError(f"Monitor: no layer of {type(model).__name__} to watch (no leaf module "
                             "with parameters or activation); pass layers=[...]")
        self.model = model
        self.every = every
        self.max_samples, self.max_units = max_samples, max_units
        self.layers = chosen
        self.records = []       # plain dicts, FIELDS as keys
        self.units = {}         # layer name -> sample x unit matrix of the last recording
        self.steps = 0          # optimizer steps seen so far
        self._attached = True
        self._handles = []      # hooks held during a recording step
        self._pending = {}      # layer name -> statistics of this recording step
        self._pending_units = {}
        self._before = None     # layer name -> parameter copies at the start of the step
        self._arm()

    @property
    def recording(self):
        """Whether the current step is being recorded."""
        return self._attached and self.steps % self.every == 0

    # -- hooks (held during recording steps only) ------------------------------------
    def _arm(self):
        if not self.recording:
            return
        self._before = {name: [np.array(p) for p in m.parameters(recurse=False)]
                        for name, m in self.layers}
        for name, m in self.layers:
            self._handles.append(m.register_forward_hook(self._forward_hook(name)))

    def _disarm(self):
        for h in self._handles:
            h.remove()
        self._handles = []
        self._pending, self._pending_units, self._before = {}, {}, None

    def _forward_hook(self, name):
        def hook(module, args, output):
            if name in self._pending or not isinstance(output, Tensor) or not is_grad_enabled():
                return None
            a = np.asarray(output)
            zero = a == 0
            stats = {"act_mean": float(a.mean()), "act_std": float(a.std()),
                     "act_zero_frac": np.count_nonzero(zero) / max(zero.size, 1)}
            if a.ndim >= 2:
                zero_everywhere = zero.all(axis=(0,) + tuple(range(2, a.ndim)))
                stats["dead_frac"] = float(zero_everywhere.mean())
                u = unit_matrix(a, self.max_samples, self.max_units)
                self._pending_units[name] = u
                stats["unit_corr"] = mean_abs_corr(u)
            self._pending[name] = stats
            if output.requires_grad:
                self._handles.append(output.register_hook(self._grad_hook(stats)))
            return None
        return hook

    @staticmethod
    def _grad_hook(stats):
        def hook(grad):
            stats.setdefault("grad_std", float(np.asarray(grad).std()))
            return None
        return hook

    # -- the step -------------------------------------------------------------------
    def step(self):
        """Call once per training step, after ``optimizer.step()``: finishes the
        record of a recording step and prepares the next one."""
        if not self._attached:
            raise RuntimeError("Monitor.step(): the monitor was removed; create a new one")
        if self.recording:
            self._record()
            self._disarm()
        self.steps += 1
        self._arm()

    def _record(self):
        for depth, (name, m) in enumerate(self.layers):
            row = dict.fromkeys(FIELDS)
            row.update(step=self.steps, layer=name, depth=depth, kind=type(m).__name__)
            row.update(self._pending.get(name, {}))
            params = list(m.parameters(recurse=False))
            if params:
                before = self._before[name]
                w2 = _sq_norm(before)
                row["param_norm"] = math.sqrt(w2)
                grads = [np.asarray(p.grad) for p in params if p.grad is not None]
                row["grad_norm"] = math.sqrt(_sq_norm(grads)) if grads else None
                if w2 > 0:
                    delta = [np.asarray(p) - b for p, b in zip(params, before)]
                    row["update_ratio"] = math.sqrt(_sq_norm(delta) / w2)
            self.records.append(row)
        self.units = dict(self._pending_units)

    # -- detaching ------------------------------------------------------------------
    def remove(self):
        """Detach: removes every hook and drops the step's copies."""
        self._disarm()
        self._attached = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()

    # -- output ---------------------------------------------------------------------
    def save(self, path):
        """Write the records: CSV (one row per step and layer) or JSON (by suffix)."""
        path = str(path)
        if path.endswith(".csv"):
            with open(path, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=FIELDS)
                w.writeheader()
                for row in self.records:
                    w.writerow({k: ("" if v is None else v) for k, v in row.items()})
        elif path.endswith(".json"):
            with open(path, "w") as f:
                json.dump({"every": self.every, "layers": [n for n, _ in self.layers],
                           "records": self.records}, f)
        else:
            raise ValueError(f"Monitor.save: expected a path ending in .csv or .json, got {path!r}")
        return path


def band_warning(records):
    """One line naming the layers whose median update ratio leaves UPDATE_RATIO_BAND
    or whose median dead-unit fraction exceeds DEAD_FRAC_MAX, over ``records``; None
    when all are inside."""
    by_layer = {}
    for r in records:
        by_layer.setdefault(r["layer"], []).append(r)
    lo, hi = UPDATE_RATIO_BAND
    ratio, dead = [], []
    for layer, rows in by_layer.items():
        u = [r["update_ratio"] for r in rows if r["update_ratio"] is not None]
        if u and not lo <= float(np.median(u)) <= hi:
            ratio.append(f"{layer} ({rows[0]['kind']}) {np.median(u):.1e}")
        d = [r["dead_frac"] for r in rows if r["dead_frac"] is not None]
        if d and float(np.median(d)) > DEAD_FRAC_MAX:
            dead.append(f"{layer} ({rows[0]['kind']}) {100 * np.median(d):.0f}%")
    parts = []
    if ratio:
        parts.append(f"update/weight ratio outside [{lo:g}, {hi:g}]: " + ", ".join(ratio))
    if dead:
        parts.append(f"dead units above {100 * DEAD_FRAC_MAX:.0f}%: " + ", ".join(dead))
    return "; ".join(parts) or None
