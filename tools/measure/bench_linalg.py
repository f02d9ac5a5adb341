"""The rest of linear algebra (issue 27) beside PyTorch: fwd+bwd of one typical call per
op group, float64, through sum(out * W) as tools/bench.py's linalg workloads.

    python -m tools.bench --threads 1 --only lu_ householder ormqr linalg.cond lowrank vander
"""
from tools.bench import _linalg_workload


def _lu_factor(lib, a):
    return (lib.linalg.lu_factor(a).LU,)


def _lu_solve(lib, a, b):
    return (lib.linalg.lu_solve(*lib.linalg.lu_factor(a), b),)


def _householder(lib, a, tau):
    return (lib.linalg.householder_product(a, tau),)


def _ormqr(lib, a, c):
    return (lib.ormqr(a, a[..., 0, :] * 0.1 + 1.0, c),)


def _cond(lib, a):
    # p=1 would be the inverse-based path, which PyTorch 2.13 cannot differentiate
    return (lib.linalg.cond(a),)


def _svd_lowrank(lib, a):
    lib.manual_seed(0)
    return (lib.svd_lowrank(a, q=10)[1],)


def _vander(lib, x):
    return (lib.linalg.vander(x[0], N=10),)


def workloads():
    batch = (64, 64, 64)
    return {
        "linalg.lu_factor 64 x (64x64), fwd+bwd": _linalg_workload(_lu_factor, "plain", batch),
        "linalg.lu_solve 64 x (64x64) \\ (64x64), factor and solve, fwd+bwd":
            _linalg_workload(_lu_solve, "square", batch, batch),
        "linalg.householder_product 64 x (64x32), 32 reflectors, fwd+bwd":
            _linalg_workload(_householder, "plain", (64, 64, 32), (64, 32)),
        "ormqr 64 x (64x32) reflectors on (64x64), fwd+bwd":
            _linalg_workload(_ormqr, "plain", (64, 64, 32), batch),
        "linalg.cond 64 x (64x64), fwd+bwd": _linalg_workload(_cond, "square", batch),
        "svd_lowrank (1000x200), q=10, values, fwd+bwd":
            _linalg_workload(_svd_lowrank, "plain", (1000, 200)),
        "linalg.vander 100000 x N=10 (1M out), fwd+bwd":
            _linalg_workload(_vander, "plain", (1, 100000)),
    }
