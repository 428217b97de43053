"""Batch checking (SPEC section 6): many documents, or many unrelated claims, judged in one process.

Contract: :func:`collect_documents` turns ``matcalc check FILE... | DIR`` arguments into :class:`Item`\\ s (a DIR
gives its ``*.mc`` files, sorted; a file that cannot be read becomes an item with its error), :func:`read_claims`
turns a JSONL file (one ``{"claim": …, "given": …, "layout": …}`` per line) into items, a bad line becoming that
line's error with its line number. :func:`judge_all` judges every item on its own — a document's declarations never
carry over to the next — in this process or in ``jobs`` forked worker processes (forked after the heavy modules are
imported and warmed up, largest items first), and hands the :class:`Outcome`\\ s back in input order. The rest
writes them: one report each and a summary table (text), one row per item (CSV), a list (JSON), or one Gradescope
``results.json`` per submission and ``scores.csv`` (gradescope). The exit status is the worst over all items:
2 if some item could not be read at all, else 1 if something is refuted or in error, else 3 if something is
inconclusive, else 0. Verdicts come from :func:`matcalc.api.check_text`; nothing here judges.
"""

from __future__ import annotations

import csv
import difflib
import io
import json
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from matcalc.errors import MatcalcError, UsageError

LAYOUTS = ("mixed", "numerator", "denominator")
CLAIM_FIELDS = ("claim", "given", "layout")
#: Exit statuses from best to worst: verified, inconclusive, refuted or in error, unreadable.
_SEVERITY = {0: 0, 3: 1, 1: 2, 2: 3}
COUNTED = ("verified", "refuted", "inconclusive", "error")
CSV_COLUMNS = ("document", "verdict", *COUNTED, "seconds", "message")


@dataclass
class Item:
    """One thing to check on its own: a document, or one claim of a JSONL file."""

    name: str  # a path, or FILE.jsonl:LINE
    text: str | None = None  # None when it could not be read (``error`` says why)
    given: str | None = None
    layout: str = "mixed"
    error: str | None = None
    claim_line: int | None = None  # the JSONL line of a claim
    problem: str | None = None  # --problem: what a submission's derivation must start from

    @property
    def size(self) -> int:
        return len(self.text or "")


@dataclass
class Outcome:
    """What checking one item gave: its report, or the message of why it could not be checked at all."""

    name: str
    report: object | None  # matcalc.results.CheckReport
    error: str | None
    seconds: float

    @property
    def verdict(self) -> str:
        return self.report.verdict if self.report is not None else "error"

    @property
    def exit_code(self) -> int:
        return self.report.exit_code if self.report is not None else 2

    def counts(self) -> dict[str, int]:
        """The lines of each verdict; an item that could not be read at all is one error."""
        out = dict.fromkeys(COUNTED, 0)
        for r in (self.report.results if self.report is not None else []):
            out[r.verdict] += 1
        if self.report is None and self.error:
            out["error"] = 1
        return out

    def row(self) -> dict:
        return {"document": self.name, "verdict": self.verdict, **self.counts(), "seconds": round(self.seconds, 3),
                "message": (self.error or "").split("\n")[0]}  # the message's first line; JSON has the caret

    def to_json(self) -> dict:
        body = self.report.to_json() if self.report is not None else {"verdict": "error", "claims": []}
        return {"document": self.name, **body, "exit_code": self.exit_code, "counts": self.counts(),
                "seconds": round(self.seconds, 3), "error": self.error}


def worst_exit(codes) -> int:
    """The batch's exit status: the worst of the items' (2 unreadable > 1 refuted/error > 3 inconclusive > 0)."""
    return max(codes, key=lambda c: _SEVERITY.get(c, 3), default=0)


# ───────────────────────────── collecting the items ─────────────────────────────


