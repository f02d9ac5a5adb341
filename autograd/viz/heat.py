"""Gradient statistics and the colour scale that turns them into node fills.

A node is coloured by log10 of its gradient's RMS (root mean square), not its norm:
the RMS does not grow with the tensor's size, so a conv weight and a bias with
equally healthy gradients get the same colour.  The scale is viridis-like (dark
purple = vanishing, bright yellow = large) because its lightness rises
monotonically, which survives greyscale printing; pure red is kept for NaN/Inf.
"""
import math
from dataclasses import dataclass

import numpy as np

NAN_COLOUR = "#ff0000"       # NaN or Inf anywhere in the gradient
ZERO_COLOUR = "#bdbdbd"      # exactly zero gradient (e.g. a dead ReLU path)
NO_GRAD_COLOUR = "#ffffff"   # no gradient recorded (backward not run, or not recorded)

# Colour stops from low to high log-RMS (sampled from viridis).
_STOPS = ["#440154", "#482878", "#3e4a89", "#31688e", "#26828e",
          "#1f9e89", "#35b779", "#6ece58", "#b5de2b", "#fde725"]


@dataclass(frozen=True)
class GradStats:
    """Summary of one gradient tensor; sums combine across tensors (module boxes)."""
    sumsq: float      # sum of squares (NaN when not finite)
    count: int        # number of elements
    finite: bool

    @property
    def norm(self):
        return math.sqrt(self.sumsq) if self.finite else float("nan")

    @property
    def rms(self):
        return math.sqrt(self.sumsq / self.count) if self.finite and self.count else float("nan")

    def __add__(self, other):
        return GradStats(self.sumsq + other.sumsq if self.finite and other.finite else float("nan"),
                         self.count + other.count, self.finite and other.finite)


def stats_of(array):
    """GradStats of an array or Tensor; None passes through."""
    if array is None:
        return None
    a = np.asarray(array)
    if a.dtype.kind not in "fc":
        a = a.astype(np.float64)
    finite = bool(np.isfinite(a).all())
    flat = a.reshape(-1).astype(np.float64, copy=False)
    return GradStats(float(flat @ flat) if finite else float("nan"), int(a.size), finite)


def combine(stats):
    """Sum of a list of GradStats, ignoring None; None when there is nothing."""
    out = None
    for s in stats:
        if s is not None:
            out = s if out is None else out + s
    return out


def describe(stats):
    """The gradient line of a node label: fixed width so layouts do not shift."""
    if stats is None:
        return "|grad| ---"
    if not stats.finite:
        return "|grad| NaN/Inf"
    return f"|grad| {stats.norm:.2e}"


def log_rms(stats):
    if stats is None or not stats.finite or stats.sumsq == 0:
        return None
    return math.log10(stats.rms)


def heat_range(values, span=2.0):
    """Whole decades covering ``values`` (log10 RMS), at least ``span`` wide."""
    values = [v for v in values if v is not None]
    if not values:
        return (-3.0, 0.0)
    lo, hi = math.floor(min(values)), math.ceil(max(values))
    if hi - lo < span:
        mid = (hi + lo) / 2
        lo, hi = math.floor(mid - span / 2), math.ceil(mid + span / 2)
    return (float(lo), float(hi))


def _mix(c1, c2, t):
    a = [int(c1[i:i + 2], 16) for i in (1, 3, 5)]
    b = [int(c2[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(a, b))


def scale_colour(t):
    """Colour at position t in [0, 1] of the scale."""
    t = min(max(t, 0.0), 1.0) * (len(_STOPS) - 1)
    i = min(int(t), len(_STOPS) - 2)
    return _mix(_STOPS[i], _STOPS[i + 1], t - i)


def fill_colour(stats, rng):
    """Fill for a node with gradient ``stats`` on the scale ``rng`` = (lo, hi)."""
    if stats is None:
        return NO_GRAD_COLOUR
    if not stats.finite:
        return NAN_COLOUR
    if stats.sumsq == 0:
        return ZERO_COLOUR
    lo, hi = rng
    return scale_colour((log_rms(stats) - lo) / (hi - lo))


def luminance(colour):
    """WCAG 2 relative luminance (0..1) of '#rrggbb': the channels made linear-light,
    then weighted; the scale is monotone in it."""
    def linear(c):
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (linear(int(colour[i:i + 2], 16) / 255) for i in (1, 3, 5))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a, b):
    """WCAG 2 contrast ratio of two '#rrggbb' colours: 1 (equal) to 21 (black on white)."""
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def font_colour(fill):
    """The label colour for ``fill``: black or white, whichever contrasts more (WCAG 2).
    The better of the two reaches at least 4.58:1 on any fill, above WCAG's 4.5:1 for text."""
    return max(("#000000", "#ffffff"), key=lambda ink: contrast_ratio(ink, fill))


def legend_entries(rng):
    """(label, fill) pairs for the legend: one per decade, then the special fills."""
    lo, hi = int(rng[0]), int(rng[1])
    out = [(f"RMS 1e{k}", scale_colour((k - lo) / (hi - lo))) for k in range(lo, hi + 1)]
    out += [("zero", ZERO_COLOUR), ("NaN/Inf", NAN_COLOUR), ("no grad", NO_GRAD_COLOUR)]
    return out
