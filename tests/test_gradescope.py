"""Tests of ``--format gradescope`` (issue 7 item 3): results.json per the Gradescope autograder specification.

The schema below is written from the specification (gradescope-autograders.readthedocs.io, "Autograder
Specifications", output format): top level ``score``, ``execution_time``, ``output``, ``output_format``,
``test_output_format``, ``test_name_format``, ``visibility``, ``stdout_visibility``, ``extra_data``, ``tests``,
``leaderboard``; each test ``score``, ``max_score``, ``status`` (passed/failed), ``name``, ``name_format``,
``number``, ``output``, ``output_format``, ``tags``, ``visibility``, ``extra_data``. Formats are ``text``, ``html``,
``simple_format``, ``md`` and ``ansi``. A tiny validator checks it (no new dependency); its own tests show that it
rejects what it should.
"""

from __future__ import annotations

import json

import pytest

from matcalc import ir
from matcalc.render.gradescope import NAME_LIMIT, gradescope_error, gradescope_results
from matcalc.results import CheckReport, ClaimResult, MethodResult

FORMATS = ["text", "html", "simple_format", "md", "ansi"]
VISIBILITY = ["hidden", "after_due_date", "after_published", "visible"]
NUMBER = ("number",)

TEST_SCHEMA = {
    "type": "object",
    "required": ["name", "score", "max_score", "status", "output", "output_format"],
    "additional": False,
    "properties": {
        "score": {"type": NUMBER, "min": 0},
        "max_score": {"type": NUMBER, "min": 0},
        "status": {"enum": ["passed", "failed"]},
        "name": {"type": "string", "nonempty": True},
        "name_format": {"enum": FORMATS},
        "number": {"type": "string"},
        "output": {"type": "string"},
        "output_format": {"enum": FORMATS},
        "tags": {"type": "array", "items": {"type": "string"}},
        "visibility": {"enum": VISIBILITY},
        "extra_data": {"type": "object"},
    },
}

RESULTS_SCHEMA = {
    "type": "object",
    "required": ["score", "tests", "output", "output_format"],
    "additional": False,
    "properties": {
        "score": {"type": NUMBER, "min": 0},
        "execution_time": {"type": NUMBER, "min": 0},
        "output": {"type": "string"},
        "output_format": {"enum": FORMATS},
        "test_output_format": {"enum": FORMATS},
        "test_name_format": {"enum": FORMATS},
        "visibility": {"enum": VISIBILITY},
        "stdout_visibility": {"enum": VISIBILITY},
        "extra_data": {"type": "object"},
        "tests": {"type": "array", "items": TEST_SCHEMA},
        "leaderboard": {"type": "array"},
    },
}


def validate(value, schema, path="$") -> list[str]:
    """Errors of ``value`` against the tiny schema language above (empty when valid)."""
    errs: list[str] = []
    t = schema.get("type")
    if t == "object":
        if not isinstance(value, dict):
            return [f"{path}: not an object"]
        for k in schema.get("required", []):
            if k not in value:
                errs.append(f"{path}: missing {k}")
        props = schema.get("properties", {})
        for k, v in value.items():
            if k in props:
                errs.extend(validate(v, props[k], f"{path}.{k}"))
            elif schema.get("additional") is False:
                errs.append(f"{path}: unknown field {k}")
    elif t == "array":
        if not isinstance(value, list):
            return [f"{path}: not an array"]
        if "items" in schema:
            for i, v in enumerate(value):
                errs.extend(validate(v, schema["items"], f"{path}[{i}]"))
    elif t == "string":
        if not isinstance(value, str):
            return [f"{path}: not a string"]
        if schema.get("nonempty") and not value.strip():
            errs.append(f"{path}: empty")
    elif t == NUMBER:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return [f"{path}: not a number"]
        if "min" in schema and value < schema["min"]:
            errs.append(f"{path}: below {schema['min']}")
    if "enum" in schema and value not in schema["enum"]:
        errs.append(f"{path}: {value!r} not one of {schema['enum']}")
    return errs


# ───────────────────────────── the validator itself ─────────────────────────────


