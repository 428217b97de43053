"""The exact method (matcalc.verify.exact) where the mutation benchmark (tests/bench/mutation.py) planted a bug that
the rest of the suite let through: the entry budget of the size choice, out-of-range entries, declared functions
(one SymPy class per function and order, so ``f(x)`` written twice is one function).

Expected values are worked out by hand from the documented contract (sizes 2, 3, 4, …; at most
``MAX_VAR_ENTRIES`` variable entries and ``MAX_NODE_ENTRIES`` entries in one node) or checked by the numeric method.
"""

from __future__ import annotations

from fractions import Fraction

import pytest

from matcalc.ir import Add, Apply, Entry, EPower, Hadamard, Kron, Num, Scale, Sum, Var
from matcalc.verify.exact import MAX_NODE_ENTRIES, MAX_VAR_ENTRIES, ExactError, check_equal, choose_sizes, evaluate


def V(name, r, c=1, *props):
    return Var(name, (r, c), frozenset(props))


def test_the_budgets_are_the_documented_ones() -> None:
    assert (MAX_VAR_ENTRIES, MAX_NODE_ENTRIES) == (72, 144)


def test_a_size_whose_variables_have_exactly_the_budget_is_kept() -> None:
    """Eight n×n variables: 8·2² = 32 entries at n = 2, 8·3² = 72 = MAX_VAR_ENTRIES at n = 3 (within the budget,
    which is inclusive); nine: 81 entries at n = 3, over it, so only n = 2 is left."""
    eight = Add(tuple(V(f"A{i}", "n", "n") for i in range(8)))
    assert choose_sizes(eight) == [{"n": 2}, {"n": 3}]
    nine = Add(tuple(V(f"A{i}", "n", "n") for i in range(9)))
    assert choose_sizes(nine) == [{"n": 2}]


def test_a_node_over_the_entry_budget_drops_the_size() -> None:
    """A ⊗ B ⊗ C of n×n matrices has n⁶ entries: 64 at n = 2, 729 > MAX_NODE_ENTRIES at n = 3 (its 27 variable
    entries are within budget, so only the node's size rules n = 3 out); A ⊗ B has 81 ≤ 144 at n = 3."""
    A, B, C = V("A", "n", "n"), V("B", "n", "n"), V("C", "n", "n")
    assert choose_sizes(Kron(Kron(A, B), C)) == [{"n": 2}]
    assert choose_sizes(Kron(A, B)) == [{"n": 2}, {"n": 3}]


@pytest.mark.parametrize("idx", [(0,), (4,)])
def test_an_entry_out_of_range_is_an_error(idx) -> None:
    """Indices are 1-based: x[0] and x[4] of a 3-vector are out of range (never x[3] or a wrapped-around entry)."""
    x = V("x", "n")
    with pytest.raises(ExactError, match="out of range"):
        evaluate(Entry(x, idx), {"n": 3})
    first, last = evaluate(Entry(x, (1,)), {"n": 3}), evaluate(Entry(x, (3,)), {"n": 3})
    whole = evaluate(x, {"n": 3})
    assert (first[0, 0], last[0, 0]) == (whole[0, 0], whole[2, 0])


def test_a_declared_function_written_twice_is_one_function() -> None:
    """Two separate ``f(x)`` nodes (and two separate ``f'(x)``) are the same function: f(x) ⊙ f(x) = f(x).^2 and
    f(x) + f(x) = 2 f(x) are equal; f(x) + f'(x) = 2 f(x) is not."""
    x = V("x", "n")

    def f(order=0):
        return Apply("f", x, order, True)

    assert check_equal(Hadamard(f(), f()), EPower(f(), Fraction(2))).status == "equal"
    assert check_equal(Add((f(), f())), Scale(Num(Fraction(2)), f())).status == "equal"
    assert check_equal(Sum(Add((f(1), f(1)))), Scale(Num(Fraction(2)), Sum(f(1)))).status == "equal"
    assert check_equal(Add((f(), f(1))), Scale(Num(Fraction(2)), f())).status == "different"


def test_a_counterexample_names_the_derivative_of_a_declared_function() -> None:
    """f'(x) = f(x) is false for a generic f; the counterexample lists the values chosen for f' and f under their own
    names (a reader must tell f'(1) from f(1)), and the differing entries are those values."""
    x = V("x", "n")
    res = check_equal(Apply("f", x, 1, True), Apply("f", x, 0, True))
    assert res.status == "different"
    fns = res.counterexample["functions"]
    assert sorted(name.split("(")[0] for name in fns) == ["f", "f'"]
    d_value = next(v for k, v in fns.items() if k.startswith("f'("))
    value = next(v for k, v in fns.items() if k.startswith("f("))
    assert d_value != value
    first = res.counterexample["entries"][0]
    assert (first["lhs"], first["rhs"]) == (d_value, value)


def test_the_derivative_of_abs_is_the_sign_of_a_real_entry() -> None:
    """abs'(x) is sign(x) for the real entries the exact method uses: x ⊙ abs'(x) = |x| holds and x ⊙ abs'(x) = x
    does not (x has entries of either sign); the numeric method, which shares no code with it, agrees."""
    from matcalc.verify.numeric import check_equal as numeric_check

    x = V("x", "n")
    lhs = Hadamard(Apply("abs", x, 1), x)
    for rhs, status in ((Apply("abs", x), "equal"), (x, "different")):
        assert numeric_check(lhs, rhs).status == status
        assert check_equal(lhs, rhs).status == status
