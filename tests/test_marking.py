"""Golden tests of marking (issue 16): how each line of a chain is marked, as literal texts.

A fair marker marks a slip once: a step that follows from a wrong line is verified and says so; a step that does
not follow from a wrong line but equals the chain's start again is "back on track" and counts as following.
Every expected text below is written out by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from matcalc.api import check_text
from matcalc.render.common import step_note
from matcalc.results import ClaimResult, tally

HOMEWORK = Path(__file__).parent / "homework"


def _marks(report) -> list[tuple[int, str, str | None]]:
    return [(r.line, r.verdict, step_note(r)) for r in report.results]


def _check_file(name: str):
    path = HOMEWORK / name
    return check_text(path.read_text(encoding="utf-8"), where=f"tests/homework/{name}")


def test_a_chain_from_a_bare_expression_is_judged_line_by_line() -> None:
    rep = check_text("given A: n x n, x: n\nx^T A x\n  = x^T (A x)\n  = (A x)^T x")
    assert _marks(rep) == [(3, "verified", "judged against line 2"), (4, "verified", "judged against line 3")]
    text = str(rep)
    assert "None" not in text and "was wrong" not in text
    assert text.splitlines()[0] == "2 of 2 steps follow"
    assert rep.verdict == "verified"


def test_a_wrong_start_of_a_bare_chain_is_not_claimed() -> None:
    # the bare expression itself is never judged, so a wrong first step is the first wrong line
    rep = check_text("given A: n x n, x: n\nx^T A x\n  = x^T A^T A x\n  = (A x)^T (A x)")
    assert _marks(rep) == [
        (3, "refuted", "judged against line 2"),
        (4, "verified", "follows from line 3 — but that line was wrong; the chain no longer equals line 2"),
    ]


def test_back_on_track_after_a_wrong_line() -> None:
    rep = _check_file("back_on_track.mc")
    assert _marks(rep) == [
        (4, "refuted", "judged against line 3"),
        (5, "verified", "follows from line 4 — but that line was wrong; the chain no longer equals line 3"),
        (6, "verified", "back on track: equals line 3 again (it does not follow from line 5, which came after the "
                        "wrong line 4)"),
        (7, "verified", "judged against line 6"),
    ]
    back = rep.results[2]
    assert (back.against_line, back.after_wrong) == (3, 4)
    assert tally(rep.results).sentence() == "3 of 4 steps follow (2 after a wrong line)"
    assert rep.verdict == "refuted"


def test_back_on_track_right_after_the_wrong_line() -> None:
    rep = check_text("given A: n x n, x: n\nd/dx x^T A x\n  = 2 A x\n  = (A + A^T) x")
    assert _marks(rep)[1] == (4, "verified", "back on track: equals line 2 again (it does not follow from line 3, "
                                             "which was wrong)")


def test_after_a_wrong_claim_a_correction_is_back_on_track() -> None:
    rep = check_text("given A: n x n, x: n\nd/dx x^T A x = 2 A x\n  = (A + A^T) x\n  = A x + A^T x")
    assert _marks(rep) == [
        (2, "refuted", None),
        (3, "verified", "back on track: equals line 2 again (it does not follow from line 2, which was wrong)"),
        (4, "verified", "judged against line 3"),
    ]


def test_a_step_that_is_wrong_twice_stays_wrong() -> None:
    # not back on track: the step follows neither its (wrong) predecessor nor the start
    rep = check_text("given A: n x n, x: n\nd/dx x^T A x\n  = 2 A x\n  = 3 A x")
    assert _marks(rep) == [(3, "refuted", "judged against line 2"), (4, "refuted", "judged against line 3")]
    assert tally(rep.results).sentence() == "0 of 2 steps follow"


def test_the_shape_message_names_both_shapes() -> None:
    rep = _check_file("least_squares_transpose.mc")
    assert _marks(rep) == [
        (4, "verified", "judged against line 3"),
        (5, "verified", "judged against line 4"),
        (6, "refuted", "judged against line 5"),
        (7, "verified", "follows from line 6 — but that line was wrong; the chain no longer equals line 3: its shape "
                        "is 1×d, line 3's is d×1"),
        (8, "verified", "follows from line 7 — but line 6 was wrong; the chain no longer equals line 3: its shape "
                        "is 1×d, line 3's is d×1"),
    ]


# ───────────────────────────── one count in every format ─────────────────────────────


def _sentences(rep) -> dict[str, str]:
    from matcalc.render.gradescope import gradescope_results
    from matcalc.render.latex import document
    from matcalc.render.markdown import markdown

    return {"text": str(rep), "markdown": markdown(rep), "gradescope": gradescope_results(rep)["output"],
            "json": json.dumps(rep.to_json(), ensure_ascii=False), "latex": document(rep)}


@pytest.mark.parametrize("name, sentence", [
    ("least_squares_transpose.mc", "4 of 5 steps follow (2 after a wrong line)"),
    ("ill_shaped.mc", "2 of 3 steps follow"),
    ("back_on_track.mc", "3 of 4 steps follow (2 after a wrong line)"),
])
def test_every_format_says_the_same_count(name: str, sentence: str) -> None:
    rep = _check_file(name)
    for fmt, out in _sentences(rep).items():
        assert sentence in out, fmt
        assert "steps follow" not in out.replace(sentence, ""), fmt  # no second, different count


def test_the_readme_excerpt_says_the_count_matcalc_prints() -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    rep = _check_file("least_squares_transpose.mc")
    assert f"tests/homework/least_squares_transpose.mc   {tally(rep.results).sentence()}\n" in readme


def test_tally_counts_steps_in_error_and_leaves_claims_apart() -> None:
    rs = [ClaimResult(2, "d/dx x = I", "verified"), ClaimResult(3, "= a", "verified", kind="step"),
          ClaimResult(4, "= (a", "error", kind="error"), ClaimResult(5, "= b", "verified", kind="step", after_wrong=4),
          ClaimResult(6, "y = (z", "error", kind="error"), ClaimResult(7, "= c", "refuted", kind="step")]
    t = tally(rs)
    assert (t.steps, t.follow, t.after_wrong, t.claims, t.verified) == (4, 2, 1, 2, 1)
    assert t.sentence() == "2 of 4 steps follow (1 after a wrong line); 1 of 2 claims verified"
    assert tally([]).sentence() == "0 of 0 claims verified"


# ───────────────────────────── the problem: --problem and problem: lines ─────────────────────────────

LSQ = "given X: N x d, w: d, y: N\nd/dw (X w - y)^T (X w - y)\n  = 2 X^T (X w - y)\n"


def _problem_marks(report) -> list[tuple[int, str, str, str | None, list]]:
    return [(r.line, r.verdict, r.text, r.diagnosis, r.notes) for r in report.results if r.kind == "problem"]


def test_a_derivation_of_the_problem_to_a_closed_form_passes() -> None:
    # the first line equals the problem as an expression (‖e‖² = eᵀ e), not as text
    rep = check_text(LSQ, problem="d/dw ‖X w − y‖^2")
    assert _problem_marks(rep) == [
        (2, "verified", "starts from the problem d/dw ‖X w - y‖^2", None,
         ["the derivation starts from the problem: line 2 equals it"]),
        (3, "verified", "ends in a closed form", None, ["line 3 is a closed form (no derivative left)"]),
    ]
    assert [r.kind for r in rep.results] == ["problem", "step", "problem"]
    assert rep.verdict == "verified" and tally(rep.results).sentence() == "1 of 1 steps follow"


def test_off_the_problem_and_not_closed_is_flagged_in_every_format() -> None:
    rep = _check_file("off_problem.mc")
    assert _problem_marks(rep) == [
        (4, "refuted", "starts from the problem d/dw ‖X w - y‖^2",
         "off the problem: the derivation starts from line 4, which does not equal the problem", []),
        (5, "refuted", "ends in a closed form",
         "not a closed form: the derivation stops at line 5, which still contains d/dw (X w + y)ᵀ (X w + y)", []),
    ]
    assert rep.verdict == "refuted" and rep.exit_code == 1
    assert rep.results[0].counterexample  # the start was judged against the problem, with evidence
    outs = _sentences(rep)
    for fmt in ("text", "markdown", "latex", "json"):
        assert "off the problem" in outs[fmt] and "not a closed form" in outs[fmt], fmt
    from matcalc.render.gradescope import gradescope_results

    gs = gradescope_results(rep)
    assert [(t["name"], t["status"]) for t in gs["tests"]] == [
        ("line 4: starts from the problem d/dw ‖X w - y‖^2", "failed"),
        ("line 5: = d/dw (X w + y)ᵀ (X w + y)", "failed"),  # verified, but of a derivation off the problem
        ("line 5: ends in a closed form", "failed"),
    ]
    assert "**flagged** (line 4): off the problem" in gs["output"]
    assert "**flagged** (line 5): not a closed form" in gs["output"]


def test_the_command_line_problem_overrides_the_documents() -> None:
    text = (HOMEWORK / "off_problem.mc").read_text(encoding="utf-8")
    rep = check_text(text, problem="d/dw ‖X w + y‖^2")
    assert [(r.line, r.verdict) for r in rep.results if r.kind == "problem"] == [(4, "verified"), (5, "refuted")]


def test_a_start_of_another_shape_is_off_the_problem() -> None:
    rep = check_text("given X: N x d, w: d, y: N\nX w - y\n  = -(y - X w)", problem="d/dw ‖X w - y‖^2")
    assert _problem_marks(rep)[0][1:4] == (
        "refuted", "starts from the problem d/dw ‖X w - y‖^2",
        "off the problem: the derivation starts from line 2, which is N×1; the problem is d×1")


def test_a_problem_that_cannot_be_read_is_the_teachers_error(capsys, tmp_path) -> None:
    from matcalc import cli

    f = tmp_path / "hw.mc"
    f.write_text(LSQ, encoding="utf-8")
    assert cli.main(["check", str(f), "--problem", "d/dw (X w"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --problem:1:10: expected ')' to match the '(' at column 6\n  d/dw (X w\n")
    assert cli.main(["check", str(f), "--problem", "X y"]) == 2
    assert capsys.readouterr().err == ("error: --problem X y: cannot multiply X (N×d) and y (N×1): inner dimensions "
                                       "d and N differ\n")


def test_a_problem_line_that_cannot_be_typed_is_an_error_line_and_the_rest_is_judged(capsys, tmp_path) -> None:
    from matcalc import cli

    for bad, col, message in [
        ("d/dw (X w", 19, "expected ')' to match the '(' at column 15"),
        ("X y", 12, "cannot multiply X (N×d) and y (N×1): inner dimensions d and N differ"),
    ]:
        rep = check_text(f"theorem t: ridge\nproblem: {bad}\n" + LSQ)
        assert [(r.line, r.verdict, r.kind) for r in rep.results] == [(2, "error", "error"), (5, "verified", "step")]
        assert rep.results[0].error.startswith(f"<input>:2:{col}: {message}"), rep.results[0].error
        assert rep.verdict == "error" and rep.exit_code == 1
        f = tmp_path / "hw.mc"
        f.write_text(f"problem: {bad}\n" + LSQ, encoding="utf-8")
        assert cli.main(["check", str(f), "--format", "gradescope"]) == 1
        out = capsys.readouterr().out
        data = json.loads(out)
        # the other lines are judged and shown, but with the problem line unreadable no line is scored and the
        # submission is flagged for a human (review6 finding 8b: breaking the template's header must not pay)
        assert data["score"] == 0 and [t["name"] for t in data["tests"]][0] == f"line 1: problem: {bad}", data
        assert "the problem line cannot be read" in data["output"]


def test_cli_problem_flags_the_submission(capsys, tmp_path) -> None:
    from matcalc import cli

    f = tmp_path / "hw.mc"
    f.write_text(LSQ.replace("  = 2 X^T (X w - y)\n", ""), encoding="utf-8")
    assert cli.main(["check", str(f), "--problem", "d/dw ‖X w − y‖^2", "--format", "json"]) == 1
    data = json.loads(capsys.readouterr().out)
    probs = [c for c in data["claims"] if c["kind"] == "problem"]
    assert [(c["line"], c["verdict"]) for c in probs] == [(2, "verified"), (2, "refuted")]
    assert probs[1]["diagnosis"] == ("not a closed form: the derivation stops at line 2, which still contains "
                                     "d/dw (X w - y)ᵀ (X w - y)")


# ───────────────────────────── notes on how a line was read ─────────────────────────────

SCOPE_NOTE = ("d/dx covers only the first term, xᵀ A x (a derivative stops at the next + or -); cᵀ x is not "
              "differentiated but added to every entry (scalar expansion)")
BRACKETED = "d/dx (xᵀ A x + cᵀ x)"


def test_a_derivative_that_stopped_at_a_plus_says_so() -> None:
    g = "A: n x n, x: n, c: n"
    rep = check_text("d/dx x^T A x + c^T x = (A + A^T) x + c", given=g)
    r = rep.results[0]
    assert r.verdict == "refuted" and r.notes == [SCOPE_NOTE]
    assert r.diagnosis == f"the claim holds with brackets: {BRACKETED}"  # not "the correct result is … + cᵀ x"
    rep = check_text(f"given {g}\nd/dx x^T A x + c^T x\n  = (A + A^T) x + c")
    r = rep.results[0]
    assert r.verdict == "refuted" and r.notes == [SCOPE_NOTE]
    assert r.diagnosis == f"the step holds when line 2 is bracketed: {BRACKETED}"


def test_a_verified_derivative_that_stopped_at_a_plus_with_an_expanded_scalar_says_so() -> None:
    """The verdict follows the documented precedence (d/dx stops at the +, the scalar cᵀ x is added to every
    entry), so the forgotten term is verified as written — and the reader is told so (review5 finding 5)."""
    g = "A: n x n, x: n, c: n"
    note = SCOPE_NOTE + f"; verified as written: for the derivative of the whole sum, write {BRACKETED}"
    rep = check_text("d/dx x^T A x + c^T x = (A + A^T) x + c^T x", given=g)
    assert rep.results[0].verdict == "verified" and rep.results[0].notes == [note]
    rep = check_text(f"given {g}\nd/dx x^T A x + c^T x\n  = (A + A^T) x + c^T x")
    assert rep.results[0].verdict == "verified" and rep.results[0].notes == [note]
    rep = check_text("d/dw ‖X w - y‖^2 - lambda w^T w = 2 X^T (X w - y) - lambda w^T w",
                     given="X: N x d, w: d, y: N, lambda: scalar")
    assert rep.results[0].verdict == "verified"
    assert rep.results[0].notes == ["d/dw covers only the first term, ‖X w - y‖^2 (a derivative stops at the next + "
                                    "or -); lambda wᵀ w is not differentiated but subtracted from every entry (scalar "
                                    "expansion); verified as written: for the derivative of the whole sum, write "
                                    "d/dw (‖X w - y‖^2 - lambda wᵀ w)"]


@pytest.mark.parametrize("claim, verdict", [
    ("d/dx (x^T A x + c^T x) = (A + A^T) x + c", "verified"),  # bracketed: nothing to say
    ("d/dx x^T A x + c^T x = 2 A x + c", "refuted"),  # brackets would not make it true either
    ("d/dx x^T A x + x = (A + A^T) x + x", "verified"),  # a vector term: nothing expanded, read as meant
])
def test_no_scope_note_where_brackets_are_not_the_fix(claim: str, verdict: str) -> None:
    rep = check_text(claim, given="A: n x n, x: n, c: n")
    assert rep.results[0].verdict == verdict and rep.results[0].notes == []


def test_no_scope_note_for_a_scalar_derivative_nothing_expanded() -> None:
    rep = check_text("d/dc c^2 + c = 2 c + c", given="c: scalar")
    assert rep.results[0].verdict == "verified" and rep.results[0].notes == []


def test_an_undeclared_sigma_is_read_as_the_logistic_function_and_says_so() -> None:
    rep = check_text("d/dz sum(σ(z)) = σ(z) .* (1 - σ(z))\nd/dz sum(σ(2 z)) = 2 σ(2 z) .* (1 - σ(2 z))",
                     given="z: n")
    assert [r.verdict for r in rep.results] == ["verified", "verified"]
    assert rep.results[0].notes == ["σ read as the logistic function 1/(1 + exp(-x)); declare σ: R -> R for any "
                                    "activation (then σ' is its derivative)"]
    assert rep.results[1].notes == []  # once per document
    rep = check_text("d/dz sum(sigmoid(z)) = sigmoid(z) .* (1 - sigmoid(z))", given="z: n")
    assert rep.results[0].notes[0].startswith("sigmoid read as the logistic function")


def test_a_declared_sigma_gets_no_note() -> None:
    rep = check_text("d/dz sum(σ(z)) = σ'(z)", given="z: n, σ: R -> R")
    assert rep.results[0].verdict == "verified" and rep.results[0].notes == []


def test_the_python_api_takes_the_problem() -> None:
    import matcalc

    rep = matcalc.check(LSQ, problem="d/dw ‖X w − y‖^2")
    assert [(r.line, r.verdict) for r in rep.results if r.kind == "problem"] == [(2, "verified"), (3, "verified")]
    rep = matcalc.check(LSQ, problem="d/dw ‖X w + y‖^2")
    assert [(r.line, r.verdict) for r in rep.results if r.kind == "problem"] == [(2, "refuted"), (3, "verified")]


# ───────────────────────────── a chain written on one line (review5 finding 13) ─────────────────────────────


def test_a_chain_on_one_line_shows_the_part_judged() -> None:
    from matcalc.render.text import to_plain

    rep = check_text("x^T x = sum(x.^2) = 3 sum(x.^2)", given="x: n")
    assert [(r.line, r.kind, r.verdict, r.text) for r in rep.results] == [
        (1, "claim", "verified", "x^T x = sum(x.^2)"),
        (1, "step", "refuted", "= 3 sum(x.^2)"),
    ]
    out = to_plain(rep)
    assert "judged against the previous part of the same line" in out
    assert "judged against line 1" not in out


def test_parts_of_a_step_line_and_a_wrong_part_followed_on_the_same_line() -> None:
    from matcalc.render.common import step_note

    rep = check_text("x^T x\n  = 3 sum(x.^2) = 3 x^T x\n  = 3 x^T x", given="x: n")
    assert [(r.line, r.verdict, r.text) for r in rep.results] == [
        (2, "refuted", "= 3 sum(x.^2)"), (2, "verified", "= 3 x^T x"), (3, "verified", "= 3 x^T x")]
    assert step_note(rep.results[0]) == "judged against line 1"
    assert step_note(rep.results[1]).startswith("follows from the previous part of the same line — but that part "
                                                "was wrong")
    assert step_note(rep.results[2]).startswith("follows from line 2 — but that line was wrong")


def test_a_statement_alone_on_its_line_keeps_its_text() -> None:
    rep = check_text("x^T x = sum(x.^2)\nx^T x\n  = sum(x.^2)", given="x: n")
    assert [r.text for r in rep.results] == ["x^T x = sum(x.^2)", "= sum(x.^2)"]


_LET_WHY = "a derivative by a let name follows only the uses of the name"


def test_a_derivative_by_a_let_name_says_where_its_value_is_written_out() -> None:
    """Review 5 #13: by SPEC section 3 a derivative by a let name z follows only the uses of z, so with z's value
    spelled out (in another let's definition, or in the expression) the answer is zeros — a note says where and how
    to write it with the name. The verdicts stay; written with the name, the claims hold."""
    head = "given W: n x m, x: m, y: n\nlet z = W x\n"
    rep = check_text(head + "let r = W x - y\nd/dz r^T r = 2 r\nd/dz (W x - y)^T (W x - y) = 2 r")
    by_def, by_expr = rep.results
    assert by_def.verdict == by_expr.verdict == "refuted"
    assert "the correct result is zeros(n)" in by_def.diagnosis
    assert f"r's definition does not use the name z: {_LET_WHY}; write let r = z - y" in by_def.notes
    assert f"the expression does not use the name z: {_LET_WHY}; write d/dz (z - y)ᵀ (z - y)" in by_expr.notes
    # the advice taken: both verified, and no note
    fixed = check_text(head + "let r = z - y\nd/dz r^T r = 2 r\nd/dz (z - y)^T (z - y) = 2 r")
    assert [r.verdict for r in fixed.results] == ["verified", "verified"]
    assert not any(_LET_WHY in n for r in fixed.results for n in r.notes)


def test_no_let_name_note_without_a_spelled_out_value_or_on_a_verified_claim() -> None:
    head = "given W: n x m, x: m, y: n\nlet z = W x\nlet r = z - y\n"
    rep = check_text(head + "d/dz r^T r = 3 r\nd/dz (W x - y)^T (W x - y) = zeros(n)\nd/dx x^T x = 3 x")
    wrong, zero, by_var = rep.results
    assert wrong.verdict == "refuted" and zero.verdict == "verified" and by_var.verdict == "refuted"
    assert not any(_LET_WHY in n for r in rep.results for n in r.notes), [r.notes for r in rep.results]


def test_the_let_name_note_walks_a_shared_node_once() -> None:
    """An expression that shares unnamed nodes (2^60 paths through 60 levels) is walked node by node."""
    from matcalc import ir
    from matcalc.verify.let_names import _spelled_out

    w = ir.Var("w", ("n", 1))
    z = ir.Named("z", ir.Scale(ir.Var("c", (1, 1)), w))
    e: ir.Expr = w
    for _ in range(60):
        e = ir.Add((e, e))
    assert _spelled_out(e, z) is None
    assert _spelled_out(ir.Add((e, z.value)), z) is not None


def test_a_chain_on_one_line_names_its_parts_not_its_line() -> None:
    # review6 finding 9: the third part of `a = b = 3 b = 3 a` said "the chain no longer equals line 1" on line 1
    rep = check_text("x^T x = sum(x.^2) = 3 sum(x.^2) = 3 x^T x", given="x: n")
    assert "the chain no longer equals the start of this line" in rep.results[2].vs_start, rep.results[2].vs_start
    rep = check_text("x^T x = sum(x.^2) = 3 sum(x.^2) = x^T x", given="x: n")
    assert rep.results[2].vs_start.startswith("back on track: equals the start of this line again"), rep.results[2]
    assert "line 1" not in rep.results[2].vs_start