def _read_file(path: Path, name: str) -> Item:
    try:
        return Item(name, path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        return Item(name, error=f"{name} is not UTF-8 text: {exc}")
    except OSError as exc:
        return Item(name, error=f"cannot read {name}: {exc.strerror or exc}")


def is_folder(arg: str) -> bool:
    return arg != "-" and len(arg) < 4096 and "\n" not in arg and os.path.isdir(arg)


_BARE_WORD = re.compile(r"[\w.\-]+")


def looks_like_path(arg: str) -> bool:
    """Whether ``check ARG`` means a file or folder rather than a claim: ARG ends in ``/`` or ``.mc``, starts
    like a path (``./``, ``../``, ``/``, ``~/``) or is a single bare word (``nosuchdir``, ``hw-1``) — none of them
    holds a claim, which needs an ``=``."""
    if arg == "-" or len(arg) >= 4096 or any(ch.isspace() for ch in arg) or "=" in arg:
        return False
    return (arg.endswith(("/", os.sep, ".mc")) or arg.startswith(("./", "../", "/", "~/"))
            or _BARE_WORD.fullmatch(arg) is not None)


def collect_documents(args: list[str], given: str | None = None, layout: str = "mixed") -> list[Item]:
    """The documents named by ``FILE... | DIR`` arguments, in order; a DIR gives its ``*.mc`` files, sorted."""
    items: list[Item] = []
    stdin_used = False
    for arg in args:
        if arg == "-":
            if stdin_used:
                raise UsageError("standard input (-) can be read only once")
            stdin_used = True
            text = sys.stdin.read()
            bad = any("\udc80" <= ch <= "\udcff" for ch in text)
            items.append(Item("<stdin>", None if bad else text, error="standard input is not UTF-8 text" if bad
                              else None))
        elif is_folder(arg):
            files = sorted(p for p in Path(arg).glob("*.mc") if p.is_file())
            if not files:
                deeper = sorted({p.parent.name for p in Path(arg).glob("*/*.mc") if p.is_file()})
                hint = (f" (its subfolders {', '.join(deeper[:3])}{' …' if len(deeper) > 3 else ''} have some: "
                        f"name them, as in {arg.rstrip('/')}/*/*.mc)") if deeper else ""
                raise UsageError(f"{arg}: the folder has no .mc files to check{hint}")
            items.extend(_read_file(p, str(p)) for p in files)
        elif len(arg) < 4096 and "\n" not in arg and os.path.isfile(arg):
            items.append(_read_file(Path(arg), arg))
        elif len(args) == 1 and not looks_like_path(arg):
            items.append(Item("<input>", arg))  # one claim, e.g. with --format csv
        else:
            hint = ("" if looks_like_path(arg) else
                    " (several claims go one per line in a JSONL file: matcalc check --claims FILE.jsonl)")
            items.append(Item(arg if len(arg) <= 200 else arg[:199] + "…",
                              error=f"no such file or folder: {arg[:200]}{hint}"))
    for it in items:
        it.given, it.layout = given, layout
    return items


def _claim_item(where: str, n: int, line: str, given: str | None, layout: str) -> Item:
    name = f"{where}:{n}"
    try:
        data = json.loads(line)
    except json.JSONDecodeError as exc:
        return Item(name, error=f"{name}: not JSON: {exc.msg} (column {exc.colno})", claim_line=n)
    if not isinstance(data, dict):
        return Item(name, error=f"{name}: expected an object {{\"claim\": ..., \"given\": ...}}, not "
                                f"{type(data).__name__}", claim_line=n)
    # other fields (an id, an expected verdict) are the data set's and are ignored; a near miss of a field (giv,
    # Given, claims) would silently drop what it holds, so it is that line's error
    near = {k: close[0] for k in sorted(set(data) - set(CLAIM_FIELDS))
            if (close := difflib.get_close_matches(k.lower(), CLAIM_FIELDS, n=1, cutoff=0.7))
            and abs(len(k) - len(close[0])) <= 2 and not set(k) & set("_- .")}  # claim_id is a data set's id
    if near:
        said = ", ".join(f"{k!r} (did you mean {v!r}?)" for k, v in near.items())
        return Item(name, error=f"{name}: unknown field {said}; the fields are claim, given, layout (others are "
                                "ignored)", claim_line=n)
    claim, g, lay = data.get("claim"), data.get("given", given), data.get("layout", layout)
    if not isinstance(claim, str) or not claim.strip():
        return Item(name, error=f"{name}: \"claim\" must be a non-empty string", claim_line=n)
    if g is not None and not isinstance(g, str):
        return Item(name, error=f"{name}: \"given\" must be a string of declarations", claim_line=n)
    if lay not in LAYOUTS:
        return Item(name, error=f"{name}: \"layout\" must be one of {', '.join(LAYOUTS)}", claim_line=n)
    return Item(name, claim, g, lay, claim_line=n)


def read_claims(path: str, given: str | None = None, layout: str = "mixed") -> list[Item]:
    """One item per non-blank line of a JSONL file; a line that is not a claim object is an item with its error."""
    p = Path(path)
    if not p.is_file():
        raise UsageError(f"no such file: {path}" if not p.exists() else f"{path} is not a regular file")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path} is not UTF-8 text: {exc}") from None
    items = [_claim_item(path, n, line, given, layout)
             for n, line in enumerate(text.splitlines(), 1) if line.strip()]
    if not items:
        raise UsageError(f"{path}: no claims (one JSON object per line: {{\"claim\": ..., \"given\": ...}})")
    return items


