"""Tests of batch checking (issue 14, SPEC section 6): ``matcalc check FILE... | DIR`` and ``check --claims``.

Each document is judged on its own (a name declared differently in two files is fine), one report each and a summary
table; ``--format csv`` gives one row per document and ``json`` a list; ``--jobs 2`` gives the verdicts of
``--jobs 1``; a bad JSONL line is that line's error and the others are still judged; the exit status is the worst
over all; ``--format gradescope -o OUTDIR`` writes one results.json per submission and scores.csv.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
from pathlib import Path

import pytest
from test_gradescope import RESULTS_SCHEMA, validate

from matcalc import cli
from matcalc.batch import worst_exit

HOMEWORK = Path(__file__).parent / "homework"

#: The same name declared differently in each file; each claim true under its own declarations.
X_VECTOR = "given x: n\nd/dx x^T x = 2 x\n"
X_MATRIX = "given x: m x n\nd/dx tr(x^T x) = 2 x\n"
#: False: the gradient of a^T x is a, not x.
WRONG = "given a: n, x: n\nd/dx a^T x = x\n"


def _run(args: list[str], capsys) -> tuple[int, str, str]:
    code = cli.main(args)
    out, err = capsys.readouterr()
    return code, out, err


def _write(folder: Path, files: dict[str, str]) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text, encoding="utf-8")
    return [str(folder / n) for n in files]


def test_several_files_each_judged_on_its_own(tmp_path, capsys) -> None:
    paths = _write(tmp_path, {"vec.mc": X_VECTOR, "mat.mc": X_MATRIX})
    code, out, err = _run(["check", *paths, "--format", "json"], capsys)
    data = json.loads(out)
    assert code == 0, err
    assert [d["document"] for d in data] == paths
    assert [d["verdict"] for d in data] == ["verified", "verified"]
    assert [len(d["claims"]) for d in data] == [1, 1]
    # and the text output: one report each, then the summary table naming both
    code, out, _ = _run(["check", *paths], capsys)
    assert code == 0
    assert out.count("✓ verified d/dx") == 2
    assert "summary" in out and "vec.mc" in out and "mat.mc" in out
    assert "2 checked" in out and "2 verified" in out


def test_a_wrong_file_does_not_spoil_the_others_and_sets_the_exit(tmp_path, capsys) -> None:
    paths = _write(tmp_path, {"a.mc": X_VECTOR, "b.mc": WRONG, "c.mc": X_MATRIX})
    code, out, _ = _run(["check", *paths, "--format", "json"], capsys)
    assert code == 1
    assert [d["verdict"] for d in json.loads(out)] == ["verified", "refuted", "verified"]


def test_a_folder_means_its_mc_files_sorted(tmp_path, capsys) -> None:
    _write(tmp_path, {"b.mc": WRONG, "a.mc": X_VECTOR, "notes.txt": "not a document", "c.mc": X_MATRIX})
    code, out, _ = _run(["check", str(tmp_path), "--format", "csv"], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 1
    assert [Path(r["document"]).name for r in rows] == ["a.mc", "b.mc", "c.mc"]
    assert out.splitlines()[0] == "document,verdict,verified,refuted,inconclusive,error,seconds,message"
    assert [(r["verdict"], r["verified"], r["refuted"]) for r in rows] == [
        ("verified", "1", "0"), ("refuted", "0", "1"), ("verified", "1", "0")]
    assert all(float(r["seconds"]) >= 0 for r in rows)


def test_csv_counts_match_the_json_reports(capsys) -> None:
    code, out, _ = _run(["check", str(HOMEWORK), "--format", "csv"], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    code2, out2, _ = _run(["check", str(HOMEWORK), "--format", "json"], capsys)
    data = json.loads(out2)
    assert code == code2 == 1
    assert len(rows) == len(data) == len(list(HOMEWORK.glob("*.mc")))
    for r, d in zip(rows, data):
        assert r["document"] == d["document"] and r["verdict"] == d["verdict"]
        for v in ("verified", "refuted", "inconclusive", "error"):
            assert int(r[v]) == sum(c["verdict"] == v for c in d["claims"]) == d["counts"][v]
    by_name = {Path(d["document"]).name: d for d in data}
    assert by_name["least_squares_ok.mc"]["verdict"] == "verified"
    assert by_name["least_squares_transpose.mc"]["verdict"] == "refuted"


def test_jobs_2_gives_the_verdicts_of_jobs_1(tmp_path, capsys) -> None:
    _write(tmp_path, {"x1.mc": X_VECTOR, "x2.mc": WRONG, "x3.mc": X_MATRIX})
    for f in HOMEWORK.glob("*.mc"):
        (tmp_path / f.name).write_text(f.read_text(encoding="utf-8"), encoding="utf-8")
    runs = []
    for jobs in ("1", "2"):
        code, out, _ = _run(["check", str(tmp_path), "--format", "json", "--jobs", jobs], capsys)
        runs.append((code, [(d["document"], d["verdict"], [(c["line"], c["verdict"]) for c in d["claims"]])
                            for d in json.loads(out)]))
    assert runs[0] == runs[1]
    assert runs[0][0] == 1
    assert [Path(d[0]).name for d in runs[0][1]] == sorted(p.name for p in tmp_path.glob("*.mc"))


def test_unreadable_document_is_its_error_and_the_rest_is_judged(tmp_path, capsys) -> None:
    paths = _write(tmp_path, {"a.mc": X_VECTOR})
    (tmp_path / "bad.mc").write_bytes(b"given x: n\n\xff\xfe d/dx x = 1\n")
    code, out, err = _run(["check", paths[0], str(tmp_path / "bad.mc"), str(tmp_path / "missing.mc"),
                           "--format", "json"], capsys)
    data = json.loads(out)
    assert code == 2
    assert [d["verdict"] for d in data] == ["verified", "error", "error"]
    assert "not UTF-8" in data[1]["error"] and "no such file" in data[2]["error"]
    assert "Traceback" not in err and "missing.mc" in err


def _claims_file(tmp_path: Path, lines: list[str]) -> str:
    p = tmp_path / "claims.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(p)


def test_claims_jsonl_with_a_bad_line(tmp_path, capsys) -> None:
    path = _claims_file(tmp_path, [
        json.dumps({"claim": "d/dx x^T x = 2 x", "given": "x: n"}),
        "{not json",
        json.dumps({"claim": "d/dx a^T x = x", "given": "a: n, x: n"}),
        json.dumps({"claim": "d/dx x^T x = 2 x +", "given": "x: n"}),
        "",
        json.dumps({"claim": "d/dX tr(X) = eye(n)", "given": "X: n x n", "layout": "numerator"}),
        json.dumps({"claim": "d/dx x^T x = 2 x", "giv": "x: n"}),
    ])
    code, out, err = _run(["check", "--claims", path, "--format", "json"], capsys)
    data = json.loads(out)
    assert code == 2  # a line that cannot be read at all is the worst
    assert [d["document"] for d in data] == [f"{path}:{n}" for n in (1, 2, 3, 4, 6, 7)]
    assert [d["verdict"] for d in data] == ["verified", "error", "refuted", "error", "verified", "error"]
    assert "not JSON" in data[1]["error"]
    assert data[3]["error"].startswith(f"{path}:4: column 19: missing operand")
    assert "^" in data[3]["error"]
    assert "unknown field 'giv'" in data[5]["error"]
    assert f"{path}:2" in err and "Traceback" not in err


def test_claims_exit_statuses(tmp_path, capsys) -> None:
    good = [json.dumps({"claim": c, "given": g}) for c, g in [
        ("d/dx x^T x = 2 x", "x: n"), ("d/dX tr(A X) = A^T", "A: n x m, X: m x n"),
        ("d/dx ‖A x - b‖^2 = 2 A^T (A x - b)", "A: m x n, x: n, b: m")]]
    code, out, _ = _run(["check", "--claims", _claims_file(tmp_path, good), "--jobs", "2"], capsys)
    assert code == 0 and "3 checked" in out and "3 verified" in out
    wrong = good + [json.dumps({"claim": "d/dX tr(A X) = A", "given": "A: n x n, X: n x n"})]
    code, out, _ = _run(["check", "--claims", _claims_file(tmp_path, wrong)], capsys)
    assert code == 1 and "1 refuted" in out


def test_claims_usage_errors(tmp_path, capsys) -> None:
    code, _, err = _run(["check", "--claims", str(tmp_path / "none.jsonl")], capsys)
    assert code == 2 and "no such file" in err
    path = _claims_file(tmp_path, [json.dumps({"claim": "d/dx x^T x = 2 x", "given": "x: n"})])
    code, _, err = _run(["check", "--claims", path, "extra.mc"], capsys)
    assert code == 2 and "takes no other inputs" in err
    code, _, err = _run(["check", str(HOMEWORK), "--format", "latex"], capsys)
    assert code == 2 and "takes one document" in err and "Traceback" not in err


@pytest.mark.parametrize("codes", list(itertools.permutations([0, 3, 1, 2])))
def test_worst_exit_is_the_worst_in_any_order(codes) -> None:
    ranking = [0, 3, 1, 2]  # verified < inconclusive < refuted/error < unreadable
    for k in range(1, len(codes) + 1):
        assert worst_exit(codes[:k]) == max(codes[:k], key=ranking.index)
    assert worst_exit([]) == 0


def test_gradescope_folder_of_submissions(tmp_path, capsys) -> None:
    subs = tmp_path / "submissions"
    _write(subs, {"alice.mc": (HOMEWORK / "least_squares_ok.mc").read_text(encoding="utf-8"),
                  "bob.mc": (HOMEWORK / "least_squares_transpose.mc").read_text(encoding="utf-8"),
                  "carol.mc": "given x: n\nd/dx x^T x = 2 x (\n"})
    out = tmp_path / "results"
    code, stdout, err = _run(["check", str(subs), "--format", "gradescope", "-o", str(out)], capsys)
    assert code == 2  # carol's file cannot be read
    assert sorted(p.name for p in out.iterdir()) == ["alice.json", "bob.json", "carol.json", "scores.csv"]
    results = {n: json.loads((out / f"{n}.json").read_text(encoding="utf-8")) for n in ("alice", "bob", "carol")}
    for n, d in results.items():
        assert validate(d, RESULTS_SCHEMA) == [], n
    assert results["alice"]["score"] == 3 and all(t["status"] == "passed" for t in results["alice"]["tests"])
    assert results["bob"]["score"] == 4 and [t["status"] for t in results["bob"]["tests"]].count("failed") == 1
    assert results["carol"]["score"] == 0 and results["carol"]["tests"] == []
    rows = list(csv.DictReader(io.StringIO((out / "scores.csv").read_text(encoding="utf-8"))))
    assert [(r["submission"], r["score"], r["max_score"], r["verdict"]) for r in rows] == [
        ("alice", "3", "3", "verified"), ("bob", "4", "5", "refuted"), ("carol", "0", "0", "error")]
    assert "summary" in stdout and "wrote 3 results" in err


def test_gradescope_folder_needs_an_output_folder(capsys) -> None:
    code, _, err = _run(["check", str(HOMEWORK), "--format", "gradescope"], capsys)
    assert code == 2 and "-o OUTDIR" in err


def test_one_claim_still_checks_as_before(capsys) -> None:
    code, out, _ = _run(["check", "d/dx x^T x = 2 x", "--given", "x: n"], capsys)
    assert code == 0 and "summary" not in out and "✓ verified" in out
    code, out, _ = _run(["check", "d/dx x^T x = 2 x", "--given", "x: n", "--format", "csv"], capsys)
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and [(r["document"], r["verdict"], r["verified"]) for r in rows] == [("<input>", "verified", "1")]


def test_the_entry_point_ends_with_all_output_written(tmp_path) -> None:
    """``python -m matcalc`` ends with os._exit (no interpreter teardown): the output, piped or in a file, is whole
    and the exit status is main()'s."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    cmd = [sys.executable, "-m", "matcalc", "check"]
    p = subprocess.run([*cmd, "d/dx a^T x = x", "--given", "a: n, x: n"], capture_output=True, text=True, env=env)
    assert p.returncode == 1 and p.stdout.rstrip().endswith("✗ refuted") and "counterexample" in p.stdout
    out = tmp_path / "report.json"
    p = subprocess.run([*cmd, str(HOMEWORK), "--format", "json", "-o", str(out)], capture_output=True, text=True,
                       env=env)
    assert p.returncode == 1
    assert len(json.loads(out.read_text(encoding="utf-8"))) == len(list(HOMEWORK.glob("*.mc")))
    p = subprocess.run([*cmd, "d/dx x^T x = 2 x +"], capture_output=True, text=True, env=env)
    assert p.returncode == 2 and "missing operand" in p.stderr and "Traceback" not in p.stderr