def test_validator_accepts_the_specification_example() -> None:
    example = {"score": 44.0, "execution_time": 136, "output": "Text relevant to the entire submission",
               "output_format": "simple_format", "visibility": "after_due_date", "stdout_visibility": "visible",
               "extra_data": {}, "tests": [
                   {"score": 2.0, "max_score": 2.0, "status": "passed", "name": "Your name here",
                    "number": "1.1", "output": "Giant multiline string", "output_format": "md", "tags": ["t"],
                    "visibility": "visible", "extra_data": {}}]}
    assert validate(example, RESULTS_SCHEMA) == []


@pytest.mark.parametrize("mutate,needle", [
    (lambda d: d.pop("score"), "missing score"),
    (lambda d: d.__setitem__("score", "1"), "not a number"),
    (lambda d: d.__setitem__("score", True), "not a number"),
    (lambda d: d.__setitem__("output_format", "markdown"), "not one of"),
    (lambda d: d.__setitem__("max_points", 3), "unknown field"),
    (lambda d: d["tests"][0].__setitem__("status", "ok"), "not one of"),
    (lambda d: d["tests"][0].pop("max_score"), "missing max_score"),
    (lambda d: d["tests"][0].__setitem__("score", -1), "below 0"),
    (lambda d: d["tests"][0].__setitem__("name", " "), "empty"),
    (lambda d: d.__setitem__("tests", {}), "not an array"),
])
def test_validator_rejects_bad_results(mutate, needle) -> None:
    d = gradescope_results(report())
    assert validate(d, RESULTS_SCHEMA) == []
    mutate(d)
    errs = validate(d, RESULTS_SCHEMA)
    assert any(needle in e for e in errs), errs


# ───────────────────────────── a marked paper ─────────────────────────────

X = ir.Var("X", ("N", "n"))
w = ir.Var("w", ("n", 1))
y = ir.Var("y", ("N", 1))
E = ir.Add((ir.MatMul((X, w)), ir.Neg(y)))
START = ir.Derivative(ir.MatMul((ir.Transpose(E), E)), w)
S1 = ir.MatMul((ir.Transpose(ir.Derivative(E, w)), E))
S2 = ir.Scale(ir.Num(2), ir.MatMul((ir.Transpose(X), E)))
S3 = ir.Scale(ir.Num(2), ir.MatMul((X, w)))  # wrong (illustrative only: the IR needs no truth)
S4 = ir.Scale(ir.Num(4), ir.MatMul((X, w)))  # a step's two sides differ unless it repeats the line (the scorer looks)


def report() -> CheckReport:
    ok = {"symbolic": MethodResult("equal", "same normal form"), "exact": MethodResult("equal", "at N=3, n=2"),
          "numeric": MethodResult("equal", "4e-12 at 3 points")}
    results = [
        ClaimResult(5, "  = (d/dw (X w - y))^T (X w - y) + ...", "verified", kind="step", lhs=START, rhs=S1,
                    against_line=4, methods=ok),
        ClaimResult(6, "  = 2 X^T (X w - y)", "verified", kind="step", lhs=S1, rhs=S2, against_line=5, methods=ok),
        ClaimResult(7, "  = 2 X (X w - y)", "refuted", kind="step", lhs=S2, rhs=S3, against_line=6,
                    diagnosis="transposed: the correct factor is Xᵀ",
                    counterexample={"sizes": {"N": 3, "n": 2}, "point": {"w": [1, 2]},
                                    "entries": [{"entry": [1, 1], "lhs": 4, "rhs": 7}]},
                    methods={"exact": MethodResult("different", "entry (1, 1) differs")}),
        ClaimResult(8, "  = 2 X X w - 2 X y", "verified", kind="step", lhs=S3, rhs=S4, against_line=7,
                    after_wrong=7, vs_start="follows from line 7, but the chain no longer equals line 4", methods=ok),
        ClaimResult(9, "  = W x ⊙ x <b>**", "error", kind="error", error="cannot multiply X (N×n) and X (N×n)"),
        ClaimResult(10, "d/dw w^T w = 2 w", "inconclusive", lhs=S3, rhs=S3,
                    methods={"numeric": MethodResult("unknown", "budget ran out")}),
    ]
    return CheckReport(None, results, seconds=1.2)


