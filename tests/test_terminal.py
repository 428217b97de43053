"""The terminal output as a reader sees it: hanging indents, 80 columns, no trailing spaces, counterexamples in
matcalc's notation (every value with ``--full``, every entry in JSON).

The command line runs in a subprocess with its output piped (as ``matcalc … | less`` or a CI log would), at the
width a terminal gives through ``COLUMNS``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import matcalc
from matcalc.render.common import math_value
from matcalc.render.text import to_plain

ROOT = Path(__file__).resolve().parents[1]

LONG = ("d/dW (W x + b - y)^T (W x + b - y) = 2 (W x + b - y) x^T + 2 (W x + b - y) x^T + 2 (W x + b - y) x^T "
        "+ 2 (W x + b - y) x^T")
GIVEN = "W: n x m, x: m, y: n, b: n"


def cli(*argv: str, columns: int = 80) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS=str(columns), PYTHONPATH=str(ROOT))
    env.pop("MATCALC_WORKERS", None)
    return subprocess.run([sys.executable, "-m", "matcalc", *argv], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=600)


@pytest.fixture(scope="module")
def long_report():
    return matcalc.check(LONG, given=GIVEN)


# ───────────────────────────── hanging indents ─────────────────────────────


def _block(lines: list[str], start: int) -> list[str]:
    """The line ``start`` and the lines that continue it (indented further than a new item would be)."""
    out = [lines[start]]
    for ln in lines[start + 1:]:
        if re.match(r"^\s{4}\d|^\s{5}(counterexample|symbolic|exact|numeric)\b|^\S", ln):
            break
        out.append(ln)
    return out


def test_a_wrapped_claim_hangs_under_its_text(long_report) -> None:
    text = to_plain(long_report, width=60)
    lines = text.splitlines()
    first = next(i for i, ln in enumerate(lines) if "✗ refuted d/dW" in ln)
    col = lines[first].index("d/dW")
    cont = lines[first + 1]
    assert cont[:col].strip() == "" and cont[col] != " ", (lines[first], cont)  # under the claim's first letter
    # the claim is all there, in order, across its lines
    joined = " ".join(ln.strip() for ln in lines[first:first + 4])
    assert "2 (W x + b - y) x^T + 2 (W x + b - y) x^T" in joined


def test_a_wrapped_method_detail_hangs_under_the_detail(long_report) -> None:
    lines = to_plain(long_report, width=60).splitlines()
    i = next(i for i, ln in enumerate(lines) if ln.lstrip().startswith("numeric"))
    col = re.search(r"numeric\s+\S\s", lines[i]).end()
    assert len(lines[i]) <= 60 and lines[i + 1][:col].strip() == "" and lines[i + 1][col] != " "


def test_every_line_fits_the_width(long_report) -> None:
    for width in (60, 80, 100):
        lines = to_plain(long_report, width=width).splitlines()
        assert max(len(ln) for ln in lines) <= width


# ───────────────────────────── piped output ─────────────────────────────


def test_piped_output_has_no_trailing_spaces(tmp_path: Path) -> None:
    f = tmp_path / "long.mc"
    f.write_text(f"given {GIVEN}\n{LONG}\nd/dx sum(sigma(W x + b)) = W^T sigma'(W x + b)\n", encoding="utf-8")
    for argv in (("check", str(f)), ("prove", "eq2"), ("derive", "sum((W x - y).^2)", "--wrt", "W", "--given",
                                                       "W: n x m, x: m, y: n")):
        out = cli(*argv).stdout
        assert out.strip()
        bad = [ln for ln in out.splitlines() if ln != ln.rstrip()]
        assert not bad, (argv, bad[:3])
        assert max(len(ln) for ln in out.splitlines()) <= 80, argv


def test_prove_all_at_80_columns_keeps_titles_readable() -> None:
    res = cli("prove", "all")
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert max(len(ln) for ln in lines) <= 80
    assert not [ln for ln in lines if ln != ln.rstrip()]
    rows = [ln for ln in lines if ln.startswith("│")]
    n_theorems = int(re.search(r"(\d+) theorems:", res.stdout).group(1))
    assert n_theorems >= 32
    # about two lines per theorem at most, not a title squeezed to three letters a line
    assert len(rows) <= 2.5 * n_theorems, len(rows)
    title_cells = [ln.split("│")[3].strip() for ln in rows]
    assert "The gradient of a scalar function" in " ".join(title_cells)
    assert not any(c.endswith("…") for c in title_cells)


def test_prove_table_shows_method_counts_when_wide() -> None:
    from matcalc.api import prove_many

    res = prove_many(["gradient", "jacobian", "chain-scalar"])
    heading = re.compile(r"[│┃]\s*sym\s*[│┃]\s*exact\s*[│┃]\s*num\s*[│┃]")
    assert heading.search(to_plain(res, width=140))
    narrow = to_plain(res, width=80)
    assert not heading.search(narrow) and "The gradient of a scalar function" in narrow


# ───────────────────────────── counterexamples ─────────────────────────────


@pytest.mark.parametrize("sympy_text, shown", [
    ("-5*exp(-1)/(exp(-1) + 1)**2", "-5 e^-1 / (e^-1 + 1)^2"),
    ("exp(-1)/(exp(-1) + 1)**2 ≈ 0.196611933241", "e^-1 / (e^-1 + 1)^2 ≈ 0.196612"),
    ("-3/2", "-3/2"),
    ("exp(x - 1)*sin(2)", "exp(x - 1) sin(2)"),  # e^ only before a number: matcalc's reader takes e^(-3/2), not e^(x - 1)
    ("exp(-3/2)/2", "e^(-3/2) / 2"),
    ("-12*exp(-tanh(1/2))", "-12 exp(-tanh(1/2))"),
    ("x**(-2) - 2*y", "x^(-2) - 2 y"),
])
def test_values_in_matcalc_notation(sympy_text: str, shown: str) -> None:
    assert math_value(sympy_text) == shown


def test_functions_are_equations_not_a_python_dict() -> None:
    assert math_value({"σ(-10)": "-3", "f(2)": "exp(-1)"}) == "σ(-10) = -3, f(2) = e^-1"


def test_refuted_sigma_claim_in_math_notation() -> None:
    r = matcalc.check("d/dx sigma(x) = sigma(x)", given="x: 1")
    text = str(r)
    assert r.verdict == "refuted"
    assert "e^-1 / (e^-1 + 1)^2" in text
    cx = text[text.index("counterexample"):]  # the values (a note may name exp(-x) in matcalc's own language)
    for python in ("**", "exp(", "{'", "'}"):
        assert python not in cx, python


BIG = ("d/dW (W x)^T (W x) = W x x^T", "W: n x m, x: m")


def test_full_shows_every_value_and_json_every_entry() -> None:
    short = cli("check", BIG[0], "--given", BIG[1], columns=200)
    full = cli("check", BIG[0], "--given", BIG[1], "--full", columns=200)
    data = json.loads(cli("check", BIG[0], "--given", BIG[1], "--format", "json").stdout)
    assert short.returncode == full.returncode == 1
    cx = data["claims"][0]["counterexample"]
    n_entries = int(re.match(r"(\d+) entr", cx["note"]).group(1))
    assert len(cx["entries"]) == n_entries  # JSON: every entry that differs
    point = cx["point"]
    assert len(point) > 8
    for name, value in point.items():  # --full: every value of the point
        assert f"{name}={math_value(value)}" in full.stdout
    assert "more with --full" in short.stdout and "more with --full" not in full.stdout
    hidden = [name for name in point if f"{name}=" not in short.stdout]
    assert hidden  # without --full the point is shortened, and says so
    assert sum("on the left" in ln for ln in full.stdout.splitlines()) == n_entries


@pytest.mark.parametrize("width", [40, 30, 24])
def test_narrow_terminals_wrap_counterexamples_without_cutting(width):
    # at 40 columns the counterexample's values were cut ("x[1", "]=1, " lost); every value must survive wrapping
    import matcalc
    from matcalc.render.text import plain, render

    rep = matcalc.check("d/dx x^T A x = 2 A x", given="A: n x n, x: n")
    out = plain(render(rep), width)
    assert max(len(ln) for ln in out.splitlines()) <= width
    joined = " ".join(ln.strip() for ln in out.splitlines())
    point = rep.results[-1].counterexample["point"]
    for name, value in point.items():
        assert f"{name}={value}".replace(" ", "") in joined.replace(" ", ""), (name, joined)  # wrapping adds spaces
