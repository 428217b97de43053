"""Gradescope scores with a problem (review5 finding 7): when the teacher names the problem, only the derivation that
starts from it earns points. Lines outside it are shown (0 of 0 points), a derivation off the problem earns nothing,
and "ends in a closed form" is not awarded to a derivation of something else. Without a problem, one point per
verified line as before.
"""

from __future__ import annotations

from matcalc.api import check_text
from matcalc.render.gradescope import gradescope_results

PROBLEM = "d/dw ‖X w − y‖^2"
GIVEN = "given X: N x d, w: d, y: N"
CHEAT = "\n".join([GIVEN, "w = w", "X = X", "y = y", "w^T w = w^T w"])
GOOD = "\n".join([GIVEN, "d/dw ‖X w - y‖^2", "  = d/dw (X w - y)^T (X w - y)", "  = 2 X^T (X w - y)"])


def _marks(d: dict) -> list[tuple[str, int, int, str]]:
    return [(t["name"], t["score"], t["max_score"], t["status"]) for t in d["tests"]]


def test_trivial_identities_earn_nothing_with_a_problem() -> None:
    d = gradescope_results(check_text(CHEAT, problem=PROBLEM))
    assert d["score"] == 0, _marks(d)
    assert _marks(d) == [
        ("line 2: starts from the problem d/dw ‖X w - y‖^2", 0, 1, "failed"),
        ("line 2: w = w", 0, 1, "failed"),  # the derivation the problem checks is w = w: off the problem
        ("line 2: ends in a closed form", 0, 1, "failed"),  # the closed form of something else
        ("line 3: X = X", 0, 0, "passed"),  # not part of the derivation: shown, no point to earn
        ("line 4: y = y", 0, 0, "passed"),
        ("line 5: wᵀ w = wᵀ w", 0, 0, "passed"),
    ]
    assert "0 of 3 points" in d["output"]
    outputs = {t["name"]: t["output"] for t in d["tests"]}
    assert "does not start from the problem" in outputs["line 2: w = w"]
    assert "not part of the derivation of the problem" in outputs["line 3: X = X"]


def test_the_derivation_of_the_problem_earns_its_points_and_padding_after_it_does_not() -> None:
    d = gradescope_results(check_text(GOOD + "\nw = w\nX = X", problem=PROBLEM))
    assert _marks(d) == [
        ("line 2: starts from the problem d/dw ‖X w - y‖^2", 1, 1, "passed"),
        ("line 3: = d/dw (X w - y)ᵀ (X w - y)", 1, 1, "passed"),
        ("line 4: = 2 Xᵀ (X w - y)", 1, 1, "passed"),
        ("line 4: ends in a closed form", 1, 1, "passed"),
        ("line 5: w = w", 0, 0, "passed"),
        ("line 6: X = X", 0, 0, "passed"),
    ]
    assert d["score"] == 4 and "4 of 4 points" in d["output"]


def test_a_wrong_step_of_the_derivation_still_costs_its_point() -> None:
    d = gradescope_results(check_text(GOOD.replace("2 X^T (X w - y)", "2 (X w - y)^T X"), problem=PROBLEM))
    assert [(s, m) for _n, s, m, _st in _marks(d)] == [(1, 1), (1, 1), (0, 1), (1, 1)]


def test_without_a_problem_every_verified_line_earns_a_point() -> None:
    d = gradescope_results(check_text(CHEAT))
    assert [(s, m) for _n, s, m, _st in _marks(d)] == [(1, 1)] * 4 and d["score"] == 4


def test_off_the_problem_from_the_start_earns_nothing() -> None:
    text = "\n".join([GIVEN, "d/dw ‖X w + y‖^2", "  = d/dw (X w + y)^T (X w + y)", "  = 2 X^T (X w + y)"])
    d = gradescope_results(check_text(text, problem=PROBLEM))
    assert [(s, m, st) for _n, s, m, st in _marks(d)] == [(0, 1, "failed")] + [(0, 1, "failed")] * 2 + [
        (0, 1, "failed")]
    assert "**flagged** (line 2): off the problem" in d["output"]


