"""The numeric method (matcalc.verify.numeric) where the mutation benchmark (tests/bench/mutation.py) planted a bug that
the rest of the suite let through: the signs of drawn diagonal matrices (the package docstring's "Points"
convention), and the Taylor-slope verdict on remainders written out by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

from matcalc.ir import Inverse, MatMul, Var
from matcalc.verify.numeric import make_point
from matcalc.verify.numeric.base import EPS
from matcalc.verify.numeric.taylor import _slope_verdict

SEEDS = range(8)


def V(name, r, c=1, *props):
    return Var(name, (r, c), frozenset(props))


def _diagonals(expr, name):
    for seed in SEEDS:
        m = make_point(expr, seed=seed).values[name]
        assert np.array_equal(m, np.diag(np.diag(m))), "a diagonal variable is drawn diagonal"
        yield np.diag(m)


def test_a_positive_diagonal_matrix_is_drawn_positive() -> None:
    D, x = V("D", "n", "n", "diagonal", "positive"), V("x", "n")
    assert all((d > 0).all() for d in _diagonals(MatMul((D, x)), "D"))


def test_a_diagonal_matrix_under_an_inverse_is_drawn_positive() -> None:
    """Well conditioned: SPD when symmetric, and a diagonal matrix is symmetric."""
    D = V("D", "n", "n", "diagonal")
    assert all((d > 0).all() for d in _diagonals(Inverse(D), "D"))


def test_a_plain_diagonal_matrix_has_entries_of_either_sign() -> None:
    """Nothing else is forced positive: over a few seeds both signs occur, and no entry is near 0."""
    D, x = V("D", "n", "n", "diagonal"), V("x", "n")
    entries = np.concatenate(list(_diagonals(MatMul((D, x)), "D")))
    assert (entries > 0).any() and (entries < 0).any()
    assert (np.abs(entries) >= 0.5).all()


def _remainders(*ratios: float, steps: int = 6, h0: float = 1e-2, r0: float = 1e-3):
    """(h, Δ(h), r(h)) at halving steps h: r shrinks by ``ratios[k]`` (the last one repeated) at the k-th halving,
    Δ(h) = h (resolved)."""
    out, r = [], r0
    for k in range(steps):
        h = h0 / 2 ** k
        out.append((h, np.array([[h]]), np.array([[r]])))
        r /= ratios[min(k, len(ratios) - 1)]
    return out


def test_a_remainder_shrinking_by_four_per_halving_is_quadratic() -> None:
    assert _slope_verdict(_remainders(4.0), 1.0, 1.0, 1.0) == "quadratic"


@pytest.mark.parametrize("ratios", [(2.5,), (5.8,), (8.0,), (4.0, 5.8), (5.8, 4.0, 8.0)])
def test_a_remainder_shrinking_by_another_factor_is_not_quadratic(ratios) -> None:
    """Only r ∝ h² (a factor of 4 per halving, within [3, 5], at two halvings in a row) confirms the claim in that
    direction; 5.8 is neither quadratic nor cubic, 8 is cubic (no confirmation of a derivative claim either)."""
    assert _slope_verdict(_remainders(*ratios), 1.0, 1.0, 1.0) == "inconclusive"


def test_a_remainder_proportional_to_h_is_linear() -> None:
    """r(h) = q·h with q ≠ 0 and a resolved function: the claimed derivative is off by q."""
    rs = [(h, np.array([[h]]), np.array([[0.3 * h]])) for h in (1e-2 / 2 ** k for k in range(5))]
    assert _slope_verdict(rs, 1.0, 1.0, 1.0) == "linear"


def test_a_function_that_moves_unresolved_at_a_tiny_scale_is_not_called_linear() -> None:
    """F is of size 1e-12 and moves by ±1e-14 between steps with no settled slope (Δ/h does not settle): the
    function is not resolved, so r/h settling on a constant proves nothing ("inconclusive", never "linear"). A move
    of 1e-14 is far beyond the rounding of a value of 1e-12 (1e3·EPS·1e-12 ≈ 2e-25), so it is not "flat" either."""
    hs = [1e-2 / 2 ** k for k in range(5)]
    rs = [(h, np.array([[1e-14 * (-1) ** k]]), np.array([[1e-15 * h]])) for k, h in enumerate(hs)]
    assert 1e3 * EPS * 1e-12 < 1e-14
    assert _slope_verdict(rs, 1e-12, 1e-12, 1.0) == "inconclusive"
    # the same remainders with a resolved function (Δ/h settled) are linear
    settled = [(h, np.array([[1e-12 * h]]), r) for (h, _, r) in rs]
    assert _slope_verdict(settled, 1e-12, 1e-12, 1.0) == "linear"
