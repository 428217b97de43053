"""Renderers: rich text, LaTeX, Markdown and JSON views of matcalc's results.

Contract: each submodule turns results (or IR expressions) into one output format; :mod:`matcalc.render.show` renders
``matcalc show``. Importing this package imports nothing itself (no rich), so the core stays light; only the
submodules and the CLI import rich.
"""
