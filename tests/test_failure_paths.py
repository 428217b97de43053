"""Failure paths of the checking methods and of the rule verifier (issue 16).

A method that raises, runs past its hard deadline or finds no usable point gives ``unknown`` with a detail that says
what happened — never ``verified`` or ``refuted`` from a failure, never a crash. The rule verifier rejects a rule
that is deliberately wrong (a dropped transpose, a dropped sign, a missing factor, a finite-difference
disagreement, an example that does not use the rule).
"""

from __future__ import annotations

import dataclasses
import time

import pytest

import matcalc
from matcalc import ir
from matcalc.errors import MatcalcError
from matcalc.lang import read_document
from matcalc.results import MethodResult
from matcalc.verify import exact, numeric, symbolic
from matcalc.verify import judge as judge_mod
from matcalc.verify.judge import judge

TRUE = ("d/dx x^T A x = (A + A^T) x", "A: n x n, x: n")
FALSE = ("d/dx x^T A x = 2 A x", "A: n x n, x: n")


def sides(claim: str, given: str) -> tuple[ir.Expr, ir.Expr]:
    (st,) = read_document(claim, given=given).statements
    return st.lhs, st.rhs


def boom(*args, **kwargs):
    raise RuntimeError("planted failure")


def burn(seconds: float) -> None:
    """Use ``seconds`` of CPU time (a method that overruns computes: budgets are CPU seconds, matcalc.clock)."""
    t0 = time.process_time()
    while time.process_time() - t0 < seconds:
        pass


def sleepy(*args, **kwargs):
    burn(30)
    raise AssertionError("the hard deadline did not interrupt the method")


def test_unpatched_baseline() -> None:
    """The two claims the failures are planted in are decided when nothing fails."""
    assert judge(*sides(*TRUE)).verdict == "verified"
    assert judge(*sides(*FALSE)).verdict == "refuted"


@pytest.mark.parametrize("claim", [TRUE, FALSE], ids=["true", "false"])
def test_both_independent_methods_raising_is_inconclusive(monkeypatch, claim) -> None:
    monkeypatch.setattr(exact, "check_equal", boom)
    monkeypatch.setattr(numeric, "check_equal", boom)
    r = judge(*sides(*claim))
    assert r.verdict == "inconclusive"
    for k in ("exact", "numeric"):
        assert r.methods[k].status == "unknown"
        assert r.methods[k].detail == "the method failed: RuntimeError: planted failure"
    if claim is TRUE:  # the normal form alone finds them equal: the sentence says why that is not enough
        assert r.diagnosis.startswith("only the symbolic method could decide (exact: the method failed: RuntimeError")
    else:  # no method decides: the methods' details say why
        assert r.methods["symbolic"].status == "unknown" and r.diagnosis is None


def test_exact_raising_leaves_numeric_and_normal_form_to_verify(monkeypatch) -> None:
    monkeypatch.setattr(exact, "check_equal", boom)
    r = judge(*sides(*TRUE))
    assert r.methods["exact"].status == "unknown"
    assert r.methods["exact"].detail == "the method failed: RuntimeError: planted failure"
    assert r.methods["numeric"].status == "equal" and r.methods["symbolic"].status == "equal"
    assert r.verdict == "verified"  # SPEC 5: numeric with the normal form


def test_exact_raising_alone_numeric_equal_without_normal_form_is_inconclusive(monkeypatch) -> None:
    monkeypatch.setattr(exact, "check_equal", boom)
    monkeypatch.setattr(symbolic, "equivalent", lambda a, b: False)
    r = judge(*sides(*TRUE))
    assert r.methods["numeric"].status == "equal"
    assert r.verdict == "inconclusive"
    assert r.diagnosis.startswith("only the numeric method could decide (exact: the method failed: RuntimeError")


def test_a_user_level_error_and_memory_are_unknown_with_their_message(monkeypatch) -> None:
    def limit(*a, **k):
        raise MatcalcError("the sizes are beyond this method's limit")

    def oom(*a, **k):
        raise MemoryError()

    monkeypatch.setattr(exact, "check_equal", limit)
    monkeypatch.setattr(numeric, "check_equal", oom)
    r = judge(*sides(*FALSE))
    assert r.verdict == "inconclusive"
    assert r.methods["exact"] == MethodResult("unknown", "the sizes are beyond this method's limit")
    assert r.methods["numeric"] == MethodResult("unknown", "out of memory: the sizes are too large for this method")