def test_results_validate_and_score_each_line() -> None:
    d = gradescope_results(report())
    assert validate(d, RESULTS_SCHEMA) == []
    json.dumps(d)  # serialisable
    assert [t["status"] for t in d["tests"]] == ["passed", "passed", "failed", "passed", "failed", "failed"]
    assert [t["score"] for t in d["tests"]] == [1, 1, 0, 1, 0, 0]
    assert all(t["max_score"] == 1 and t["output_format"] == "md" for t in d["tests"])
    assert d["score"] == 3 and d["output_format"] == "md"
    assert d["execution_time"] == 2
    assert [t["number"] for t in d["tests"]] == ["1", "2", "3", "4", "5", "6"]
    assert "3 of 6 points" in d["output"] and "✗ refuted" in d["output"]
    assert d["extra_data"]["verdict"] == "refuted" and d["extra_data"]["exit_code"] == 1


def test_test_names_are_reprinted_from_the_ir() -> None:
    d = gradescope_results(report())
    names = [t["name"] for t in d["tests"]]
    assert names[0] == "line 5: = (d/dw (X w - y))ᵀ (X w - y)"
    assert names[1] == "line 6: = 2 Xᵀ (X w - y)"  # re-printed from the IR, not the typed text
    assert names[4] == "line 9: = W x ⊙ x <b>**"  # a line in error: its text, whitespace collapsed
    assert names[5] == "line 10: 2 X w = 2 X w"


def test_outputs_carry_verdict_diagnosis_counterexample_and_evidence() -> None:
    t = gradescope_results(report())["tests"]
    assert t[0]["output"].startswith("**✓ verified**")
    assert "**symbolic** ✓ same normal form" in t[0]["output"]
    out = t[2]["output"]
    assert out.startswith("**✗ refuted**") and "**diagnosis:** transposed" in out
    assert "**counterexample:** sizes N=3, n=2; at w=\\[1, 2\\]; entry \\[1, 1\\] is 4 on the left, 7 on the right" in out
    assert "judged against line 6" in out
    assert "the earlier slip is marked once" in t[3]["output"]
    assert "follows from line 7 — but that line was wrong; the chain no longer equals line 4" \
        in t[3]["output"]
    assert "error: `cannot multiply X (N×n) and X (N×n)`" in t[4]["output"]
    assert "needs a human look" in t[5]["output"]


def test_user_text_in_output_is_code_not_markdown() -> None:
    out = gradescope_results(report())["tests"][4]["output"]
    assert "as written: `= W x ⊙ x <b>**`" in out


def test_all_verified_gets_full_marks_and_visibility_passes_through() -> None:
    rep = report()
    rep.results = [r for r in rep.results if r.verdict == "verified" and r.after_wrong is None]
    d = gradescope_results(rep, visibility="after_published")
    assert validate(d, RESULTS_SCHEMA) == []
    assert d["score"] == 2 == len(d["tests"]) and d["extra_data"]["exit_code"] == 0
    assert d["visibility"] == "after_published" and all(t["visibility"] == "after_published" for t in d["tests"])
    with pytest.raises(ValueError):
        gradescope_results(rep, visibility="public")


def test_long_names_are_shortened() -> None:
    rep = report()
    rep.results = [ClaimResult(3, "x" * 1000, "error", kind="error", error="too long")]
    name = gradescope_results(rep)["tests"][0]["name"]
    assert len(name) == NAME_LIMIT and name.endswith("…")


def test_error_results_for_an_unreadable_submission() -> None:
    from matcalc.errors import ParseError

    err = ParseError("unexpected end of input", line=1, col=3, source="(W x", where="hw.mc")
    d = gradescope_error(err)
    assert validate(d, RESULTS_SCHEMA) == []
    assert d["score"] == 0 and d["tests"] == [] and "hw.mc:1:3: unexpected end of input" in d["output"]
    assert "^" in d["output"]


def test_empty_report_scores_zero() -> None:
    d = gradescope_results(CheckReport(None, []))
    assert validate(d, RESULTS_SCHEMA) == []
    assert d["score"] == 0 and "no claim or step" in d["output"]


# ───────────────────────────── through the CLI (parser and verifiers) ─────────────────────────────

HOMEWORK = __import__("pathlib").Path(__file__).parent / "homework"


def _cli_results(tmp_path, name: str) -> tuple[int, dict]:
    from matcalc import cli

    out = tmp_path / f"{name}.json"
    code = cli.main(["check", str(HOMEWORK / f"{name}.mc"), "--format", "gradescope", "-o", str(out)])
    return code, json.loads(out.read_text(encoding="utf-8"))


