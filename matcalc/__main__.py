"""``python -m matcalc`` runs the command-line interface."""

from matcalc.cli import main

raise SystemExit(main())
