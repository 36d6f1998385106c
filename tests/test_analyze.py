"""ramkit.Predictor, ramkit.joints and ``ramkit analyze``: outputs, bad inputs, resume, progression, the report.

Runs are tiny one-epoch models on in-memory fakes (tests/train_fakes.py): they exercise every code path, not
the quality of the scores (benchmarks/bench_joints.py and bench_analyze.py measure that).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from conftest_data import write_dicom  # noqa: E402
from train_fakes import FakeDataset, tiny_config  # noqa: E402

from ramkit import anatomy  # noqa: E402
from ramkit.errors import RamkitError, RamkitWarning  # noqa: E402
from ramkit.io.images import write_gray  # noqa: E402

TASKS = ("hand-bone-seg", "hand-be-seg", "hand-be-score", "hand-jsn-score", "wrist-bone-seg", "wrist-be-cls")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> Path:
    """A folder of six one-epoch tiny runs (a `--models` folder of run directories)."""
    import torch

    from ramkit.train import fit

    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("runs")
    hand, wrist = FakeDataset(n_channels=30, n=3, size=40), FakeDataset(n_channels=14, n=3, size=40, w600=True)
    for task in TASKS:
        run = fit(tiny_config(task, root / task), dataset=wrist if task.startswith("wrist") else hand, quiet=True)
        if task.endswith("bone-seg"):
            _every_bone_everywhere(run, 30 if task.startswith("hand") else 14)
    return root


def _every_bone_everywhere(run: Path, n: int) -> None:
    """Make a one-epoch bone run predict every bone on every pixel (output bias +8), so each stage downstream
    of it runs; an untrained network predicts no bone at all, which the pipeline rightly reports as an error."""
    from safetensors.torch import load_file, save_file

    sd = load_file(run / "best.safetensors")
    key = [k for k, v in sd.items() if k.endswith("bias") and v.ndim == 1 and v.shape[0] == n][-1]
    sd[key] = sd[key] * 0 + 8.0
    save_file(sd, run / "best.safetensors")


def _hand_image(h: int = 640, w: int = 480, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = (rng.random((h, w)) * 60).astype(np.uint8)
    img[h // 4 :, w // 4 : 3 * w // 4] += 120  # something bright
    return img


# ------------------------------------------------------------------------------------------------ joints
def _ellipse(shape, cy, cx, ry, rx):
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1


def test_gap_joint_box_lies_between_its_bones():
    from ramkit.joints import joint_boxes

    shape = (400, 300)
    masks = np.zeros((30, *shape), bool)
    i_mc, i_pp = anatomy.HAND_BONES.index("MC2"), anatomy.HAND_BONES.index("PP2")
    masks[i_mc] = _ellipse(shape, 300, 150, 60, 14)  # metacarpal below
    masks[i_pp] = _ellipse(shape, 190, 150, 40, 11)  # proximal phalanx above, gap at y ≈ 235
    boxes = joint_boxes(masks, 0.35, "be")
    x, y, w, h = boxes["MCP-I"]
    assert w == h and 30 < w < 90
    assert abs((x + w / 2) - 150) < 4 and 215 < y + h / 2 < 255
    assert boxes["PIP-I"] is None and boxes["R"] is None  # their bones are absent
    assert set(boxes) == {j.stem for j in anatomy.BE_JOINTS}
    assert set(joint_boxes(masks, 0.35, "jsn")) == {j.stem for j in anatomy.JSN_JOINTS}


def test_boxes_from_true_synthetic_masks_match_the_release_boxes():
    """On a small synthetic hand the anatomy-derived boxes overlap the generator's boxes (IoU ≥ 0.5 mostly)."""
    from ramkit.joints import joint_boxes, wrist_joint_boxes
    from ramkit.metrics.landmarks import box_iou
    from ramkit.synth.cohort import redraw_hand

    _, _, d = redraw_hand(12, 0, 0, size="medium")
    for kind, truth in (("be", d.be_boxes), ("jsn", d.jsn_boxes)):
        pred = joint_boxes(d.bones, d.spacing_mm, kind)
        iou = box_iou([pred[k] for k in truth], [truth[k] for k in truth])
        assert (iou >= 0.5).mean() >= 0.85, (kind, iou.round(2))
    w = wrist_joint_boxes(d.wrist_masks, d.spacing_mm)
    assert set(w) == {j.stem for j in anatomy.W600_JOINTS}


def test_box_to_source_undoes_flip_and_scale():
    from ramkit.joints import box_to_model, box_to_source

    src = box_to_source((10, 20, 30, 30), (100, 200), (200, 400), flipped=True)
    assert src == [320.0, 40.0, 60.0, 60.0]
    assert box_to_model(src, (100, 200), (200, 400), flipped=True) == (10, 20, 30, 30)


