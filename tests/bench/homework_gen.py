"""Generated homework documents for bench_batch.py: variations of the examples in tests/homework/*.mc.

Contract: ``documents(count, lines=30, seed=0)`` returns ``count`` documents (name, text), each exactly ``lines``
lines long, deterministic for a seed. A document is a student's answer sheet: a header comment, one or two problems
worked as derivation chains (least squares, ridge regression, a quadratic form, a squared error through a layer —
each correct or with one of the mistakes of tests/homework: a factor lost, a transpose missing, an ill-shaped step,
the symmetric shortcut) and a few one-line claims (traces, bilinear forms, norms, true or false), padded with
comment lines. Each problem has its own variable names, drawn from several renamings so that no two problems of a
document clash. Pure text; imports nothing from matcalc.
"""

from __future__ import annotations

import random

#: Renamings: (matrix, vector, vector, rows, columns). A document draws one per problem, without repeats.
NAMES = [
    ("X", "w", "y", "N", "d"), ("A", "x", "b", "m", "n"), ("M", "v", "t", "p", "q"), ("H", "u", "z", "k", "r"),
    ("F", "g", "h", "K", "L"), ("P", "c", "o", "Q", "D"),
]


def lsq(rng: random.Random, X: str, w: str, y: str, N: str, d: str) -> list[str]:
    """Least squares, tests/homework/least_squares_*.mc and ill_shaped.mc, renamed."""
    kind = rng.choice(["ok", "ok", "factor", "transpose", "ill"])
    head = [f"# the gradient of least squares in {w}", f"given {X}: {N} x {d}, {w}: {d}, {y}: {N}",
            f"d/d{w} ‖{X} {w} - {y}‖^2", f"  = d/d{w} ({X} {w} - {y})^T ({X} {w} - {y})"]
    if kind == "ok":
        return head + [f"  = 2 {X}^T ({X} {w} - {y})", f"  = 2 {X}^T {X} {w} - 2 {X}^T {y}"]
    if kind == "factor":
        return head + [f"  = {X}^T ({X} {w} - {y})", f"  = {X}^T {X} {w} - {X}^T {y}"]
    if kind == "transpose":
        return head + [f"  = 2 {X}^T ({X} {w} - {y})", f"  = 2 ({X} {w} - {y})^T {X}",
                       f"  = 2 {w}^T {X}^T {X} - 2 {y}^T {X}"]
    return head + [f"  = 2 {X} ({X} {w} - {y})", f"  = 2 {X}^T ({X} {w} - {y})", f"  = 2 {X}^T {X} {w} - 2 {X}^T {y}"]


def ridge(rng: random.Random, X: str, w: str, y: str, N: str, d: str) -> list[str]:
    """Least squares with a penalty: two chains combined."""
    lam = f"l{w}"
    last = (f"  = 2 {X}^T ({X} {w} - {y}) + 2 {lam} {w}" if rng.random() < 0.7
            else f"  = 2 {X}^T ({X} {w} - {y}) + {lam} {w}")
    return [f"# ridge regression: penalty {lam} ‖{w}‖^2", f"given {X}: {N} x {d}, {w}: {d}, {y}: {N}, {lam}: scalar",
            f"let r{w} = {X} {w} - {y}", f"d/d{w} ‖r{w}‖^2 + {lam} ‖{w}‖^2",
            f"  = d/d{w} r{w}^T r{w} + {lam} d/d{w} {w}^T {w}", last]


def quadratic(rng: random.Random, X: str, w: str, y: str, N: str, d: str) -> list[str]:
    """The quadratic form, tests/homework/quadratic_form.mc, as a chain and claims."""
    S = X + "s"
    out = [f"# a quadratic form in {w}", f"given {X}: {d} x {d}, {w}: {d}, {S}: {d} x {d} symmetric",
           f"d/d{w} {w}^T {X} {w}", f"  = {X} {w} + {X}^T {w}"]
    out.append(f"  = ({X} + {X}^T) {w}" if rng.random() < 0.7 else f"  = 2 {X} {w}")
    out.append(f"d/d{w} {w}^T {S} {w} = 2 {S} {w}")
    return out


def layer(rng: random.Random, X: str, w: str, y: str, N: str, d: str) -> list[str]:
    """A squared error through one layer: d/dX ‖σ(X w) − y‖²."""
    f = "sigma"
    out = [f"# one layer: the gradient by the weights {X}",
           f"given {X}: {N} x {d}, {w}: {d}, {y}: {N}, {f}: R -> R", f"let a{w} = {f}({X} {w})",
           f"d/d{X} ‖a{w} - {y}‖^2"]
    if rng.random() < 0.7:
        out.append(f"  = 2 ((a{w} - {y}) ⊙ {f}'({X} {w})) {w}^T")
    else:
        out.append(f"  = 2 (a{w} - {y}) {w}^T")
    return out


def claims(rng: random.Random, X: str, w: str, y: str, N: str, d: str) -> list[str]:
    """A few one-line claims on a square matrix and two vectors, true or with a textbook slip."""
    pool = [
        (f"d/d{X} tr({X}) = eye({d})", None),
        (f"d/d{X} {w}^T {X} {y} = {w} {y}^T", f"d/d{X} {w}^T {X} {y} = {y} {w}^T"),
        (f"d/d{w} {y}^T {w} = {y}", None),
        (f"d/d{X} ‖{X}‖^2 = 2 {X}", f"d/d{X} ‖{X}‖^2 = {X}"),
        (f"d/d{w} ‖{w}‖^2 = 2 {w}", None),
        (f"d/d{w} {X} {w} = {X}", f"d/d{w} {X} {w} = {X}^T"),
        (f"d/d{X} tr({X}^T {X}) = 2 {X}", None),
        (f"d/d{w} sum(exp({w})) = exp({w})", None),
    ]
    picked = rng.sample(pool, rng.randint(3, 5))
    out = ["# short answers", f"given {X}: {d} x {d}, {w}: {d}, {y}: {d}"]
    for good, bad in picked:
        out.append(bad if bad and rng.random() < 0.25 else good)
    return out


CHAINS = [lsq, lsq, ridge, quadratic, layer]


def document(rng: random.Random, number: int, lines: int = 30) -> str:
    names = rng.sample(NAMES, 4)
    out = [f"# Homework 3, student {number:03d}"]
    parts = [rng.choice(CHAINS)(rng, *names[0])]
    if rng.random() < 0.8:
        parts.append(rng.choice(CHAINS)(rng, *names[1]))
    parts.append(claims(rng, *names[2]))
    for p in parts:
        if len(out) + len(p) + 1 > lines:
            break
        out += ["", *p]
    fillers = ["# (scratch work)", "# checked by hand", "# the chain rule, in numerator layout", "",
               "# see the lecture, part 4"]
    while len(out) < lines:
        out.append(rng.choice(fillers))
    return "\n".join(out[:lines]) + "\n"


def documents(count: int, lines: int = 30, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    return [(f"hw{i:03d}.mc", document(rng, i, lines)) for i in range(count)]