def test_symbolic_raising_is_unknown(monkeypatch) -> None:
    def deep(a, b):
        raise RecursionError()

    monkeypatch.setattr(symbolic, "equivalent", deep)
    assert judge_mod.run_symbolic(*sides(*TRUE)) == MethodResult("unknown", "no normal form: expression too deep")

    def refused(a, b):
        raise MatcalcError("cannot normalise this")

    monkeypatch.setattr(symbolic, "equivalent", refused)
    assert judge_mod.run_symbolic(*sides(*TRUE)) == MethodResult("unknown", "no normal form: cannot normalise this")


@pytest.mark.parametrize("claim", [TRUE, FALSE], ids=["true", "false"])
def test_methods_past_their_hard_deadline_are_interrupted(monkeypatch, claim) -> None:
    monkeypatch.setattr(exact, "check_equal", sleepy)
    monkeypatch.setattr(numeric, "check_equal", sleepy)
    t0 = time.perf_counter()
    r = judge(*sides(*claim), budget_s=0.4)
    took = time.perf_counter() - t0
    assert took < 6, took  # 0.24 s and 0.16 s budgets, each × 1.25 + 0.5 s slack, plus the rest
    assert r.verdict == "inconclusive"
    assert r.methods["exact"] == MethodResult("unknown", "interrupted after 0.8 s of CPU time (time budget 0.2 s)")
    assert r.methods["numeric"] == MethodResult("unknown", "interrupted after 0.7 s of CPU time (time budget 0.2 s)")


def test_symbolic_past_its_hard_deadline_is_interrupted(monkeypatch) -> None:
    monkeypatch.setattr(symbolic, "equivalent", sleepy)
    r = judge(*sides(*TRUE), budget_s=0.4)
    assert r.methods["symbolic"] == MethodResult("unknown", "interrupted after 0.6 s of CPU time (time budget 0.1 s)")
    assert r.verdict == "verified"  # the exact method decides


def test_a_diagnosis_that_fails_changes_nothing(monkeypatch) -> None:
    from matcalc.verify import diagnose

    monkeypatch.setattr(diagnose, "diagnose", boom)
    r = judge(*sides(*FALSE))
    assert r.verdict == "refuted" and r.diagnosis is None and r.counterexample


def test_a_diagnosis_stopped_by_its_deadline_keeps_the_correct_result(monkeypatch) -> None:
    """The search for the mistake runs out of time (each candidate sleeps): the correct result, found first, is still
    reported; with the search fast, the mistake is named too."""
    from matcalc.verify import diagnose

    slow = diagnose._candidates

    def sleepy(lhs, rhs):
        for c in slow(lhs, rhs):
            burn(5.0)
            yield c

    monkeypatch.setattr(diagnose, "_candidates", sleepy)
    t0 = time.perf_counter()
    r = judge(*sides(*FALSE), budget_s=4.0)
    assert time.perf_counter() - t0 < 30
    assert r.verdict == "refuted" and r.diagnosis == "the correct result is (A + Aᵀ) x", r.diagnosis
    monkeypatch.setattr(diagnose, "_candidates", slow)
    r = judge(*sides(*FALSE))
    assert r.diagnosis == "holds only for symmetric A; the correct result is (A + Aᵀ) x", r.diagnosis


def test_no_usable_point_is_unknown_with_the_reason(monkeypatch) -> None:
    def no_point(*a, **k):
        return numeric.NumericResult("unknown", detail="no usable point: every draw overflowed")

    monkeypatch.setattr(numeric, "check_equal", no_point)
    monkeypatch.setattr(exact, "check_equal", boom)
    r = judge(*sides(*FALSE))
    assert r.verdict == "inconclusive"
    assert r.methods["numeric"] == MethodResult("unknown", "no usable point: every draw overflowed")


