"""SPEC section 5's verdict rules as a table, method by method, and the exit statuses of SPEC section 6.

The expected values are written out literally: a table computed by a copy of the code under test would pass whatever
the code says.
"""

from __future__ import annotations

import itertools

import pytest

from matcalc.results import MethodResult, exit_code, overall
from matcalc.verify.judge import combine

E, D, U = "equal", "different", "unknown"

#: (symbolic, exact, numeric) → verdict, all 27 combinations. `verified` needs the exact or the numeric method to show
#: equality and no method to show a difference (the symbolic method alone never verifies: for a derivative it is the
#: rule engine checking itself); `refuted` needs the exact or the numeric method to show a difference and no method
#: to show equality (the symbolic method's `different` alone never refutes); the numeric method's `equal` verifies only
#: with the exact method's or the symbolic method's `equal` beside it (float64 agreement within a tolerance would
#: let a tiny constant difference through); anything else is `inconclusive`.
COMBINE = [
    # symbolic equal
    (E, E, E, "verified"),
    (E, E, D, "inconclusive"),
    (E, E, U, "verified"),
    (E, D, E, "inconclusive"),
    (E, D, D, "inconclusive"),
    (E, D, U, "inconclusive"),
    (E, U, E, "verified"),
    (E, U, D, "inconclusive"),
    (E, U, U, "inconclusive"),  # the symbolic method alone: never verified
    # symbolic different
    (D, E, E, "inconclusive"),
    (D, E, D, "inconclusive"),
    (D, E, U, "inconclusive"),
    (D, D, E, "inconclusive"),
    (D, D, D, "refuted"),
    (D, D, U, "refuted"),
    (D, U, E, "inconclusive"),
    (D, U, D, "refuted"),
    (D, U, U, "inconclusive"),  # the symbolic method alone: never refuted
    # symbolic unknown
    (U, E, E, "verified"),
    (U, E, D, "inconclusive"),
    (U, E, U, "verified"),
    (U, D, E, "inconclusive"),
    (U, D, D, "refuted"),
    (U, D, U, "refuted"),
    (U, U, E, "inconclusive"),  # float64 agreement alone is evidence, not a proof: it needs exact or symbolic too
    (U, U, D, "refuted"),
    (U, U, U, "inconclusive"),
]


def _m(s: str, e: str, n: str) -> dict[str, MethodResult]:
    return {"symbolic": MethodResult(s), "exact": MethodResult(e), "numeric": MethodResult(n)}


def test_the_table_has_every_combination_once() -> None:
    assert sorted((s, e, n) for s, e, n, _ in COMBINE) == sorted(itertools.product((E, D, U), repeat=3))


@pytest.mark.parametrize("s,e,n,verdict", COMBINE, ids=[f"{s}-{e}-{n}" for s, e, n, _ in COMBINE])
def test_combine_table(s: str, e: str, n: str, verdict: str) -> None:
    assert combine(_m(s, e, n)) == verdict


#: Claims with transposed shapes are judged by the symbolic (shapes) and exact methods only.
COMBINE_TWO = [
    (D, D, "refuted"),
    (D, U, "inconclusive"),
    (D, E, "inconclusive"),
    (E, U, "inconclusive"),
    (E, E, "verified"),
    (U, D, "refuted"),
]


@pytest.mark.parametrize("s,e,verdict", COMBINE_TWO)
def test_combine_without_numeric(s: str, e: str, verdict: str) -> None:
    assert combine({"symbolic": MethodResult(s), "exact": MethodResult(e)}) == verdict


def test_an_error_status_decides_nothing() -> None:
    assert combine(_m(E, "error", "error")) == "inconclusive"
    assert combine(_m(U, "error", E)) == "inconclusive"
    assert combine(_m(E, "error", E)) == "verified"
    assert combine(_m(U, D, "error")) == "refuted"


OVERALL = [
    (["verified", "verified"], "verified"),
    (["verified", "inconclusive"], "inconclusive"),
    (["inconclusive", "refuted"], "refuted"),
    (["verified", "error"], "error"),
    (["error"], "error"),
    (["error", "refuted", "verified"], "refuted"),
    (["inconclusive", "error", "verified"], "error"),
    (["refuted", "inconclusive"], "refuted"),
    (["inconclusive", "inconclusive"], "inconclusive"),
]


@pytest.mark.parametrize("verdicts,expected", OVERALL)
def test_overall(verdicts: list[str], expected: str) -> None:
    assert overall(verdicts) == expected


EXIT_CODES = [("verified", 0), ("refuted", 1), ("inconclusive", 3), ("error", 1)]


@pytest.mark.parametrize("verdict,code", EXIT_CODES)
def test_exit_codes(verdict: str, code: int) -> None:
    assert exit_code(verdict) == code
