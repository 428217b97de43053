"""Finite differences of the numeric method: complex step, central differences, stacked Jacobians.

Contract: :class:`_Differences` is the part of :class:`~matcalc.verify.numeric.evaluator._Evaluator` that
computes a :class:`~matcalc.ir.Derivative` from perturbed evaluations of its ``expr`` (never from a formula):
the target of ``wrt``, directional differences (complex step where it is exact and a probe agrees with
central differences; otherwise central differences with Richardson extrapolation checked for the asymptotic
regime), whole Jacobians column by column or in one stacked complex step, and their arrangement by
:mod:`matcalc.verify.numeric.arrange`. It relies on the evaluator's ``ev``, ``push``/``pop`` and state.
"""

from __future__ import annotations

import numpy as np

from matcalc import ir
from matcalc.shapes import ShapeError
from matcalc.verify.numeric.arrange import _arrange, _sym_perm, _vec
from matcalc.verify.numeric.base import CS_H, CS_MAX_IMAG, EPS, FD_H, STACK_MAX, NumericError, _Reject
from matcalc.verify.numeric.structure import _analytic, distinct


#: node types that evaluate a stack of values (batch, r, c) member by member: a complex-step Jacobian whose
#: perturbed argument reaches the root through these only takes all its columns in one evaluation
_BATCH_OK = frozenset({
    ir.Var, ir.Named, ir.Num, ir.Size, ir.Identity, ir.Zeros, ir.Ones, ir.Add, ir.Neg, ir.MatMul, ir.Scale, ir.Div,
    ir.Hadamard, ir.HadDiv, ir.Transpose, ir.Inverse, ir.Power, ir.EPower, ir.Broadcast, ir.Apply, ir.CallVec,
    ir.Sum, ir.Trace, ir.Det, ir.LogDet, ir.Norm, ir.Softmax, ir.LogSumExp, ir.Entry, ir.IndexSum, ir.Delta,
})


