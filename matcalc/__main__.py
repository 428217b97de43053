"""``python -m matcalc`` runs the command-line interface (and ends without the interpreter's slow teardown)."""

from matcalc.cli import run

run()
