"""The command line end to end: exit statuses, messages, acceptance cases of the issues (SPEC section 6)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from matcalc.cli import main

HOMEWORK = Path(__file__).parent / "homework"


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_help_does_not_import_sympy() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from matcalc.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    rc = main(['--help'])\n"
        "assert rc == 0, rc\n"
        "heavy = [m for m in ('sympy', 'numpy') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "", f"matcalc --help imported {out}"


def test_version(capsys) -> None:
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.startswith("matcalc ")


def test_python_dash_m() -> None:
    res = subprocess.run([sys.executable, "-m", "matcalc", "--version"], capture_output=True, text=True)
    assert res.returncode == 0 and "matcalc" in res.stdout


def test_help_has_examples(capsys) -> None:
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "examples:" in out and "matcalc check" in out


def test_no_command_is_usage_error(capsys) -> None:
    assert run(capsys)[0] == 2


def test_bad_option_is_usage_error(capsys) -> None:
    assert run(capsys, "check", "x = x", "--layout", "sideways")[0] == 2


# ───────────────────────────── show (issue 2 acceptance) ─────────────────────────────


def test_show_derivative_shape(capsys) -> None:
    code, out, err = run(capsys, "show", "d/dW (W x - y)^T (W x - y)", "--given", "W: n x m, x: m, y: n")
    assert code == 0, err
    assert "n×m" in out
    assert "Traceback" not in out + err


def test_show_json_has_shape(capsys) -> None:
    code, out, err = run(capsys, "show", "d/dW (W x - y)^T (W x - y)", "--given", "W: n x m, x: m, y: n",
                         "--format", "json")
    assert code == 0, err
    data = json.loads(out)
    assert "n" in json.dumps(data) and "m" in json.dumps(data)


def test_show_shape_conflict_names_both_operands(capsys) -> None:
    code, out, err = run(capsys, "show", "W x + y", "--given", "W: n x m, x: m, y: k")
    assert code == 2
    assert "W x" in err and "n×1" in err and "y" in err and "k×1" in err
    assert "^" in err and "Traceback" not in err


def test_show_infers_quadratic_form(capsys) -> None:
    code, out, err = run(capsys, "show", "x^T A x")
    assert code == 0, err
    assert "A:" in out and "inferred" in out


def test_show_unclosed_bracket_caret_at_end(capsys) -> None:
    code, out, err = run(capsys, "show", "(W x")
    assert code == 2
    lines = err.rstrip("\n").split("\n")
    caret = lines[-1]
    source = lines[-2]
    assert caret.strip() == "^"
    assert caret.index("^") == len(source)  # just past the last character
    assert ":1:" in lines[0]


def test_show_vector_power_suggests_fix(capsys) -> None:
    code, out, err = run(capsys, "show", "x^2", "--given", "x: n")
    assert code == 2
    assert ".^" in err and "‖x‖^2" in err


def test_show_free_and_summed_indices(capsys) -> None:
    code, out, err = run(capsys, "show", "z[j] = sum_k W[j, k] x[k] + b[j]", "--given", "W: n x m, x: m, b: n")
    assert code == 0, err
    assert "j" in out and "k" in out


# ───────────────────────────── check (issue 4 acceptance) ─────────────────────────────


def test_check_quadratic_form_refuted_with_symmetric_diagnosis(capsys) -> None:
    code, out, err = run(capsys, "check", "d/dx x^T A x = 2 A x", "--given", "A: n x n, x: n")
    assert code == 1, out + err
    assert "refuted" in out and "symmetric" in out and "counterexample" in out


def test_check_quadratic_form_symmetric_verified(capsys) -> None:
    code, out, err = run(capsys, "check", "d/dx x^T A x = 2 A x", "--given", "A: n x n symmetric, x: n")
    assert code == 0, out + err
    assert "verified" in out


def test_check_transposed_gradient_refuted(capsys) -> None:
    code, out, err = run(capsys, "check", "d/dW ‖W x − y‖^2 = 2 x (W x − y)^T", "--given", "W: n x m, x: m, y: n")
    assert code == 1, out + err
    assert "transpose" in out


def test_check_generic_functions_verified_by_all_methods(capsys) -> None:
    code, out, err = run(capsys, "check", "grad(C(sigma(z)), z) = C'(sigma(z)) ⊙ sigma'(z)", "--given",
                         "C: R^n -> R, sigma: R -> R, z: n", "--format", "json")
    assert code == 0, out + err
    data = json.loads(out)
    assert data["verdict"] == "verified"
    methods = data["claims"][0]["methods"]
    assert all(methods[k]["status"] == "equal" for k in ("exact", "numeric")), methods


def test_check_json_is_stable(capsys) -> None:
    code, out, err = run(capsys, "check", "d/dx x^T A x = 2 A x", "--given", "A: n x n, x: n", "--format", "json")
    data = json.loads(out)
    assert set(data) == {"verdict", "claims", "counts", "summary"}
    assert data["counts"] == {"steps": 0, "steps_follow": 0, "after_wrong_line": 0, "claims": 1,
                              "claims_verified": 0}
    assert data["summary"] == "0 of 1 claims verified"
    claim = data["claims"][0]
    for key in ("line", "text", "verdict", "methods", "counterexample", "diagnosis"):
        assert key in claim
    assert claim["verdict"] == "refuted" and data["verdict"] == "refuted"


def test_check_stdin(tmp_path) -> None:
    doc = "given a: n, b: n\nd/da a^T b = b\n"
    res = subprocess.run([sys.executable, "-m", "matcalc", "check", "-"], input=doc, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_check_syntax_error_exit_2(capsys) -> None:
    code, out, err = run(capsys, "check", "d/dx x^T A x = = 2 A x")
    assert code == 2 and "^" in err and "Traceback" not in err


def test_check_nothing_to_check(capsys) -> None:
    code, out, err = run(capsys, "check", "x^T y")
    assert code == 2 and "no claim" in err


# ───────────────────────────── homework (issue 7 acceptance) ─────────────────────────────


def test_homework_correct(capsys) -> None:
    code, out, err = run(capsys, "check", str(HOMEWORK / "least_squares_ok.mc"), "--format", "json")
    data = json.loads(out)
    assert code == 0, out
    assert [c["verdict"] for c in data["claims"]] == ["verified"] * 3


def test_homework_missing_transpose(capsys) -> None:
    code, out, err = run(capsys, "check", str(HOMEWORK / "least_squares_transpose.mc"), "--format", "json")
    assert code == 1
    claims = json.loads(out)["claims"]
    assert [c["verdict"] for c in claims] == ["verified", "verified", "refuted", "verified", "verified"]
    assert "transpose" in claims[2]["diagnosis"]
    assert claims[3]["after_wrong"] == claims[2]["line"]
    assert claims[4]["after_wrong"] == claims[2]["line"]
    assert claims[4]["against_line"] == claims[3]["line"]


def test_homework_factor_off(capsys) -> None:
    code, out, err = run(capsys, "check", str(HOMEWORK / "least_squares_factor.mc"), "--format", "json")
    claims = json.loads(out)["claims"]
    assert code == 1
    assert [c["verdict"] for c in claims] == ["verified", "refuted", "verified"]
    assert "factor" in claims[1]["diagnosis"]


def test_homework_ill_shaped_step(capsys) -> None:
    code, out, err = run(capsys, "check", str(HOMEWORK / "ill_shaped.mc"), "--format", "json")
    claims = json.loads(out)["claims"]
    assert code == 1
    assert claims[0]["verdict"] == "error"
    assert "N×d" in claims[0]["error"] and "N×1" in claims[0]["error"]
    # the later steps are still judged, against the last line that could be typed
    assert [c["verdict"] for c in claims[1:]] == ["verified", "verified"]


def test_homework_text_output_marks_lines(capsys) -> None:
    code, out, err = run(capsys, "check", str(HOMEWORK / "least_squares_transpose.mc"))
    assert "✗" in out and "✓" in out and "was wrong" in out


def test_quadratic_form_document(capsys) -> None:
    code, out, err = run(capsys, "check", str(HOMEWORK / "quadratic_form.mc"), "--format", "json")
    assert [c["verdict"] for c in json.loads(out)["claims"]] == ["verified", "verified", "refuted"]
    assert code == 1


# ───────────────────────────── derive ─────────────────────────────


def test_derive_least_squares(capsys) -> None:
    code, out, err = run(capsys, "derive", "sum((W x - y).^2)", "--wrt", "W", "--given", "W: n x m, x: m, y: n",
                         "--format", "json")
    assert code == 0, out + err
    data = json.loads(out)
    d = data["derivatives"][0]
    assert d["numeric"]["status"] == "equal"
    assert d["steps"], "a derivation shows its steps"


def test_derive_unknown_wrt(capsys) -> None:
    code, out, err = run(capsys, "derive", "x^T y", "--wrt", "q", "--given", "x: n, y: n")
    assert code == 2 and "q" in err


# ───────────────────────────── found by a new-user review (session 4) ─────────────────────────────


def test_output_named_pdf_without_pdf_flag_is_refused(capsys, tmp_path) -> None:
    target = tmp_path / "y.pdf"
    code, out, err = run(capsys, "prove", "eq2", "-o", str(target), "--format", "markdown")
    assert code == 2 and "not a PDF" in err and "--pdf" in err
    assert not target.exists()


def test_piped_tables_have_no_trailing_spaces(capsys, tmp_path) -> None:
    code, out, _ = run(capsys, "list")
    assert code == 0 and "theorems in proofs/" in out
    assert not [ln for ln in out.splitlines() if ln != ln.rstrip()]
    (tmp_path / "a.mc").write_text("x: n\nd/dx x^T x = 2 x\n")
    (tmp_path / "b.mc").write_text("")
    code, out, err = run(capsys, "check", str(tmp_path))
    assert code != 0 and "summary" in out and "2 checked" in out
    assert not [ln for ln in out.splitlines() if ln != ln.rstrip()]
    # the empty document's error names the file and the command line's way to differentiate, not the Python API
    assert f"{tmp_path / 'b.mc'}: nothing to check" in out
    assert "matcalc derive EXPR --wrt X" in out and "matcalc.derive(" not in out


def test_an_interrupted_method_is_not_named_twice(capsys) -> None:
    from matcalc.verify.guard import guarded

    m, _ = guarded(lambda: __import__("time").sleep(5), 0.05, "numeric", slack_s=0.05)
    assert m.status == "unknown" and m.detail.startswith("interrupted after")


def test_derive_by_one_entry_says_what_to_do(capsys, tmp_path) -> None:
    doc = tmp_path / "f.mc"
    doc.write_text("given W: n x m, x: m, y: n\nsum((W x - y).^2)\n", encoding="utf-8")
    code, out, err = run(capsys, "derive", str(doc), "--wrt", "W[j, k]")
    assert code == 2 and "not one entry" in err and "derive by W" in err and "d/dW[j, k]" in err
    assert "not a variable" not in err  # it used to say so while listing W among the names


@pytest.mark.parametrize("expr,given,decl", [
    ("C(W x)", "C: R^n -> R, W: n x m, x: m", "given C: R^n -> R"),
    ("sigma(W x + b)", "W: n x m, x: m, b: n, sigma: R -> R", "given sigma: R -> R"),
])
def test_derive_format_mc_keeps_functions_declared_by_given(capsys, tmp_path, expr, given, decl) -> None:
    # without the declaration the document did not read back (C) or read σ as the logistic function (sigma)
    code, out, _ = run(capsys, "derive", expr, "--wrt", "x", "--given", given, "--format", "mc")
    assert code == 0 and decl in out.splitlines()
    doc = tmp_path / "d.mc"
    doc.write_text(out, encoding="utf-8")
    code, out, _ = run(capsys, "check", str(doc))
    assert code == 0 and "verified" in out and "logistic" not in out


def test_derive_by_a_variable_named_twice_is_refused(capsys) -> None:
    code, _, err = run(capsys, "derive", "x^T y", "--wrt", "x,y,x", "--given", "x: n, y: n")
    assert code == 2 and "x given twice" in err


@pytest.mark.parametrize("fmt", ["markdown", "latex"])
def test_show_in_markdown_and_latex_says_how_it_read(capsys, fmt) -> None:
    # show exists to answer "did W x ⊙ b mean what I think": the bracketed reading, every subexpression's shape and
    # the inferred declarations, in every format (markdown and LaTeX had only the expression)
    code, out, _ = run(capsys, "show", "W x ⊙ b", "--format", fmt)
    assert code == 0
    assert "((W x)" in out and "b)" in out
    assert "W: n x m (inferred)" in out
    assert out.count("n \\times 1" if fmt == "latex" else "n×1") >= 2  # W x ⊙ b and W x


def test_the_command_line_runs_one_blas_thread_unless_told_otherwise() -> None:
    """Budgets are CPU seconds of the process and every BLAS thread counts (review6 finding 9): the command line sets
    one thread before numpy loads, and leaves a user's setting alone."""
    import os
    import subprocess

    code = ("import os, matcalc.cli as c; c._one_blas_thread(); "
            "print(os.environ['OPENBLAS_NUM_THREADS'], os.environ['OMP_NUM_THREADS'])")
    env = {k: v for k, v in os.environ.items() if k not in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.split() == ["1", "1"]
    env["OPENBLAS_NUM_THREADS"] = "4"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True).stdout
    assert out.split() == ["4", "1"]
