"""Kernel workloads for tools/bench.py (issue 4): convolution, pooling, a LeNet step.

``workloads()`` returns ``{name: (setup, ours, torch_or_None, info)}`` as tools/bench.py
expects; run them with ``python -m tools.bench --only conv pool lenet matmul``.
Shapes (float32, NCHW):
  matmul_f32_2048     2048x2048 @ 2048x2048 (NumPy's BLAS): the machine's matmul GFLOP/s
  conv2d_fwd          x 32x64x32x32, w 64x64x3x3, stride 1, padding 1
  conv2d_fwd_bwd      the same, forward + backward to x and w (3x the forward FLOPs)
  max_pool2d_fwd      2x2 window, stride 2, on 32x64x32x32
  max_pool2d_fwd_bwd  the same, forward + backward
  rowwise (python -m tools.measure.bench_kernels): fused row kernels vs their NumPy references
                      on (4096, 1000) and (12608, 384) = ViT-S tokens x width
  lenet_step          one SGD step of LeNet-5 (conv5-pool-conv5-pool-fc120-fc84-fc10,
                      ReLU, log-softmax NLL) on a 64x1x28x28 batch, raw tensors only
  batch_norm_fwd_bwd  training-mode batch norm, forward + backward, on 16x64x32x32
  conv algorithms (python -m tools.measure.bench_kernels --conv): every applicable convolution
                      algorithm on ResNet-18, LeNet, W6 and depthwise shapes, forward /
                      dx / dw, with the one the library picks and the matmul rate
"""
import numpy as np

CONV_X, CONV_W = (32, 64, 32, 32), (64, 64, 3, 3)
CONV_FLOPS = 2 * 32 * 64 * 32 * 32 * 64 * 3 * 3
MM = 2048


def _torch():
    try:
        import torch
        return torch
    except ImportError:
        return None


def _rand(shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape).astype(np.float32)


# -- matmul roofline ------------------------------------------------------------------------
def _mm_setup():
    a = _rand((MM, MM))
    torch = _torch()
    return {"a": a, "t": torch.from_numpy(a) if torch else None}


def _mm_ours(s):
    np.matmul(s["a"], s["a"])


def _mm_torch(s):
    _torch().mm(s["t"], s["t"])


# -- conv2d -----------------------------------------------------------------------------------
def _conv_setup(requires_grad):
    import autograd as ag
    x, w = _rand(CONV_X, 1), _rand(CONV_W, 2) * 0.05
    s = {"x": ag.tensor(x, requires_grad=requires_grad),
         "w": ag.tensor(w, requires_grad=requires_grad)}
    torch = _torch()
    if torch:
        s["tx"] = torch.tensor(x, requires_grad=requires_grad)
        s["tw"] = torch.tensor(w, requires_grad=requires_grad)
    return s


def _conv_fwd(s):
    from autograd.ops.conv import conv2d
    conv2d(s["x"], s["w"], padding=1)


def _conv_fwd_torch(s):
    _torch().nn.functional.conv2d(s["tx"], s["tw"], padding=1)


def _conv_fwd_bwd(s):
    from autograd.ops.conv import conv2d
    s["x"].grad = s["w"].grad = None
    conv2d(s["x"], s["w"], padding=1).sum().backward()


def _conv_fwd_bwd_torch(s):
    s["tx"].grad = s["tw"].grad = None
    _torch().nn.functional.conv2d(s["tx"], s["tw"], padding=1).sum().backward()


# -- max_pool2d -------------------------------------------------------------------------------
def _pool_fwd(s):
    from autograd.ops.pool import max_pool2d
    max_pool2d(s["x"], 2, 2)


def _pool_fwd_torch(s):
    _torch().nn.functional.max_pool2d(s["tx"], 2, 2)


def _pool_fwd_bwd(s):
    from autograd.ops.pool import max_pool2d
    s["x"].grad = None
    max_pool2d(s["x"], 2, 2).sum().backward()


def _pool_fwd_bwd_torch(s):
    s["tx"].grad = None
    _torch().nn.functional.max_pool2d(s["tx"], 2, 2).sum().backward()


# -- LeNet-5 training step ---------------------------------------------------------------------
LENET = [("c1", (6, 1, 5, 5)), ("c2", (16, 6, 5, 5)), ("f1", (400, 120)), ("f2", (120, 84)),
         ("f3", (84, 10))]


