"""Pictures of a training run (matplotlib, imported here only: ``nn`` itself does not
need it).  Each function returns a ``matplotlib.figure.Figure`` built without pyplot,
so nothing accumulates in pyplot's global state; a notebook displays it, and
``fig.savefig(path)`` writes it.

- ``layer_curves(records)``: activation std, gradient std and update ratio against
  depth, one curve per recorded step (vanishing statistics slope down with depth);
- ``layer_heatmap(records, stat)``: one statistic, layers x steps;
- ``unit_activations(units)``: the sample-by-unit activation matrices;
- ``conv_filters(weight)``: a first convolution's filters;
- ``class_templates(weight, image_shape)``: a linear classifier's weight rows.

``save_figures`` writes those that apply to a monitored model; ``write_report`` is the
per-epoch output of ``python -m tools.train --monitor``.
"""
import importlib.util
import math
import os

import numpy as np

from .layers.conv import Conv2d
from .layers.linear import Linear
from .monitor import band_warning, mean_abs_corr

STAT_LABELS = {"act_mean": "activation mean", "act_std": "activation std",
               "act_zero_frac": "fraction of zeros", "dead_frac": "dead-unit fraction",
               "unit_corr": "mean |corr| between units", "grad_std": "output-gradient std",
               "param_norm": "||w||", "grad_norm": "||grad w||", "update_ratio": "||dw|| / ||w||"}
LOG_STATS = {"act_std", "grad_std", "param_norm", "grad_norm", "update_ratio"}


def _figure(**kwargs):
    from matplotlib.figure import Figure
    return Figure(**kwargs)


def _table(records, stat):
    """(layer labels in depth order, steps, layers x steps array with NaN gaps)."""
    layers = sorted({(r["depth"], r["layer"], r["kind"]) for r in records})
    steps = sorted({r["step"] for r in records})
    row = {name: i for i, (_, name, _) in enumerate(layers)}
    col = {s: j for j, s in enumerate(steps)}
    table = np.full((len(layers), len(steps)), np.nan)
    for r in records:
        if r.get(stat) is not None:
            table[row[r["layer"]], col[r["step"]]] = r[stat]
    return [f"{name} {kind}" for _, name, kind in layers], steps, table


def _check_records(fn, records, stats):
    if not records:
        raise ValueError(f"{fn}: no records to draw (did the monitor record a step?)")
    bad = [s for s in stats if s not in STAT_LABELS]
    if bad:
        raise ValueError(f"{fn}: unknown statistic(s) {bad}; expected some of {list(STAT_LABELS)}")


def layer_curves(records, stats=("act_std", "grad_std", "update_ratio"), max_curves=8):
    """One panel per statistic: value against layer depth, one curve per recorded step
    (at most ``max_curves``, evenly spaced), coloured from early (dark) to late (light)."""
    _check_records("layer_curves", records, stats)
    from matplotlib import cm, colormaps, colors
    cmap = colormaps["viridis"]
    fig = _figure(figsize=(4.2 * len(stats), 3.8), layout="constrained")
    axes = fig.subplots(1, len(stats), squeeze=False)[0]
    names, steps, _ = _table(records, stats[0])
    pick = sorted({steps[round(i)] for i in np.linspace(0, len(steps) - 1, min(max_curves, len(steps)))})
    norm = colors.Normalize(min(steps), max(max(steps), min(steps) + 1))
    for ax, stat in zip(axes, stats):
        _, _, table = _table(records, stat)
        for s in pick:
            col = table[:, steps.index(s)]
            ok = ~np.isnan(col)
            ax.plot(np.arange(len(names))[ok], col[ok], "o-", ms=3, color=cmap(norm(s)),
                    label=f"step {s}")
        if stat in LOG_STATS and np.nanmin(table, initial=np.inf) > 0:
            ax.set_yscale("log")
        ax.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
        ax.set_xlabel("layer (depth)")
        ax.set_title(STAT_LABELS[stat])
        ax.grid(alpha=0.3)
    fig.colorbar(cm.ScalarMappable(norm, cmap), ax=list(axes), label="step")
    return fig


