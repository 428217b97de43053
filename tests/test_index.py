"""The index machinery of the engine (matcalc.engine.index): componentwise forms, entries of products as index sums,
index substitution and the index rewrite rules.

Values are compared with the numeric method's evaluator (:func:`matcalc.verify.numeric.evaluate`, plain numpy, no
engine code) at random points: the entry ``e[i, j]`` written componentwise must equal entry ``(i, j)`` of ``e``'s
value, for integer and for symbolic indices. The rewrite rules are checked against literal expected forms.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from matcalc import ir
from matcalc.engine.index import (
    FreshIndex, componentwise, expand_entries, r_entry, r_index_sum, r_index_to_matrix, row_col, substitute,
)
from matcalc.ir import (
    Add, Apply, Broadcast, Delta, Diag, Div, Entry, EPower, HadDiv, Hadamard, Identity, Index, IndexSum, Inverse,
    MatMul, Neg, Norm, Num, Ones, Power, Scale, Sum, Trace, Transpose, Var, Zeros,
)
from matcalc.verify.numeric import Point, evaluate

T = Transpose


def V(name, r, c=1, *props):
    return Var(name, (r, c), frozenset(props))


def mm(*a):
    return MatMul(tuple(a))


A, B, C = V("A", "n", "m"), V("B", "m", "n"), V("C", "n", "n")
P = V("P", "n", "m", "positive")
u, v, w = V("u", "n"), V("v", "n"), V("w", "m")
s = V("s", 1)
SIZES = {"n": 3, "m": 2}


def point(seed: int, index: dict | None = None) -> Point:
    rng = np.random.default_rng(seed)
    vals = {
        "A": rng.normal(size=(3, 2)), "B": rng.normal(size=(2, 3)), "C": rng.normal(size=(3, 3)) + 3 * np.eye(3),
        "P": rng.uniform(0.5, 2.0, size=(3, 2)), "u": rng.normal(size=(3, 1)), "v": rng.normal(size=(3, 1)),
        "w": rng.normal(size=(2, 1)), "s": rng.normal(size=(1, 1)),
    }
    return Point(sizes=dict(SIZES), values=vals, index=dict(index or {}))


#: Matrix expressions covering every case of :func:`componentwise`; ``full`` says whether the componentwise form
#: reaches the variables (every entry an entry of a variable) or keeps an entry of an operation.
CORPUS = [
    ("A", A, True),
    ("A B", mm(A, B), True),
    ("A B C", mm(A, B, C), True),
    ("u vᵀ", mm(u, T(v)), True),
    ("uᵀ C v", mm(T(u), C, v), True),
    ("Bᵀ", T(B), True),
    ("A + Bᵀ", Add((A, T(B))), True),
    ("−A", Neg(A), True),
    ("A ⊙ P", Hadamard(A, P), True),
    ("A ⊘ P", HadDiv(A, P), True),
    ("exp(A)", Apply("exp", A), True),
    ("A.^3", EPower(A, 3), True),
    ("I", Identity("n"), True),
    ("0", Zeros(("n", "m")), True),
    ("1", Ones(("n", "m")), True),
    ("diag(u)", Diag(u), True),
    ("s A", Scale(s, A), True),
    ("A / s", Div(A, s), True),
    ("broadcast s", Broadcast(s, ("n", "m")), True),
    ("s^3", Power(s, 3), True),
    ("max(A, P)", ir.MaxMin("max", A, P), True),
    ("sum(A)", Sum(A), True),
    ("sum(u)", Sum(u), True),
    ("sum(uᵀ)", Sum(T(u)), True),
    ("tr(C)", Trace(C), True),
    ("tr(A B)", Trace(mm(A, B)), True),
    ("‖u‖", Norm(u), True),
    ("(A B)[2, 3]", Entry(mm(A, B), (2, 3)), True),
    ("diag(u) C + s I", Add((mm(Diag(u), C), Scale(s, Identity("n")))), True),
    ("C⁻¹", Inverse(C), False),
    ("C⁻¹ u", mm(Inverse(C), u), False),
]


def _entries_of_variables_only(e: ir.Expr) -> bool:
    return all(isinstance(x.arg, Var) for x in ir.walk(e) if isinstance(x, Entry))


@pytest.mark.parametrize("name,e,full", CORPUS, ids=[c[0] for c in CORPUS])
def test_componentwise_entries_equal_the_matrix_entries(name, e, full) -> None:
    r, c = e.shape
    rows = range(1, (SIZES.get(r, r) if r != 1 else 1) + 1)
    cols = range(1, (SIZES.get(c, c) if c != 1 else 1) + 1)
    for seed in (0, 1):
        p = point(seed)
        value = evaluate(e, p)
        for i in rows:
            for j in cols:
                cw = componentwise(e, i, j, FreshIndex())
                assert cw.shape == (1, 1)
                got = evaluate(cw, p)
                assert np.allclose(got, value[i - 1, j - 1], rtol=1e-10, atol=1e-12), (name, i, j, str(cw))
    cw = componentwise(e, 1, 1, FreshIndex())
    assert _entries_of_variables_only(cw) == full, str(cw)


@pytest.mark.parametrize("name,e,full", [c for c in CORPUS if c[1].shape[0] != 1 and c[1].shape[1] != 1],
                         ids=[c[0] for c in CORPUS if c[1].shape[0] != 1 and c[1].shape[1] != 1])
def test_componentwise_with_symbolic_indices(name, e, full) -> None:
    i, j = Index("i", e.shape[0]), Index("j", e.shape[1])
    cw = componentwise(e, i, j, FreshIndex())
    p = point(2)
    value = evaluate(e, p)
    for ii in range(1, SIZES[e.shape[0]] + 1):
        for jj in range(1, SIZES[e.shape[1]] + 1):
            p.index = {"i": ii, "j": jj}
            assert np.allclose(evaluate(cw, p), value[ii - 1, jj - 1], rtol=1e-10, atol=1e-12), (name, ii, jj)


def test_componentwise_literal_forms() -> None:
    k = FreshIndex("_k")
    assert componentwise(mm(A, B), 2, 3, k) == IndexSum(Index("_k1", "m"),
                                                         Scale(Entry(A, (2, Index("_k1", "m"))),
                                                               Entry(B, (Index("_k1", "m"), 3))))
    assert componentwise(mm(u, T(v)), 2, 3, FreshIndex()) == Scale(Entry(u, (2,)), Entry(v, (3,)))
    assert componentwise(Trace(C), 1, 1, FreshIndex("t")) == IndexSum(Index("t1", "n"), Entry(C, (Index("t1", "n"),
                                                                                                   Index("t1", "n"))))
    assert componentwise(Identity("n"), 2, 2) == Num(1)
    assert componentwise(Identity("n"), 2, 3) == Num(0)
    assert componentwise(Zeros(("n", "n")), 1, 2) == Num(0)
    assert componentwise(T(A), 1, 3) == Entry(A, (3, 1))
    assert componentwise(s, 5, 7) == s  # a scalar is its own entry
    assert componentwise(Norm(u), 1, 1, FreshIndex()) == Power(IndexSum(Index("_k1", "n"),
                                                                        Power(Entry(u, (Index("_k1", "n"),)), 2)),
                                                               Fraction(1, 2))


def test_expand_entries_writes_entries_of_products_as_sums() -> None:
    i, j = Index("i", "n"), Index("j", "n")
    e = Add((Entry(mm(A, B), (i, j)), Scale(s, Entry(mm(u, T(v)), (i, j))), Entry(mm(A, B, C), (i, j)),
             Entry(C, (i, j))))
    out = expand_entries(e, FreshIndex())
    assert not any(isinstance(x, Entry) and isinstance(x.arg, MatMul) for x in ir.walk(out)), str(out)
    p = point(3)
    for ii in (1, 2, 3):
        for jj in (1, 3):
            p.index = {"i": ii, "j": jj}
            assert np.allclose(evaluate(out, p), evaluate(e, p), rtol=1e-10, atol=1e-12)
    # nothing to expand: the same object back
    plain = Add((Entry(C, (i, j)), s))
    assert expand_entries(plain, FreshIndex()) is plain
    # a column's single index
    col = Entry(mm(C, u), (i,))
    k1 = Index("_k1", "n")
    assert expand_entries(col, FreshIndex()) == IndexSum(k1, Scale(Entry(C, (i, k1)), Entry(u, (k1,))))


def test_row_col() -> None:
    i, j = Index("i", "n"), Index("j", "n")
    assert row_col(u, (i,)) == (i, 1)
    assert row_col(T(u), (j,)) == (1, j)
    assert row_col(C, (i, j)) == (i, j)


def test_substitute() -> None:
    k, q, r = Index("k", "n"), Index("q", "n"), Index("r", "n")
    assert substitute(Entry(u, (k,)), k, q) == Entry(u, (q,))
    assert substitute(Entry(C, (k, r)), k, 2) == Entry(C, (2, r))
    assert substitute(Entry(C, (r, k)), k, q) == Entry(C, (r, q))
    assert substitute(Entry(u, (r,)), k, q) == Entry(u, (r,))
    assert substitute(Delta(k, q), k, q) == Num(1)
    assert substitute(Delta(k, 2), k, 3) == Num(0)
    assert substitute(Delta(k, 2), k, 2) == Num(1)
    assert substitute(Delta(r, k), k, q) == Delta(r, q)
    inner = IndexSum(k, Entry(u, (k,)))
    assert substitute(inner, k, q) == inner  # k is bound there
    assert substitute(Scale(Entry(u, (k,)), IndexSum(r, Entry(C, (k, r)))), k, q) == \
        Scale(Entry(u, (q,)), IndexSum(r, Entry(C, (q, r))))
    assert substitute(s, k, q) is s


def test_r_index_sum() -> None:
    k, q, r = Index("k", "n"), Index("q", "n"), Index("r", "n")
    uk, vk = Entry(u, (k,)), Entry(v, (k,))
    assert r_index_sum(uk) is None
    assert r_index_sum(IndexSum(k, Num(0))) == Num(0)
    assert r_index_sum(IndexSum(k, Scale(Delta(k, q), uk))) == Entry(u, (q,))
    assert r_index_sum(IndexSum(k, Scale(uk, Delta(q, k)))) == Entry(u, (q,))
    assert r_index_sum(IndexSum(k, Delta(k, q))) == Num(1)
    assert r_index_sum(IndexSum(k, Scale(Scale(Delta(k, q), uk), vk))) == Scale(Entry(u, (q,)), Entry(v, (q,)))
    assert r_index_sum(IndexSum(k, Add((Scale(Delta(k, q), uk), vk)))) == \
        Add((IndexSum(k, Scale(Delta(k, q), uk)), IndexSum(k, vk)))
    assert r_index_sum(IndexSum(k, Add((uk, vk)))) is None  # no delta: nothing to split for
    assert r_index_sum(IndexSum(k, Neg(uk))) == Neg(IndexSum(k, uk))
    assert r_index_sum(IndexSum(k, Scale(Entry(v, (r,)), uk))) == Scale(Entry(v, (r,)), IndexSum(k, uk))
    assert r_index_sum(IndexSum(k, Scale(vk, uk))) is None  # the scalar mentions k
    assert r_index_sum(IndexSum(k, Scale(Delta(k, r), Delta(k, k)))) == Num(1)  # δ_kk is not the delta on k; δ_rr = 1


def test_r_index_to_matrix() -> None:
    j, k, q = Index("j", "n"), Index("k", "m"), Index("q", "m")
    Ajk, wk = Entry(A, (j, k)), Entry(w, (k,))
    assert r_index_to_matrix(IndexSum(k, Scale(Ajk, wk))) == Entry(mm(A, w), (j,))
    assert r_index_to_matrix(IndexSum(k, Scale(wk, Ajk))) == Entry(mm(A, w), (j,))
    # the summation index must be both the column of A and the entry of w
    assert r_index_to_matrix(IndexSum(k, Scale(Entry(A, (j, q)), wk))) is None
    assert r_index_to_matrix(IndexSum(k, Scale(Ajk, Entry(w, (q,))))) is None
    assert r_index_to_matrix(IndexSum(k, Scale(Entry(w, (q,)), Ajk))) is None
    assert r_index_to_matrix(IndexSum(k, Scale(Entry(A, (j, q)), Entry(w, (k,))))) is None
    assert r_index_to_matrix(IndexSum(k, Scale(wk, Entry(A, (j, q))))) is None
    # the row index must differ from the summation index; the shapes must chain
    kk = Index("k", "n")
    assert r_index_to_matrix(IndexSum(kk, Scale(Entry(C, (kk, kk)), Entry(u, (kk,))))) is None
    assert r_index_to_matrix(IndexSum(kk, Scale(Entry(u, (kk,)), Entry(C, (kk, kk))))) is None
    assert r_index_to_matrix(IndexSum(k, Scale(Entry(A, (j, k)), Entry(V("z", "p"), (k,))))) is None
    assert r_index_to_matrix(IndexSum(k, Scale(Entry(V("z", "p"), (k,)), Entry(A, (j, k))))) is None
    assert r_index_to_matrix(wk) is None


def test_r_entry() -> None:
    i, j = Index("i", "n"), Index("j", "n")
    assert r_entry(Entry(mm(u, T(v)), (i, j))) == Scale(Entry(u, (i,)), Entry(T(v), (1, j)))  # one level
    assert r_entry(Entry(Identity("n"), (i, j))) == Delta(i, j)
    assert r_entry(Entry(Identity("n"), (2, 2))) == Num(1)
    assert r_entry(Delta(i, i)) == Num(1)
    assert r_entry(Delta(2, 3)) == Num(0)
    assert r_entry(Delta(i, j)) is None  # already as simple as it gets
    assert r_entry(Entry(Scale(s, C), (i, j))) == Scale(s, Entry(C, (i, j)))
    assert r_entry(Entry(Div(C, s), (i, j))) == Div(Entry(C, (i, j)), s)
    assert r_entry(Entry(Broadcast(s, ("n", "n")), (i, j))) == s
    assert r_entry(Entry(T(C), (i, j))) == Entry(C, (j, i))
    assert r_entry(Entry(Hadamard(u, v), (i,))) == Scale(Entry(u, (i,)), Entry(v, (i,)))
    assert r_entry(Entry(u, (i, 1))) == Entry(u, (i,))
    assert r_entry(Entry(C, (i,))) is None  # one index of a matrix: not an entry this rule reads
    assert r_entry(Entry(mm(C, C), (i, j))) is None  # left to the componentwise direction
    assert r_entry(Entry(s, (1, 1))) == s
    assert r_entry(u) is None
