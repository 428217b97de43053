"""Test configuration: hypothesis runs derandomized in CI (the same examples every run, so a failure reproduces);
set MATCALC_HYPOTHESIS=explore locally to draw fresh random examples."""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("explore", deadline=None, print_blob=True)
settings.load_profile("explore" if os.environ.get("MATCALC_HYPOTHESIS") == "explore" else "ci")