def test_an_unconfirmed_numeric_difference_is_unknown(monkeypatch) -> None:
    def unconfirmed(*a, **k):
        return numeric.NumericResult("different", detail="differs at one point only", confirmed=False)

    monkeypatch.setattr(numeric, "check_equal", unconfirmed)
    monkeypatch.setattr(exact, "check_equal", boom)
    r = judge(*sides(*FALSE))
    assert r.methods["numeric"] == MethodResult("unknown", "differs at one point only")
    assert r.verdict == "inconclusive"


@pytest.mark.parametrize("claim,given,reason", [
    ("inv(x x^T) = inv(x x^T)", "x: n", "the left side, (x xᵀ)⁻¹, and the right side, (x xᵀ)⁻¹, are undefined"),
    ("inv(x x^T) y = y", "x: n, y: n", "the left side, (x xᵀ)⁻¹ y, is undefined"),
    ("inv(x x^T) = inv(A)", "x: n, A: n x n", "the left side, (x xᵀ)⁻¹, is undefined"),  # each side alone
    ("inv(A) = inv(x x^T)", "x: n, A: n x n", "the right side, (x xᵀ)⁻¹, is undefined"),
])
def test_a_side_undefined_everywhere_is_inconclusive_with_the_reason(claim, given, reason) -> None:
    """A real case: no usable point exists (x xᵀ is singular); the exact method sees it for every value."""
    res = matcalc.check(claim, given=given).results[0]
    assert res.verdict == "inconclusive"
    assert res.methods["exact"].detail == "the inverse of a singular matrix"
    assert res.methods["numeric"].status == "unknown"
    assert res.methods["numeric"].detail.startswith("no usable point")
    assert res.diagnosis.startswith(reason)
    assert "the numeric method finds no usable point" in res.diagnosis


# ───────────── the rule verifier rejects wrong rules ─────────────

from matcalc.engine.rulecheck import verify_rule  # noqa: E402
from matcalc.engine.rules import RULES  # noqa: E402


def _planted(monkeypatch, name: str, **changes):
    wrong = dataclasses.replace(RULES[name], **changes)
    monkeypatch.setitem(RULES, name, wrong)
    return wrong


def test_the_untouched_rules_pass() -> None:
    """(tests/test_rules.py checks every rule; these two are cheap, the planted ones below differ at n = 2.)"""
    for name in ("transpose", "trace"):
        assert verify_rule(RULES[name])[1], name


def test_a_dropped_transpose_is_rejected(monkeypatch) -> None:
    """The index form stays right: the example (Xᵀ by X, X n×m) catches the rule by the values it gives — a Jacobian
    without its commutation matrix K(m, n) (the identity instead) differs from SymPy's entries at n=2, m=3."""
    from matcalc.engine.build import vsize

    wrong = _planted(monkeypatch, "commutation", vjp=lambda y, g, i: g, jac=lambda y, i: ir.Identity(vsize(y)))
    name, ok, detail = verify_rule(wrong)
    assert name == "commutation" and not ok
    assert detail.endswith("differs from SymPy at m=3, n=2: entry by entry with SymPy at (m, n) = (3, 2): the sides "
                           "differ"), detail


def test_a_transpose_without_its_shape_is_rejected(monkeypatch) -> None:
    """A Jacobian of the wrong shape (1×1 for an nm×nm one) is an error the verifier reports, never a pass."""
    wrong = _planted(monkeypatch, "commutation", jac=lambda y, i: ir.Identity(1))
    name, ok, detail = verify_rule(wrong)
    assert name == "commutation" and not ok
    assert detail == "error: internal error: the derivative has shape (1, 1), expected ('m*n', 'm*n')"


def test_a_dropped_sign_is_rejected(monkeypatch) -> None:
    from matcalc.engine.build import mm

    wrong = _planted(monkeypatch, "inverse", vjp=lambda y, g, i: mm(ir.Transpose(y), g, ir.Transpose(y)),
                     jac=lambda y, i: ir.Kron(ir.Transpose(y), y))
    _, ok, detail = verify_rule(wrong)
    assert not ok and detail.endswith("differs from SymPy at n=2: entry by entry with SymPy at n = 2: the sides differ")


