"""SPEC section 5's verdict rules, method by method, and the exit statuses of SPEC section 6."""

from __future__ import annotations

import itertools

import pytest

from matcalc.results import MethodResult, exit_code, overall
from matcalc.verify.judge import combine

STATUSES = ("equal", "different", "unknown")


def _m(s, e, n):
    return {"symbolic": MethodResult(s), "exact": MethodResult(e), "numeric": MethodResult(n)}


@pytest.mark.parametrize("s,e,n", list(itertools.product(("equal", "unknown"), STATUSES, STATUSES)))
def test_combine_follows_spec(s: str, e: str, n: str) -> None:
    v = combine(_m(s, e, n))
    statuses = (s, e, n)
    if "equal" in statuses and "different" in statuses:
        assert v == "inconclusive"  # the methods disagree: never a guess
    elif "different" in (e, n):
        assert v == "refuted"
    elif s == "equal" or e == "equal":
        assert v == "verified"
    else:
        assert v == "inconclusive"  # numeric agreement alone never verifies


def test_numeric_alone_never_verifies() -> None:
    assert combine(_m("unknown", "unknown", "equal")) == "inconclusive"


def test_never_verified_when_exact_disagrees() -> None:
    assert combine(_m("equal", "different", "equal")) == "inconclusive"


def test_overall_and_exit_codes() -> None:
    assert overall(["verified", "verified"]) == "verified"
    assert overall(["verified", "inconclusive"]) == "inconclusive"
    assert overall(["inconclusive", "refuted"]) == "refuted"
    assert overall(["verified", "error"]) == "refuted"
    assert [exit_code(v) for v in ("verified", "refuted", "inconclusive", "error")] == [0, 1, 3, 1]