# ───────────────────────────── judging ─────────────────────────────


def _claim_error(item: Item, exc: MatcalcError) -> str:
    """A claim's reading error, located by its JSONL line and the column in the claim, with a caret."""
    where = f"{item.name}: " + (f"column {exc.col}: " if exc.col is not None else "")
    return "\n".join([where + exc.message, *exc.caret_lines()])


def judge_item(item: Item, seed: int = 0) -> Outcome:
    """Check one item on its own; a reading error (or a failure of matcalc itself) is the item's error."""
    from matcalc.api import check_text

    t0 = time.perf_counter()
    if item.error is not None:
        return Outcome(item.name, None, item.error, 0.0)
    try:
        report = check_text(item.text, given=item.given, layout=item.layout,
                            where="<input>" if item.claim_line else item.name, seed=seed, problem=item.problem,
                            cli=True)
    except MatcalcError as exc:
        msg = _claim_error(item, exc) if item.claim_line else str(exc)
        if not msg.startswith(item.name):  # an error without a position (nothing to check): still name the item
            msg = f"{item.name}: {msg}"
        return Outcome(item.name, None, msg, time.perf_counter() - t0)
    except RecursionError:
        return Outcome(item.name, None, f"{item.name}: the input is nested too deeply", time.perf_counter() - t0)
    except Exception as exc:  # a fault of matcalc: one bad submission must not stop a class's batch
        return Outcome(item.name, None, f"{item.name}: matcalc failed on this input (a bug; please report it): "
                                        f"{type(exc).__name__}: {exc}", time.perf_counter() - t0)
    if item.claim_line:
        report.where = item.name
    return Outcome(item.name, report, None, time.perf_counter() - t0)


def _preload() -> None:
    """Import the checking methods (SymPy, numpy) before the first item, so its seconds are its own."""
    import matcalc.engine  # noqa: F401
    import matcalc.verify.exact  # noqa: F401
    import matcalc.verify.numeric  # noqa: F401


def _warm_up() -> None:
    """Import the heavy modules and run one tiny check, so forked workers start with SymPy's and numpy's lazy
    parts loaded and their caches set up."""
    from matcalc.api import check_text

    check_text("d/dx a^T x = a", given="a: n, x: n")


