"""The ``matcalc`` command: argument parsing, one renderable printed once, errors to stderr, exit codes.

Contract (SPEC section 6): exit status 0 when everything is verified (or derived), 1 when a claim is refuted or in
error, 2 for bad input or usage (a message with line, column and caret, or the operands and shapes in conflict; never
a traceback), 3 when something is inconclusive and nothing refuted. Start-up is cheap: this module imports neither
SymPy nor numpy; each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Sequence

from matcalc import __version__
from matcalc.errors import MatcalcError, UsageError

EXAMPLES = """\
examples:
  matcalc show "d/dW (W x - y)^T (W x - y)" --given "W: n x m, x: m, y: n"
  matcalc derive "sum((W x - y).^2)" --wrt W --given "W: n x m, x: m, y: n"
  matcalc check "d/dx x^T A x = 2 A x" --given "A: n x n, x: n"
  matcalc check homework.mc
  matcalc prove eq2
  matcalc prove all --format latex -o lecture.tex --pdf
  matcalc rules --verify
"""

FORMATS = ("text", "latex", "markdown", "json")


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="matcalc",
        description="matcalc: a symbolic matrix-calculus verifier. Derivations with named rules, proved at generic "
        "sizes, checked entry by entry with SymPy and by finite differences.",
        epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"matcalc {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    def common(sp: argparse.ArgumentParser, formats: Sequence[str] = FORMATS) -> None:
        sp.add_argument("--format", choices=formats, default="text", help="output format (default: text)")
        sp.add_argument("-o", "--output", metavar="FILE", help="write the output to FILE instead of the terminal")

    sp = sub.add_parser("prove", help="derive and check theorems from proofs/ (or your own theorem file)",
                        description="Derive each theorem's left-hand side with the rule engine, show every step with "
                        "its rule, and judge the claim by three independent methods.",
                        epilog="examples:\n  matcalc prove eq2\n  matcalc prove all\n  matcalc prove my-theorem.mc\n"
                        "  matcalc prove all --pdf -o lecture.pdf",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    sp.add_argument("names", nargs="+", metavar="NAME", help="theorem names, 'all', or paths to .mc files")
    common(sp)
    _document_options(sp)
    sp.add_argument("--seed", type=int, default=0, help="random seed of the numeric check (default 0)")

    sub.add_parser("list", help="the theorems in proofs/, with their titles and sources")

    sp = sub.add_parser("show", help="how matcalc reads an expression: bracketed, with every shape",
                        epilog='example:\n  matcalc show "W x + b" --given "W: n x m, x: m, b: n"',
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    sp.add_argument("input", metavar="EXPR|FILE")
    sp.add_argument("--given", metavar="DECLS", action="append",
                    help='declarations, e.g. "W: n x m, x: m" (repeat it to add more)')
    sp.add_argument("--layout", choices=("mixed", "numerator", "denominator"), default="mixed")
    common(sp)

    sp = sub.add_parser("derive", help="the derivative in closed matrix form, with its steps and a numeric check",
                        epilog='examples:\n  matcalc derive "x^T A x" --wrt x\n'
                        '  matcalc derive "x^T A x" --wrt x --order 2\n'
                        '  matcalc derive "sigma(W x + b)" --wrt x,W --given "W: n x m, x: m, b: n"\n'
                        '  matcalc derive net.mc --wrt W1,b1,W2,b2 --format mc > net-grad.mc',
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    sp.add_argument("input", metavar="EXPR|FILE", help="an expression, or a .mc document (its last expression)")
    sp.add_argument("--wrt", required=True, metavar="X[,Y...]", help="the variables to differentiate by")
    sp.add_argument("--given", metavar="DECLS", action="append",
                    help='declarations, e.g. "W: n x m, x: m" (repeat it to add more)')
    sp.add_argument("--layout", choices=("mixed", "numerator", "denominator"), default="mixed",
                    help="derivative layout (default: mixed)")
    sp.add_argument("--seed", type=int, default=0, help="random seed of the numeric check (default 0)")
    sp.add_argument("--order", type=int, choices=(1, 2), default=1,
                    help="1: the derivative (default); 2: the Hessian of a scalar (by vec(X) for a matrix X)")
    common(sp, (*FORMATS, "mc"))

    sp = sub.add_parser("check", help="judge claims: verified, refuted (with a counterexample) or inconclusive",
                        epilog='examples:\n  matcalc check "d/dx x^T A x = (A + A^T) x" --given "A: n x n, x: n"\n'
                        "  matcalc check homework.mc\n  cat homework.mc | matcalc check -\n"
                        "  matcalc check submissions/ --jobs 2 --format csv\n"
                        "  matcalc check submissions/ --format gradescope -o results/\n"
                        "  matcalc check --claims claims.jsonl",
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    sp.add_argument("input", nargs="*", metavar="CLAIM|FILE...|DIR|-",
                    help="a claim, .mc documents or folders of them (each checked on its own), or - for standard "
                         "input")
    sp.add_argument("--claims", metavar="FILE.jsonl",
                    help='unrelated claims, one JSON object per line: {"claim": ..., "given": ..., "layout": ...}')
    sp.add_argument("--jobs", type=int, default=None, metavar="N",
                    help="check several documents or claims in N processes (0: one per core; default 1)")
    sp.add_argument("--given", metavar="DECLS", action="append",
                    help='declarations, e.g. "A: n x n, x: n" (repeat it to add more)')
    sp.add_argument("--layout", choices=("mixed", "numerator", "denominator"), default="mixed",
                    help="derivative layout (default: mixed)")
    sp.add_argument("--seed", type=int, default=0, help="random seed of the numeric check (default 0)")
    sp.add_argument("--problem", metavar="EXPR", help="the expression the derivation must start from; its last line "
                    "must be a closed form (overrides a 'problem:' line)")
    common(sp, (*FORMATS, "csv", "gradescope"))
    _document_options(sp)

    sp = sub.add_parser("rules", help="the rule table; --verify proves each rule")
    sp.add_argument("--verify", action="store_true", help="prove every rule with SymPy and finite differences")
    common(sp)
    return p


def _document_options(sp: argparse.ArgumentParser) -> None:
    """``--pdf``, ``--handout``, ``--force`` and ``--full`` (prove and check)."""
    sp.add_argument("--pdf", action="store_true",
                    help="compile the LaTeX document with pdflatex (to -o FILE, else NAME.pdf; never over an "
                    "existing file unless -o names it or --force)")
    sp.add_argument("--handout", action="store_true",
                    help="a handout: the LaTeX/PDF document without the evidence sections")
    sp.add_argument("--force", action="store_true", help="with --pdf: replace an existing PDF of the default name")
    sp.add_argument("--full", action="store_true", help="show every value and entry of a counterexample")


def _read_input(arg: str) -> tuple[str, str]:
    """The text of ``arg`` — a file, ``-`` for standard input, or the text itself — and where it came from."""
    if arg == "-":
        text = sys.stdin.read()
        if any("\udc80" <= ch <= "\udcff" for ch in text):  # undecodable bytes, kept by the surrogateescape handler
            raise UsageError("standard input is not UTF-8 text")
        return text, "<stdin>"
    if len(arg) < 4096 and "\n" not in arg and arg.startswith(("/", "./", "../", "~/")) and " " not in arg:
        path = Path(arg).expanduser()
        if path.exists() and not path.is_file():
            raise UsageError(f"{arg} is not a regular file (give a .mc file, a claim, or - for standard input)")
    if arg.endswith(".mc") or (len(arg) < 4096 and "\n" not in arg and os.path.isfile(arg)):
        path = Path(arg)
        if not path.is_file():
            raise UsageError(f"no such file: {arg}")
        try:
            return path.read_text(encoding="utf-8"), str(path)
        except UnicodeDecodeError as exc:
            raise UsageError(f"{arg} is not UTF-8 text: {exc}") from None
    return arg, "<input>"


def _emit(text: str, output: str | None) -> None:
    if output:
        try:
            Path(output).write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        except OSError as exc:
            raise UsageError(f"cannot write {output}: {exc.strerror or exc}") from None
    else:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _console():
    from rich.console import Console

    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        # piped or redirected: rich would assume 80 columns; tables and derivations read better wider
        console = Console(highlight=False, soft_wrap=False, width=120)
    return console


def _print_rich(renderable, output: str | None) -> None:
    """Print a rich renderable: in colour on a terminal; as plain text without trailing spaces when piped or
    written to a file."""
    from matcalc.render.text import plain

    if output:
        _emit(plain(renderable, 120), output)
        return
    console = _console()
    if console.is_terminal:
        console.print(renderable)
    else:
        _emit(plain(renderable, console.width), None)


# ───────────────────────────── commands ─────────────────────────────


def _show_items(doc) -> list[tuple[str, object, str]]:
    """(label, expression, note) for every expression a document contains, in order."""
    from matcalc import ir
    from matcalc.document import Bare, Claim, ErrorLine, Let, Step

    items: list[tuple[str, object, str]] = []
    for s in doc.statements:
        if isinstance(s, ErrorLine) and s.error is not None:
            raise s.error
        if isinstance(s, Bare):
            items.append((f"line {s.line}", s.expr, ""))
        elif isinstance(s, Let):
            items.append((f"line {s.line}: let {s.name}", s.value, ""))
        elif isinstance(s, Step):
            items.append((f"line {s.line}: step", s.expr, ""))
        elif isinstance(s, Claim):
            sums = []
            for side in (s.lhs, s.rhs):
                for n in ir.walk(side):
                    if isinstance(n, ir.IndexSum) and (n.index.name, n.index.dim) not in sums:
                        sums.append((n.index.name, n.index.dim))
            notes = [f"free index {i.name} over 1..{i.dim} (the claim holds for every {i.name})" for i in s.free]
            notes += [f"summation index {name} over 1..{dim}" for name, dim in sums]
            items.append((f"line {s.line}: claim, left side", s.lhs, ""))
            items.append((f"line {s.line}: claim, right side", s.rhs, "\n".join(notes)))
    return items


def _seen_after(seen: set, label: str) -> set:
    """``seen`` (the let names a document's earlier lines showed), with the name the line ``label`` defines added
    once it is shown: the set object itself, shared by every line."""
    head, _, name = label.partition(": let ")
    if name:
        seen.add(name)
    return seen


def cmd_show(args: argparse.Namespace) -> int:
    from matcalc.lang import read_document

    text, where = _read_input(args.input)
    doc = read_document(text, given=args.given, layout=args.layout, where=where)
    items = _show_items(doc)
    if not items:
        raise UsageError("nothing to show: the input has no expression")
    from matcalc.render import show as show_render

    if len(items) == 1:
        expr = items[0][1]
        if args.format == "json":
            _emit(json.dumps(show_render.show_json(expr, doc.env), indent=2, ensure_ascii=False), args.output)
        elif args.format == "latex":
            _emit(show_render.show_latex(expr, doc.env), args.output)
        elif args.format == "markdown":
            _emit(show_render.show_markdown(expr, doc.env), args.output)
        else:
            _print_rich(show_render.show_tree(expr, doc.env), args.output)
        return 0
    if args.format == "json":
        seen: set[str] = set()  # a let's definition is expanded on the line that defines it, or the first using it
        data = {"statements": [{"label": label, "notes": note.split("\n") if note else [],
                                **show_render.show_json(e, doc.env, _seen_after(seen, label))}
                               for label, e, note in items]}
        _emit(json.dumps(data, indent=2, ensure_ascii=False), args.output)
    elif args.format in ("latex", "markdown"):
        from matcalc.printing import to_bracketed, to_latex

        if args.format == "latex":
            from matcalc.render.tex import escape_text

            body = "\n".join(f"\\paragraph{{{escape_text(label)}}}\n\\[ {to_latex(e)} \\]" for label, e, _ in items)
            _emit("\\documentclass{article}\n\\usepackage{amsmath,amssymb,bm}\n\\begin{document}\n"
                  f"{body}\n\\end{{document}}", args.output)
        else:
            _emit("\n\n".join(f"**{label}:** `{to_bracketed(e)}`\n\n$$\n{to_latex(e)}\n$$"
                                for label, e, _ in items), args.output)
    else:
        from rich.console import Group
        from rich.text import Text

        parts = []
        seen = set()  # a let's definition is expanded on the first line that shows it
        for label, e, note in items:
            parts.append(Text(f"── {label} ──", style="bold magenta"))
            parts.append(show_render.show_tree(e, None, _seen_after(seen, label)))
            if note:
                parts.append(Text(note, style="cyan"))
        decls = show_render.show_tree(items[0][1], doc.env).renderables[3:]
        parts.extend(decls)
        _print_rich(Group(*parts), args.output)
    return 0


def cmd_derive(args: argparse.Namespace) -> int:
    from matcalc.api import derive_text

    text, where = _read_input(args.input)
    result = derive_text(text, wrt=args.wrt, given=args.given, layout=args.layout, where=where, seed=args.seed,
                         order=args.order, cli=True)
    if args.format == "mc":
        from matcalc.render.mc import derive_document

        _emit(derive_document(result), args.output)
        return result.exit_code
    _render_result(result, args)
    return result.exit_code


def cmd_check(args: argparse.Namespace) -> int:
    if (args.claims or len(args.input) != 1 or args.format == "csv"
            or (args.input[0] != "-" and len(args.input[0]) < 4096 and os.path.isdir(args.input[0]))):
        from matcalc.batch import check_command

        if not args.claims and not args.input:
            raise UsageError("check needs a claim, files, a folder, - for standard input, or --claims FILE.jsonl")
        return check_command(args, _console, _emit)
    from matcalc.api import check_text
    from matcalc.batch import looks_like_path

    arg = args.input[0]
    if not arg.endswith(".mc") and looks_like_path(arg) and not os.path.exists(os.path.expanduser(arg)):
        raise UsageError(f"no such file or folder: {arg}")
    text, where = _read_input(arg)
    if args.format == "gradescope":
        # An autograder must always get a results.json: a submission that cannot be read scores 0 with the message.
        from matcalc.render.gradescope import gradescope_error, gradescope_results

        try:
            report = check_text(text, given=args.given, layout=args.layout, where=where, seed=args.seed,
                                problem=args.problem)
        except MatcalcError as exc:
            _emit(json.dumps(gradescope_error(exc), indent=2, ensure_ascii=False), args.output)
            print(f"error: {exc}", file=sys.stderr)
            return 2
        _emit(json.dumps(gradescope_results(report), indent=2, ensure_ascii=False), args.output)
        return report.exit_code
    default = f"{Path(where).stem if where not in ('<input>', '<stdin>') else 'check'}.pdf"
    if args.pdf:
        _pdf_target(args, default)
    report = check_text(text, given=args.given, layout=args.layout, where=where, seed=args.seed, cli=True,
                        problem=args.problem)
    if args.pdf:
        return _write_pdf(report, args, default)
    _render_result(report, args)
    return report.exit_code


def cmd_prove(args: argparse.Namespace) -> int:
    from matcalc.api import prove_many

    default = ("lecture.pdf" if len(args.names) > 1 or args.names == ["all"] else f"{Path(args.names[0]).stem}.pdf")
    if args.pdf:
        _pdf_target(args, default)  # refuse before the work, not after it
    # a progress bar only where someone watches it (stderr a terminal: rich draws nothing elsewhere) and for more
    # than one theorem; otherwise rich's progress, live and spinner modules are not even loaded
    several = len(args.names) > 1 or "all" in args.names
    progress = args.format == "text" and not args.output and several and sys.stderr.isatty()
    # the engine's derivations of every theorem only where they are all shown (Markdown, LaTeX, a PDF, one theorem);
    # the `prove all` table and the JSON leave them out, and a failing theorem's block derives its own when printed
    derive = bool(args.pdf) or args.format in ("latex", "markdown") or not several
    result = prove_many(args.names, seed=args.seed, progress=progress, derive=derive)
    if args.pdf:
        return _write_pdf(result, args, default)
    _render_result(result, args)
    return result.exit_code


def _pdf_target(args: argparse.Namespace, default: str) -> str:
    """The output name of ``--pdf``: ``-o`` if given (the user named the file), else ``default`` unless that (or its
    .tex) exists and ``--force`` was not given."""
    from matcalc.render.pdf import pdf_paths

    if args.output:
        return args.output
    existing = [str(p) for p in pdf_paths(default) if p.exists()]
    if existing and not args.force:
        raise UsageError(f"{' and '.join(existing)} already exist{'s' if len(existing) == 1 else ''}: name the "
                         f"output with -o (-o {default} replaces it) or add --force")
    return default


def _write_pdf(result, args: argparse.Namespace, default: str) -> int:
    from matcalc.render.pdf import write_pdf

    pdf = write_pdf(result, _pdf_target(args, default), handout=args.handout)
    print(f"wrote {pdf} and {pdf.with_suffix('.tex')}", file=sys.stderr)
    return result.exit_code


def cmd_list(args: argparse.Namespace) -> int:
    from matcalc.proofs import list_theorems
    from rich.table import Table

    table = Table(title="theorems in proofs/", show_lines=False)
    table.add_column("part")
    table.add_column("name", style="bold")
    table.add_column("title")
    table.add_column("source", style="dim")
    from rich.markup import escape

    for th in list_theorems():
        table.add_row(escape(th.part or ""), escape(th.name), escape(th.title), escape(th.source))
    _print_rich(table, None)
    return 0


def cmd_rules(args: argparse.Namespace) -> int:
    from matcalc.render.rules import render_rules

    code, renderable = render_rules(verify=args.verify, fmt=args.format)
    if isinstance(renderable, str):
        _emit(renderable, args.output)
    else:
        _print_rich(renderable, args.output)
    return code


def _render_result(result, args: argparse.Namespace) -> None:
    fmt = args.format
    if fmt == "json":
        _emit(json.dumps(result.to_json(), indent=2, ensure_ascii=False), args.output)
    elif fmt == "latex":
        from matcalc.render.latex import document

        _emit(document(result, handout=getattr(args, "handout", False)), args.output)
    elif fmt == "markdown":
        from matcalc.render.markdown import markdown

        _emit(markdown(result), args.output)
    else:
        from matcalc.render.text import render

        _print_rich(render(result, full=getattr(args, "full", False)), args.output)


COMMANDS = {"show": cmd_show, "derive": cmd_derive, "check": cmd_check, "prove": cmd_prove, "list": cmd_list,
            "rules": cmd_rules}


def _protect_minus(argv: list[str]) -> list[str]:
    """Let an expression that starts with a minus (``matcalc show "-c^2"``) reach its command as an argument.

    argparse takes any word that starts with ``-`` and has no space for an option; a trailing space (which the
    reader ignores and which moves no column) makes it an argument. Words that are options (``-h``, ``-o``,
    ``--…``) and the value after an option that takes one are left alone.
    """
    out: list[str] = []
    takes_value = {"-o", "--output", "--format", "--given", "--layout", "--seed", "--wrt", "--problem", "--claims",
                   "--jobs"}
    prev = ""
    for a in argv:
        if (len(a) > 1 and a.startswith("-") and not a.startswith("--") and a[:2] not in ("-h", "-o")
                and prev not in takes_value):
            a += " "
        out.append(a)
        prev = a
    return out


def _one_blas_thread() -> None:
    """One BLAS thread for the command line (unless the user set it): the time budgets are CPU seconds of the process
    and every BLAS thread counts, so with several a large product used the budget faster than the work went; the
    checks' matrices are small, and batch mode's workers (--jobs) are one per core already. Set before numpy loads."""
    if "numpy" in sys.modules:
        return
    import os

    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = _build_parser()
    argv = _protect_minus(list(sys.argv[1:] if argv is None else argv))
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version exit 0, usage errors exit 2
        return int(exc.code or 0)
    if not args.command:
        parser.print_help()
        return 2
    if isinstance(getattr(args, "given", None), list):  # a repeated --given adds declarations (one line each)
        args.given = "\n".join(args.given)
    _one_blas_thread()
    from matcalc.deep import deep_room

    output = getattr(args, "output", None)
    if output and str(output).lower().endswith(".pdf") and not getattr(args, "pdf", False):
        fmt = getattr(args, "format", "text")
        hint = "add --pdf to compile it" if hasattr(args, "pdf") else "a PDF comes from prove or check with --pdf"
        print(f"error: -o {output}: the {fmt} output is not a PDF; {hint}", file=sys.stderr)
        return 2
    try:
        with deep_room():  # deep let chains: the recursion limit and the C stack raised, in this (the main) thread
            return COMMANDS[args.command](args)
    except MatcalcError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except RecursionError:
        print("error: the input is nested too deeply", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def run() -> None:
    """The console entry point (``[project.scripts]`` and ``python -m matcalc``): :func:`main`, then the output
    flushed and the process ended at once with ``os._exit``, skipping the interpreter's teardown (~0.15 s of
    freeing SymPy's and numpy's objects). Every file matcalc writes is closed before ``main`` returns, and process
    pools are shut down; the Python API and tests call :func:`main`, which returns normally."""
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError, OSError):  # the reader went away, or the stream is closed
            pass
    os._exit(code)