def test_a_line_before_the_derivation_does_not_hide_it() -> None:
    """review6 finding 3: an identity stated first (‖r‖² = rᵀ r) made it "the derivation" (the first chain): the
    correct derivation that follows scored 0 and was flagged off the problem. The derivation of the problem is the
    chain that starts from it."""
    pre = "\n".join([GIVEN, "‖X w - y‖^2 = (X w - y)^T (X w - y)", *GOOD.splitlines()[1:]])
    d = gradescope_results(check_text(pre, problem=PROBLEM))
    assert d["score"] == 4, _marks(d)
    assert ("line 3: starts from the problem d/dw ‖X w - y‖^2", 1, 1, "passed") in _marks(d)
    assert ("line 2: ‖X w - y‖^2 = (X w - y)ᵀ (X w - y)", 0, 0, "passed") in _marks(d)
    wrong = pre.replace("= 2 X^T (X w - y)", "= X^T (X w - y)")
    d = gradescope_results(check_text(wrong, problem=PROBLEM))
    assert d["score"] == 3, _marks(d)  # the start, one step and the closed form's form; the wrong last step earns none
    assert ("line 5: = Xᵀ (X w - y)", 0, 1, "failed") in _marks(d)


def test_a_problem_without_brackets_flags_a_bracketed_start_for_a_human():
    """review6 finding 7: the teacher's `d/dw (1/N) ‖X w - y‖^2 + lambda ‖w‖^2` differentiates only its first term
    and adds the rest to every entry; the student's bracketed start was "off the problem" and scored 0."""
    given = "given X: N x d, w: d, y: N, lambda: scalar"
    stud = "\n".join([given, "d/dw ((1/N) ‖X w - y‖^2 + lambda ‖w‖^2)", "  = (2/N) X^T (X w - y) + 2 lambda w"])
    rep = check_text(stud, problem="d/dw (1/N) ‖X w - y‖^2 + lambda ‖w‖^2")
    start = next(r for r in rep.results if r.kind == "problem" and r.text.startswith("starts from"))
    assert start.verdict == "inconclusive" and "needs a human look" in start.diagnosis, start.diagnosis
    assert "differentiates only its first term" in start.diagnosis and start.counterexample is None
    d = gradescope_results(rep)
    assert d["score"] == 2 and "**flagged**" in d["output"], _marks(d)
    # a start that is not the bracketed problem either is still off it
    off = stud.replace("+ lambda ‖w‖^2)", "+ 2 lambda ‖w‖^2)")
    start = next(r for r in check_text(off, problem="d/dw (1/N) ‖X w - y‖^2 + lambda ‖w‖^2").results
                 if r.kind == "problem" and r.text.startswith("starts from"))
    assert start.verdict == "refuted"


def test_repeating_a_line_earns_nothing():
    """review6 finding 8: 21 copies of the last step scored 23 of 23, the honest derivation 4 of 4."""
    pad = GOOD + "\n" + "\n".join(["  = 2 X^T (X w - y)"] * 5)
    for problem in (PROBLEM, None):
        d = gradescope_results(check_text(pad, problem=problem) if problem else check_text(pad))
        honest = gradescope_results(check_text(GOOD, problem=problem) if problem else check_text(GOOD))
        assert d["score"] == honest["score"], (_marks(d), _marks(honest))
        assert sum(t["max_score"] for t in d["tests"]) == sum(t["max_score"] for t in honest["tests"])


def test_a_broken_problem_line_scores_nothing_and_is_flagged():
    """review6 finding 8b: a student who breaks the template's problem: line switched the problem's rules off and
    padding scored 4 of 5."""
    brk = "\n".join(["problem: d/dw ‖X w - y‖^2 (", GIVEN, "w = w", "X = X", "y = y", "w^T w = w^T w"])
    d = gradescope_results(check_text(brk))
    assert d["score"] == 0 and sum(t["max_score"] for t in d["tests"]) == 1, _marks(d)
    assert "the problem line cannot be read" in d["output"] and "**flagged**" in d["output"]
