"""Adversarial tests: near-misses of true identities must not be verified, true identities in unusual spellings must
not be refuted, and bad input must end in a clear error (exit 2), never a traceback or a hang.

Each regression names the problem it pins down; both directions are tested (the true claim and its near-miss).
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

import matcalc
from matcalc import ir
from matcalc.cli import main
from matcalc.errors import MatcalcError, ParseError
from matcalc.lang import read_expr
from matcalc.printing import to_text


def verdict(text: str, given: str | None = None) -> str:
    return matcalc.check(text, given=given).verdict


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "matcalc", *args], capture_output=True, text=True, timeout=timeout)


# ───────────────────── near-misses: true only at some sizes, domains or layouts ─────────────────────


@pytest.mark.parametrize("text, given, expected", [
    # Cayley–Hamilton for 2×2 matrices: true at size 2, false at generic sizes
    ("A^2 - tr(A) A + det(A) I = 0", "A: 2 x 2", "verified"),
    ("A^2 - tr(A) A + det(A) I = 0", "A: n x n", "refuted"),
    ("inv(A) = (tr(A) I - A) / det(A)", "A: n x n", "refuted"),
    # a missing transpose that only shows when n ≠ m, and symmetric-only identities
    ("d/dW ‖W x - y‖^2 = 2 (W x - y) x^T", "W: n x m, x: m, y: n", "verified"),
    ("d/dx x^T A x = 2 A x", "A: n x n, x: n", "refuted"),
    ("d/dx x^T A x = 2 A x", "A: n x n symmetric, x: n", "verified"),
    # wrong only for negative values
    ("sqrt(x.^2) = x", "x: n", "refuted"),
    ("sqrt(x.^2) = abs(x)", "x: n", "verified"),
    ("relu(x) = (x - abs(x))/2", "x: n", "refuted"),
    # layouts
    ("layout denominator; d/dx A x = A^T", "A: n x m, x: m", "verified"),
    ("layout denominator; d/dx A x = A", "A: n x n, x: n", "refuted"),
])
def test_near_misses(text, given, expected):
    assert verdict(text, given) == expected


@pytest.mark.parametrize("text, given", [
    # true only for n <= 3 (the fourth elementary symmetric polynomial of the eigenvalues)
    ("tr(A)^4 - 6 tr(A)^2 tr(A^2) + 3 tr(A^2)^2 + 8 tr(A) tr(A^3) - 6 tr(A^4) = 0", "A: n x n"),
    # true only when n < 4 (X^T X is singular then)
    ("det(X^T X) = 0", "X: n x 4"),
    # no point where both sides are defined
    ("log(x) = log(-x)", "x: n"),
    ("sqrt(-exp(c)) = 5", "c: scalar"),
])
def test_claims_true_only_at_small_sizes_or_nowhere_are_never_verified(text, given):
    assert verdict(text, given) != "verified"


# ───────────────────── `1` right of an array in a product is the ones vector ─────────────────────


def test_trailing_one_is_the_ones_vector():
    e, _env = read_expr("1^T A 1", given="A: n x m")
    assert e.shape == (1, 1)
    assert isinstance(e, ir.MatMul) and e.args[-1] == ir.Ones(("m", 1))
    # the printed form reads back to the same IR (before, `… 1` read back as the number 1)
    assert read_expr(to_text(e), given="A: n x m")[0] == e


def test_one_next_to_a_scalar_or_a_column_stays_a_number():
    e, _ = read_expr("c 1", given="c: scalar")
    assert e.shape == (1, 1) and not any(isinstance(n, ir.Ones) for n in ir.walk(e))
    e, _ = read_expr("x 1", given="x: n")
    assert e.shape == ("n", 1) and not any(isinstance(n, ir.Ones) for n in ir.walk(e))


def test_sum_of_entries_as_ones_products():
    assert verdict("sum(A) = 1^T A 1", "A: 3 x 5") == "verified"
    assert verdict("tr(A) = 1^T A 1", "A: n x n") == "refuted"
    assert verdict("sum_j A[i, j] = (A 1)[i]", "A: n x m") == "verified"
    assert verdict("sum_j A[j, i] = (A 1)[i]", "A: n x n") == "refuted"


# ───────────────────── `c^2^3` is ambiguous ─────────────────────


@pytest.mark.parametrize("text", ["c^2^3", "c^-1^-1", "x.^2.^3", "c^2²"])
def test_stacked_powers_are_an_error(text):
    with pytest.raises(ParseError, match="ambiguous"):
        read_expr(text, given="c: scalar, x: n")


@pytest.mark.parametrize("text, printed", [
    ("(c^2)^3", "(c^2)^3"), ("c^(2^3)", "c^8"), ("A^-1^T", "A⁻ᵀ"), ("A⁻¹⁻¹", "(A⁻¹)⁻¹"), ("A⁻¹^2", "(A⁻¹)^2"),
])
def test_bracketed_or_transposed_powers_still_read(text, printed):
    e, _ = read_expr(text, given="c: scalar, A: n x n")
    assert to_text(e) == printed


def test_bracketed_powers_are_judged():
    assert verdict("(c^2)^3 = c^6", "c: scalar") == "verified"
    assert verdict("c^(2^3) = c^6", "c: scalar") == "refuted"


# ───────────────────── hard time limits, failures inside a method ─────────────────────


def test_a_method_that_overruns_its_budget_is_interrupted():
    from matcalc.verify.judge import judge

    e, env = read_expr("A^64", given="A: n x n")
    f, _ = read_expr("A^32 A^32", given="A: n x n")
    t0 = time.perf_counter()
    res = judge(e, f, budget_s=1.0)
    assert time.perf_counter() - t0 < 6.0
    assert res.verdict != "refuted"
    assert res.methods["exact"].status in ("unknown", "equal")


def test_hard_deadline_interrupts_pure_python_work():
    from matcalc.verify.guard import HardTimeout, hard_deadline

    t0 = time.perf_counter()
    with pytest.raises(HardTimeout):
        with hard_deadline(0.2):
            while True:
                pass
    assert time.perf_counter() - t0 < 2.0


def test_a_method_that_crashes_is_unknown(monkeypatch):
    from matcalc.verify import numeric

    def boom(*a, **k):
        raise MemoryError("simulated")

    monkeypatch.setattr(numeric, "check_equal", boom)
    r = matcalc.check("d/dx x^T A x = (A + A^T) x", given="A: n x n, x: n")
    assert r.results[0].methods["numeric"].status == "unknown"
    assert r.verdict == "verified"  # the symbolic and exact methods still decide
    r = matcalc.check("d/dx x^T A x = 2 A x", given="A: n x n, x: n")
    assert r.verdict == "refuted"


def test_huge_kronecker_product_does_not_crash():
    p = run_cli("check", "kron(A, B) = kron(A, B)", "--given", "A: 1000 x 1000, B: 1000 x 1000")
    assert "Traceback" not in p.stderr
    assert p.returncode in (0, 3)


# ───────────────────── the command line ─────────────────────


def test_expression_starting_with_minus(capsys):
    assert main(["show", "-c^2", "--given", "c: scalar"]) == 0
    assert "c^2" in capsys.readouterr().out
    assert main(["check", "-c^2=c^2", "--given", "c: scalar"]) == 1
    assert main(["check", "-x=-x", "--given", "x: n"]) == 0
    assert main(["show", "-(c", "--given", "c: scalar"]) == 2


def test_wrt_entry_is_named_whole(capsys):
    assert main(["derive", "W x", "--wrt", "W[1,2]", "--given", "W: n x m, x: m"]) == 2
    assert "W[1,2]" in capsys.readouterr().err


def test_verdict_column_keeps_a_space_before_the_claim():
    r = matcalc.check("abs(x .* y) = abs(x) .* abs(y)", given="x: n, y: n")
    line = [ln for ln in str(r).splitlines() if "abs(x .* y)" in ln][0]
    assert f"{r.results[0].verdict} abs" in line or f"{r.results[0].verdict}  abs" in line
    assert f"{r.results[0].verdict}abs" not in line


@pytest.mark.parametrize("args", [
    ["check", "x § y = 1"],
    ["check", "\\input{/etc/passwd} = 1", "--format", "latex"],
    ["check", "c = c", "--given", "c: scalar, W: 100000 x 100000"],
    ["check", "c^1000000 = c", "--given", "c: scalar"],
    ["show", "(" * 101 + "x" + ")" * 101],
    ["prove", "nonexistent"],
    ["derive", "W x", "--wrt", "n", "--given", "W: n x m, x: m"],
    ["derive", "W x", "--wrt", "2", "--given", "W: n x m, x: m"],
    ["check", "d/dn x = x", "--given", "x: n"],
])
def test_bad_input_exits_2_without_traceback(args, capsys):
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.strip().startswith("error:") and "Traceback" not in err


def test_latex_output_never_contains_the_users_text():
    p = run_cli("check", "x = x # \\input{/etc/passwd}", "--given", "x: n", "--format", "latex")
    assert p.returncode == 0
    assert "\\input" not in p.stdout


def test_leading_one_before_a_row_takes_its_size_from_the_other_side():
    # d/dW sum(W x) is n×m: `1 xᵀ` there is the ones column times xᵀ (it was read as the number 1, a 1×m row)
    assert verdict("d/dW sum(W x) = 1 x^T", "W: n x m, x: m") == "verified"
    assert verdict("d/dW sum(W x) = 1 x^T 2", "W: n x m, x: m") == "refuted"
    # without such a context it stays the number 1
    assert verdict("1 x^T = x^T", "x: n") == "verified"
    assert verdict("1 A = A", "A: n x m") == "verified"


def test_diagonal_derivative_states_its_convention():
    r = matcalc.check("d/dD tr(A D) = A^T", given="D: n x n diagonal, A: n x n")
    assert r.verdict == "verified"
    assert any("diagonal" in n for n in r.results[0].notes)
    r = matcalc.check("d/dx x^T A x = (A + A^T) x", given="A: n x n diagonal, x: n")
    assert not any("diagonal" in n for n in r.results[0].notes)  # not a derivative by the diagonal matrix


def test_a_document_has_a_total_time_budget():
    from matcalc.lang import read_document
    from matcalc.marking import check_document

    text = "x: n\nx^T x = ‖x‖^2\nx^T x = 2 ‖x‖^2\n= ‖x‖^2"
    full = check_document(read_document(text))
    # line 4 does not follow from the wrong line 3 but equals its start again: back on track (README)
    assert [r.verdict for r in full.results] == ["verified", "refuted", "verified"]
    assert full.results[2].vs_start.startswith("back on track: equals line 3 again")
    cut = check_document(read_document(text), document_budget_s=0.0)
    assert [r.verdict for r in cut.results] == ["inconclusive"] * 3  # never a guess, never verified
    assert "time budget" in cut.results[0].methods["exact"].detail


def test_a_directory_or_device_is_not_read_as_a_claim(capsys, tmp_path):
    # a folder is a batch of its .mc files (SPEC section 6): one without any is a usage error, never a claim
    assert main(["check", str(tmp_path)]) == 2
    assert "no .mc files" in capsys.readouterr().err
    assert main(["check", "/dev/null"]) == 2
    assert "not a regular file" in capsys.readouterr().err


def test_standard_input_that_is_not_utf8(monkeypatch, capsys):
    import io

    raw = io.TextIOWrapper(io.BytesIO(b"x = x\n\xff\n"), encoding="utf-8", errors="surrogateescape")
    monkeypatch.setattr(sys, "stdin", raw)
    assert main(["check", "-", "--given", "x: n"]) == 2
    assert "not UTF-8" in capsys.readouterr().err


@pytest.mark.parametrize("call", [
    lambda: matcalc.check(None),
    lambda: matcalc.check(b"x = x"),
    lambda: matcalc.check("x = x", given=5),
    lambda: matcalc.derive("W x", None, given="W: n x m, x: m"),
])
def test_api_arguments_that_are_not_text_are_a_clear_type_error(call):
    with pytest.raises(TypeError, match="must be a str"):
        call()


def test_api_derive_takes_a_list_of_names():
    r = matcalc.derive("sum(W x)", ["W", "x"], given="W: n x m, x: m")
    assert [to_text(i.wrt) for i in r.items] == ["W", "x"]


def test_a_ones_vector_whose_size_nothing_fixes_is_an_error():
    # 1ᵀ 1 took a new size unrelated to n, so this true claim (intended: 1 = ones(n)) was refuted
    with pytest.raises(MatcalcError, match="fixed by nothing else"):
        matcalc.check("d/dc sum(x + c) = 1^T 1", given="x: n, c: scalar")
    assert verdict("d/dc sum(x + c) = 1^T ones(n)", "x: n, c: scalar") == "verified"
    assert verdict("d/dc sum(x + c) = 2 1^T ones(n)", "x: n, c: scalar") == "refuted"
    # sizes fixed by the line itself, and entries whose value does not depend on the size, still read
    assert verdict("sum(A) = 1^T A 1", "A: n x m") == "verified"
    assert verdict("I[1, 2] = 0", None) == "verified"
    assert verdict("d/dX tr(X) = I", "X: n x n") == "verified"
