"""Helpers shared by the cold-process benchmarks (bench_startup.py, bench_batch.py, profile_check.py).

Contract: how a benchmark starts ``matcalc`` in a fresh process and what it measures. Every subprocess runs the code
of the tree these scripts live in (its root is put first on ``PYTHONPATH``, so an editable install of another
checkout does not win) with ``COLUMNS=120`` and output captured. Byte code: by default (``--pyc cache``) the
processes may cache compiled modules, as an installed matcalc does — ``PYTHONDONTWRITEBYTECODE`` is dropped
and ``PYTHONPYCACHEPREFIX`` points to a folder under the system's temporary directory, so the tree is not touched
(the first run fills it; the scripts warm it up); ``--pyc env`` keeps the caller's environment (with
``PYTHONDONTWRITEBYTECODE=1`` every run compiles matcalc's sources again, ~0.15 s of CPU). A run is measured in
wall seconds (``time.perf_counter``) and in CPU seconds of the process and everything it waited for
(``resource.getrusage(RUSAGE_CHILDREN)``, user + system), which is robust on a shared machine. The launcher is either
``python -m matcalc`` with ``sys.executable`` or the ``matcalc`` console script installed for that interpreter (in
``sysconfig``'s scripts directory, else on ``PATH``). Nothing here imports matcalc.
"""

from __future__ import annotations

import os
import resource
import shutil
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

#: The baseline every ratio is taken against: the interpreter with matcalc's two heavy dependencies loaded.
BASELINE = [sys.executable, "-c", "import sympy, numpy"]

#: "cache" (compiled modules cached under PYC_DIR) or "env" (the caller's environment as it is); see set_pyc.
PYC = {"mode": "cache"}
PYC_DIR = Path(tempfile.gettempdir()) / "matcalc-bench-pycache"


def set_pyc(mode: str) -> str:
    """Choose how subprocesses treat byte code; returns a line saying so."""
    PYC["mode"] = mode
    if mode == "cache":
        return f"byte code: cached under {PYC_DIR} (PYTHONDONTWRITEBYTECODE dropped), as for an installed matcalc"
    flag = os.environ.get("PYTHONDONTWRITEBYTECODE")
    return (f"byte code: the caller's environment (PYTHONDONTWRITEBYTECODE={flag!r}"
            f"{': matcalc is compiled from source in every run' if flag else ''})")


def add_pyc_option(ap) -> None:
    ap.add_argument("--pyc", choices=("cache", "env"), default="cache",
                    help="cache compiled modules in a temporary folder as an installed matcalc does (default), or "
                         "keep the environment as it is (env)")


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a benchmarked process: this tree first on PYTHONPATH, 120 columns, no colour."""
    env = dict(os.environ)
    if PYC["mode"] == "cache":
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYC_DIR)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    env["COLUMNS"] = "120"
    env.pop("FORCE_COLOR", None)
    env.update(extra)
    return env


def module_launcher() -> list[str]:
    return [sys.executable, "-m", "matcalc"]


def script_launcher() -> list[str] | None:
    """The ``matcalc`` console script of this interpreter (scripts dir first, then PATH), or None."""
    here = Path(sysconfig.get_path("scripts")) / "matcalc"
    if here.is_file() and os.access(here, os.X_OK):
        return [str(here)]
    found = shutil.which("matcalc")
    return [found] if found else None


def path_script() -> str | None:
    """``matcalc`` as the shell finds it on PATH (may be a wrapper such as a pyenv shim)."""
    return shutil.which("matcalc")


@dataclass
class Run:
    wall: float
    cpu: float
    code: int
    stdout: str = ""
    stderr: str = ""


def run(cmd: list[str], *, env: dict[str, str] | None = None, timeout: float | None = None,
        stdin: str | None = None) -> Run:
    """Run ``cmd`` once, output captured; wall and CPU seconds (the process and its waited-for children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    p = subprocess.run(cmd, env=env or child_env(), capture_output=True, text=True, timeout=timeout, input=stdin)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Run(wall, cpu, p.returncode, p.stdout, p.stderr)


@dataclass
class Series:
    """Runs of one subject, each paired with the baseline run made just before it."""

    name: str
    runs: list[Run] = field(default_factory=list)
    base: list[Run] = field(default_factory=list)

    @property
    def wall(self) -> float:
        return statistics.median(r.wall for r in self.runs)

    @property
    def cpu(self) -> float:
        return statistics.median(r.cpu for r in self.runs)

    @property
    def ratio(self) -> float:
        """Median of the paired wall ratios (subject / the baseline run just before it)."""
        return statistics.median(r.wall / b.wall for r, b in zip(self.runs, self.base))

    @property
    def cpu_ratio(self) -> float:
        return statistics.median(r.cpu / b.cpu for r, b in zip(self.runs, self.base) if b.cpu > 0)

    @property
    def codes(self) -> set[int]:
        return {r.code for r in self.runs}


def machine_line() -> str:
    """One line on the machine: cores usable, load average, interpreter."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"machine: {cores} cores, load average {load}; {sys.executable} {sys.version.split()[0]}"
