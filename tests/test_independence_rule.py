"""SPEC section 5's independence rule, end to end: the symbolic method (for a derivative, the rule engine checking
itself) never verifies a claim alone, a side undefined at every point is never verified, and every ``verified`` in
``--format json`` rests on the exact or the numeric method showing equality."""

from __future__ import annotations

import dataclasses
import importlib
import json
from pathlib import Path

import pytest

import matcalc
from matcalc.cli import main

HOMEWORK = Path(__file__).parent / "homework"
INDEPENDENT = ("exact", "numeric")


def not_independently_verified(report: dict) -> list[str]:
    """The claims of a ``--format json`` report (check or prove) that are ``verified`` without the exact or the
    numeric method showing equality."""
    claims = [c for t in report.get("theorems", [report]) for c in t["claims"]]
    return [f"line {c['line']}: {c['text']}" for c in claims if c["verdict"] == "verified" and not any(
        c["methods"].get(k, {}).get("status") == "equal" for k in INDEPENDENT)]


def _json(capsys, *argv: str) -> dict:
    main([*argv, "--format", "json"])
    out, _ = capsys.readouterr()
    return json.loads(out)


# ───────────────────────────── (a) sizes too large for the exact and numeric methods ─────────────────────────────


def test_symbolic_alone_does_not_verify_at_large_sizes(capsys) -> None:
    rep = _json(capsys, "check", "sum((d/dX sum(X.^3)).^2) = sum((3 X.^2).^2)", "--given", "X: 20 x 20")
    (c,) = rep["claims"]
    assert c["methods"]["symbolic"]["status"] == "equal"
    assert c["methods"]["exact"]["status"] == "unknown" and c["methods"]["numeric"]["status"] == "unknown"
    assert c["verdict"] == "inconclusive" and rep["verdict"] == "inconclusive"
    why = c["diagnosis"]
    assert why.startswith("only the symbolic method could decide (")
    assert "too large for the exact method" in why  # the exact method's reason, said
    assert "numeric: " in why and "never verifies" in why


def test_symbolic_alone_says_so_in_text() -> None:
    rep = matcalc.check("sum((d/dX sum(X.^3)).^2) = sum((3 X.^2).^2)", given="X: 20 x 20")
    assert rep.verdict == "inconclusive" and rep.exit_code == 3
    assert "only the symbolic method could decide" in " ".join(str(rep).split())


# ───────────────────────────── (b) a side undefined at every point ─────────────────────────────


@pytest.mark.parametrize("claim", [
    "inv(x x^T) = inv(x x^T)",
    "inv(x x^T) x = inv(x x^T) x",
    "A x = inv(x x^T) x",
])
def test_inverse_of_structurally_singular_matrix_is_never_verified(claim: str) -> None:
    rep = matcalc.check(claim, given="x: n, A: n x n")
    (r,) = rep.results
    assert r.verdict != "verified", str(rep)
    assert r.verdict == "inconclusive"
    assert "undefined at every point" in r.diagnosis
    assert "singular" in r.diagnosis  # why: the exact method finds the matrix under the inverse singular


def test_the_undefined_side_is_named() -> None:
    rep = matcalc.check("A x = inv(x x^T) x", given="x: n, A: n x n")
    why = rep.results[0].diagnosis
    assert why.startswith("the right side, (x xᵀ)⁻¹ x, is undefined at every point"), why


# ───────────────────────────── (c) a broken rule of the engine ─────────────────────────────


def _rule_table():
    return importlib.import_module("matcalc.engine.rules")


@pytest.fixture
def broken_power_rule(monkeypatch):
    """d(X.^k) = (k + 1) X.^(k−1): the engine's entrywise power rule, wrong by one in its factor."""
    rules = _rule_table()
    from matcalc import ir

    good = rules.RULES["power-entrywise"]

    def wrong(y):
        k = y.exp
        return ir.Scale(ir.Num(k + 1), y.base if k == 2 else ir.EPower(y.base, k - 1))

    bad = dataclasses.replace(good, vjp=lambda y, g, i: ir.Hadamard(g, wrong(y)),
                              jac=lambda y, i: rules.diagc(wrong(y)))
    monkeypatch.setitem(rules.RULES, "power-entrywise", bad)
    return bad


def test_a_broken_rule_does_not_verify_a_false_claim_at_large_sizes(broken_power_rule) -> None:
    # false: d/dX sum(X.^3) = 3 X.^2, not 4 X.^2; the broken engine agrees with the claim, nothing else can decide
    rep = matcalc.check("sum((d/dX sum(X.^3)).^2) = sum((4 X.^2).^2)", given="X: 20 x 20")
    (r,) = rep.results
    assert r.methods["symbolic"].status == "equal"  # the engine checking itself, and wrong
    assert r.verdict != "verified", str(rep)
    assert "only the symbolic method could decide" in r.diagnosis


def test_a_broken_rule_is_caught_at_small_sizes(broken_power_rule) -> None:
    rep = matcalc.check("d/dX sum(X.^3) = 4 X.^2", given="X: n x m")
    (r,) = rep.results
    assert r.methods["symbolic"].status == "equal"
    assert r.methods["exact"].status == "different" and r.verdict == "inconclusive"


# ───────────────────────────── every `verified` in --format json ─────────────────────────────


def test_checker_itself() -> None:
    ok = {"claims": [{"line": 1, "text": "a", "verdict": "verified",
                      "methods": {"symbolic": {"status": "equal"}, "exact": {"status": "unknown"},
                                  "numeric": {"status": "equal"}}}]}
    bad = {"claims": [{"line": 1, "text": "a", "verdict": "verified",
                       "methods": {"symbolic": {"status": "equal"}, "exact": {"status": "unknown"},
                                   "numeric": {"status": "unknown"}}}]}
    assert not_independently_verified(ok) == [] and not_independently_verified(bad) == ["line 1: a"]
    assert not_independently_verified({"theorems": [bad, ok]}) == ["line 1: a"]


def test_prove_all_json_every_verified_is_independent(capsys) -> None:
    rep = _json(capsys, "prove", "all")
    not_verified = [(t["name"], c["line"], c["text"], c["verdict"], {k: m["detail"] for k, m in c["methods"].items()})
                    for t in rep["theorems"] for c in t["claims"] if c["verdict"] != "verified"]
    assert rep["verdict"] == "verified" and len(rep["theorems"]) >= 32, not_verified
    assert not_independently_verified(rep) == []


@pytest.mark.parametrize("name", sorted(p.name for p in HOMEWORK.glob("*.mc")))
def test_homework_json_every_verified_is_independent(capsys, name: str) -> None:
    assert not_independently_verified(_json(capsys, "check", str(HOMEWORK / name))) == []


def test_claim_tables_json_every_verified_is_independent() -> None:
    """The claim tables of tests/test_claims.py, as ``--format json`` reports them (``to_json`` is what it prints)."""
    from test_claims import FALSE, TRUE

    for claim, given, *_ in TRUE + FALSE:
        rep = matcalc.check(claim, given=given)
        assert not_independently_verified(rep.to_json()) == [], claim
