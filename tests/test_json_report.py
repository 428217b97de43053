"""`--format json` (SPEC section 6) validates against its schema for every kind of line: verified, refuted with a
counterexample and diagnosis, error, and chain steps; the validator itself rejects malformed reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from matcalc.cli import main

HOMEWORK = Path(__file__).parent / "homework"
VERDICTS = ["verified", "refuted", "inconclusive", "error"]
STATUSES = ["equal", "different", "unknown", "error"]


def _opt(kind):
    return lambda v: v is None or isinstance(v, kind)


CLAIM_FIELDS = {
    "line": lambda v: isinstance(v, int) and v >= 1,
    "text": lambda v: isinstance(v, str) and v.strip() != "",
    "verdict": lambda v: v in VERDICTS,
    "methods": lambda v: isinstance(v, dict) and all(
        k in ("symbolic", "exact", "numeric") and isinstance(m, dict) and m.get("status") in STATUSES
        and isinstance(m.get("detail"), str) for k, m in v.items()),
    "counterexample": _opt(dict),
    "diagnosis": _opt(str),
}


def validate(report) -> list[str]:
    errs = []
    if not isinstance(report, dict):
        return ["report is not an object"]
    if report.get("verdict") not in ("verified", "refuted", "inconclusive", "error"):
        errs.append(f"bad top-level verdict {report.get('verdict')!r}")
    claims = report.get("claims")
    if not isinstance(claims, list) or not claims:
        return errs + ["claims is not a non-empty array"]
    for i, c in enumerate(claims):
        if not isinstance(c, dict):
            errs.append(f"claims[{i}] is not an object")
            continue
        for k, ok in CLAIM_FIELDS.items():
            if k not in c:
                errs.append(f"claims[{i}] lacks {k}")
            elif not ok(c[k]):
                errs.append(f"claims[{i}].{k} is malformed: {c[k]!r}")
        if c.get("verdict") == "refuted" and not c.get("counterexample"):
            errs.append(f"claims[{i}] is refuted without a counterexample")
        if c.get("verdict") == "verified" and not any(
                m.get("status") == "equal" for k, m in c.get("methods", {}).items() if k in ("exact", "numeric")):
            errs.append(f"claims[{i}] is verified without the exact or numeric method showing equality")
    return errs


def _json(capsys, *argv) -> tuple[int, dict]:
    code = main([*argv, "--format", "json"])
    out, _ = capsys.readouterr()
    return code, json.loads(out)


@pytest.mark.parametrize("name", ["least_squares_ok.mc", "least_squares_transpose.mc", "least_squares_factor.mc",
                                  "ill_shaped.mc", "quadratic_form.mc"])
def test_homework_reports_validate(capsys, name: str) -> None:
    code, rep = _json(capsys, "check", str(HOMEWORK / name))
    assert validate(rep) == []
    assert code == {"verified": 0, "refuted": 1, "error": 1, "inconclusive": 3}[rep["verdict"]]


def test_single_claim_report_validates(capsys) -> None:
    code, rep = _json(capsys, "check", "d/dx x^T A x = 2 A x", "--given", "A: n x n, x: n")
    assert validate(rep) == [] and code == 1


@pytest.mark.parametrize("mutate", [
    lambda r: r.pop("claims"),
    lambda r: r.update(verdict="maybe"),
    lambda r: r["claims"][0].pop("methods"),
    lambda r: r["claims"][0].update(verdict="true"),
    lambda r: r["claims"][0].update(counterexample=None, verdict="refuted"),
    lambda r: r["claims"][0]["methods"].update(exact={"status": "probably", "detail": ""}),
    lambda r: r["claims"][0].update(line=0),
    # verified on the symbolic method alone (SPEC section 5: never)
    lambda r: r["claims"][0]["methods"].update(exact={"status": "unknown", "detail": ""},
                                               numeric={"status": "unknown", "detail": ""}),
])
def test_validator_rejects_malformed_reports(capsys, mutate) -> None:
    _, rep = _json(capsys, "check", "d/dx x^T A x = (A + A^T) x", "--given", "A: n x n, x: n")
    assert validate(rep) == []
    mutate(rep)
    assert validate(rep) != []