# ------------------------------------------------------------------------------------------------ predictor
def test_ordinal_probs_are_a_distribution():
    from ramkit.predictor import ordinal_probs

    p = ordinal_probs(np.array([[3.0, 1.0, -1.0, -3.0], [-5.0, 2.0, 2.0, -5.0]]))
    assert p.shape == (2, 5) and np.allclose(p.sum(1), 1) and (p >= 0).all()
    assert p[0].argmax() == 2


def test_predictor_resamples_to_the_training_spacing_and_restores(runs, tmp_path):
    import ramkit

    pred = ramkit.Predictor.from_run(runs / "hand-bone-seg", device="cpu", train_spacing_mm=0.35)
    assert pred.amp == "none" and pred.kind == "seg"
    write_gray(tmp_path / "h_L.png", _hand_image(400, 300))
    r = pred.predict(tmp_path / "h_L.png")  # assumed 0.175 mm/px -> model grid at 0.35: half the size
    assert r.pixels.shape == (200, 150) and r.model_masks.shape == (30, 200, 150)
    assert r.masks.shape == (30, 400, 300) and r.radiograph.flipped
    r2 = pred.predict(tmp_path / "h_L.png", spacing_mm=0.35)  # stated spacing = training spacing: no resampling
    assert r2.pixels.shape == (400, 300)
    arr = pred.predict(_hand_image(400, 300), spacing_mm=0.35, side="R")
    assert arr.masks.shape == (30, 400, 300)


def test_w600_training_spacing_comes_from_the_cohort(tmp_path):
    """Synthetic wrists are drawn at 0.30 mm/px (medium); a run trained on them must not assume the release 0.15."""
    from types import SimpleNamespace

    from ramkit.predictor import _training_spacing
    from ramkit.synth import generate_cohort

    generate_cohort(tmp_path / "d", hands=3, wrists=3, size="medium", progress=False)
    spec, cfg = SimpleNamespace(dataset="w600"), SimpleNamespace(data=str(tmp_path / "d" / "RAM-W600"))
    assert _training_spacing(spec, cfg, {}) == 0.30
    assert _training_spacing(spec, SimpleNamespace(data=str(tmp_path / "d")), {}) == 0.30
    assert _training_spacing(spec, SimpleNamespace(data=str(tmp_path / "none")), {}) == 0.15  # release spacing


def test_predictor_refuses_huge_and_warns_on_implausible_inputs(runs, tmp_path):
    import ramkit

    seg = ramkit.Predictor.from_run(runs / "hand-bone-seg", device="cpu")
    big = tmp_path / "big_R.png"
    write_gray(big, np.zeros((8000, 8000), np.uint8))
    with pytest.raises(RamkitError, match="exceeds the limit of 40 megapixels"):
        seg.predict(big)
    tiny = tmp_path / "tiny_R.png"
    write_gray(tiny, np.zeros((5, 5), np.uint8))
    with pytest.warns(RamkitWarning, match="implausibly small"), pytest.raises(RamkitError, match="too small"):
        seg.predict(tiny)
    crop = tmp_path / "crop_R.png"  # a joint crop given to a segmentation run
    write_gray(crop, _hand_image(120, 120))
    with pytest.warns(RamkitWarning, match="implausible for a hand radiograph"):
        seg.predict(crop)
    score = ramkit.Predictor.from_run(runs / "hand-be-score", device="cpu")
    with pytest.warns(RamkitWarning, match="looks like a whole radiograph"):
        s = score.predict(_hand_image(1700, 1300))
    assert s.probs.shape == (1, 5) and np.isclose(s.probs.sum(), 1)


def test_predict_cli_keeps_outputs_of_same_named_inputs(runs, tmp_path):
    from ramkit.train.evaluate import run_predict

    for d in ("a", "b"):
        write_gray(tmp_path / d / "ok_R.png", _hand_image(80, 60, seed=ord(d)))
    files = run_predict(runs / "hand-bone-seg", [str(tmp_path / "a/ok_R.png"), str(tmp_path / "b/ok_R.png")],
                        tmp_path / "out")  # fmt: skip
    names = sorted(p.name for p in files if p.suffix == ".npy")
    assert names == ["a__ok_R.npy", "b__ok_R.npy"]


def test_unique_names():
    from ramkit.pipeline.inputs import unique_names

    assert unique_names([Path("x/a/k.png"), Path("x/b/k.png"), Path("x/c/m.png")]) == ["a__k", "b__k", "m"]