def judge_all(items: list[Item], *, seed: int = 0, jobs: int = 1,
              on_outcome: Callable[[int, Outcome], None] | None = None) -> list[Outcome]:
    """Judge every item; ``on_outcome(i, outcome)`` is called in input order as soon as item ``i`` and all before
    it are done. With ``jobs`` > 1 the items are spread over that many forked processes, largest first."""
    outcomes: list[Outcome | None] = [None] * len(items)
    todo = [i for i, it in enumerate(items) if it.error is None]
    jobs = max(1, min(jobs, len(todo)))
    if todo:
        _preload()
    if jobs == 1:
        for i, it in enumerate(items):
            outcomes[i] = judge_item(it, seed)
            if on_outcome is not None:
                on_outcome(i, outcomes[i])
        return outcomes  # type: ignore[return-value]
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor, as_completed

    _warm_up()
    try:
        ctx = mp.get_context("fork")
    except ValueError:  # pragma: no cover - platforms without fork
        ctx = mp.get_context()
    nxt = 0

    def release() -> None:
        nonlocal nxt
        while nxt < len(items) and outcomes[nxt] is not None:
            if on_outcome is not None:
                on_outcome(nxt, outcomes[nxt])
            nxt += 1

    for i, it in enumerate(items):
        if it.error is not None:
            outcomes[i] = Outcome(it.name, None, it.error, 0.0)
    release()
    order = sorted(todo, key=lambda i: -items[i].size)
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = {pool.submit(judge_item, items[i], seed): i for i in order}
        for fut in as_completed(futures):
            i = futures[fut]
            try:
                outcomes[i] = fut.result()
            except Exception as exc:  # a worker died (out of memory, killed)
                outcomes[i] = Outcome(items[i].name, None, f"{items[i].name}: the worker process checking it "
                                                           f"failed: {type(exc).__name__}: {exc}", 0.0)
            release()
    return outcomes  # type: ignore[return-value]


# ───────────────────────────── writing ─────────────────────────────


