"""Tests of the rule kernel (matcalc.engine.rules): a parametrised walk over the table — every rule must have a SymPy proof
(its index form at generic n, or exact entry-by-entry agreement at two sizes) and a finite-difference check — plus
checks that the table covers SPEC section 3, that a missing rule is loud, and that a broken rule is caught.
"""

from __future__ import annotations

import dataclasses

import pytest

from matcalc import ir
from matcalc.engine.rulecheck import verify_rule, verify_rules
from matcalc.engine.rules import RULES, UnsupportedDerivative, rule_for

#: Every operation of SPEC section 3 and issue 3, by rule name.
REQUIRED = [
    "sum", "difference", "negation", "scalar-expansion", "scale-arg", "scale-scalar", "div-arg", "div-scalar",
    "matmul-left", "matmul-right", "matmul-middle", "dot", "hadamard", "hadamard-div-left", "hadamard-div-right",
    "kronecker", "transpose", "inverse", "power-scalar", "power-matrix", "power-entrywise",
    *ir.ENTRYWISE, "declared-f", "max", "min", "reduce-sum", "trace", "det", "logdet", "diag", "vec", "norm",
    "softmax", "logsumexp", "declared-C", "entry", "index-sum", "norm-squared",
]


def test_table_covers_the_spec():
    missing = [n for n in REQUIRED if n not in RULES]
    assert not missing, missing
    for name, r in RULES.items():
        assert r.name == name
        assert r.statement and r.source and r.index_form, name
        assert isinstance(r.op, type) and issubclass(r.op, ir.Expr), name
        assert r.example is not None, f"{name} has no example to check"


@pytest.mark.parametrize("name", list(RULES))
def test_rule_is_proved_and_checked(name):
    rule_name, ok, detail = verify_rule(RULES[name], seed=0)
    assert ok, detail
    assert detail.count("FD") == 2, detail  # finite differences at two sizes
    proved_generic = "index form proved at generic n" in detail
    exact_twice = detail.count("exact ✓") == 2
    assert exact_twice, detail
    if name not in ("inverse", "det", "logdet", "declared-C", "declared-C-hessian"):
        assert proved_generic, detail


def test_broken_rule_is_caught(monkeypatch):
    good = RULES["hadamard"]
    wrong_operand = dataclasses.replace(good, vjp=lambda y, g, i: ir.Hadamard(g, (y.a, y.b)[i]),
                                        jac=lambda y, i: ir.Diag((y.a, y.b)[i]))
    monkeypatch.setitem(RULES, "hadamard", wrong_operand)
    _, ok, detail = verify_rule(wrong_operand)
    assert not ok and "differs from SymPy" in detail


def test_wrong_index_form_is_caught():
    good = RULES["matmul-right"]
    wrong = dataclasses.replace(good, index_proof=lambda s: (good.index_proof(s)[0], s["x"][s["j"]],
                                                              s["W"][s["j"], s["i"]]))
    _, ok, detail = verify_rule(wrong)
    assert not ok and "not proved" in detail


def test_missing_rule_is_loud():
    with pytest.raises(UnsupportedDerivative, match="myfun"):
        rule_for(ir.Apply("myfun", ir.Var("x", ("n", 1))), 0)
    with pytest.raises(UnsupportedDerivative, match="Kronecker delta"):
        rule_for(ir.Delta(1, 2), 0)


def test_verify_rules_subset_and_order():
    out = verify_rules(names=["sum", "exp"])
    assert [n for n, _, _ in out] == ["sum", "exp"]
    assert all(ok for _, ok, _ in out)


def test_rules_module_does_not_import_sympy_at_startup():
    import subprocess
    import sys

    code = "import sys, matcalc.engine.rules, matcalc.engine, matcalc.engine.simplify, matcalc.verify.symbolic; print('sympy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
