"""matcalc.node: the IR's frozen records behave as ``@dataclass(frozen=True)`` did (construction, defaults, equality,
hashing, repr, immutability, pickling, replace), checked against a real dataclass of the same fields."""

from __future__ import annotations

import dataclasses
import pickle

import pytest
from hypothesis import given, strategies as st

from matcalc import ir
from matcalc.node import node, replace


@node
class Rec:
    a: object
    b: object
    c: int = 0
    d: str = "d"


@dataclasses.dataclass(frozen=True)
class Ref:
    a: object
    b: object
    c: int = 0
    d: str = "d"


values = st.one_of(st.integers(-3, 3), st.text(max_size=2), st.tuples(st.integers(0, 2)))


@given(values, values, st.integers(0, 2), st.sampled_from(["d", "e"]), st.integers(2, 4), st.booleans())
def test_records_agree_with_frozen_dataclasses(a, b, c, d, n_pos, kw):
    args = (a, b, c, d)[:n_pos]
    rest = {k: v for k, v in zip("abcd", (a, b, c, d)) if "abcd".index(k) >= n_pos and kw}
    r, f = Rec(*args, **rest), Ref(*args, **rest)
    assert (r.a, r.b, r.c, r.d) == (f.a, f.b, f.c, f.d)
    assert repr(r) == repr(f).replace("Ref(", "Rec(")
    assert hash(r) == hash(f)  # the same tuple of fields is hashed
    assert r == Rec(f.a, f.b, f.c, f.d) and not r != Rec(f.a, f.b, f.c, f.d)
    assert r != Rec(f.a, f.b, f.c + 1, f.d)
    assert replace(r, c=7) == Rec(f.a, f.b, 7, f.d) and replace(r) == r
    assert pickle.loads(pickle.dumps(r)) == r


def test_records_are_frozen_and_check_their_arguments():
    r = Rec(1, 2)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.a = 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        del r.a
    with pytest.raises(TypeError, match="missing the argument 'b'"):
        Rec(1)
    with pytest.raises(TypeError, match="unexpected keyword argument 'z'"):
        Rec(1, 2, z=3)
    with pytest.raises(TypeError, match="multiple values for 'a'"):
        Rec(1, 2, a=3)
    with pytest.raises(TypeError, match="takes 4 arguments but 5 were given"):
        Rec(1, 2, 3, "d", 5)
    with pytest.raises(TypeError, match="has no field 'z'"):
        replace(r, z=1)
    assert Rec(1, 2) != Ref(1, 2) and Rec.__match_args__ == ("a", "b", "c", "d")


def test_ir_nodes_keep_their_contract():
    x = ir.Var("x", ("n", 1))
    A = ir.Var("A", ("n", "n"))
    e = ir.MatMul((A, x))
    assert e == ir.MatMul((ir.Var("A", ("n", "n"), frozenset()), ir.Var(name="x", dims=("n", 1))))
    assert hash(e) == hash(ir.MatMul((A, x)))
    assert ir.Derivative(e, x).kind == "d" and ir.Derivative(ir.MatMul((ir.Transpose(x), e)), x, "grad").layout == "mixed"
    with pytest.raises(dataclasses.FrozenInstanceError):
        e.args = ()
    with pytest.raises(ir.ShapeError):  # __post_init__ still checks the shapes
        ir.MatMul((x, A))
    assert ir.rebuild(e, (A, ir.Var("y", ("n", 1)))) == ir.MatMul((A, ir.Var("y", ("n", 1))))
    assert repr(x) == "Var(name='x', dims=('n', 1), props=frozenset())"
    assert pickle.loads(pickle.dumps(e)) == e
    match ir.Transpose(x):
        case ir.Transpose(arg=ir.Var(name=name)):
            assert name == "x"
        case _:
            pytest.fail("keyword class patterns match nodes")