def to_csv(outcomes: list[Outcome]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
    w.writeheader()
    for o in outcomes:
        w.writerow(o.row())
    return buf.getvalue()


def summary_table(outcomes: list[Outcome], seconds: float):
    """The rich table that ends a batch: one row per item, then the totals."""
    from rich.table import Table
    from rich.text import Text

    from matcalc.results import MARK

    style = {"verified": "green", "refuted": "red", "inconclusive": "yellow", "error": "red"}
    tally: dict[str, int] = {}
    for o in outcomes:
        tally[o.verdict] = tally.get(o.verdict, 0) + 1
    caption = (f"{len(outcomes)} checked in {seconds:.1f} s: "
               + ", ".join(f"{tally[v]} {v}" for v in COUNTED if v in tally))
    kind = "claim" if outcomes and ":" in outcomes[0].name and outcomes[0].name.rsplit(":", 1)[1].isdigit() else \
        "document"
    table = Table(title="summary", caption=caption, show_lines=False)
    table.add_column(kind)
    table.add_column("verdict")
    for v in COUNTED:
        table.add_column(v, justify="right")
    table.add_column("seconds", justify="right")
    for o in outcomes:
        c = o.counts()
        table.add_row(Text(o.name), Text(f"{MARK[o.verdict]} {o.verdict}", style=style[o.verdict]),
                      *(str(c[v]) for v in COUNTED), f"{o.seconds:.2f}")
    return table


def render_outcome(o: Outcome):
    """One item's report (the same as ``matcalc check`` on it alone), or its error."""
    from rich.text import Text

    if o.report is not None:
        return o.report
    return Text(f"{o.name}   ✗ could not be checked\nerror: {o.error}", style="red")


def write_gradescope(outcomes: list[Outcome], outdir: str) -> None:
    """OUTDIR/<submission>.json (Gradescope's results.json of each submission) and OUTDIR/scores.csv."""
    from matcalc.render.gradescope import gradescope_error, gradescope_results

    names = [Path(o.name).stem for o in outcomes]
    if len(set(names)) < len(names):  # one file name per student folder (a Gradescope export): the folders name them
        parents = [Path(o.name).parent.name or Path(o.name).stem for o in outcomes]
        if len(set(parents)) == len(parents):
            names = parents
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise UsageError(f"two submissions would both be written to {dupes[0]}.json; give files with distinct names")
    out = Path(outdir)
    try:
        out.mkdir(parents=True, exist_ok=True)
        rows = []
        for name, o in zip(names, outcomes):
            data = gradescope_results(o.report) if o.report is not None else gradescope_error(UsageError(o.error))
            with open(out / f"{name}.json", "w", encoding="utf-8") as fh:
                json.dump(data, fh, indent=2, ensure_ascii=False)
                fh.write("\n")
            rows.append({"submission": name, "score": data["score"],
                         "max_score": sum(t["max_score"] for t in data["tests"]), "verdict": o.verdict})
        with open(out / "scores.csv", "w", encoding="utf-8", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=("submission", "score", "max_score", "verdict"), lineterminator="\n")
            w.writeheader()
            w.writerows(rows)
    except OSError as exc:
        raise UsageError(f"cannot write to {outdir}: {exc.strerror or exc}") from None


# ───────────────────────────── the command ─────────────────────────────


def check_command(args, console: Callable[[], object], emit: Callable[[str, str | None], None]) -> int:
    """``matcalc check FILE... | DIR`` and ``matcalc check --claims FILE.jsonl``: returns the exit status.

    ``console()`` gives the terminal's rich console and ``emit(text, output)`` writes text to ``-o`` or stdout (the
    CLI's own helpers, so the output looks like the rest of matcalc's).
    """
    if args.claims:
        if args.input:
            raise UsageError("--claims FILE.jsonl takes no other inputs: put every claim in the file, one per line")
        items = read_claims(args.claims, args.given, args.layout)
    else:
        items = collect_documents(args.input, args.given, args.layout)
        for it in items:
            it.problem = getattr(args, "problem", None)
    fmt = args.format
    if fmt in ("latex", "markdown"):
        raise UsageError(f"--format {fmt} takes one document; for several use text, csv, json or gradescope")
    if fmt == "gradescope" and args.output and len(items) > 1 and str(args.output).lower().endswith(".json"):
        raise UsageError(f"-o {args.output}: with several submissions --format gradescope writes a folder (one JSON "
                         "file per submission and scores.csv): name a folder")
    if fmt == "gradescope" and not args.output:
        raise UsageError("--format gradescope with several submissions writes a folder: give -o OUTDIR")
    if args.jobs is not None and args.jobs < 0:
        raise UsageError("--jobs must be 0 (one per core) or more")
    jobs = args.jobs if args.jobs else _cores() if args.jobs == 0 else 1
    t0 = time.perf_counter()
    if fmt == "text":
        from rich.console import Console

        try:
            fh = open(args.output, "w", encoding="utf-8") if args.output else None  # noqa: SIM115 - closed below
        except OSError as exc:
            raise UsageError(f"cannot write {args.output}: {exc.strerror or exc}") from None
        try:
            con = Console(file=fh, color_system=None, width=120, highlight=False) if fh else console()

            def out(renderable) -> None:
                _print_to(con, renderable)

            def show(i: int, o: Outcome) -> None:
                if i:
                    con.print()
                out(render_outcome(o))

            outcomes = judge_all(items, seed=args.seed, jobs=jobs, on_outcome=show)
            con.print()
            out(summary_table(outcomes, time.perf_counter() - t0))
        finally:
            if fh is not None:
                fh.close()
        return worst_exit(o.exit_code for o in outcomes)
    outcomes = judge_all(items, seed=args.seed, jobs=jobs)
    for o in outcomes:
        if o.error:
            print(f"error: {o.error}", file=sys.stderr)
    if fmt == "csv":
        emit(to_csv(outcomes), args.output)
    elif fmt == "json":
        emit(json.dumps([o.to_json() for o in outcomes], indent=2, ensure_ascii=False), args.output)
    else:
        write_gradescope(outcomes, args.output)
        _print_to(console(), summary_table(outcomes, time.perf_counter() - t0))
        print(f"wrote {len(outcomes)} results and scores.csv to {args.output}", file=sys.stderr)
    return worst_exit(o.exit_code for o in outcomes)


def _print_to(con, renderable) -> None:
    """Print on a terminal in colour; piped or to a file as plain text without trailing spaces (rich pads titles)."""
    if con.is_terminal:
        con.print(renderable)
    else:
        from matcalc.render.text import plain

        con.file.write(plain(renderable, con.width) + "\n")


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1
