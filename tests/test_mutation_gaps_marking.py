"""Marking and result records where the mutation benchmark (tests/bench/mutation.py) planted a bug that the rest of the
suite let through: how the first line of a derivation is marked against the problem for each verdict the three
methods can give, and fields of the JSON records (a derivative's order, a theorem's source).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from matcalc import ir, marking
from matcalc.api import derive_text, prove_many
from matcalc.document import Problem
from matcalc.results import ClaimResult

ROOT = Path(__file__).resolve().parents[1]


def _starts(monkeypatch, verdict: str) -> ClaimResult:
    """``_starts_at_problem`` with the three methods' combined verdict fixed to ``verdict``."""
    x = ir.Var("x", ("n", 1), frozenset())
    problem = Problem(line=2, col=1, text="problem: sum(x)", expr=ir.Sum(x))
    seen = []

    def fake_judge(lhs, rhs, **kw):
        seen.append((lhs, rhs, kw["kind"]))
        return ClaimResult(line=kw["line"], text=kw["text"], verdict=verdict, kind=kw["kind"])

    monkeypatch.setattr(marking, "judge", fake_judge)
    res = marking._starts_at_problem(problem, 3, ir.Sum(x), seed=0, budget_s=1.0)
    assert seen and seen[0][2] == "problem"
    return res


def test_a_first_line_that_equals_the_problem_is_noted(monkeypatch) -> None:
    res = _starts(monkeypatch, "verified")
    assert res.verdict == "verified" and res.diagnosis is None
    assert res.notes == ["the derivation starts from the problem: line 3 equals it"]


def test_an_undecided_first_line_needs_a_human_look_and_is_not_refuted(monkeypatch) -> None:
    res = _starts(monkeypatch, "inconclusive")
    assert res.verdict == "inconclusive"
    assert res.diagnosis == "could not decide whether line 3 equals the problem; it needs a human look"


@pytest.mark.parametrize("verdict", ["refuted", "error"])
def test_a_first_line_that_is_not_the_problem_is_off_the_problem(monkeypatch, verdict) -> None:
    res = _starts(monkeypatch, verdict)
    assert res.verdict == "refuted"
    assert res.diagnosis == "off the problem: the derivation starts from line 3, which does not equal the problem"


def test_the_json_of_a_derivation_gives_each_derivatives_order() -> None:
    grad = derive_text("x^T x", wrt="x", given="x: n").to_json()
    hess = derive_text("x^T x", wrt="x", given="x: n", order=2).to_json()
    assert [d["order"] for d in grad["derivatives"]] == [1]
    assert [d["order"] for d in hess["derivatives"]] == [2]


def test_the_json_of_a_proof_gives_each_theorems_source() -> None:
    """The source is the ``source:`` header of the theorem file, read here by a regular expression of our own."""
    text = (ROOT / "proofs" / "sum.mc").read_text()
    source = re.search(r"^source\s*:\s*(.*)$", text, re.M).group(1).strip()
    (theorem,) = prove_many(["sum"]).to_json()["theorems"]
    assert theorem["name"] == "sum" and theorem["source"] == source


def test_back_on_track_is_labelled_as_such_in_latex_and_markdown() -> None:
    # the handout and Markdown display used to say the back-on-track line "follows … after the error", the opposite
    # of the text report ("does not follow from line 5")
    from pathlib import Path

    import matcalc
    from matcalc.render.latex import document

    rep = matcalc.check(Path(__file__).parent / "homework" / "back_on_track.mc")
    tex = document(rep)
    assert r"back on track (line 6): equals line 3 again" in tex
    assert "follows (line 6)" not in tex
    assert "(line 3, again)" in tex
