"""The report stage, the papers' statistics of ``ramkit test`` and the test → evaluate chain.

Runs are tiny models trained one epoch on the in-memory reader doubles of tests/train_fakes.py; the Chromium
test opens the written report.html headless (skipped when /usr/bin/chromium or $RAMKIT_CHROMIUM is absent).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from train_fakes import FakeDataset, tiny_config  # noqa: E402

from ramkit import anatomy  # noqa: E402
from ramkit.report import extras  # noqa: E402
from ramkit.train import TrainConfig, fit  # noqa: E402
from ramkit.train.evaluate import run_test  # noqa: E402

torch.set_num_threads(1)
TASKS = ("hand-bone-seg", "hand-be-seg", "hand-be-score", "hand-jsn-score", "wrist-bone-seg", "wrist-be-cls")


def _cfg(task: str, out: Path, **extra) -> TrainConfig:
    return tiny_config(task, out, **extra)


@pytest.fixture(scope="module")
def bench_dir(tmp_path_factory):
    """A bench-shaped folder OUT/runs/<task>/test_test/ for all six tasks (1-epoch tiny models on fakes)."""
    out = tmp_path_factory.mktemp("bench")
    hand, wrist = FakeDataset(n_channels=30, n=4, size=40), FakeDataset(n_channels=14, n=4, size=40, w600=True)
    for task in TASKS:
        ds = wrist if task.startswith("wrist") else hand
        run = fit(_cfg(task, out / "runs" / task), dataset=ds, quiet=True)
        run_test(run, "unused", dataset=ds, quiet=True, warmup=1)
    return out


@pytest.fixture(scope="module")
def score_runs(tmp_path_factory):
    """Tested 1-epoch scoring runs (JSN ordinal, wrist binary): {task: test folder}."""
    out = tmp_path_factory.mktemp("scores")
    hand, wrist = FakeDataset(n_channels=30, n=4, size=40), FakeDataset(n_channels=14, n=4, size=40, w600=True)
    found = {}
    for task, ds in (("hand-jsn-score", hand), ("wrist-be-cls", wrist)):
        run = fit(_cfg(task, out / task, amp="bf16" if task == "wrist-be-cls" else "auto"), dataset=ds, quiet=True)
        run_test(run, "unused", dataset=ds, quiet=True, warmup=1)
        found[task] = run / "test_test"
    return found


# ------------------------------------------------------------------------------------------------------------
# statistics
# ------------------------------------------------------------------------------------------------------------
def test_area_helpers_and_correlation_row():
    m = np.zeros((3, 6, 6), bool)
    m[0, :3] = True
    m[1, 2:4] = True  # overlaps channel 0 on row 2 (6 px)
    assert extras.lesion_area(m) == 24.0
    names = list(anatomy.WRIST_BONES)
    stack = np.zeros((14, 8, 8), bool)
    a, b = anatomy.overlap_pairs_for(names)[0]
    stack[a, :4], stack[b, 3:] = True, True
    assert extras.overlap_area(stack, names) == 8.0  # one row of 8 shared pixels
    r = extras.correlation_row("s", "x", "y", {"h1": 1, "h2": 2, "h3": 3, "h4": 9}, {"h1": 2, "h2": 4, "h3": 5})
    assert r["n"] == 3 and r["rho"] == pytest.approx(1.0)
    assert extras.correlation_row("s", "x", "y", {"a": 1, "b": 1, "c": 1}, {"a": 1, "b": 2, "c": 3})["rho"] is None


def test_erosive_split_mann_whitney():
    from scipy.stats import mannwhitneyu

    per_case = pd.DataFrame(
        {
            "stem": ["a", "b", "c", "d", "e", "Average"],
            "Mean DSC": [0.9, 0.8, 0.7, 0.6, 0.95, 0.8],
            "Mean NSD": [0.5] * 6,
        }
    )
    ero = {"a": True, "b": True, "c": False, "d": False, "e": False}
    rows = {r["metric"]: r for r in extras.erosive_split(per_case, [], ero)}
    dsc = rows["DSC"]
    assert dsc["n_erosive"] == 2 and dsc["n_non_erosive"] == 3
    assert dsc["erosive_mean"] == pytest.approx(0.85) and dsc["non_erosive_mean"] == pytest.approx(0.75)
    ref = mannwhitneyu([0.9, 0.8], [0.7, 0.6, 0.95], alternative="two-sided")
    assert dsc["U"] == pytest.approx(ref.statistic) and dsc["p"] == pytest.approx(ref.pvalue)


@pytest.mark.slow  # shares the 6-run bench fixture (~10-20 s)
def test_test_outputs_papers_statistics(bench_dir):
    jsn = bench_dir / "runs" / "hand-jsn-score" / "test_test"
    s = json.loads((jsn / "summary.json").read_text())
    rows = pd.read_csv(jsn / "predictions.csv", dtype={"hand": str})
    pt, tt = extras.hand_totals(rows["hand"], rows["pred"]), extras.hand_totals(rows["hand"], rows["truth"])
    from scipy.stats import spearmanr

    hands = sorted(tt)
    if len(set(pt.values())) > 1:
        assert s["spearman_total"] == pytest.approx(spearmanr([pt[h] for h in hands], [tt[h] for h in hands])[0])
    else:  # a constant prediction: undefined, reported as null
        assert s["spearman_total"] is None
    assert s["n_hands"] == 4 and s["params"] > 0 and s["amp"] == "none"
    bone = json.loads((bench_dir / "runs" / "hand-bone-seg" / "test_test" / "summary.json").read_text())
    stats = {c["x"]: c for c in bone["correlations"]}
    assert (
        set(stats) == {"predicted overlap area (px)", "true overlap area (px)"}
        and stats["true overlap area (px)"]["n"] == 4
    )
    ws = json.loads((bench_dir / "runs" / "wrist-bone-seg" / "test_test" / "summary.json").read_text())
    split = {r["metric"]: r for r in ws["erosive_split"]}
    assert split["DSC"]["n_erosive"] + split["DSC"]["n_non_erosive"] == 4
    card = (bench_dir / "runs" / "wrist-bone-seg" / "model_card.md").read_text()
    assert "## Metrics" in card and "Not a medical device" in card


@pytest.mark.parametrize("task,kind", [("hand-jsn-score", "jsn"), ("wrist-be-cls", "binary")])
def test_test_scores_chain_into_evaluate(score_runs, tmp_path, task, kind):
    """`ramkit test` writes hand,joint,score files that `ramkit evaluate scores` reads; the metrics agree."""
    from ramkit.cli import main

    t = score_runs[task]
    assert (t / "scores.csv").read_text().startswith("hand,joint,score\n")
    summary = json.loads((t / "summary.json").read_text())
    assert summary["amp"] == "none" and summary["params"] > 0
    out = tmp_path / "eval.csv"
    main(
        [
            "evaluate",
            "scores",
            "--pred",
            str(t / "scores.csv"),
            "--truth",
            str(t / "truth_scores.csv"),
            "--kind",
            kind,
            "--out",
            str(out),
        ]
    )
    ours, theirs = pd.read_csv(t / "table.csv"), pd.read_csv(out)
    pd.testing.assert_frame_equal(ours, theirs)


def test_test_is_fp32_unless_amp(score_runs, tmp_path):
    """A run trained with bf16 autocast is tested in fp32 (as the official tester) unless amp=True."""
    run = score_runs["wrist-be-cls"].parent
    assert json.loads((score_runs["wrist-be-cls"] / "summary.json").read_text())["amp"] == "none"
    ds = FakeDataset(n_channels=14, n=4, size=40, w600=True)
    s = run_test(run, "unused", dataset=ds, quiet=True, warmup=1, amp=True, out=tmp_path / "amp")
    assert s["amp"] == "bf16"


# ------------------------------------------------------------------------------------------------------------
# report
# ------------------------------------------------------------------------------------------------------------
class _Cells(HTMLParser):
    """Collects every <td> (text, classes) per table id, and every src/href attribute."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[tuple[str, str]]] = {}
        self.notes: dict[str, int] = {}
        self.links: list[str] = []
        self._table = self._section = None
        self._td: list | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        for k in ("src", "href"):
            if k in a:
                self.links.append(a[k])
        if tag == "section" and "table" in (a.get("class") or ""):
            self._section = a.get("id")
        if tag == "table" and a.get("data-table"):
            self._table = a["data-table"]
            self.tables[self._table] = []
        if tag == "td" and self._table:
            self._td = [a.get("class") or "", ""]
        if tag == "p" and "na-note" in (a.get("class") or "") and self._section:
            self.notes[self._section] = self.notes.get(self._section, 0) + 1

    def handle_data(self, data):
        if self._td is not None:
            self._td[1] += data

    def handle_endtag(self, tag):
        if tag == "td" and self._td is not None and self._table:
            self.tables[self._table].append((self._td[0], self._td[1].strip()))
            self._td = None
        if tag == "table":
            self._table = None


