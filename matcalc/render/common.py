"""Plain-text pieces every renderer shares: counterexample lines and how a chain step was judged.

Contract: these functions return plain strings (no markup, no escaping); the terminal, LaTeX and Markdown
renderers style or escape them. Imports nothing heavy.
"""

from __future__ import annotations

from typing import Any


def fmt_value(v: Any) -> str:
    """A value of a counterexample: nested lists in brackets, floats to 6 significant digits."""
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(fmt_value(x) for x in v) + "]"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _assignments(d: dict, limit: int | None = None) -> str:
    items = list(d.items())
    shown = [f"{k}={fmt_value(v)}" for k, v in items[:limit]]
    if limit is not None and len(items) > limit:
        shown.append("…")
    return ", ".join(shown)


def counterexample_items(cx: Any) -> list[str]:
    """A counterexample as plain-text lines: the sizes and index values, the point, the entries that differ."""
    if not cx:
        return []
    if not isinstance(cx, dict):
        return [str(cx)]
    out: list[str] = []
    head = []
    if cx.get("sizes"):
        head.append("sizes " + _assignments(cx["sizes"]))
    if isinstance(cx.get("indices"), dict) and cx["indices"]:
        head.append(_assignments(cx["indices"]))
    if isinstance(cx.get("point"), dict) and cx["point"]:
        head.append("at " + _assignments(cx["point"], 8))
    if head:
        out.append("; ".join(head))
    for ent in (cx.get("entries") or [])[:3]:
        if not isinstance(ent, dict):
            out.append(str(ent))
            continue
        where = ent.get("entry")
        where_s = f"entry {fmt_value(list(where))}" if isinstance(where, (list, tuple)) else f"entry {where}"
        if isinstance(ent.get("indices"), dict) and ent["indices"]:
            at = "at " + _assignments(ent["indices"])
            where_s = at if where in ((1, 1), [1, 1], None) else f"{at}, {where_s}"
        out.append(f"{where_s} is {fmt_value(ent.get('lhs'))} on the left, {fmt_value(ent.get('rhs'))} on the right")
    if cx.get("note"):
        out.append(str(cx["note"]))
    funcs = cx.get("functions")
    if funcs:
        out.append("with " + (funcs if isinstance(funcs, str) else fmt_value(funcs)))
    return out


def step_note(r: Any) -> str | None:
    """How a chain step was judged, e.g. ``follows from line 6 — but that line was wrong; …``."""
    if r.kind != "step" or r.against_line is None:
        return None
    if r.after_wrong is None:
        return f"judged against line {r.against_line}"
    if str(r.vs_start or "").startswith("back on track"):
        return str(r.vs_start)
    note = f"follows from line {r.against_line}"
    note += f" — but line {r.after_wrong} was wrong" if r.after_wrong != r.against_line else " — but that line was wrong"
    if r.vs_start:
        vs = str(r.vs_start)
        cut = vs.find(", but ")
        if vs.startswith("follows from") and cut >= 0:
            vs = vs[cut + len(", but "):]
        note += f"; {vs}"
    return note
