"""L-BFGS for full-batch problems (``torch.optim.LBFGS``: same options, same algorithm).

The direction is the two-loop recursion over the last ``history_size`` pairs
(s = x_{k+1} - x_k, y = g_{k+1} - g_k), pairs with y.s <= 1e-10 skipped, initial
Hessian scale H0 = y.s / y.y.  The step is ``lr`` (the first step is scaled by
min(1, 1/|g|_1)), or the result of a strong-Wolfe line search (Nocedal & Wright,
Algorithms 3.5 and 3.6, c1=1e-4, c2=0.9, cubic interpolation) when
``line_search_fn="strong_wolfe"``.  All parameters must live in one param group.
"""
import numpy as np

from autograd.grad_mode import enable_grad, no_grad

from .optimizer import Optimizer


def _cubic_min(x1, f1, g1, x2, f2, g2, bounds=None):
    """Minimiser of the cubic matching f and f' at x1 and x2 (N&W eq. 3.59), clamped."""
    lo, hi = bounds if bounds is not None else ((x1, x2) if x1 <= x2 else (x2, x1))
    d1 = g1 + g2 - 3 * (f1 - f2) / (x1 - x2)
    disc = d1 * d1 - g1 * g2
    if disc < 0:
        return (lo + hi) / 2.0
    d2 = np.sqrt(disc)
    if x1 <= x2:
        t = x2 - (x2 - x1) * ((g2 + d2 - d1) / (g2 - g1 + 2 * d2))
    else:
        t = x1 - (x1 - x2) * ((g1 + d2 - d1) / (g1 - g2 + 2 * d2))
    return float(min(max(t, lo), hi))