def _check_report_dom(dom: str) -> _Cells:
    p = _Cells()
    p.feed(dom)
    assert p.tables, "no tables in the report"
    for tid, cells in p.tables.items():
        assert cells, f"table {tid} is empty"
        for cls, text in cells:
            assert text and text.lower() not in ("nan", "none", "inf", "-inf"), f"{tid}: bad cell {text!r}"
            if text == "n/a":
                assert "na" in cls.split() and p.notes.get(tid), f"{tid}: n/a cell without an explanation"
    assert all(link.startswith(("data:", "#")) for link in p.links), "the report must not load anything"
    return p


def _chromium() -> str | None:
    exe = os.environ.get("RAMKIT_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return exe if exe and os.path.isfile(exe) else None


@pytest.mark.slow  # shares the 6-run bench fixture (~10-20 s)
def test_report_tables_files(bench_dir):
    from ramkit.cli import main

    main(["report", str(bench_dir)])
    html = (bench_dir / "report.html").read_text()
    p = _check_report_dom(html)
    for tid in (
        "h1200_table2_bone_seg",
        "h1200_table3_be_seg",
        "h1200_table4_be_score",
        "h1200_table5_jsn_score",
        "w600_table4_wrist_seg",
        "w600_table5_wrist_be_cls",
        "w600_mann_whitney",
        "spearman",
        "hand-bone-seg_per_bone",
        "hand-bone-seg_overlap",
        "hand-jsn-score_per_joint",
        "hand-jsn-score_confusion",
        "mil_table2_total_svdh",
    ):
        assert tid in p.tables, tid
        md = (bench_dir / "tables" / f"{tid}.md").read_text()
        assert md.startswith("## ") and "| nan |" not in md.lower()
        assert (bench_dir / "tables" / f"{tid}.csv").is_file()
    for tid in ("h1200_table2_bone_seg", "h1200_table4_be_score", "w600_table5_wrist_be_cls", "spearman"):
        texts = [t for _, t in p.tables[tid]]
        assert "published, real data" in texts and any(t.startswith("ramkit, ") for t in texts), tid
    t2 = pd.read_csv(bench_dir / "tables" / "h1200_table2_bone_seg.csv")
    ours = t2[t2["Source"] != "published, real data"].iloc[0]
    summary = json.loads((bench_dir / "runs" / "hand-bone-seg" / "test_test" / "summary.json").read_text())
    assert ours["DSC (%)"] == pytest.approx(100 * summary["DSC"]) and ours["#Params (M)"] == pytest.approx(
        summary["params"] / 1e6
    )
    assert "data:image/png;base64," in html  # confusion matrices inline


@pytest.mark.slow  # shares the 6-run bench fixture (~10-20 s)
def test_report_in_headless_chromium(bench_dir, tmp_path):
    exe = _chromium()
    if exe is None:
        pytest.skip("headless Chromium not installed (set RAMKIT_CHROMIUM)")
    from ramkit.report.build import write_report

    page = write_report(bench_dir)
    flags = [
        exe,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
        f"--user-data-dir={tempfile.mkdtemp(dir=tmp_path)}",
    ]
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0 and "<table" in dom.stdout, dom.stderr[-500:]
    _check_report_dom(dom.stdout)
    shot = tmp_path / "report.png"
    subprocess.run(
        [*flags, "--window-size=1400,2000", f"--screenshot={shot}", page.as_uri()],
        capture_output=True,
        timeout=120,
        check=True,
    )
    assert shot.is_file() and shot.stat().st_size > 10_000


@pytest.mark.slow  # shares the 6-run bench fixture (~10-20 s)
def test_single_test_folder_report_and_bad_input(bench_dir, tmp_path):
    from ramkit.errors import RamkitError
    from ramkit.report.build import write_report

    one = tmp_path / "one"
    shutil.copytree(bench_dir / "runs" / "wrist-be-cls" / "test_test", one)
    page = write_report(one)
    _check_report_dom(page.read_text())
    assert (one / "tables" / "w600_table5_wrist_be_cls.md").is_file()
    (tmp_path / "empty").mkdir()
    with pytest.raises(RamkitError, match="no `ramkit test` results"):
        write_report(tmp_path / "empty")


def test_dataset_provenance_detects_synthetic(tmp_path):
    from conftest_data import build_w600

    from ramkit.report.model_card import dataset_provenance

    root = build_w600(tmp_path)["_root"]
    assert dataset_provenance(root)["synthetic"] is False
    from ramkit.report.build import dataset_label

    assert dataset_label({"data": str(root)}, "val") == "ramkit, RAM-W600 data, val split"
    coco = root / "JointLocationDetection" / "Joints.coco.json"
    doc = json.loads(coco.read_text())
    doc["info"] = {"description": "ramkit synthetic RAM-W600 cohort (seed 0, size small)"}
    coco.write_text(json.dumps(doc))
    prov = dataset_provenance(root)
    assert prov["synthetic"] is True and prov["layout"] == "w600"

    assert dataset_label({"data": str(root)}, "test") == "ramkit, synthetic small cohort (seed 0), test split"
    assert dataset_provenance(tmp_path / "missing")["synthetic"] is None


def test_task_without_paper_table_gets_its_summary(tmp_path):
    """A task the report has no paper table for (e.g. a future one) still gets a filled table of its numbers."""
    from ramkit.report.build import write_report

    summary = {
        "task": "hand-total-mil",
        "model": "ABMIL",
        "split": "test",
        "n_cases": 5,
        "PCC": 0.5,
        "MAE": 3.25,
        "params": 1234,
        "timing": {"unit": "ms per image", "n": 5, "median_ms": 2.0, "iqr_ms": 0.1},
    }
    (tmp_path / "summary.json").write_text(json.dumps(summary))
    page = write_report(tmp_path)
    cells = _check_report_dom(page.read_text()).tables["hand-total-mil_summary"]
    assert [t for _, t in cells][-4:] == ["0.5000", "3.2500", "0.00", "2.00"]
