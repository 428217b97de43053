"""The rule checker: every rule of the table proved in index notation and checked on its example.

Contract: :func:`verify_rules` (``matcalc rules --verify``) returns ``(rule name, ok, detail)`` for every rule of
:data:`matcalc.engine.rules.RULES`, in the table's order. A rule passes when its index form, where it has one, is
proved by SymPy at generic sizes ``n``, ``m`` (:func:`_index_proof`: the one part the verifiers cannot do, since
they work at concrete sizes), and its example, derived by the engine, is judged equal to the derivative it claims
by the exact method (:func:`matcalc.verify.exact.check_equal`, SymPy entry by entry, at each of two sizes) and by
the numeric method (:func:`matcalc.verify.numeric.check_equal`, central differences). SymPy is imported here,
lazily, and so are the verifiers.
"""

from __future__ import annotations

from matcalc import ir
from matcalc.errors import MatcalcError
from matcalc.ir import Expr
from matcalc.engine.rules import RULES, Rule

__all__ = ["verify_rule", "verify_rules"]


_IDX_SYMBOLS = ("i", "j", "k", "l", "p", "q")


def _index_env(sp) -> dict:
    """The SymPy objects the index-notation proofs are written with (generic symbolic sizes n, m)."""
    env = {"sp": sp, "Sum": sp.Sum, "Max": sp.Max, "Min": sp.Min, "H": sp.Heaviside, "d": sp.KroneckerDelta,
           "f": sp.Function("f")}
    env.update({name: sp.Symbol(name, integer=True) for name in _IDX_SYMBOLS})
    env.update({name: sp.Symbol(name, integer=True, positive=True) for name in ("n", "m")})
    env.update({name: sp.IndexedBase(name, real=True) for name in ("W", "X", "A", "B", "x", "w", "a", "b")})
    env.update({name: sp.Symbol(name, real=True) for name in ("z", "c")})
    return env


def _resolve(sp, e):
    """Index ranges hold by definition (``1 ≤ j ≤ n``) and kinks have measure zero: pick those branches."""
    e = e.replace(lambda t: isinstance(t, sp.DiracDelta), lambda t: sp.Integer(0))
    e = e.replace(lambda t: isinstance(t, sp.sign), lambda t: t.args[0] / sp.Abs(t.args[0]))

    def pick(pw):
        conds = [c for _, c in pw.args]
        for ex, c in pw.args:
            if c is sp.true:
                return ex
            if isinstance(c, (sp.Eq,)):  # an equality (a kink, x = 0): measure zero, skip the branch
                continue
            return ex  # a range condition on indices
        return pw.args[-1][0] if conds else pw

    for _ in range(4):
        new = e.replace(lambda t: isinstance(t, sp.Piecewise), pick)
        if new == e:
            break
        e = new
    return e


def _index_proof(rule: Rule) -> tuple[bool | None, str]:
    if rule.index_proof is None:
        return None, "no generic index form (checked exactly at fixed sizes)"
    import sympy as sp

    env = _index_env(sp)
    lhs, var, claimed = rule.index_proof(env)
    got = _resolve(sp, sp.diff(lhs, var).doit())
    diff = sp.simplify(_resolve(sp, sp.expand(got - (claimed.doit() if isinstance(claimed, sp.Basic) else sp.Integer(claimed)))))
    if diff == 0:
        return True, f"index form proved at generic n: {rule.index_form}"
    return False, f"index form not proved: ∂/∂{var} {lhs} = {got}, claimed {claimed}"


_RULE_SIZES = ({"n": 2, "m": 3, "k": 4}, {"n": 3, "m": 2, "k": 2})


def _example_checks(rule: Rule, *, seed: int) -> tuple[bool, str]:
    """The rule's example derived by the engine, checked by the exact method (SymPy, entry by entry, at each of two
    sizes) and by the numeric method (central differences, complex step off, at random points and sizes)."""
    from matcalc.engine import differentiate
    from matcalc.verify import exact, numeric

    expr, wrt = rule.example()
    d = differentiate(expr, wrt, lecture=False)  # the composer's steps name the rules it used
    used = {s.rule for s in d.steps}
    if rule.name not in used and rule.name not in ("entry",):
        return False, f"the example does not use the rule (used: {', '.join(sorted(used))})"
    claim = ir.Derivative(expr, wrt)
    details = []
    for n_size, sizes in enumerate(_RULE_SIZES):
        dims = {k: v for k, v in sizes.items() if k in _dim_names(expr)}
        shown = ", ".join(f"{k}={v}" for k, v in sorted(dims.items(), key=lambda kv: (kv[0].lower(), kv[0])))
        ex = exact.check_equal(claim, d.result, sizes=[dims], seed=seed, max_assignments=1)
        if ex.status != "equal":
            return False, f"differs from SymPy at {shown}: {ex.reason or ex.detail}"
        nu = numeric.check_equal(claim, d.result, seed=seed + n_size, complex_step=False)
        if nu.status != "equal":
            return False, f"finite differences disagree ({nu.status}): {nu.detail}"
        details.append(f"{shown}: exact ✓, FD {nu.max_rel_error:.0e} at {nu.points} random points")
    return True, "; ".join(details)


def _dim_names(e: Expr) -> set[str]:
    """The symbolic sizes the variables of ``e`` use."""
    from matcalc.shapes import dim_symbols

    return {str(s) for v in ir.variables(e) for d in v.dims for s in dim_symbols(d)}


def verify_rule(rule: Rule, *, seed: int = 0) -> tuple[str, bool, str]:
    """One rule's checks: ``(name, ok, detail)``."""
    try:
        idx_ok, idx_detail = _index_proof(rule)
        if rule.example is None:
            return rule.name, False, "no example to check"
        ex_ok, ex_detail = _example_checks(rule, seed=seed)
    except MatcalcError as exc:
        return rule.name, False, f"error: {exc.message}"
    ok = ex_ok and idx_ok is not False
    return rule.name, ok, f"{idx_detail} · {ex_detail}"


def verify_rules(*, seed: int = 0, names: list[str] | None = None) -> list[tuple[str, bool, str]]:
    """Prove every rule: its index form with SymPy at generic n, and its example exactly and by finite differences.

    Returns ``(rule name, ok, detail)`` per rule, in the table's order. SymPy is imported here, lazily.
    """
    return [verify_rule(r, seed=seed) for nm, r in RULES.items() if names is None or nm in names]