def _lenet_setup():
    import autograd as ag
    rng = np.random.default_rng(0)
    params = {k: (rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]) if k[0] == "c"
                                                      else shape[0])).astype(np.float32)
              for k, shape in LENET}
    biases = {k: np.zeros(shape[0] if k[0] == "c" else shape[1], np.float32) for k, shape in LENET}
    x = rng.standard_normal((64, 1, 28, 28)).astype(np.float32)
    onehot = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 64)]
    s = {"p": {k: ag.tensor(v, requires_grad=True) for k, v in {**params, **{
        "b" + k: b for k, b in biases.items()}}.items()},
         "x": ag.tensor(x), "y": ag.tensor(onehot)}
    torch = _torch()
    if torch:
        s["tp"] = {k: torch.tensor(v.array, requires_grad=True) for k, v in s["p"].items()}
        s["tx"], s["ty"] = torch.tensor(x), torch.tensor(onehot)
    return s


def _lenet_forward(p, x, y, conv2d, max_pool2d, relu, log_softmax):
    h = max_pool2d(relu(conv2d(x, p["c1"], p["bc1"], padding=2)), 2)
    h = max_pool2d(relu(conv2d(h, p["c2"], p["bc2"])), 2)
    h = h.reshape(x.shape[0], 400)
    h = relu(h @ p["f1"] + p["bf1"])
    h = relu(h @ p["f2"] + p["bf2"])
    logp = log_softmax(h @ p["f3"] + p["bf3"], 1)
    return -(logp * y).sum() * (1.0 / x.shape[0])


def _lenet_ours(s):
    from autograd.ops.activation import log_softmax, relu
    from autograd.ops.conv import conv2d
    from autograd.ops.pool import max_pool2d
    loss = _lenet_forward(s["p"], s["x"], s["y"], conv2d, max_pool2d, relu, log_softmax)
    loss.backward()
    for t in s["p"].values():
        t.array -= 0.01 * t.grad.array
        t.grad = None


def _lenet_torch(s):
    torch = _torch()
    F = torch.nn.functional
    loss = _lenet_forward(s["tp"], s["tx"], s["ty"], F.conv2d, F.max_pool2d, F.relu,
                          F.log_softmax)
    loss.backward()
    with torch.no_grad():
        for t in s["tp"].values():
            t -= 0.01 * t.grad
            t.grad = None


def _lenet_flops():
    conv = 2 * 64 * (6 * 28 * 28 * 25 + 16 * 10 * 10 * 150)
    fc = 2 * 64 * (400 * 120 + 120 * 84 + 84 * 10)
    return 3 * (conv + fc)


# -- batch norm ------------------------------------------------------------------------------
BN_X = (16, 64, 32, 32)


def _bn_setup():
    import autograd as ag
    x, w, b = _rand(BN_X, 1), _rand(BN_X[1:2], 2), _rand(BN_X[1:2], 3)
    s = {"x": ag.tensor(x, requires_grad=True), "w": ag.tensor(w, requires_grad=True),
         "b": ag.tensor(b, requires_grad=True), "g": ag.tensor(_rand(BN_X, 4))}
    torch = _torch()
    if torch:
        s.update(tx=torch.tensor(x, requires_grad=True), tw=torch.tensor(w, requires_grad=True),
                 tb=torch.tensor(b, requires_grad=True), tg=torch.tensor(s["g"].numpy()))
    return s


def _bn_ours(s):
    import nn.functional as F
    F.batch_norm(s["x"], None, None, s["w"], s["b"], training=True).backward(s["g"])


def _bn_torch(s):
    _torch().nn.functional.batch_norm(s["tx"], None, None, s["tw"], s["tb"],
                                      training=True).backward(s["tg"])


def workloads():
    has_torch = _torch() is not None
    t = lambda fn: fn if has_torch else None
    return {
        "matmul_f32_2048": (_mm_setup, _mm_ours, t(_mm_torch), {"flops": 2 * MM ** 3}),
        "conv2d_fwd": (lambda: _conv_setup(False), _conv_fwd, t(_conv_fwd_torch),
                       {"flops": CONV_FLOPS}),
        "conv2d_fwd_bwd": (lambda: _conv_setup(True), _conv_fwd_bwd, t(_conv_fwd_bwd_torch),
                           {"flops": 3 * CONV_FLOPS}),
        "max_pool2d_fwd": (lambda: _conv_setup(False), _pool_fwd, t(_pool_fwd_torch), {}),
        "max_pool2d_fwd_bwd": (lambda: _conv_setup(True), _pool_fwd_bwd, t(_pool_fwd_bwd_torch),
                               {}),
        "lenet_step": (_lenet_setup, _lenet_ours, t(_lenet_torch), {"flops": _lenet_flops()}),
        "batch_norm_fwd_bwd": (_bn_setup, _bn_ours, t(_bn_torch), {}),
    }


