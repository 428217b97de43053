"""The verdict's time budgets where the mutation benchmark (tests/bench/mutation.py) planted a bug that the rest of the
suite let through: each method is given a budget within its hard guard (so it can stop itself and report what it
has), and no guard is longer than the claim's budget.
"""

from __future__ import annotations

import pytest

from matcalc import ir
from matcalc.results import MethodResult
from matcalc.verify import judge as judge_mod


@pytest.mark.parametrize("transposed", [False, True])
def test_each_method_stops_itself_within_its_guard(monkeypatch, transposed) -> None:
    guards, budgets = {}, {}

    def fake_guarded(fn, budget_s, what, *_args, **_kw):
        guards[what] = budget_s
        return fn()

    def method(name):
        def run(lhs, rhs, free=(), budget_s=None, seed=0, **_kw):
            budgets[name] = budget_s
            return MethodResult("equal", "stub"), None
        return run

    monkeypatch.setattr(judge_mod, "guarded", fake_guarded)
    monkeypatch.setattr(judge_mod, "run_exact", method("exact"))
    monkeypatch.setattr(judge_mod, "run_numeric", method("numeric"))
    monkeypatch.setattr(judge_mod, "run_symbolic", lambda lhs, rhs: MethodResult("equal", "stub"))
    x = ir.Var("x", ("n", 1), frozenset())
    rhs = ir.Transpose(x) if transposed else x
    judge_mod.judge(x, rhs, budget_s=10.0, diagnose=False)
    assert "exact" in budgets and "exact" in guards
    for name, b in budgets.items():
        assert 0 < b <= guards[name], f"{name}: a budget of {b} s under a guard of {guards[name]} s"
    assert all(0 < g <= 10.0 for g in guards.values()), guards
