"""The spatial family (issue 27) beside PyTorch: one typical call per op group, forward
and backward of the summed output, float32, on a typical layer's sizes (about 1M input
elements).  Contributed to ``python -m tools.bench`` (``--only spatial:``)."""
import numpy as np

from .functional_workload import functional_workload


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


def _unpool(lib, F, t):
    _, idx = F.max_pool2d(t["img"].detach(), 2, return_indices=True)
    return F.max_unpool2d(t["pooled"], idx, 2)


# name -> (fn(lib, F, t), names of the inputs that require grad)
OPS = {
    "conv3d 4x16x16x32x32, 32x16x3x3x3 pad 1": (
        lambda lib, F, t: F.conv3d(t["vol"], t["w3"], padding=1), "vol w3"),
    "conv_transpose1d 32x64x512, 64x32x4 stride 2": (
        lambda lib, F, t: F.conv_transpose1d(t["seq"], t["wt1"], stride=2), "seq wt1"),
    "conv_transpose3d 8x64x8x16x16, 64x32x2x2x2 stride 2": (
        lambda lib, F, t: F.conv_transpose3d(t["small_vol"], t["wt3"], stride=2), "small_vol wt3"),
    "max_pool3d k2": (lambda lib, F, t: F.max_pool3d(t["vol"], 2), "vol"),
    "avg_pool3d k3 s2 p1": (lambda lib, F, t: F.avg_pool3d(t["vol"], 3, 2, 1), "vol"),
    "adaptive_avg_pool3d -> 5": (lambda lib, F, t: F.adaptive_avg_pool3d(t["vol"], 5), "vol"),
    "adaptive_max_pool3d -> 5": (lambda lib, F, t: F.adaptive_max_pool3d(t["vol"], 5), "vol"),
    "adaptive_max_pool1d 32x64x512 -> 100": (
        lambda lib, F, t: F.adaptive_max_pool1d(t["seq"], 100), "seq"),
    "avg_pool1d k4 s2": (lambda lib, F, t: F.avg_pool1d(t["seq"], 4, 2), "seq"),
    "lp_pool3d p2 k2": (lambda lib, F, t: F.lp_pool3d(t["vol"], 2, 2), "vol"),
    "interpolate nearest x2": (lambda lib, F, t: F.interpolate(t["img"], scale_factor=2), "img"),
    "interpolate bilinear x2": (
        lambda lib, F, t: F.interpolate(t["img"], scale_factor=2, mode="bilinear"), "img"),
    "interpolate bicubic x2": (
        lambda lib, F, t: F.interpolate(t["img"], scale_factor=2, mode="bicubic"), "img"),
    "interpolate trilinear x2": (
        lambda lib, F, t: F.interpolate(t["small_vol"], scale_factor=2, mode="trilinear"),
        "small_vol"),
    "interpolate area -> 24x24": (
        lambda lib, F, t: F.interpolate(t["img"], size=(24, 24), mode="area"), "img"),
    "pixel_shuffle r2": (lambda lib, F, t: F.pixel_shuffle(t["chans"], 2), "chans"),
    "channel_shuffle g4": (lambda lib, F, t: F.channel_shuffle(t["chans"], 4), "chans"),
    "pad replicate 2": (lambda lib, F, t: F.pad(t["img"], (2, 2, 2, 2), mode="replicate"), "img"),
    "pad circular 2": (lambda lib, F, t: F.pad(t["img"], (2, 2, 2, 2), mode="circular"), "img"),
    "max_unpool2d k2": (lambda lib, F, t: _unpool(lib, F, t), "pooled"),
    "fractional_max_pool2d k2 ratio 0.5": (
        lambda lib, F, t: F.fractional_max_pool2d(t["img"], 2, output_ratio=(0.5, 0.5),
                                                  _random_samples=t["samples"]), "img"),
    "grid_sample bilinear 16x16x64x64": (
        lambda lib, F, t: F.grid_sample(t["img"], t["grid"], align_corners=False), "img grid"),
    "grid_sample bicubic 16x16x64x64": (
        lambda lib, F, t: F.grid_sample(t["img"], t["grid"], mode="bicubic",
                                        align_corners=False), "img grid"),
    "affine_grid + grid_sample": (
        lambda lib, F, t: F.grid_sample(t["img"], F.affine_grid(t["theta"], (16, 16, 64, 64),
                                                                align_corners=False),
                                        align_corners=False), "img theta"),
}


def _inputs():
    return _arrays(np.random.default_rng(0))


def workloads():
    return {f"spatial: {name} fwd+bwd": functional_workload(_inputs, fn, grads)
            for name, (fn, grads) in OPS.items()}