def test_cli_gradescope_marks_the_missing_transpose(tmp_path) -> None:
    code, d = _cli_results(tmp_path, "least_squares_transpose")
    assert code == 1
    assert validate(d, RESULTS_SCHEMA) == []
    assert [t["status"] for t in d["tests"]] == ["passed", "passed", "failed", "passed", "passed"]
    assert d["score"] == 4
    wrong = d["tests"][2]
    assert wrong["name"] == "line 6: = 2 (X w - y)ᵀ X"
    assert "**diagnosis:** transposed" in wrong["output"] and "**counterexample:**" in wrong["output"]
    assert "but that line was wrong" in d["tests"][3]["output"]


def test_cli_gradescope_ill_shaped_step_and_correct_solution(tmp_path) -> None:
    code, d = _cli_results(tmp_path, "ill_shaped")
    assert code == 1 and validate(d, RESULTS_SCHEMA) == []
    first = d["tests"][0]
    assert first["status"] == "failed" and first["name"] == "line 4: = 2 X (X w - y)"
    assert "error:" in first["output"]
    assert [t["status"] for t in d["tests"][1:]] == ["passed", "passed"]
    code, d = _cli_results(tmp_path, "least_squares_ok")
    assert code == 0 and validate(d, RESULTS_SCHEMA) == []
    assert d["score"] == len(d["tests"]) == 3 and all(t["status"] == "passed" for t in d["tests"])


def test_cli_gradescope_unbalanced_bracket_is_one_lines_error(tmp_path) -> None:
    # issue 15: one unbalanced bracket on the last line used to give the whole submission 0 and "tests": []
    code, d = _cli_results(tmp_path, "unbalanced_bracket")
    assert code == 1 and validate(d, RESULTS_SCHEMA) == []
    assert [(t["name"], t["status"]) for t in d["tests"]] == [
        ("line 4: = 2 Xᵀ (X w - y)", "passed"),
        ("line 5: = 2 Xᵀ X w - 2 Xᵀ y", "passed"),
        ("line 6: = 2 X^T (X w - y", "failed"),
    ]
    assert d["score"] == 2
    assert d["extra_data"]["verdict"] == "error" and d["extra_data"]["exit_code"] == 1
    out = d["tests"][2]["output"]
    assert "unbalanced_bracket.mc:6:19: expected ')' to match the '(' at column 11" in out
    assert "    = 2 X^T (X w - y\n                    ^\n" in out
    assert "**✗ error** — 2 of 3 steps follow" in d["output"]


def test_overall_error_when_nothing_is_refuted() -> None:
    ok = ClaimResult(line=2, text="= a", verdict="verified", kind="step")
    bad = ClaimResult(line=3, text="= (a", verdict="error", kind="error", error="x")
    d = gradescope_results(CheckReport(None, [ok, bad]))
    assert d["extra_data"]["verdict"] == "error" and d["extra_data"]["exit_code"] == 1
    assert d["output"].endswith("**✗ error** — 1 of 2 steps follow\n")
    wrong = ClaimResult(line=4, text="= b", verdict="refuted", kind="step")
    d = gradescope_results(CheckReport(None, [ok, bad, wrong]))
    assert d["extra_data"]["verdict"] == "refuted"


def test_gradescope_counterexamples_hold_every_value(tmp_path) -> None:
    # a student on Gradescope cannot pass --full: the autograder output holds every value of the point
    from matcalc import cli

    doc = tmp_path / "hw.mc"
    doc.write_text("given W: n x m, x: m, y: n\nd/dW ‖W x - y‖^2 = (W x - y) x^T\n", encoding="utf-8")
    out = tmp_path / "hw.json"
    assert cli.main(["check", str(doc), "--format", "gradescope", "-o", str(out)]) == 1
    d = json.loads(out.read_text(encoding="utf-8"))
    wrong = d["tests"][-1]["output"]
    assert "**counterexample:**" in wrong
    assert "--full" not in json.dumps(d)
    assert wrong.count("W\\[") >= 6  # W (Markdown-escaped W\[) is at least 2×3 at the exact method's sizes: every entry listed