def test_two_claims_about_one_derivative_are_judged_each_on_its_own() -> None:
    # `;`-separated claims about one derivative are not a backpropagation program: no joint wording, and the false one
    # refuted on its own
    import matcalc

    rep = matcalc.check("d/dx x^T x = 2 x; d/dx x^T x = 3 x", given="x: n")
    assert [r.verdict for r in rep.results] == ["verified", "refuted"]
    for r in rep.results:
        for m in r.methods.values():
            assert "program" not in m.detail and "together" not in m.detail, m.detail


def test_gradescope_export_folders_name_the_submissions(tmp_path, capsys) -> None:
    # a Gradescope export has one folder per student with the same file name in each
    import shutil
    from pathlib import Path

    from matcalc.cli import main

    src = Path(__file__).parent / "homework" / "least_squares_ok.mc"
    for who in ("alice", "bob"):
        (tmp_path / "nest" / who).mkdir(parents=True)
        shutil.copy(src, tmp_path / "nest" / who / "derivation.mc")
    out = tmp_path / "gg"
    files = sorted(str(p) for p in (tmp_path / "nest").glob("*/derivation.mc"))
    assert main(["check", *files, "--format", "gradescope", "-o", str(out)]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["alice.json", "bob.json", "scores.csv"]
    capsys.readouterr()
    # the folder itself has no .mc files: the message names the subfolders that have some
    assert main(["check", str(tmp_path / "nest")]) == 2
    assert "its subfolders alice, bob have some" in capsys.readouterr().err
    # several submissions to a .json name: refused (it made a folder named out.json)
    assert main(["check", *files, "--format", "gradescope", "-o", str(tmp_path / "out.json")]) == 2
    assert "name a folder" in capsys.readouterr().err
    assert not (tmp_path / "out.json").exists()


@pytest.mark.parametrize("arg", ["submissions/", "nosuchdir", "./graded", "sub-missions_2"])
@pytest.mark.parametrize("fmt", ["text", "csv"])
def test_a_missing_path_says_no_such_file_or_folder(arg: str, fmt: str, tmp_path, capsys, monkeypatch) -> None:
    # an argument that looks like a path (ends in /, starts with ./, or is a single bare word) is not read as a
    # claim: "submissions/" was "missing operand after '/'", "nosuchdir" was "nothing to check"
    monkeypatch.chdir(tmp_path)
    code, out, err = _run(["check", arg, "--format", fmt], capsys)
    assert code == 2 and f"no such file or folder: {arg}" in err + out, (err, out)
    assert "operand" not in err + out and "nothing to check" not in err + out


def test_a_claim_is_still_a_claim(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    code, out, _ = _run(["check", "x/2 = x ./ 2", "--given", "x: n"], capsys)
    assert code == 0 and "verified" in out


def test_claims_jsonl_lines_ignore_unknown_fields(tmp_path, capsys) -> None:
    # data sets carry an id or an expected verdict: such fields are ignored; a near miss of a field is still an error
    path = _claims_file(tmp_path, [
        json.dumps({"id": 7, "claim": "d/dx x^T x = 2 x", "given": "x: n", "expected": "verified"}),
        json.dumps({"claim": "d/dx a^T x = x", "given": "a: n, x: n", "expected": "refuted", "note": ["a", 1]}),
        json.dumps({"claim": "d/dx x^T x = 2 x", "Given": "x: n"}),
    ])
    code, out, _ = _run(["check", "--claims", path, "--format", "json"], capsys)
    data = json.loads(out)
    assert [d["verdict"] for d in data] == ["verified", "refuted", "error"]
    assert data[0]["error"] is None and data[1]["error"] is None
    assert "unknown field 'Given' (did you mean 'given'?)" in data[2]["error"]


def test_claims_fields_a_data_set_adds_are_ignored_and_an_unreadable_line_counts_as_an_error(tmp_path) -> None:
    # review6 finding 9: `claim_id` was taken for a near miss of `claim`; the error column showed 0 for such a line
    from matcalc.batch import _claim_item

    ok = _claim_item("c.jsonl", 1, '{"claim": "d/dx x^T x = 2 x", "given": "x: n", "claim_id": 7}', None, "mixed")
    assert ok.error is None
    bad = _claim_item("c.jsonl", 2, '{"claim": "d/dx x^T x = 2 x", "giv": "x: n"}', None, "mixed")
    assert "did you mean 'given'?" in bad.error
    f = tmp_path / "c.jsonl"
    f.write_text('{"claim": "d/dx x^T x = 2 x", "giv": "x: n"}\n', encoding="utf-8")
    from matcalc import cli

    assert cli.main(["check", "--claims", str(f), "--format", "csv", "-o", str(tmp_path / "out.csv")]) != 0
    rows = (tmp_path / "out.csv").read_text(encoding="utf-8").splitlines()
    header, row = rows[0].split(","), rows[1].split(",")
    assert row[header.index("error")] == "1" and row[header.index("verdict")] == "error"