def _strong_wolfe(evaluate, t, d, f, g, gtd, c1=1e-4, c2=0.9, tolerance_change=1e-9, max_ls=25):
    """Find t with f(x+td) <= f + c1 t g.d  and  |g(x+td).d| <= c2 |g.d|.

    ``evaluate(t)`` returns (loss, flat_grad) at x + t d.  Returns
    (loss, flat_grad, t, number of evaluations)."""
    d_norm = float(np.abs(d).max())
    f_new, g_new = evaluate(t)
    evals = 1
    gtd_new = float(g_new.dot(d))
    t_prev, f_prev, g_prev, gtd_prev = 0.0, f, g, gtd
    done = False
    it = 0
    # Bracketing: grow t until an interval is known to contain acceptable points.
    while it < max_ls:
        if f_new > f + c1 * t * gtd or (it > 1 and f_new >= f_prev):
            br, br_f, br_g, br_gtd = [t_prev, t], [f_prev, f_new], [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        if abs(gtd_new) <= -c2 * gtd:
            br, br_f, br_g, br_gtd = [t], [f_new], [g_new], [gtd_new]
            done = True
            break
        if gtd_new >= 0:
            br, br_f, br_g, br_gtd = [t_prev, t], [f_prev, f_new], [g_prev, g_new.copy()], [gtd_prev, gtd_new]
            break
        # Extrapolate within [t + 0.01 (t - t_prev), 10 t].
        lo, hi = t + 0.01 * (t - t_prev), t * 10
        t_next = _cubic_min(t_prev, f_prev, gtd_prev, t, f_new, gtd_new, bounds=(lo, hi))
        t_prev, f_prev, g_prev, gtd_prev = t, f_new, g_new.copy(), gtd_new
        t = t_next
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = float(g_new.dot(d))
        it += 1
    else:
        br, br_f, br_g, br_gtd = [0.0, t], [f, f_new], [g, g_new], [gtd, gtd_new]

    # Zoom: shrink the bracket [low, high] (low has the lower loss) by cubic steps.
    insufficient_progress = False
    low, high = (0, 1) if len(br) == 1 or br_f[0] <= br_f[-1] else (1, 0)
    while not done and it < max_ls:
        if abs(br[1] - br[0]) * d_norm < tolerance_change:
            break
        t = _cubic_min(br[0], br_f[0], br_gtd[0], br[1], br_f[1], br_gtd[1])
        # Keep t at least 10% of the bracket away from its ends, so it shrinks.
        b_max, b_min = max(br), min(br)
        margin = 0.1 * (b_max - b_min)
        if min(b_max - t, t - b_min) < margin:
            if insufficient_progress or t >= b_max or t <= b_min:
                t = b_max - margin if abs(t - b_max) < abs(t - b_min) else b_min + margin
                insufficient_progress = False
            else:
                insufficient_progress = True
        else:
            insufficient_progress = False
        f_new, g_new = evaluate(t)
        evals += 1
        gtd_new = float(g_new.dot(d))
        it += 1
        if f_new > f + c1 * t * gtd or f_new >= br_f[low]:
            br[high], br_f[high], br_g[high], br_gtd[high] = t, f_new, g_new.copy(), gtd_new
            low, high = (0, 1) if br_f[0] <= br_f[1] else (1, 0)
        else:
            if abs(gtd_new) <= -c2 * gtd:
                done = True
            elif gtd_new * (br[high] - br[low]) >= 0:
                br[high], br_f[high], br_g[high], br_gtd[high] = br[low], br_f[low], br_g[low], br_gtd[low]
            br[low], br_f[low], br_g[low], br_gtd[low] = t, f_new, g_new.copy(), gtd_new
    return br_f[low], br_g[low], br[low], evals


class LBFGS(Optimizer):
    def __init__(self, params, lr=1, max_iter=20, max_eval=None, tolerance_grad=1e-7,
                 tolerance_change=1e-9, history_size=100, line_search_fn=None):
        if lr < 0.0:
            raise ValueError(f"LBFGS: invalid learning rate {lr}, expected lr >= 0")
        if max_eval is None:
            max_eval = max_iter * 5 // 4
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"LBFGS: only line_search_fn='strong_wolfe' is supported, got "
                             f"{line_search_fn!r}")
        super().__init__(params, dict(lr=lr, max_iter=max_iter, max_eval=max_eval,
                                      tolerance_grad=tolerance_grad,
                                      tolerance_change=tolerance_change,
                                      history_size=history_size, line_search_fn=line_search_fn))
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS doesn't support per-parameter options (parameter groups)")
        self._params = self.param_groups[0]["params"]

    # -- flat views of all parameters --------------------------------------------
    def _flat_grad(self):
        return np.concatenate([(p.grad.array if p.grad is not None else np.zeros_like(p.array)).ravel()
                               for p in self._params])

    def _add(self, t, d):
        """p <- p + t * d  for the slices of the flat direction d."""
        offset = 0
        for p in self._params:
            n = p.array.size
            p.array += (t * d[offset:offset + n]).reshape(p.shape).astype(p.dtype, copy=False)
            self._bump(p)
            offset += n

    def _set(self, flat):
        offset = 0
        for p in self._params:
            n = p.array.size
            p.array[...] = flat[offset:offset + n].reshape(p.shape)
            self._bump(p)
            offset += n

    def _evaluate(self, closure):
        with enable_grad():
            loss = float(closure())
        return loss, self._flat_grad()

    def step(self, closure=None):
        """Run up to ``max_iter`` L-BFGS iterations; ``closure`` zeroes the grads,
        computes the loss, calls backward and returns the loss.  Returns the first loss."""
        if closure is None:
            raise RuntimeError("LBFGS.step requires a closure that reevaluates the model")
        group = self.param_groups[0]
        lr, max_iter, max_eval = group["lr"], group["max_iter"], group["max_eval"]
        tol_grad, tol_change = group["tolerance_grad"], group["tolerance_change"]
        history_size = group["history_size"]

        state = self.state.setdefault(self._params[0], {})
        state.setdefault("func_evals", 0)
        state.setdefault("n_iter", 0)
        with enable_grad():
            orig_loss = closure()
        loss = float(orig_loss)
        current_evals = 1
        state["func_evals"] += 1
        flat_grad = self._flat_grad()
        if np.abs(flat_grad).max() <= tol_grad:
            return orig_loss

        d, t = state.get("d"), state.get("t")
        old_dirs, old_stps, ro = state.get("old_dirs"), state.get("old_stps"), state.get("ro")
        H_diag = state.get("H_diag")
        prev_flat_grad, prev_loss = state.get("prev_flat_grad"), state.get("prev_loss")

        with no_grad():
            n_iter = 0
            while n_iter < max_iter:
                n_iter += 1
                state["n_iter"] += 1
                if state["n_iter"] == 1:
                    d = -flat_grad
                    old_dirs, old_stps, ro = [], [], []
                    H_diag = 1.0
                else:
                    y = flat_grad - prev_flat_grad
                    s = d * t
                    ys = float(y.dot(s))
                    if ys > 1e-10:          # keep only pairs with positive curvature
                        if len(old_dirs) == history_size:
                            old_dirs.pop(0), old_stps.pop(0), ro.pop(0)
                        old_dirs.append(y)
                        old_stps.append(s)
                        ro.append(1.0 / ys)
                        H_diag = ys / float(y.dot(y))
                    # Two-loop recursion: d = -H g.
                    q = -flat_grad
                    al = [0.0] * len(old_dirs)
                    for i in range(len(old_dirs) - 1, -1, -1):
                        al[i] = float(old_stps[i].dot(q)) * ro[i]
                        q = q - al[i] * old_dirs[i]
                    r = q * H_diag
                    for i in range(len(old_dirs)):
                        be_i = float(old_dirs[i].dot(r)) * ro[i]
                        r = r + old_stps[i] * (al[i] - be_i)
                    d = r
                prev_flat_grad = flat_grad.copy()
                prev_loss = loss

                t = min(1.0, 1.0 / float(np.abs(flat_grad).sum())) * lr if state["n_iter"] == 1 else lr
                gtd = float(flat_grad.dot(d))
                if gtd > -tol_change:      # not a descent direction any more
                    break

                ls_evals = 0
                if group["line_search_fn"] == "strong_wolfe":
                    x0 = np.concatenate([p.array.ravel() for p in self._params])

                    def evaluate(step, x0=x0, d=d):
                        self._add(step, d)
                        out = self._evaluate(closure)
                        self._set(x0)
                        return out

                    loss, flat_grad, t, ls_evals = _strong_wolfe(evaluate, t, d, loss, flat_grad, gtd,
                                                                 tolerance_change=tol_change)
                    self._add(t, d)
                else:
                    self._add(t, d)
                    if n_iter != max_iter:
                        loss, flat_grad = self._evaluate(closure)
                        ls_evals = 1
                opt_cond = np.abs(flat_grad).max() <= tol_grad
                current_evals += ls_evals
                state["func_evals"] += ls_evals

                if n_iter == max_iter or current_evals >= max_eval or opt_cond:
                    break
                if np.abs(d * t).max() <= tol_change or abs(loss - prev_loss) < tol_change:
                    break

        state.update(d=d, t=t, old_dirs=old_dirs, old_stps=old_stps, ro=ro, H_diag=H_diag,
                     prev_flat_grad=prev_flat_grad, prev_loss=prev_loss)
        return orig_loss

    # Flat vectors over all parameters, not shaped like the parameter holding them.
    _unshaped_state = ("d", "prev_flat_grad", "old_dirs", "old_stps", "ro")
    _array_state = True          # its own step, on flattened NumPy vectors

    def _check_state_shapes(self, state, id_map):
        super()._check_state_shapes(state, id_map)
        n = sum(p.numel() for p in self._params)
        for buffers in state.values():
            for key in ("d", "prev_flat_grad", "old_dirs", "old_stps"):
                shape = np.shape(buffers.get(key))
                if len(shape) and shape[-1] not in (0, n):
                    raise ValueError(f"LBFGS.load_state_dict: state '{key}' has {shape[-1]} "
                                     f"entries per vector, but this optimizer's parameters have "
                                     f"{n} elements; the state dict was saved for another model")

    def state_dict(self):
        """The history lists are stacked into arrays so that checkpoints stay tensors."""
        sd = super().state_dict()
        for st in sd["state"].values():
            for key in ("old_dirs", "old_stps"):
                if key in st and st[key] is not None:
                    st[key] = np.stack(st[key]) if st[key] else np.zeros((0, 0))
            if "ro" in st and st["ro"] is not None:
                st["ro"] = np.asarray(st["ro"], dtype=np.float64)
        return sd

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        for st in self.state.values():
            for key in ("old_dirs", "old_stps"):
                if isinstance(st.get(key), np.ndarray):
                    st[key] = list(st[key]) if st[key].size else []
            if isinstance(st.get("ro"), np.ndarray):
                st["ro"] = [float(v) for v in st["ro"]]
