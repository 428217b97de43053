"""``matcalc rules``: the rule table of the derivative engine in every output format, optionally verified.

Contract: :func:`render_rules` reads :data:`matcalc.engine.rules.RULES` (entries with ``name``, ``statement``, ``source``,
``index_form``) and returns ``(exit_code, output)``: a rich :class:`~rich.table.Table` for ``text``, a JSON string for
``json``, a Markdown table for ``markdown``, a complete LaTeX document for ``latex``. With ``verify=True`` it calls
:func:`matcalc.engine.rulecheck.verify_rules` (``(name, ok, detail)`` tuples), adds a ✓/✗ column, and returns exit code 1 with
the failing rules named (in the output, and in a line after the table); otherwise 0. A rule that the verifier did
not report on counts as failing: a rule without a proof is not a proved rule.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["render_rules", "rule_rows"]


def _as_text(v: Any) -> str:
    if v is None:
        return ""
    return str(v)


def rule_rows() -> list[dict]:
    """The rule table as plain dicts: ``name``, ``statement``, ``source``, ``index_form``."""
    from matcalc.engine.rules import RULES

    entries = RULES.values() if isinstance(RULES, dict) else RULES
    rows = []
    for r in entries:
        rows.append({
            "name": _as_text(getattr(r, "name", "")),
            "statement": _as_text(getattr(r, "statement", "")),
            "source": _as_text(getattr(r, "source", "")),
            "index_form": _as_text(getattr(r, "index_form", "")),
        })
    return rows


def _verify(rows: list[dict]) -> tuple[dict[str, tuple[bool, str]], list[str]]:
    from matcalc.engine.rulecheck import verify_rules

    results: dict[str, tuple[bool, str]] = {}
    for name, ok, detail in verify_rules():
        prev = results.get(str(name))
        okb = bool(ok) and (prev is None or prev[0])
        results[str(name)] = (okb, _as_text(detail) if prev is None else f"{prev[1]}; {_as_text(detail)}")
    for row in rows:
        if row["name"] not in results:
            results[row["name"]] = (False, "not checked by verify_rules")
    failing = [row["name"] for row in rows if not results[row["name"]][0]]
    failing += [n for n, (ok, _) in results.items() if not ok and n not in failing]
    return results, failing


def render_rules(*, verify: bool, fmt: str) -> tuple[int, Any]:
    """The rule table in ``fmt`` (``text``, ``json``, ``markdown``, ``latex``); with ``verify`` each rule proved.

    Returns:
        ``(exit_code, output)``: 0, or 1 when a rule fails verification; output is a rich renderable for ``text``
        and a string otherwise.
    """
    rows = rule_rows()
    verified, failing = _verify(rows) if verify else (None, [])
    code = 1 if failing else 0
    tail = (f"{len(failing)} rule{'s' if len(failing) != 1 else ''} failed: {', '.join(failing)}" if failing else
            (f"all {len(rows)} rules verified" if verify else ""))
    if fmt == "json":
        out = []
        for row in rows:
            d = dict(row)
            if verified is not None:
                ok, detail = verified[row["name"]]
                d["verified"] = ok
                d["detail"] = detail
            out.append(d)
        payload: dict = {"rules": out}
        if verified is not None:
            payload["failing"] = failing
        return code, json.dumps(payload, indent=2, ensure_ascii=False)
    if fmt == "markdown":
        from matcalc.render.markdown import md_escape

        head = "| name | statement | source |" + (" verified |" if verified is not None else "")
        sep = "| --- | --- | --- |" + (" --- |" if verified is not None else "")
        lines = ["# matcalc rules", "", head, sep]
        for row in rows:
            line = f"| {md_escape(row['name'])} | {md_escape(row['statement'])} | {md_escape(row['source'])} |"
            if verified is not None:
                ok, detail = verified[row["name"]]
                line += f" {'✓' if ok else '✗'} {md_escape(detail)} |"
            lines.append(line)
        if tail:
            lines += ["", ("**✗** " if failing else "**✓** ") + md_escape(tail)]
        return code, "\n".join(lines) + "\n"
    if fmt == "latex":
        from matcalc.render.latex import rules_document

        return code, rules_document(rows, verified=verified)
    if fmt != "text":
        raise ValueError(f"unknown format {fmt!r}")
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    table = Table(title="matcalc rules", show_lines=False)
    table.add_column("name", style="bold")
    table.add_column("statement")
    table.add_column("source", style="dim")
    if verified is not None:
        table.add_column("verified")
    for row in rows:
        # Text, not str: rich would read "[i = j]" in a statement as markup
        cells: list[Any] = [Text(row["name"]), Text(row["statement"]), Text(row["source"])]
        if verified is not None:
            ok, detail = verified[row["name"]]
            cells.append(Text(("✓ " if ok else "✗ ") + detail, style="green" if ok else "red"))
        table.add_row(*cells)
    if tail:
        return code, Group(table, Text(tail, style="bold red" if failing else "bold green"))
    return code, table
