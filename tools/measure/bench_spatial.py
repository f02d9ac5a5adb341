"""The spatial family (issue 27) beside PyTorch: one typical call per op group, forward
and backward of the summed output, float32, on a typical layer's sizes (about 1M input
elements).  Contributed to ``python -m tools.bench`` (``--only spatial:``)."""
import numpy as np


def _arrays(rng):
    f = lambda *s: rng.standard_normal(s).astype(np.float32)      # noqa: E731
    return dict(
        vol=f(4, 16, 16, 32, 32), w3=f(32, 16, 3, 3, 3) * 0.05,
        seq=f(32, 64, 512), wt1=f(64, 32, 4) * 0.05,
        small_vol=f(8, 64, 8, 16, 16), wt3=f(64, 32, 2, 2, 2) * 0.05,
        img=f(16, 16, 64, 64), grid=rng.uniform(-1.1, 1.1, (16, 64, 64, 2)).astype(np.float32),
        theta=f(16, 2, 3) * 0.2 + np.array([[1, 0, 0], [0, 1, 0]], np.float32),
        chans=f(16, 64, 32, 32),
        pooled=f(16, 16, 32, 32), samples=rng.random((16, 16, 2)).astype(np.float32),
    )


def _unpool(F, t, lib):
    _, idx = F.max_pool2d(t["img"].detach(), 2, return_indices=True)
    return F.max_unpool2d(t["pooled"], idx, 2)


# name -> (fn(F, t, lib), names of the inputs that require grad)
OPS = {
    "conv3d 4x16x16x32x32, 32x16x3x3x3 pad 1": (
        lambda F, t, lib: F.conv3d(t["vol"], t["w3"], padding=1), "vol w3"),
    "conv_transpose1d 32x64x512, 64x32x4 stride 2": (
        lambda F, t, lib: F.conv_transpose1d(t["seq"], t["wt1"], stride=2), "seq wt1"),
    "conv_transpose3d 8x64x8x16x16, 64x32x2x2x2 stride 2": (
        lambda F, t, lib: F.conv_transpose3d(t["small_vol"], t["wt3"], stride=2), "small_vol wt3"),
    "max_pool3d k2": (lambda F, t, lib: F.max_pool3d(t["vol"], 2), "vol"),
    "avg_pool3d k3 s2 p1": (lambda F, t, lib: F.avg_pool3d(t["vol"], 3, 2, 1), "vol"),
    "adaptive_avg_pool3d -> 5": (lambda F, t, lib: F.adaptive_avg_pool3d(t["vol"], 5), "vol"),
    "adaptive_max_pool3d -> 5": (lambda F, t, lib: F.adaptive_max_pool3d(t["vol"], 5), "vol"),
    "adaptive_max_pool1d 32x64x512 -> 100": (
        lambda F, t, lib: F.adaptive_max_pool1d(t["seq"], 100), "seq"),
    "avg_pool1d k4 s2": (lambda F, t, lib: F.avg_pool1d(t["seq"], 4, 2), "seq"),
    "lp_pool3d p2 k2": (lambda F, t, lib: F.lp_pool3d(t["vol"], 2, 2), "vol"),
    "interpolate nearest x2": (lambda F, t, lib: F.interpolate(t["img"], scale_factor=2), "img"),
    "interpolate bilinear x2": (
        lambda F, t, lib: F.interpolate(t["img"], scale_factor=2, mode="bilinear"), "img"),
    "interpolate bicubic x2": (
        lambda F, t, lib: F.interpolate(t["img"], scale_factor=2, mode="bicubic"), "img"),
    "interpolate trilinear x2": (
        lambda F, t, lib: F.interpolate(t["small_vol"], scale_factor=2, mode="trilinear"),
        "small_vol"),
    "interpolate area -> 24x24": (
        lambda F, t, lib: F.interpolate(t["img"], size=(24, 24), mode="area"), "img"),
    "pixel_shuffle r2": (lambda F, t, lib: F.pixel_shuffle(t["chans"], 2), "chans"),
    "channel_shuffle g4": (lambda F, t, lib: F.channel_shuffle(t["chans"], 4), "chans"),
    "pad replicate 2": (lambda F, t, lib: F.pad(t["img"], (2, 2, 2, 2), mode="replicate"), "img"),
    "pad circular 2": (lambda F, t, lib: F.pad(t["img"], (2, 2, 2, 2), mode="circular"), "img"),
    "max_unpool2d k2": (lambda F, t, lib: _unpool(F, t, lib), "pooled"),
    "fractional_max_pool2d k2 ratio 0.5": (
        lambda F, t, lib: F.fractional_max_pool2d(t["img"], 2, output_ratio=(0.5, 0.5),
                                                  _random_samples=t["samples"]), "img"),
    "grid_sample bilinear 16x16x64x64": (
        lambda F, t, lib: F.grid_sample(t["img"], t["grid"], align_corners=False), "img grid"),
    "grid_sample bicubic 16x16x64x64": (
        lambda F, t, lib: F.grid_sample(t["img"], t["grid"], mode="bicubic",
                                        align_corners=False), "img grid"),
    "affine_grid + grid_sample": (
        lambda F, t, lib: F.grid_sample(t["img"], F.affine_grid(t["theta"], (16, 16, 64, 64),
                                                                align_corners=False),
                                        align_corners=False), "img theta"),
}


def _workload(fn, grads):
    def setup():
        import autograd as ag
        import nn.functional as F
        from tools.bench import _torch
        arrays = _arrays(np.random.default_rng(0))
        wanted = grads.split()
        state = {"ours": (ag, F, {k: ag.tensor(v, requires_grad=k in wanted)
                                  for k, v in arrays.items()})}
        torch = _torch()
        if torch is not None:
            import torch.nn.functional as TF
            state["torch"] = (torch, TF, {k: torch.tensor(v, requires_grad=k in wanted)
                                          for k, v in arrays.items()})
        return state

    def run(side):
        def step(state):
            lib, F, t = state[side]
            for k in grads.split():
                t[k].grad = None
            fn(F, t, lib).sum().backward()
        return step

    return setup, run("ours"), run("torch")


def workloads():
    return {f"spatial: {name} fwd+bwd": _workload(fn, grads) for name, (fn, grads) in OPS.items()}