# -- fused row-wise kernels vs NumPy (decides which ones the library should use) --------------
ROWWISE_SHAPES = [(4096, 1000), (64 * 197, 384)]


def rowwise_table(repeat=7):
    import time
    from autograd.kernels import rowwise as R   # the kernels the library uses
    from tools.measure import rowwise_kernels as B      # the one that lost to NumPy
    rng = np.random.default_rng(0)
    for shape in ROWWISE_SHAPES:
        x, g = _rand(shape, 1), _rand(shape, 2)
        w, b = _rand(shape[1:], 3), _rand(shape[1:], 4)
        _, xhat, rstd = R.layer_norm_numba(x, w, b, 1e-5)
        cases = [(R, "softmax", (x,)), (R, "log_softmax", (x,)),
                 (R, "softmax_backward", (R.softmax_numba(x), g)),
                 (R, "log_softmax_backward", (R.log_softmax_numba(x), g)),
                 (R, "layer_norm", (x, w, b, 1e-5)), (R, "layer_norm_backward", (g, xhat, rstd, w)),
                 (B, "cross_entropy", (x, rng.integers(0, shape[1], shape[0])))]
        for module, name, args in cases:
            times = []
            for impl in ("_numba", "_reference"):
                fn = getattr(module, name + impl)
                fn(*args)
                best = float("inf")
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    fn(*args)
                    best = min(best, time.perf_counter() - t0)
                times.append(best)
            print(f"{str(shape):13s} {name:21s} numba {times[0] * 1e3:7.2f} ms | numpy "
                  f"{times[1] * 1e3:7.2f} ms | numpy/numba {times[1] / times[0]:5.2f}x")


# -- convolution algorithms per shape (decides autograd/ops/conv.py's choice) ------------------
# (N, C, O, H, k, stride, padding, groups)
CONV_SHAPES = [(16, 64, 64, 32, 3, 1, 1, 1), (16, 128, 128, 16, 3, 1, 1, 1),
               (16, 256, 256, 8, 3, 1, 1, 1), (16, 512, 512, 4, 3, 1, 1, 1),
               (16, 64, 128, 32, 3, 2, 1, 1), (16, 64, 128, 32, 1, 2, 0, 1),
               (16, 3, 64, 32, 3, 1, 1, 1), (64, 1, 6, 28, 5, 1, 2, 1), (64, 6, 16, 14, 5, 1, 0, 1),
               (32, 64, 64, 32, 3, 1, 1, 1), (16, 64, 64, 32, 3, 1, 1, 64),
               (16, 64, 64, 32, 3, 1, 1, 16)]


def _best(fn, repeat):
    import time
    fn()
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def conv_table(repeat=5):
    import autograd.kernels.conv_drivers as C
    mm = _rand((1024, 1024))
    rate = 2 * 1024 ** 3 / _best(lambda: mm @ mm, repeat) / 1e9
    print(f"float32 matmul 1024: {rate:.1f} GFLOP/s")
    for n, c, o, h, k, s, p, groups in CONV_SHAPES:
        x, w = _rand((n, c, h, h), 1), _rand((o, c // groups, k, k), 2)
        oh = (h + 2 * p - k) // s + 1
        g = _rand((n, o, oh, oh), 3)
        geo = C.ConvGeometry(s, s, p, p, 1, 1, groups)
        flops = 2 * n * o * oh * oh * c // groups * k * k
        picked = C.choose_algorithm(c // groups, o, k, k, geo, np.float32, n, (oh, oh), (h, h),
                                    (oh, oh))
        for algo in C.ALGORITHMS:
            if algo == "direct" and groups == 1:     # dense convs: never picked, far too slow to time
                continue
            C.FORCE_ALGORITHM = algo
            if C.choose_algorithm(c // groups, o, k, k, geo, np.float32, n, (oh, oh), (h, h),
                            (oh, oh)) != algo:
                continue
            t = [_best(fn, repeat) for fn in (lambda: C.conv_forward(x, w, geo, oh, oh),
                                              lambda: C.conv_input_grad(g, w, geo, h, h),
                                              lambda: C.conv_weight_grad(x, g, geo, k, k))]
            mark = "*" if algo == picked else " "
            print(f"{str((n, c, o, h, k, s, p, groups)):34s} {mark}{algo:9s} fwd {t[0] * 1e3:7.2f} "
                  f"dx {t[1] * 1e3:7.2f} dw {t[2] * 1e3:7.2f} ms  "
                  f"fwd {flops / t[0] / 1e9:6.1f} GFLOP/s")
        C.FORCE_ALGORITHM = None


if __name__ == "__main__":
    import sys
    conv_table() if "--conv" in sys.argv else rowwise_table()
