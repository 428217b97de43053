"""Plain-text pieces every renderer shares: counterexample lines and how a chain step was judged.

Contract: these functions return plain strings (no markup, no escaping); the terminal, LaTeX and Markdown
renderers style or escape them. Imports nothing heavy.
"""

from __future__ import annotations

import re
from typing import Any


#: How many values of a counterexample's point are shown unless ``full`` is asked for.
POINT_LIMIT = 8
#: How many differing entries are shown unless ``full`` is asked for.
ENTRY_LIMIT = 3

_TOKEN = re.compile(r"\*\*|[A-Za-z_\u0370-\u03ff\u1d00-\u1dbf][\w\u0370-\u03ff'\u2032]*|\d+\.?\d*(?:[eE][-+]?\d+)?|\S")
_CONSTANTS = {"E": "e", "pi": "π", "oo": "∞", "zoo": "∞", "nan": "undefined", "I": "i"}


def _closing(tokens: list[str], i: int) -> int:
    """The index of the ``)`` matching the ``(`` at ``tokens[i]``."""
    depth = 0
    for j in range(i, len(tokens)):
        depth += tokens[j] == "("
        depth -= tokens[j] == ")"
        if depth == 0:
            return j
    return len(tokens) - 1


def _math(tokens: list[str]) -> str:
    out: list[str] = []
    i = 0
    while i < len(tokens):
        t = tokens[i]
        if t == "exp" and i + 1 < len(tokens) and tokens[i + 1] == "(":
            j = _closing(tokens, i + 1)
            inner = _math(tokens[i + 2:j])
            atomic = re.fullmatch(r"-?[\w.π∞]+", inner) is not None
            number = re.fullmatch(r"-?\d+(?:\.\d+)?(?:/\d+)?", inner) is not None
            # e^-3, e^(-3/2); an exponent that is not a number as exp(…), which reads back: exp(-tanh(1/2))
            out.append("e^" + (inner if atomic else f"({inner})") if number else f"exp({inner})")
            i = j + 1
            continue
        if t == "**":
            out.append("^")
        elif t == "*":
            out.append(" ")
        elif t == "/":
            out.append(" / ")
        elif t in ("+", "-") and out and out[-1] not in ("(", "^", " ", " / ", ",") and not out[-1].endswith("e^"):
            out.append(f" {t} ")
        elif t == ",":
            out.append(", ")
        else:
            out.append(_CONSTANTS.get(t, t))
        i += 1
    text = re.sub(r" {2,}", " ", "".join(out)).strip()
    return re.sub(r"(?<![\w.^])(\d+) / (\d+)(?![\w.^(])", r"\1/\2", text)  # a fraction of integers: 3/2


def math_value(v: Any) -> str:
    """A value as matcalc writes mathematics: SymPy's ``-5*exp(-1)/(exp(-1) + 1)**2`` becomes
    ``-5 e^-1 / (e^-1 + 1)^2``, a decimal after ``≈`` is cut to 6 significant digits, floats likewise.

    Only a display transformation of text SymPy printed (its operators and ``exp``); nothing is evaluated.
    """
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(math_value(x) for x in v) + "]"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, dict):
        return ", ".join(f"{k} = {math_value(x)}" for k, x in v.items())
    text = str(v)
    exact, approx_sep, approx = text.partition("≈")
    shown = _math(_TOKEN.findall(exact))
    if approx_sep:
        try:
            shown += f" ≈ {float(approx.strip()):.6g}"
        except ValueError:
            shown += " ≈ " + approx.strip()
    return shown


fmt_value = math_value  # the name the renderers used before


def _assignments(d: dict, limit: int | None = None, flag: bool = True) -> str:
    items = list(d.items())
    shown = [f"{k}={math_value(v)}" for k, v in items[:limit]]
    if limit is not None and len(items) > limit:
        more = len(items) - limit
        shown.append(f"… ({more} more with --full)" if flag else f"… ({more} more value{'s' if more > 1 else ''})")
    return ", ".join(shown)


