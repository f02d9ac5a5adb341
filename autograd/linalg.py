"""``autograd.linalg``: PyTorch's ``torch.linalg`` (reached as ``torch.linalg`` through
``import autograd as torch``).  The primitives live in autograd/ops/ (solve.py,
decompositions.py, matrix_functions.py, lu.py, linalg_more.py; errors in
linalg_errors.py); README, "Linear algebra", lists the ops, the gauge conventions and
the known differences."""
from .ops.decompositions import (cholesky, det, eigh, eigvalsh, lstsq, pinv, qr, svd,  # noqa: F401
                                 svdvals)
from .ops.linalg import matmul  # noqa: F401
from .ops.linalg_errors import LinAlgError  # noqa: F401
from .ops.linalg_more import (cholesky_ex, cond, householder_product, tensorinv,  # noqa: F401
                               tensorsolve, vander)
from .ops.lu import inv_ex, lu, lu_factor, lu_factor_ex, lu_solve, solve_ex  # noqa: F401
from .ops.matrix_functions import (cross, diagonal, matrix_exp, matrix_norm,  # noqa: F401
                                   matrix_power, multi_dot, norm, vecdot, vector_norm)
from .ops.solve import inv, slogdet, solve, solve_triangular  # noqa: F401

__all__ = ["LinAlgError", "cholesky", "cholesky_ex", "cond", "cross", "det", "diagonal", "eigh",
           "eigvalsh", "householder_product", "inv", "inv_ex", "lstsq", "lu", "lu_factor",
           "lu_factor_ex", "lu_solve", "matmul", "matrix_exp", "matrix_norm", "matrix_power",
           "multi_dot", "norm", "pinv", "qr", "slogdet", "solve", "solve_ex", "solve_triangular",
           "svd", "svdvals", "tensorinv", "tensorsolve", "vander", "vecdot", "vector_norm"]