def layer_heatmap(records, stat="update_ratio", log=None):
    """``stat`` as a layers x steps image (log10 for norms, stds and ratios)."""
    _check_records("layer_heatmap", records, (stat,))
    names, steps, table = _table(records, stat)
    has = ~np.isnan(table).all(axis=1)        # e.g. no update ratio for a ReLU
    names, table = [n for n, h in zip(names, has) if h], table[has]
    if not names:
        raise ValueError(f"layer_heatmap: no layer has a recorded {stat!r}")
    log = stat in LOG_STATS if log is None else log
    with np.errstate(divide="ignore", invalid="ignore"):
        shown = np.log10(table) if log else table
    fig = _figure(figsize=(max(5.0, 0.12 * len(steps) + 3), max(3.0, 0.28 * len(names) + 1.5)),
                  layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(shown, aspect="auto", cmap="magma", interpolation="nearest")
    ax.set_yticks(range(len(names)), names, fontsize=7)
    ticks = np.unique(np.linspace(0, len(steps) - 1, min(8, len(steps))).round().astype(int))
    ax.set_xticks(ticks, [str(steps[i]) for i in ticks])
    ax.set_xlabel("step")
    ax.set_ylabel("layer (depth)")
    label = STAT_LABELS[stat]
    fig.colorbar(im, ax=ax, label=f"log10 {label}" if log else label)
    ax.set_title(f"{label}, layers x steps")
    return fig


def unit_activations(units, max_layers=6):
    """The sample-by-unit matrices (``Monitor.units``: layer -> array), one panel per
    layer, titled with the mean absolute correlation between units.  Healthy hidden
    units are sparse across samples and units; a blank column is a dead unit,
    identical columns are units moving in lockstep."""
    if not units:
        raise ValueError("unit_activations: no unit matrices (the monitor has not recorded a step "
                         "with a forward pass)")
    items = list(units.items())[:max_layers]
    fig = _figure(figsize=(3.2 * len(items), 3.6), layout="constrained")
    axes = fig.subplots(1, len(items), squeeze=False)[0]
    for ax, (name, m) in zip(axes, items):
        m = np.asarray(m)
        im = ax.imshow(m, aspect="auto", cmap="viridis", interpolation="nearest")
        corr = mean_abs_corr(m)
        ax.set_title(f"{name}\nmean |corr| " + ("n/a" if corr is None else f"{corr:.2f}"), fontsize=9)
        ax.set_xlabel("unit")
        ax.set_ylabel("sample")
        fig.colorbar(im, ax=ax)
    return fig


def _tiles(n, ncols, tile, title):
    """A figure with a grid of image tiles (``tile``: inches per tile), axes off;
    returns it and its first ``n`` axes."""
    rows = math.ceil(n / ncols)
    fig = _figure(figsize=(tile[0] * ncols, tile[1] * rows + 0.4), layout="constrained")
    axes = fig.subplots(rows, ncols, squeeze=False).ravel()
    for ax in axes:
        ax.set_axis_off()
    fig.suptitle(title, fontsize=9)
    return fig, axes[:n]


def conv_filters(weight, ncols=None):
    """A first convolution's filters (out, in, kh, kw) with 1 (grey) or 3 (RGB) input
    channels, each scaled to its own range: edge and blob detectors show as clean
    oriented patterns, an untrained or noisy layer as static."""
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim != 4 or w.shape[1] not in (1, 3):
        raise ValueError("conv_filters: expected a first-layer conv weight (out, 1 or 3, kh, kw), "
                         f"got shape {w.shape}")
    fig, axes = _tiles(w.shape[0], ncols or math.ceil(math.sqrt(w.shape[0])), (1.1, 1.1),
                       f"first-layer filters ({w.shape[0]} x {w.shape[2]}x{w.shape[3]})")
    for f, ax in zip(w, axes):
        f = f - f.min()
        f = f / f.max() if f.max() > 0 else f
        if w.shape[1] == 3:
            ax.imshow(f.transpose(1, 2, 0), interpolation="nearest")
        else:
            ax.imshow(f[0], cmap="gray", interpolation="nearest", vmin=0, vmax=1)
    return fig


def class_templates(weight, image_shape, class_names=None, ncols=None):
    """A linear classifier's weight rows (classes, features) as images of
    ``image_shape`` ((H, W) or (C, H, W) with C=1): each row is the template its class
    score matches against; red is positive evidence, blue negative."""
    w = np.asarray(weight, dtype=np.float64)
    shape = tuple(image_shape)
    if len(shape) == 3 and shape[0] == 1:
        shape = shape[1:]
    if w.ndim != 2 or len(shape) != 2 or w.shape[1] != shape[0] * shape[1]:
        raise ValueError(f"class_templates: expected a (classes, H*W) weight for images {tuple(image_shape)}, "
                         f"got shape {w.shape}")
    names = list(class_names) if class_names is not None else [str(i) for i in range(w.shape[0])]
    fig, axes = _tiles(w.shape[0], ncols or min(w.shape[0], 5), (1.6, 1.7), "class templates (weight rows)")
    for row, name, ax in zip(w, names, axes):
        t = row.reshape(shape)
        lim = np.abs(t).max() or 1.0
        ax.imshow(t, cmap="bwr", vmin=-lim, vmax=lim, interpolation="nearest")
        ax.set_title(name, fontsize=9)
    return fig


def save_figures(monitor, out_dir, image_shape=None):
    """Write the pictures that apply to ``monitor``'s model into ``out_dir`` (curves,
    heat map of update ratios, unit matrices; first-layer conv filters when the first
    watched layer is a Conv2d with 1 or 3 input channels; class templates when the
    model is one Linear layer over images of ``image_shape``).  Returns the paths."""
    written = []

    def save(fig, name):
        path = os.path.join(out_dir, name)
        fig.savefig(path, dpi=90)
        written.append(path)

    if monitor.records:
        save(layer_curves(monitor.records), "monitor_curves.png")
        save(layer_heatmap(monitor.records, "update_ratio"), "monitor_update_ratio.png")
    if monitor.units:
        save(unit_activations(monitor.units), "monitor_units.png")
    with_params = [m for _, m in monitor.layers if any(True for _ in m.parameters(recurse=False))]
    first = with_params[0] if with_params else None
    if isinstance(first, Conv2d) and first.weight.shape[1] in (1, 3):
        save(conv_filters(first.weight), "conv_filters.png")
    if (image_shape is not None and len(with_params) == 1 and isinstance(first, Linear)
            and first.weight.shape[1] == int(np.prod(image_shape))):
        save(class_templates(first.weight, image_shape), "class_templates.png")
    return written


def write_report(monitor, out_dir, image_shape=None, since_step=0):
    """What ``python -m tools.train --monitor`` writes each epoch: OUT/monitor.csv and,
    when matplotlib is installed, the pictures of ``save_figures``.  Returns the
    ``band_warning`` line for the records from ``since_step`` on (None when all layers
    are inside their bands)."""
    monitor.save(os.path.join(out_dir, "monitor.csv"))
    if importlib.util.find_spec("matplotlib") is not None:
        save_figures(monitor, out_dir, image_shape)
    return band_warning([r for r in monitor.records if r["step"] >= since_step])