# ------------------------------------------------------------------------------------------------ analyze
def _cli(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAMKIT_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "ramkit", *args], capture_output=True, text=True, env=env,
                          timeout=300)  # fmt: skip


def _bad_inputs(d: Path) -> dict[str, str]:
    """file name -> expected error fragment."""
    from PIL import Image

    d.mkdir(parents=True, exist_ok=True)
    write_gray(d / "good_R.png", _hand_image())
    full = (d / "good_R.png").read_bytes()
    (d / "truncated_R.png").write_bytes(full[: len(full) // 3])
    (d / "notanimage_R.png").write_text("hello")
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (300, 400, 3), dtype=np.uint8), "RGB").save(d / "photo.png")
    write_dicom(d / "nospacing_R.dcm", (_hand_image().astype(np.uint16) * 16), bits_stored=12)
    p = write_dicom(d / "nopixels_R.dcm", _hand_image(64, 48).astype(np.uint16), bits_stored=12, spacing=0.175)
    import pydicom

    ds = pydicom.dcmread(p)
    del ds.PixelData
    ds.save_as(p)
    write_gray(d / "tiny_R.png", np.zeros((5, 5), np.uint8))
    write_gray(d / "huge_R.png", np.zeros((8000, 8000), np.uint8))
    return {
        "truncated_R": "truncated",
        "notanimage_R": "not a readable image",
        "photo": "colour image",
        "nospacing_R": "no PixelSpacing",
        "nopixels_R": "no pixel data",
        "tiny_R": "too small",
        "huge_R": "exceeds the limit",
    }


@pytest.mark.slow
def test_analyze_bad_inputs_give_error_rows_and_the_batch_goes_on(runs, tmp_path):
    import pandas as pd

    expected = _bad_inputs(tmp_path / "in")
    out = tmp_path / "out"
    r = _cli("analyze", str(tmp_path / "in"), "--models", str(runs), "--out", str(out), "--anatomy", "hand")
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    df = pd.read_csv(out / "results.csv", keep_default_na=False).set_index("name")
    assert len(df) == len(expected) + 1
    assert df.loc["good_R", "status"] == "ok" and df.loc["good_R", "error"] == ""
    for name, frag in expected.items():
        assert df.loc[name, "status"] == "failed" and frag in df.loc[name, "error"], (name, df.loc[name, "error"])
        assert sum(f"error: {tmp_path}" in line and name in line for line in r.stderr.splitlines()) == 1, name
    assert not [p for p in out.rglob("*") if ".tmp" in p.name]


@pytest.mark.slow
def test_analyze_outputs_resume_progression_and_report(runs, tmp_path):
    src = tmp_path / "in"
    # two visits of one (release-named) hand patient and a real-named wrist pair
    for i, date in enumerate(("20100101", "20110101")):
        write_gray(src / f"JP_HU1_P0007_{date}_{100 + i}_R.png", _hand_image(seed=i))
    out = tmp_path / "out"
    r = _cli("analyze", str(src), "--models", str(runs), "--out", str(out), "--anatomy", "hand")
    assert r.returncode == 0, r.stderr
    assert "report:" in r.stdout
    res = json.loads(next(out.glob("JP_HU1_P0007_20100101*/result.json")).read_text())
    assert res["schema"] == "ramkit.analyze/1" and res["status"] == "ok" and res["anatomy"] == "hand"
    assert len(res["input"]["sha256"]) == 64 and set(res["runs"]) == set(TASKS)
    kinds = [e["kind"] for e in res["joints"]]
    assert kinds.count("be") == 16 and kinds.count("jsn") == 15
    e = next(e for e in res["joints"] if e.get("score") is not None)
    assert abs(sum(e["probabilities"].values()) - 1) < 1e-3 and e["sd"] >= 0
    assert 0 <= res["totals"]["BE"] <= 80 and 0 <= res["totals"]["JSN"] <= 60
    assert (out / res["name"] / "overlay.png").is_file()
    prog = (out / "progression.csv").read_text().splitlines()
    assert len(prog) == 2 and prog[0].startswith("patient,side,anatomy,from,to")
    # resume: nothing recomputed when inputs and runs are unchanged
    stamp = (out / res["name"] / "result.json").stat().st_mtime_ns
    r = _cli("analyze", str(src), "--models", str(runs), "--out", str(out), "--anatomy", "hand")
    assert r.returncode == 0 and (out / res["name"] / "result.json").stat().st_mtime_ns == stamp
    _check_report_in_chromium(out / "report.html", n_rows=2, progression=True)


