"""Expressions as DAGs (issue 12): a ``let`` name is one shared node from the reader to the printer.

The reader's limits count distinct nodes and the depth of the DAG (both sides of each limit are tested, with the
expected boundary worked out by hand from the documented counting); hashing, equality and walks cost the distinct
nodes, not the tree with every ``let`` written out; deep documents run through the command line (in a subprocess:
a C stack overflow would kill the process) and answer, or fail with a located error, never with a traceback.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from matcalc import ir
from matcalc.errors import LimitError
from matcalc.lang import MAX_LET_DEPTH, MAX_NODES, read_document

ROOT = Path(__file__).resolve().parent.parent


def mlp(layers: int) -> str:
    """An L-layer MLP: ``let a_l = sigma(W_l a_{l-1} + b_l)``, cost ``sum((W_L a_{L-1} + b_L - y).^2)``."""
    lines = ["given x: n, y: n"] + [f"given W{k}: n x n, b{k}: n" for k in range(1, layers + 1)] + ["let a0 = x"]
    lines += [f"let a{k} = sigma(W{k} a{k - 1} + b{k})" for k in range(1, layers)]
    return "\n".join(lines + [f"sum((W{layers} a{layers - 1} + b{layers} - y).^2)"]) + "\n"


def residual(layers: int) -> str:
    """An L-layer residual network: ``let h_l = h_{l-1} + tanh(W_l h_{l-1})`` (each h used twice), cost
    ``sum(h_L.^2)``."""
    lines = ["given x: n"] + [f"given W{k}: n x n" for k in range(1, layers + 1)] + ["let h0 = x"]
    lines += [f"let h{k} = h{k - 1} + tanh(W{k} h{k - 1})" for k in range(1, layers + 1)]
    return "\n".join(lines + [f"sum(h{layers}.^2)"]) + "\n"


def cli(tmp_path: Path, text: str, *argv: str, timeout: float = 300) -> tuple[int, str, str, float]:
    """``python -m matcalc ARGV FILE`` on ``text`` in a fresh process: exit status, stdout, stderr, seconds."""
    f = tmp_path / "doc.mc"
    f.write_text(text)
    env = dict(os.environ, PYTHONPATH=str(ROOT), COLUMNS="120")
    t0 = time.perf_counter()
    res = subprocess.run([sys.executable, "-m", "matcalc", argv[0], str(f), *argv[1:]], capture_output=True,
                         text=True, env=env, timeout=timeout)
    return res.returncode, res.stdout, res.stderr, time.perf_counter() - t0


# ───────────────────────────── the reader's limits ─────────────────────────────


def _chain(n: int) -> str:
    """``let a_k = a_{k-1} + x`` for k = 1..n: the let ``a_k`` is 2k + 1 levels deep (``x`` one level, each
    ``… + x`` two more: the sum and its operand)."""
    return "given x: n\nlet a0 = x\n" + "\n".join(f"let a{k} = a{k - 1} + x" for k in range(1, n + 1)) + \
        f"\nsum(a{n})\n"


def test_the_depth_limit_is_the_depth_of_the_dag() -> None:
    assert MAX_LET_DEPTH == 8000
    last = (MAX_LET_DEPTH - 1) // 2  # 2k + 1 <= 8000: k = 3999
    doc = read_document(_chain(last))
    assert f"a{last}" in doc.env.lets
    with pytest.raises(LimitError) as info:
        read_document(_chain(last + 1))
    err = info.value
    assert "nested more than 8000 levels deep" in str(err)
    assert (err.line, err.col) == (3 + last, 5)  # the let that goes beyond, at its name


def test_networks_of_512_layers_are_inside_the_limits() -> None:
    for text in (mlp(512), residual(512)):
        t0 = time.perf_counter()
        doc = read_document(text)
        assert time.perf_counter() - t0 < 60
        assert len(doc.env.lets) >= 512


def test_a_let_used_twice_is_counted_once() -> None:
    # written out, a1000 would have 2^1000 nodes; as a DAG it has about 3 000
    text = "given x: n\nlet a0 = x\n" + "\n".join(f"let a{k} = a{k - 1} + a{k - 1}" for k in range(1, 1001)) + \
        "\nsum(a1000)\n"
    t0 = time.perf_counter()
    doc = read_document(text)
    assert time.perf_counter() - t0 < 30
    assert doc.env.lets["a1000"].shape == ("n", 1)


TERM = "x" + "ᵀ" * 96  # 97 syntax nodes (x and 96 transposes) in 97 characters: a column again


def _big(name: str, k: int) -> str:
    """``let NAME_k = NAME_{k-1} + TERM + …`` with 100 terms: 100 × 97 nodes, the sum's own node and the name
    ``NAME_{k-1}``: 9 702 nodes of its own (9 701 for k = 1, which has no name before it); 9 800 characters."""
    prev = f"{name}{k - 1} + " if k > 1 else ""
    return f"let {name}{k} = {prev}" + "+".join([TERM] * 100)


def test_the_node_limit_counts_distinct_nodes() -> None:
    assert MAX_NODES == 50_000
    # b1..b5: 9 701 + 4 × 9 702 = 48 509 distinct nodes; b6: 58 211 > 50 000
    inside = "given x: n\n" + "\n".join(_big("b", k) for k in range(1, 6)) + "\nsum(b5)\n"
    read_document(inside)
    over = "given x: n\n" + "\n".join(_big("b", k) for k in range(1, 7)) + "\nsum(b6)\n"
    with pytest.raises(LimitError) as info:
        read_document(over)
    assert "more than 50000 distinct nodes" in str(info.value)
    assert (info.value.line, info.value.col) == (7, 5)  # let b6, at its name


def test_a_shared_definition_counts_once_in_a_claim() -> None:
    base = "given x: n\n" + "\n".join(_big("b", k) for k in range(1, 5))  # b4: 38 807 distinct nodes
    # c and d both use b4: 38 807 and a few nodes; counted at each use it would be 77 000 and beyond the limit
    read_document(base + "\nlet c = b4 + x\nlet d = b4 + x\nc + d = d + c\n")
    # a second, independent chain e1, e2 (19 403 nodes) next to b4 is 58 210 distinct nodes: beyond
    other = "\n".join(_big("e", k) for k in range(1, 3))
    read_document(base + "\n" + other + "\nsum(e2) = sum(e2)\n")
    with pytest.raises(LimitError) as info:
        read_document(base + "\n" + other + "\nsum(b4) = sum(e2)\n")
    assert "distinct nodes" in str(info.value)
    assert (info.value.line, info.value.col) == (8, 15)  # the claim, at e2: the name that goes beyond


# ───────────────────────────── hashing, equality, walks on a DAG ─────────────────────────────


def _res_dag(depth: int, w: str = "W") -> ir.Expr:
    """``h_k = h_{k-1} + tanh(W h_{k-1})`` as IR, each h a shared node used twice (no let names)."""
    x = ir.Var("x", ("n", 1))
    W = ir.Var(w, ("n", "n"))
    h: ir.Expr = x
    for _ in range(depth):
        h = ir.Add((h, ir.Apply("tanh", ir.MatMul((W, h)))))
    return h


def test_hash_and_equality_cost_the_distinct_nodes() -> None:
    t0 = time.perf_counter()
    a, b = _res_dag(300), _res_dag(300)  # written out: 2^300 nodes each
    assert a is not b and hash(a) == hash(b)
    assert a == b
    c = _res_dag(300, w="V")  # differs at every leaf W
    assert a != c
    assert len({a, b, c}) == 2
    assert time.perf_counter() - t0 < 10


def test_equality_compares_fields_not_only_hashes() -> None:
    x, y = ir.Var("x", ("n", 1)), ir.Var("y", ("n", 1))
    assert ir.Add((x, y)) != ir.Add((y, x))
    assert ir.Apply("tanh", x) != ir.Apply("tanh", x, order=1)
    assert ir.Named("p", x) != ir.Named("q", x)
    assert ir.EPower(x, 2) == ir.EPower(x, 2) and ir.EPower(x, 2) != ir.EPower(x, 3)


def test_walk_enters_a_let_definition_once() -> None:
    x = ir.Var("x", ("n", 1))
    h: ir.Expr = ir.Named("h0", x)
    for k in range(1, 200):
        h = ir.Named(f"h{k}", ir.Add((h, h)))
    nodes = list(ir.walk(h))
    # each let: its Named node twice (two uses, the second not entered) but its Add once; h0's Named twice, x once
    names = [n for n in nodes if isinstance(n, ir.Named)]
    assert len(names) == 1 + 2 * 199
    assert sum(isinstance(n, ir.Add) for n in nodes) == 199
    assert sum(isinstance(n, ir.Var) for n in nodes) == 1
    assert ir.variables(h) == {x}


def test_a_pickled_node_leaves_its_cached_hash_behind() -> None:
    e = _res_dag(20)
    h = hash(e)
    back = pickle.loads(pickle.dumps(e))
    assert "_hash" not in back.__dict__
    assert back == e and hash(back) == h


# ───────────────────────────── room for deep expressions ─────────────────────────────


def test_a_recursion_error_becomes_a_limit_error() -> None:
    from matcalc.deep import deep_room, run_deep

    def down(k: int) -> int:
        return down(k + 1)

    with pytest.raises(LimitError, match="nested too deeply"):
        with deep_room():
            down(0)
    before = sys.getrecursionlimit()
    with deep_room():
        assert sys.getrecursionlimit() >= before
    assert sys.getrecursionlimit() == before
    with pytest.raises(LimitError, match="nested too deeply"):
        run_deep(down, 0)


def test_the_api_works_in_a_thread_on_a_deep_document() -> None:
    import matcalc

    box: dict = {}

    def work() -> None:
        try:
            box["r"] = matcalc.derive(mlp(200), "b200")
        except BaseException as exc:  # noqa: BLE001 - reported below
            box["e"] = exc

    t = threading.Thread(target=work)  # the default stack: run_deep moves the work to a thread with a large one
    t.start()
    t.join()
    assert "e" not in box, box.get("e")
    assert str(box["r"].items[0].derivation.result) == "2 (W200 a199 + b200 - y)"


# ───────────────────────────── the command line on deep documents (fresh processes) ─────────────────────────────


def test_show_of_256_layer_networks(tmp_path: Path) -> None:
    for text, last in ((mlp(256), "a255"), (residual(256), "h256")):
        code, out, err, _s = cli(tmp_path, text, "show")
        assert code == 0, err
        assert "Traceback" not in err
        assert f"let {last}" in out
        assert "(defined above)" in out  # a let shown on its own line is not expanded again under later lines
        assert out.count("\n") < 12 * 258  # linear in the layers: a dozen lines per statement


def test_derive_of_a_64_layer_mlp_by_the_first_and_the_last_layer(tmp_path: Path) -> None:
    text = mlp(64)
    code, out, err, _s = cli(tmp_path, text, "derive", "--wrt", "b64")
    assert code == 0, err
    assert "result  2 (W64 a63 + b64 - y)" in out  # ∂/∂b_L of ‖W_L a_{L−1} + b_L − y‖² by hand
    assert "numeric check ✓" in out
    code, out, err, _s = cli(tmp_path, text, "derive", "--wrt", "W1")
    assert code == 0, err
    assert "numeric check ✓" in out
    flat = " ".join(out.split())
    # backpropagation to the first layer, one δ per layer (the program form): BP1, then BP2 through every layer,
    # and the input a0 transposed on the right (by hand: ∂C/∂W1 = δ1 a0ᵀ with δ_l = (W_{l+1}ᵀ δ_{l+1}) ⊙ σ'(z_l))
    assert "δ64 = 2 (z64 - y) BP1" in flat
    for k in (1, 32, 63):
        assert f"z{k} = W{k} a{k - 1} + b{k}" in flat
        assert f"δ{k} = W{k + 1}ᵀ δ{k + 1} ⊙ σ'(z{k}) BP2" in flat
    assert "∂C/∂W1 = δ1 a0ᵀ BP4" in flat


def _claim(layers: int, rhs: str) -> str:
    body = mlp(layers).rstrip("\n").split("\n")[:-1]
    return "\n".join(body + [f"d/db{layers} sum((W{layers} a{layers - 1} + b{layers} - y).^2) = {rhs}"]) + "\n"


def test_check_of_a_claim_with_lets_64_deep(tmp_path: Path) -> None:
    code, out, err, _s = cli(tmp_path, _claim(64, "2 (W64 a63 + b64 - y)"), "check")
    assert code == 0, out + err
    assert "✓ verified" in out
    for wrong in ("2 (W64 a63 + b63 - y)", "(W64 a63 + b64 - y)", "2 (W64 a62 + b64 - y)"):
        code, out, err, _s = cli(tmp_path, _claim(64, wrong), "check")
        assert code == 1, out + err
        assert "✗ refuted" in out


def test_beyond_the_depth_limit_is_a_located_error_not_a_crash(tmp_path: Path) -> None:
    code, out, err, secs = cli(tmp_path, _chain((MAX_LET_DEPTH - 1) // 2 + 1), "derive", "--wrt", "x")
    assert code == 2
    assert "Traceback" not in err and "Segmentation" not in err
    assert "definitions nested more than 8000 levels deep" in err
    assert "^" in err  # the caret under the let that goes beyond
    assert secs < 120


def test_a_chain_of_lets_each_used_twice(tmp_path: Path) -> None:
    text = "given x: n\nlet a0 = x\n" + "\n".join(f"let a{k} = a{k - 1} + a{k - 1}" for k in range(1, 201)) + \
        "\nsum(a200)\n"
    code, out, err, _s = cli(tmp_path, text, "show")
    assert code == 0, err
    code, out, err, _s = cli(tmp_path, text, "derive", "--wrt", "x")
    assert "Traceback" not in err
    assert code in (0, 3), err  # the numeric check may run out of time; the derivative itself is exact
    # the program form: one δ per name or two, each a constant times the next (the constants folded: 4 δ3, not
    # 2 (2 δ3)); multiplied out along the chain they give ∂C/∂x = 2^200 ones(n)
    import re

    rows = dict(re.findall(r"^\s*(δ\d+)\s+=\s+(.+?)\s{2,}BP", out, re.M))
    assert "∂C/∂x  = δ0" in out
    value, name = 1, "δ0"
    while rows[name] != "2 ones(n)":
        m = re.fullmatch(r"(\d+) (δ\d+)", rows[name])
        assert m, rows[name]
        value *= int(m.group(1))
        name = m.group(2)
    assert value * 2 == 2 ** 200


def test_printing_a_shared_dag_without_names_is_refused_with_names_it_is_linear() -> None:
    from matcalc.printing import MAX_PRINTED_NODES, to_text

    assert to_text(_res_dag(2)) == "x + tanh(W x) + tanh(W (x + tanh(W x)))"  # written out: each h twice
    with pytest.raises(LimitError, match="too long to print"):
        to_text(_res_dag(30))  # 2^30 nodes written out
    x = ir.Var("x", ("n", 1))
    W = ir.Var("W", ("n", "n"))
    h: ir.Expr = ir.Named("h0", x)
    for k in range(1, 400):
        h = ir.Named(f"h{k}", ir.Add((h, ir.Apply("tanh", ir.MatMul((W, h))))))
    assert to_text(h.value) == "h398 + tanh(W h398)"
    assert MAX_PRINTED_NODES == 50_000