def test_a_missing_factor_is_rejected(monkeypatch) -> None:
    wrong = _planted(monkeypatch, "det", vjp=lambda y, g, i: ir.Scale(g, ir.Transpose(ir.Inverse(y.arg))),
                     jac=lambda y, i: ir.Transpose(ir.Vec(ir.Transpose(ir.Inverse(y.arg)))))
    _, ok, detail = verify_rule(wrong)
    assert not ok and detail.endswith("differs from SymPy at n=2: entry by entry with SymPy at n = 2: the sides differ")


def test_a_finite_difference_disagreement_is_rejected(monkeypatch) -> None:
    def disagree(*a, **k):
        return numeric.NumericResult("different", detail="planted disagreement", confirmed=True)

    monkeypatch.setattr(numeric, "check_equal", disagree)
    _, ok, detail = verify_rule(RULES["trace"])
    assert not ok
    assert detail.endswith("finite differences disagree (different): planted disagreement")


def test_an_example_that_does_not_use_the_rule_is_rejected(monkeypatch) -> None:
    wrong = dataclasses.replace(RULES["trace"], example=RULES["exp"].example)
    _, ok, detail = verify_rule(wrong)
    assert not ok and "the example does not use the rule" in detail


def test_a_rule_without_example_is_rejected() -> None:
    wrong = dataclasses.replace(RULES["trace"], example=None)
    assert verify_rule(wrong) == ("trace", False, "no example to check")


# ───────────── which method's counterexample a refutation shows ─────────────


def test_the_counterexample_comes_from_the_method_that_found_the_difference(monkeypatch) -> None:
    from matcalc.verify.exact.check import ExactResult

    real = judge(*sides(*FALSE))
    assert real.methods["exact"].status == "different" and real.counterexample  # the exact method's, unpatched

    planted = {"planted": "not a counterexample of a refutation"}
    monkeypatch.setattr(exact, "check_equal", lambda *a, **k: ExactResult("unknown", counterexample=planted,
                                                                          detail="planted unknown"))
    r = judge(*sides(*FALSE))
    assert r.verdict == "refuted" and r.methods["numeric"].status == "different"
    assert r.counterexample and r.counterexample != planted  # the numeric method's, not the undecided one's

    monkeypatch.setattr(exact, "check_equal", lambda *a, **k: ExactResult("different", counterexample=None,
                                                                          detail="planted difference"))
    r = judge(*sides(*FALSE))
    assert r.verdict == "refuted"
    assert r.counterexample  # the exact method found none to show: the numeric method's


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_a_swallowed_hard_timeout_is_raised_again() -> None:
    """Python ignores an exception raised in a __del__ (or a garbage-collection callback); the alarm repeats, so the
    block is still interrupted (it ran unbounded in a full-suite run, its memory growing, until killed)."""
    import time as _time

    from matcalc.verify.guard import HardTimeout, hard_deadline

    class Swallow:
        def __del__(self):
            burn(0.3)  # the first alarm fires in here and is ignored

    t0 = _time.perf_counter()
    with pytest.raises(HardTimeout):
        with hard_deadline(0.1):
            x = Swallow()
            del x
            while _time.perf_counter() - t0 < 5:
                pass
    assert _time.perf_counter() - t0 < 2


def test_budgets_are_cpu_seconds_with_a_wall_clock_backstop() -> None:
    """A method slowed down by other processes is not cut short by the wall clock (the same work gets the same verdict
    on a busy machine); a method that makes no progress at all is still ended, by the backstop."""
    from matcalc.verify.guard import WALL_BACKSTOP, guarded, hard_deadline

    t0 = time.perf_counter()
    with hard_deadline(0.2):
        time.sleep(0.6)  # wall time passes, as under load, without this process's CPU time: no interruption
    assert time.perf_counter() - t0 >= 0.6
    m, _ = guarded(lambda: burn(30), 0.1, "numeric", slack_s=0.05)
    assert m == MethodResult("unknown", "interrupted after 0.2 s of CPU time (time budget 0.1 s)")
    t0 = time.perf_counter()
    m, _ = guarded(lambda: time.sleep(30), 0.04, "numeric", slack_s=0.05)
    took = time.perf_counter() - t0
    assert m.status == "unknown" and m.detail.startswith(f"interrupted after {0.1 * WALL_BACKSTOP:.1f} s of wall-clock")
    assert took < 5, took