def counterexample_items(cx: Any, *, full: bool = False, flag: bool = True) -> list[str]:
    """A counterexample as plain-text lines: the sizes and index values, the point, the entries that differ.

    Without ``full`` at most :data:`POINT_LIMIT` values of the point and :data:`ENTRY_LIMIT` entries are shown (and
    the line says how many more there are, and with ``flag`` that ``--full`` shows them: a terminal's reader can
    pass it, a PDF's cannot); values are in matcalc's notation (:func:`math_value`).
    """
    if not cx:
        return []
    if not isinstance(cx, dict):
        return [math_value(cx)]
    out: list[str] = []
    head = []
    point_limit = None if full else POINT_LIMIT
    if cx.get("sizes"):
        # in the exact method's order (alphabetical, verify/exact/check._fmt_sizes): one order in the whole document
        head.append("sizes " + _assignments(dict(sorted(cx["sizes"].items(), key=lambda kv: (str(kv[0]).lower(),
                                                                                             str(kv[0]))))))
    for key in ("indices", "index"):
        if isinstance(cx.get(key), dict) and cx[key]:
            head.append(_assignments(cx[key]))
    for key in ("point", "values"):  # the exact method's point; the numeric method's values
        if isinstance(cx.get(key), dict) and cx[key]:
            head.append("at " + _assignments(cx[key], point_limit, flag))
            break
    if head:
        out.append("; ".join(head))
    entries = cx.get("entries") or []
    limit = len(entries) if full else ENTRY_LIMIT
    for ent in entries[:limit]:
        if not isinstance(ent, dict):
            out.append(math_value(ent))
            continue
        where = ent.get("entry")
        where_s = f"entry {math_value(list(where))}" if isinstance(where, (list, tuple)) else f"entry {where}"
        if isinstance(ent.get("indices"), dict) and ent["indices"]:
            at = "at " + _assignments(ent["indices"])
            where_s = at if where in ((1, 1), [1, 1], None) else f"{at}, {where_s}"
        out.append(f"{where_s} is {math_value(ent.get('lhs'))} on the left, {math_value(ent.get('rhs'))} on the right")
    if len(entries) > limit:
        out.append(f"… {len(entries) - limit} more entries" + (" with --full" if flag else ""))
    if cx.get("note"):
        out.append(str(cx["note"]))
    funcs = cx.get("functions")
    if funcs:
        out.append("with " + (funcs if isinstance(funcs, str) else math_value(funcs)))
    return out


def step_note(r: Any) -> str | None:
    """How a chain step was judged, e.g. ``follows from line 6 — but that line was wrong; …``."""
    if r.kind != "step" or r.against_line is None:
        return None
    same = r.against_line == r.line  # a chain written on one line: a = b = c
    if r.after_wrong is None:
        return "judged against the previous part of the same line" if same else f"judged against line {r.against_line}"
    if str(r.vs_start or "").startswith("back on track"):
        return str(r.vs_start)
    note = "follows from the previous part of the same line" if same else f"follows from line {r.against_line}"
    note += (f" — but line {r.after_wrong} was wrong" if r.after_wrong != r.against_line else
             " — but that part was wrong" if same else " — but that line was wrong")
    if r.vs_start:
        vs = str(r.vs_start)
        cut = vs.find(", but ")
        if vs.startswith("follows from") and cut >= 0:
            vs = vs[cut + len(", but "):]
        note += f"; {vs}"
    return note


def program_rows(prog) -> list[tuple[str, list[tuple[str, str, str]]]]:
    """The program form of a derivation as titled rows ``(name, value, note)``, shared by every format: the forward
    program, the backward program (one δ per layer, with its rule) and the gradients in terms of the δ's."""
    from matcalc.printing import to_text

    cost = "C"
    forward = [(ln.name, to_text(ln.value), "new name" if ln.kind == "new" else
                ("the cost" if ln.name == prog.cost_name else "")) for ln in prog.forward]
    if prog.cost_name is None:
        forward.append((cost, to_text(prog.cost), "the cost"))
    backward = [(ln.name, to_text(ln.value), f"{ln.note}   ({ln.name} = ∂C/∂{ln.of})") for ln in prog.backward]
    grads = [(f"∂C/∂{g.wrt.name}", to_text(g.result), g.note) for g in prog.gradients]
    out = [("forward", forward)]
    if backward:
        out.append(("backward", backward))
    out.append(("gradients", grads))
    return out
