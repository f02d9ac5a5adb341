"""Kernel workloads for tools/bench.py (issue 4): convolution, pooling, a LeNet step.

``workloads()`` returns ``{name: (setup, ours, torch_or_None, info)}`` as tools/bench.py
expects; run them with ``python -m tools.bench --only conv pool lenet matmul``.
Shapes (float32, NCHW):
  matmul_f32_2048     2048x2048 @ 2048x2048 (NumPy's BLAS): the machine's matmul GFLOP/s
  conv2d_fwd          x 32x64x32x32, w 64x64x3x3, stride 1, padding 1
  conv2d_fwd_bwd      the same, forward + backward to x and w (3x the forward FLOPs)
  max_pool2d_fwd      2x2 window, stride 2, on 32x64x32x32
  max_pool2d_fwd_bwd  the same, forward + backward
  rowwise (python -m tools.bench_kernels): fused row kernels vs their NumPy references
                      on (4096, 1000) and (12608, 384) = ViT-S tokens x width
  lenet_step          one SGD step of LeNet-5 (conv5-pool-conv5-pool-fc120-fc84-fc10,
                      ReLU, log-softmax NLL) on a 64x1x28x28 batch, raw tensors only
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
        s["tp"] = {k: torch.tensor(v.data, requires_grad=True) for k, v in s["p"].items()}
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
        t.data -= 0.01 * t.grad.data
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
    }


# -- fused row-wise kernels vs NumPy (decides which ones the library should use) --------------
ROWWISE_SHAPES = [(4096, 1000), (64 * 197, 384)]


def rowwise_table(repeat=7):
    import time
    from autograd.kernels import rowwise as R
    rng = np.random.default_rng(0)
    for shape in ROWWISE_SHAPES:
        x, g = _rand(shape, 1), _rand(shape, 2)
        w, b = _rand(shape[1:], 3), _rand(shape[1:], 4)
        _, xhat, rstd = R.layer_norm_numba(x, w, b, 1e-5)
        cases = [("softmax", (x,)), ("log_softmax", (x,)),
                 ("softmax_backward", (R.softmax_numba(x), g)),
                 ("log_softmax_backward", (R.log_softmax_numba(x), g)),
                 ("layer_norm", (x, w, b, 1e-5)), ("layer_norm_backward", (g, xhat, rstd, w)),
                 ("cross_entropy", (x, rng.integers(0, shape[1], shape[0])))]
        for name, args in cases:
            times = []
            for impl in ("_numba", "_reference"):
                fn = getattr(R, name + impl)
                fn(*args)
                best = float("inf")
                for _ in range(repeat):
                    t0 = time.perf_counter()
                    fn(*args)
                    best = min(best, time.perf_counter() - t0)
                times.append(best)
            print(f"{str(shape):13s} {name:21s} numba {times[0] * 1e3:7.2f} ms | numpy "
                  f"{times[1] * 1e3:7.2f} ms | numpy/numba {times[1] / times[0]:5.2f}x")


if __name__ == "__main__":
    rowwise_table()