def test_no_bone_found_is_an_error(runs, tmp_path, monkeypatch):
    from ramkit.pipeline.analyze import Analyzer
    from ramkit.predictor import Predictor

    real = Predictor.predict_prepared

    def empty(self, rad):
        r = real(self, rad)
        r.model_masks[:] = False
        return r

    monkeypatch.setattr(Predictor, "predict_prepared", empty)
    write_gray(tmp_path / "blank_R.png", np.zeros((640, 480), np.uint8))
    an = Analyzer({"hand-bone-seg": runs / "hand-bone-seg"}, log=lambda m: None)
    with pytest.raises(RamkitError, match="no bone found"):
        an.analyze(tmp_path / "blank_R.png")


def test_find_runs_accepts_bench_folders_and_pairs(runs, tmp_path):
    from ramkit.pipeline.models import find_runs

    bench = tmp_path / "bench"
    (bench / "runs").mkdir(parents=True)
    shutil.copytree(runs / "hand-bone-seg", bench / "runs" / "hand-bone-seg")
    assert set(find_runs(bench)) == {"hand-bone-seg"}
    both = find_runs(bench, [f"wrist-bone-seg={runs / 'wrist-bone-seg'}"])
    assert set(both) == {"hand-bone-seg", "wrist-bone-seg"}
    with pytest.raises(RamkitError, match="not 'hand-be-seg'"):
        find_runs(None, [f"hand-be-seg={runs / 'wrist-bone-seg'}"])


def test_progression_deltas():
    from ramkit.pipeline.progression import progression

    def res(name, date, be):
        return {"name": name, "status": "ok", "side": "R", "anatomy": "hand",
                "visit": {"patient": "P1", "order": date}, "totals": {"BE": be, "JSN": 1, "SvdH": be + 1},
                "joints": [{"kind": "be", "joint": "R", "score": be}]}  # fmt: skip

    p = progression([res("b", "2011", 3), res("a", "2010", 1), {"name": "x", "status": "failed"}])
    assert len(p) == 1 and [v["name"] for v in p[0]["visits"]] == ["a", "b"]
    assert p[0]["deltas"][0]["dBE"] == 2 and p[0]["deltas"][0]["per_joint"] == {"BE:R": 2}


# ------------------------------------------------------------------------------------------------ chromium
def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        p = shutil.which(name)
        if p:
            return p
    return None


def _check_report_in_chromium(report: Path, n_rows: int, progression: bool) -> None:
    exe = _chromium()
    if exe is None:
        pytest.skip("no chromium on this machine")
    import tempfile

    with tempfile.TemporaryDirectory() as prof:
        cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--no-first-run", f"--user-data-dir={prof}", "--virtual-time-budget=5000", "--dump-dom",
               report.as_uri()]  # fmt: skip
        dom = subprocess.run(cmd, capture_output=True, text=True, timeout=120).stdout
    assert dom.count('class="case-row"') == n_rows, dom[:500]
    import re

    m = re.search(r'data-images-loaded="(\d+)/(\d+)"', dom)
    assert m and m.group(1) == m.group(2) and int(m.group(2)) >= n_rows, m and m.group(0)
    assert ('id="progression"' in dom) == progression
    assert "http://" not in dom.replace("http://www.w3.org", "") and "https://" not in dom  # nothing remote


@pytest.mark.slow
def test_analyze_workers_shard_the_inputs(runs, tmp_path):
    for i in range(3):
        write_gray(tmp_path / "in" / f"w{i}_R.png", _hand_image(seed=i))
    out = tmp_path / "out"
    r = _cli("analyze", str(tmp_path / "in"), "--models", str(runs), "--out", str(out), "--anatomy", "hand",
             "--workers", "2")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert sorted(p.parent.name for p in out.glob("*/result.json")) == ["w0_R", "w1_R", "w2_R"]
    assert len((out / "results.csv").read_text().splitlines()) == 4


def test_report_has_the_synthetic_banner_and_failed_rows(tmp_path):
    from ramkit.report.analysis_html import write_report

    run = {"run": "r", "model": "Unet", "weights_sha256": "0" * 64, "synthetic": True}
    ok = {"name": "a", "status": "ok", "anatomy": "hand", "side": "R", "totals": {"BE": 3}, "joints": [],
          "runs": {"hand-bone-seg": run}}  # fmt: skip
    bad = {"name": "b", "status": "failed", "error": "b.png: corrupt"}
    write_report(tmp_path / "report.html", [ok, bad], [], tmp_path)
    text = (tmp_path / "report.html").read_text()
    assert "synthetic-banner" in text and "b.png: corrupt" in text and text.count("case-row") == 2
    assert "<script src" not in text and "<link" not in text