class _Differences:
    """Finite differences: mixed into :class:`~matcalc.verify.numeric.evaluator._Evaluator`."""

    # ── finite differences ──

    def wrt_target(self, w: ir.Expr) -> tuple[tuple, np.ndarray, tuple | None, bool]:
        """(override key, current value of the argument, 0-based entry or None, symmetric?)."""
        pos = None
        if isinstance(w, ir.Entry):
            idx = [self.index_value(i) for i in w.idx]
            base = w.arg
            X0 = self.ev(base)
            if len(idx) == 1:
                pos = (idx[0] - 1, 0) if X0.shape[1] == 1 else (0, idx[0] - 1)
            else:
                pos = (idx[0] - 1, idx[1] - 1)
            if not (0 <= pos[0] < X0.shape[0] and 0 <= pos[1] < X0.shape[1]):
                raise NumericError(f"the entry {tuple(p + 1 for p in pos)} is outside the argument")
            w = base
        if isinstance(w, ir.Var):
            sym = bool({"symmetric", "spd"} & set(w.props))
            return ("var", w.name), self.ev(w), pos, sym and pos is None
        if isinstance(w, ir.Named):
            return ("named", w.name), self.ev(w), pos, False
        raise NumericError("a derivative must be by a variable, a let name or an entry of a variable")

    def _f(self, key: tuple, X: np.ndarray, expr: ir.Expr) -> np.ndarray:
        self.fd_evals += 1
        return self.ev_with({key: X}, expr)

    def dir_fd(self, key: tuple, X0: np.ndarray, V: np.ndarray, expr: ir.Expr, use_cs: bool,
               levels: int = 3) -> tuple[np.ndarray, np.ndarray]:
        """Directional derivative vec(J V) of expr along V, with an error estimate (entrywise)."""
        if use_cs:
            got = self._cstep(key, X0, V, expr)
            if got is not None:
                return got[1], got[2]
            # the imaginary parts cannot be kept small: central differences
        if V.size <= 4096:
            nz = np.flatnonzero(V)
            scale = max(1.0, float(np.max(np.abs(X0.flat[nz])))) if nz.size else 1.0
        else:
            scale = max(1.0, float(np.max(np.abs(X0))))
        h = FD_H * scale / max(float(np.max(np.abs(V))), 1e-300)
        best, err = self._richardson(key, X0, V, expr, h, levels)
        return best, err

    def _cstep(self, key: tuple, X0: np.ndarray, V: np.ndarray, expr: ir.Expr, h: float = CS_H
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """The complex step (f(x + i h v), derivative, error), or None where no step keeps it exact.

        Im f(x + i h v)/h = f'(x) v − h² f3(x)[v, v, v]/6 + ...: exact only while every intermediate's imaginary
        part stays tiny (an exp of an exp, a cubic of a large activation can make h·f' of order 1), so the step
        shrinks until the largest imaginary part is below CS_MAX_IMAG."""
        hc = h
        for _ in range(3):
            self.magi = 0.0
            Xc = np.empty(X0.shape, dtype=np.result_type(X0.dtype, np.complex64))  # clongdouble in extended
            Xc.real = X0
            Xc.imag = hc * V
            fc = self._f(key, Xc, expr)
            if self.magi <= CS_MAX_IMAG:
                d = _vec(fc.imag) / hc
                err = np.full(d.shape, (64 * EPS * (self.magi / hc)
                                        + 16 * EPS * float(np.max(np.abs(d), initial=0))) * self.cond)
                return fc, d, err
            hc = hc * CS_MAX_IMAG / (1e3 * self.magi)
            if not hc > 1e-300:
                break
        return None

    def _richardson(self, key: tuple, X0: np.ndarray, V: np.ndarray, expr: ir.Expr, h: float,
                    levels: int) -> tuple[np.ndarray, np.ndarray]:
        """Central differences at ``levels`` halving steps h, h/2, … with Richardson extrapolation of the last
        three, checked for the asymptotic regime.

        The last Richardson correction estimates the error only where the step resolves the function: each
        difference D(h/2^j) − D(h/2^(j+1)) must shrink by ~4 (error ∝ h²) — with 4 levels, twice in a row (one
        ratio alone passes by chance too often on a scalar derivative). Where they do not (a step larger than the
        scale on which the function varies: sin of a large argument, a steep exp, a cubic of a large activation),
        the step is cut by 8 and the differences are retaken, up to 4 times; still not asymptotic, the point is
        unusable (:class:`_Reject`): a spread of unresolved differences bounds nothing. Entries that fail the test
        only at the level of rounding noise keep the step, with the spread of their differences as their error —
        provided the derivative itself stands 1000× above that noise (or the function does not move at all).
        With 2 levels (the complex-step probe) there is no check.
        """
        for attempt in range(5):
            Ds = []
            fmag = 0.0
            for j in range(levels):
                hj = h / 2**j
                fp = self._f(key, X0 + hj * V, expr)
                fm = self._f(key, X0 - hj * V, expr)
                fmag = max(fmag, float(np.max(np.abs(fp), initial=0)), float(np.max(np.abs(fm), initial=0)))
                Ds.append(_vec(fp - fm) / (2 * hj))
            fmag = max(fmag, self.mag)
            hs = h / 2 ** (levels - 1)
            rnd = 16 * EPS * fmag * self.cond / hs
            if levels == 2:
                best = (4 * Ds[1] - Ds[0]) / 3
                return best, np.abs(best - Ds[1]) + rnd
            R1 = (4 * Ds[-2] - Ds[-3]) / 3
            R2 = (4 * Ds[-1] - Ds[-2]) / 3
            best = (16 * R2 - R1) / 15
            err = np.abs(best - R2) + rnd
            es = [a - b for a, b in zip(Ds, Ds[1:])]
            # above rounding: the derivative stands out of the noise, or the function does not move at all (a
            # derivative at the noise level may as well be an unresolved oscillation as a zero)
            above = float(np.max(np.abs(best), initial=0)) > 1e3 * rnd or not any(np.any(e) for e in es)
            if self.mca is not None:  # a rounding probe measures noise: it follows the steps, never rejects
                above = True
            bad = np.zeros(best.shape, dtype=bool)
            for ea, eb in zip(es, es[1:]):  # entrywise: not ∝ h²
                bad |= np.abs(ea - 4 * eb) > 0.3 * np.abs(ea) + 10 * rnd
            if above and not np.any(bad):
                return best, err
            spread = np.sum([np.abs(e) for e in es], axis=0)
            err = np.where(bad, np.maximum(err, spread), err)
            if above and float(np.max(spread[bad])) <= 1e3 * rnd:  # rounding noise, not an unresolved step
                return best, err
            if attempt == 4 and self.mca is not None:
                return best, err + float(np.max(spread[bad]))
            if attempt == 4:  # never resolved: the point is unusable, never a confident value
                raise _Reject("central differences do not resolve the function at this point (a step of "
                              f"{h:.1e} is still beyond the scale on which it varies)")
            h /= 8
        raise AssertionError("unreachable")

    def cs_safe(self, D: ir.Derivative, key: tuple, X0: np.ndarray, sym: bool, pos: tuple | None) -> bool:
        """Whether the complex step may be used for D here: analytic, and a probe agrees with central differences."""
        if not self.allow_cs or self.cdepth > 0 or not _analytic(D.expr):
            return False
        k = id(D)
        if k in self.cs_ok:
            return self.cs_ok[k]
        rng = np.random.default_rng([self.pt.seed & 0xFFFFFFFF, len(self.cs_ok), *X0.shape])
        V = rng.normal(size=X0.shape)
        if pos is not None:
            W = np.zeros(X0.shape)
            W[pos] = 1.0
            V = W
        elif sym and X0.shape[0] == X0.shape[1]:
            V = (V + V.T) / 2
        ok = False
        try:
            with np.errstate(all="ignore"):
                f0 = self.ev(D.expr)
                got = self._cstep(key, X0, V, D.expr)
                if got is None:  # no step keeps the imaginary parts small here: say nothing for other points
                    return False
                fc, d1, _ = got
                got2 = self._cstep(key, X0, V, D.expr, 1e-10)
            scale0 = max(float(np.max(np.abs(d1), initial=0)), 1e-300)
            ok = (
                np.all(np.isfinite(d1))
                and np.allclose(fc.real, f0, rtol=1e-8, atol=1e-8 * max(1.0, float(np.max(np.abs(f0), initial=0))))
                and (got2 is None or float(np.max(np.abs(d1 - got2[1]), initial=0)) <= 1e-6 * scale0 + 1e-12)
            )
            if ok:  # consistent with itself: now against central differences (resolved, else the point goes)
                with np.errstate(all="ignore"):
                    dc, ec = self.dir_fd(key, X0, V, D.expr, False, levels=3)
                scale = max(float(np.max(np.abs(dc), initial=0)), 1e-300)
                if float(np.max(np.abs(d1 - dc), initial=0)) > 10 * float(np.max(ec, initial=0)) + 1e-7 * scale:
                    # one of the two is wrong here and nothing says which (central differences can settle on a
                    # false plateau where the function has structure below the step): this point is unusable
                    raise _Reject("the complex step and central differences disagree at this point")
        except _Reject:
            raise
        except (FloatingPointError, np.linalg.LinAlgError, ZeroDivisionError):
            ok = False
        self.cs_ok[k] = bool(ok)
        return bool(ok)

    def _nested_cs(self, D: ir.Derivative, key: tuple) -> bool:
        """Whether D is taken better by central differences of an inner derivative taken by the complex step:
        D.expr is analytic and holds a derivative on the path from the perturbed argument (a Hessian is
        ``jacobian(grad(f, X), X)``). The complex step does not nest (inside one, derivatives are central
        differences), so complex step outside means N columns × N central-difference columns of 8 evaluations
        each; central differences outside and the complex step inside mean 8 evaluations per column, each
        taking the inner Jacobian in one stacked evaluation where it can (both orders are finite differences
        of the original function, with error estimates)."""
        if not self.allow_cs or self.cdepth > 0:
            return False
        k = (id(D), key)
        got = self.nested_cs.get(k)
        if got is None:
            got = self.nested_cs[k] = _analytic(D.expr) and any(
                isinstance(n, ir.Derivative) and key in self.deps(n) for n in distinct(D.expr))
        return got

    def _batchable(self, D: ir.Derivative, key: tuple, members: int) -> bool:
        """Whether every node of D.expr on a path from the perturbed argument evaluates a stack of values (batch,
        r, c) member by member (see :data:`_BATCH_OK`), with a stack of ``members`` small enough to hold
        (at most STACK_MAX entries in any intermediate)."""
        k = (id(D), key)
        got = self.batch_ok.get(k)
        if got is None:
            ok, size = True, 1
            for n in distinct(D.expr):
                if key not in self.deps(n):
                    continue
                if type(n) not in _BATCH_OK:
                    ok = False
                    break
                try:
                    size = max(size, self.pt.dim(n.shape[0]) * self.pt.dim(n.shape[1]))
                except (NumericError, ShapeError):
                    ok = False
                    break
            got = self.batch_ok[k] = (ok, size)
        return got[0] and members * got[1] <= STACK_MAX

    def _cstep_batch(self, key: tuple, X0: np.ndarray, coords: list, expr: ir.Expr
                     ) -> tuple[np.ndarray, np.ndarray] | None:
        """The complex step along every unit direction of ``coords`` in ONE evaluation of a stack of arguments
        (member b is X0 + i h E_b): the Jacobian's columns and their errors, or None (then column by column).

        The same regime check as :meth:`_cstep`, over the whole stack: the step shrinks until the largest
        imaginary part of every intermediate of every member is below CS_MAX_IMAG; the error estimate of a column
        uses that largest imaginary part (at least the column's own)."""
        B = len(coords)
        E = np.zeros((B,) + X0.shape)
        for b, rc in enumerate(coords):
            E[(b,) + tuple(rc)] = 1.0
        hc = CS_H
        for _ in range(3):
            self.magi = 0.0
            Xc = np.empty(E.shape, dtype=np.result_type(X0.dtype, np.complex64))
            Xc.real = X0
            Xc.imag = hc * E
            fc = self._f(key, Xc, expr)
            if self.magi <= CS_MAX_IMAG:
                im = np.broadcast_to(fc.imag, (B,) + fc.shape[-2:])
                J = np.swapaxes(im, -1, -2).reshape(B, -1).T / hc  # column b: vec of member b
                col = np.max(np.abs(J), axis=0, initial=0)
                Je = np.empty(J.shape)
                Je[:] = (64 * EPS * (self.magi / hc) + 16 * EPS * col) * self.cond
                return J, Je
            hc = hc * CS_MAX_IMAG / (1e3 * self.magi)
            if not hc > 1e-300:
                break
        return None

    def _entry_column(self, D: ir.Derivative, key: tuple, X0: np.ndarray, pos: tuple
                      ) -> tuple[np.ndarray, np.ndarray] | None:
        """A derivative by ``W[j, k]`` with index names, of an expression that does not depend on those indices
        (``d/dW[j, k] C(z)`` for every j, k): the column of the whole Jacobian by W, taken once by a stacked
        complex step at the point (only index values bound) and kept for the other index values; None where
        that does not apply (then the one column is taken alone)."""
        if not 1 < X0.size <= 400 or not all(q[0] in ("idx", "deriv") for q in self.ovk):
            return None
        names = {("idx", i.name) for i in D.wrt.idx if isinstance(i, ir.Index)}
        dd = self.deps(D.expr)
        if not names or not names.isdisjoint(dd):
            return None
        ck = (id(D.expr), key, tuple(sorted((q, v) for q, v in self.ov.items() if q[0] == "idx" and q in dd)))
        if ck not in self.entry_jac:
            p, q = X0.shape
            self.keep[id(D.expr)] = D.expr
            self.entry_jac[ck] = self._cstep_batch(key, X0, [(r, c) for c in range(q) for r in range(p)], D.expr)
        full = self.entry_jac[ck]
        if full is None:
            return None
        col = pos[1] * X0.shape[0] + pos[0]
        return full[0][:, col: col + 1], full[1][:, col: col + 1]

    def jacobian(self, D: ir.Derivative) -> tuple[np.ndarray, np.ndarray, tuple, tuple]:
        """The numerator vec Jacobian of D.expr by D.wrt's entries, its error, and the shapes (expr, wrt)."""
        key, X0, pos, sym = self.wrt_target(D.wrt)
        f0 = self.ev(D.expr)
        use_cs = not self._nested_cs(D, key) and self.cs_safe(D, key, X0, sym, pos)
        self.methods.add("complex step" if use_cs else "central differences with Richardson extrapolation")
        if pos is not None:
            coords = [pos]
        else:
            coords = [(r, c) for c in range(X0.shape[1]) for r in range(X0.shape[0])]
        kl = f0.size
        got = None
        if use_cs and self.batch and self._batchable(D, key, X0.size):
            if len(coords) > 1:
                got = self._cstep_batch(key, X0, coords, D.expr)
            elif pos is not None:
                got = self._entry_column(D, key, X0, pos)
        if got is not None:
            J, Je = got
        else:
            cols, errs = [], []
            for rc in coords:
                E = np.zeros(X0.shape)
                E[rc] = 1.0
                d, er = self.dir_fd(key, X0, E, D.expr, use_cs, levels=4)
                cols.append(d)
                errs.append(er)
            J = np.hstack(cols) if cols else np.zeros((kl, 0))
            Je = np.hstack(errs) if errs else np.zeros((kl, 0))
        if sym and X0.shape[0] == X0.shape[1]:
            perm = _sym_perm(*X0.shape)
            J = (J + J[:, perm]) / 2
            Je = (Je + Je[:, perm]) / 2
        ws = (1, 1) if pos is not None else X0.shape
        return J, Je, f0.shape, ws

    def _derivative(self, D: ir.Derivative) -> np.ndarray:
        # values at the point itself (only index bindings active) are kept with their error estimates, so that
        # the noise pass can perturb them by their estimates
        at_point = all(key[0] in ("idx", "deriv") for key in self.ovk)
        if at_point:  # keyed by the values of the indices D depends on (not the others bound around it)
            dd = self.depc.get(id(D)) or self.deps(D)
            k = (id(D), tuple(sorted((q, v) for q, v in self.ov.items() if q[0] == "idx" and q in dd)))
        else:
            k = None
        if self.noise is not None and k in self.fd_cache:
            val, err = self.fd_cache[k]
            return val + err * np.where(self.noise.random(val.shape) < 0.5, -1.0, 1.0)  # random signs
        J, Je, es, ws = self.jacobian(D)
        val = _arrange(J, es, ws, D.kind, D.layout)
        err = _arrange(Je, es, ws, D.kind, D.layout)
        if k is not None:
            self.fd_cache[k] = (val, err)
        return val
