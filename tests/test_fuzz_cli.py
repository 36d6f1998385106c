"""Fuzz corpus through the CLI (issue 10): corrupted datasets, filesystem faults, bad output paths and option
misuse. Every case asserts the exit code, that the message names the file or option, and that neither a traceback
nor the bug catch-all appears. Each case breaks one thing in a fresh copy of one tiny tree built per session."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import numpy as np
import pytest
from conftest_data import build_h1200, build_w600, run_cli
from PIL import Image

from ramkit.io.atomic import check_output_dir, sweep_temp


@pytest.fixture(scope="session")
def pristine(tmp_path_factory):
    base = tmp_path_factory.mktemp("pristine")
    build_h1200(base / "h", per_split=1)
    build_w600(base / "w", per_split=1)
    return base


@pytest.fixture
def trees(pristine, tmp_path):
    shutil.copytree(pristine, tmp_path / "t", symlinks=True)
    return tmp_path / "t" / "h" / "RAM-H1200-v1", tmp_path / "t" / "w" / "RAM-W600"


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """One tiny trained run (1 epoch, hand-jsn-score) for the test/predict cases."""
    base = tmp_path_factory.mktemp("run")
    build_h1200(base, per_split=1)
    from ramkit.train import TrainConfig, fit

    cfg = TrainConfig(
        task="hand-jsn-score",
        data=str(base / "RAM-H1200-v1"),
        out=str(base / "run"),
        model="MobileNet",
        model_size="tiny",
        epochs=1,
        batch_size=4,
        patch_size=32,
        tensorboard=False,
        threads=1,
    )
    return fit(cfg, quiet=True)


def _edit_json(path: Path, fn) -> None:
    d = json.loads(path.read_text())
    fn(d)
    path.write_text(json.dumps(d))


def _clean(out: str, err: str) -> None:
    assert "Traceback" not in out + err and "bug in ramkit" not in err, err


def _one_error_line(err: str) -> str:
    lines = [ln for ln in err.splitlines() if ln.startswith("ramkit: error:")]
    assert len(lines) == 1, err
    return lines[0]


# ---------------------------------------------------------------- dataset cases: (layout, break -> (path, text))
def patient_two_splits(h, w):
    seg = h / "Segmentation"
    src = sorted((seg / "val").glob("*.bmp"))[0]
    train_parts = sorted((seg / "train").glob("*.bmp"))[0].name.split("_")
    parts = src.name.split("_")
    parts[1:3] = train_parts[1:3]  # same center and patient id as a training image
    dst = src.with_name("_".join(parts))
    src.rename(dst)
    for name in ("_annotations_bone_rle.coco.json", "_annotations_be_rle.coco.json"):
        _edit_json(seg / "val" / name, lambda d: [im.update(file_name=dst.name) for im in d["images"]])
    return h, h, f"patient {parts[1]}_{parts[2]} appears in several splits"


def nan_score(h, w):
    p = h / "SvdH_Scoring" / "SvdH_BE_Scoring" / "train" / "_annotation_be_scores.json"
    _edit_json(p, lambda d: d[sorted(d)[0]].update({"BE_MCP-M": float("nan")}))
    return h, p, "score nan is not a number"


def duplicate_score_key(h, w):
    p = h / "SvdH_Scoring" / "SvdH_JSN_Scoring" / "val" / "_annotation_jsn_scores.json"
    text = p.read_text()
    key = next(iter(json.loads(text)))
    p.write_text(text[:-1] + f', "{key}": {{}}}}')
    return h, p, "duplicate key"


def duplicate_coco_image_id(h, w):
    p = h / "Segmentation" / "test" / "_annotations_be_rle.coco.json"
    _edit_json(p, lambda d: d["images"].append(dict(d["images"][0], file_name="other.bmp")))
    return h, p, "duplicate image id"


def roi_16bit_h1200(h, w):
    p = sorted((h / "SvdH_Scoring" / "SvdH_BE_Scoring" / "train").glob("*/*.bmp"))[0]
    g = np.asarray(Image.open(p)).astype(np.uint16) * 257
    Image.fromarray(g).save(p, format="PNG")  # a 16-bit file under the release's .bmp name
    return h, p, "expected 8-bit grey"


def joint_box_outside(h, w):
    p = h / "SvdH_Scoring" / "SvdH_JSN_Scoring" / "train" / "_annotations_jsn_joint_detection.coco.json"
    _edit_json(p, lambda d: d["annotations"][0].update(bbox=[5000.0, 5000.0, 20.0, 20.0]))
    return h, p, "lies outside"


def fifo_image(h, w):
    p = sorted((h / "Segmentation" / "train").glob("*.bmp"))[0]
    p.unlink()
    os.mkfifo(p)
    return h, p, "FIFO"


def symlink_loop_json(h, w):
    p = h / "SvdH_Scoring" / "SvdH_BE_Scoring" / "test" / "_annotation_be_scores.json"
    p.unlink()
    os.symlink(p.name, p)  # points at itself
    return h, p, "symlink loop"


def dangling_symlink_coco(h, w):
    p = h / "Segmentation" / "val" / "_annotations_bone_rle.coco.json"
    p.unlink()
    os.symlink("nowhere.json", p)
    return h, p, "dangling symlink"


def w600_mask_values_7(h, w):
    p = sorted((w / "BoneSegmentation" / "masks" / "train").glob("*.npy"))[0]
    m = np.load(p)
    m[0][m[0] > 0] = 7
    np.save(p, m)
    return w, p, "mask values [7] are not 0/1"


def w600_image_16bit(h, w):
    p = sorted((w / "BoneSegmentation" / "images").glob("*.bmp"))[0]
    g = np.asarray(Image.open(p)).astype(np.uint16) * 257
    p.unlink()
    q = p.with_suffix(".png")
    Image.fromarray(g).save(q)
    return w, q, "expected 8-bit grey"


def w600_roi_16bit(h, w):
    p = sorted((w / "SvdHBEScoreClassification" / "train").glob("*/Lunate.bmp"))[0]
    g = np.asarray(Image.open(p)).astype(np.uint16) * 257
    p.unlink()
    q = p.with_suffix(".png")
    Image.fromarray(g).save(q)
    return w, q, "expected 8-bit grey"


def w600_nan_score(h, w):
    p = w / "SvdHBEScoreClassification" / "JointBE_SvdH_GT.json"
    _edit_json(p, lambda d: d[0]["joints"].update(Lunate=float("nan")))
    return w, p, "score nan is not a number"


def w600_box_outside(h, w):
    p = w / "JointLocationDetection" / "Joints.coco.json"
    _edit_json(p, lambda d: d["annotations"][0].update(bbox=[5000.0, 5000.0, 8.0, 9.0]))
    return w, p, "lies outside"


def w600_fifo_mask(h, w):
    p = sorted((w / "BoneSegmentation" / "masks" / "val").glob("*.npy"))[0]
    p.unlink()
    os.mkfifo(p)
    return w, p, "FIFO"


DATA_CASES = [
    patient_two_splits,
    nan_score,
    duplicate_score_key,
    duplicate_coco_image_id,
    roi_16bit_h1200,
    joint_box_outside,
    fifo_image,
    symlink_loop_json,
    dangling_symlink_coco,
    w600_mask_values_7,
    w600_image_16bit,
    w600_roi_16bit,
    w600_nan_score,
    w600_box_outside,
    w600_fifo_mask,
]
TRAIN_TASK = {"RAM-H1200-v1": "hand-jsn-score", "RAM-W600": "wrist-be-cls"}


@pytest.mark.parametrize("case", DATA_CASES, ids=[c.__name__ for c in DATA_CASES])
def test_bad_dataset_check_reports_and_train_refuses(case, trees, tmp_path, capsys):
    root, bad, text = case(*trees)
    code, out, err = run_cli(["check", root], capsys)
    _clean(out, err)
    errors = [ln for ln in out.splitlines() if ln.startswith("ERROR ")]
    assert code == 1 and any(text in ln for ln in errors), out
    rel = str(bad.relative_to(root)) if bad != root else "."
    assert any(ln.startswith(f"ERROR {rel}:") and text in ln for ln in errors), (rel, errors)

    run = tmp_path / "run"
    args = ["train", TRAIN_TASK[root.name], "--data", root, "--out", run, "--model", "MobileNet", "--epochs", "1"]
    code, out, err = run_cli(args, capsys)
    _clean(out, err)
    line = _one_error_line(err)
    assert code == 2 and str(root) in line and "ramkit check" in line and "--allow-invalid-data" in line, line
    assert text in line or "error(s) in the dataset" in line
    assert not run.exists()  # a refused train leaves no run folder


def test_check_goes_on_after_filesystem_faults(trees, capsys):
    h, _ = trees
    fifo_image(h, None)
    symlink_loop_json(h, None)
    nan_score(h, None)
    code, out, err = run_cli(["check", h], capsys)
    _clean(out, err)
    errors = [ln for ln in out.splitlines() if ln.startswith("ERROR ")]
    assert code == 1, out
    for text in ("FIFO", "symlink loop", "score nan"):
        assert any(text in ln for ln in errors), (text, errors)


def test_unreadable_file_is_one_line(trees, capsys, monkeypatch):
    """Permission denied. As root ``chmod 000`` does not deny reading, so there the denial is simulated at the
    one place ramkit asks (``os.access`` in ramkit.validate); as another user the real chmod is used."""
    h, _ = trees
    p = h / "SvdH_Scoring" / "SvdH_BE_Scoring" / "val" / "_annotation_be_scores.json"
    if os.geteuid() == 0:
        import ramkit.validate as v

        real = os.access
        monkeypatch.setattr(v.os, "access", lambda q, mode: False if Path(q) == p else real(q, mode))
    else:
        p.chmod(0)
    code, out, err = run_cli(["check", h], capsys)
    _clean(out, err)
    assert code == 1 and any(ln.startswith("ERROR ") and p.name in ln and "permission denied" in ln
                             for ln in out.splitlines()), out  # fmt: skip


def test_allow_invalid_data_trains_and_is_recorded(trees, tmp_path, capsys):
    h, _ = trees
    patient_two_splits(h, None)
    run = tmp_path / "run"
    args = ["train", "hand-jsn-score", "--data", h, "--out", run, "--model", "MobileNet", "--model-size", "tiny"]
    args += ["--epochs", "1", "--batch-size", "4", "--patch-size", "32", "--threads", "1", "--allow-invalid-data"]
    code, out, err = run_cli(args, capsys)
    _clean(out, err)
    assert code == 0 and "--allow-invalid-data" in err and "appears in several splits" in err, err
    meta = json.loads((run / "last.json").read_text())
    assert meta["config"]["allow_invalid_data"] is True and "several splits" in meta["data_errors"][0]
    assert stat.S_IMODE((run / "checkpoint" / "best.safetensors").stat().st_mode) == 0o644
    assert stat.S_IMODE((run / "config.yaml").stat().st_mode) == 0o644


def test_test_refuses_invalid_data_and_notes_unfinished_runs(tiny_run, trees, tmp_path, capsys):
    h, _ = trees
    nan_score(h, None)
    code, out, err = run_cli(["test", tiny_run, "--data", h, "--out", tmp_path / "t"], capsys)
    _clean(out, err)
    line = _one_error_line(err)
    assert code == 2 and str(h) in line and "ramkit check" in line
    # an unfinished run (killed or stopped after epoch 1 of 3) says so in its summary
    part = tmp_path / "part"
    shutil.copytree(tiny_run, part, symlinks=True)
    meta_path = (part / "last.json").resolve()
    meta = json.loads(meta_path.read_text())
    meta.pop("finished")
    meta["config"]["epochs"] = 3
    meta_path.write_text(json.dumps(meta))
    clean = tiny_run.parent
    code, out, err = run_cli(["test", part, "--data", clean / "RAM-H1200-v1", "--out", tmp_path / "t2"], capsys)
    _clean(out, err)
    assert code == 0, err
    summary = json.loads((tmp_path / "t2" / "summary.json").read_text())
    assert "training did not finish" in summary["note"] and "note=training did not finish" in out


# ---------------------------------------------------------------- outputs and options
def _file(tmp_path: Path) -> Path:
    f = tmp_path / "afile"
    f.write_text("x")
    return f


OUT_CASES = {
    "existing file as folder": (lambda t: _file(t), "exists and is not a folder"),
    "parent is a file": (lambda t: _file(t) / "sub", "is a file"),
    "read-only parent": (lambda t: Path("/proc/ramkit-out"), "cannot create files in"),
}


@pytest.mark.parametrize("command", ["train", "test", "predict", "synth", "bench"])
@pytest.mark.parametrize("case", list(OUT_CASES), ids=list(OUT_CASES))
def test_bad_output_folder(command, case, tiny_run, tmp_path, capsys):
    make, text = OUT_CASES[case]
    out = make(tmp_path)
    data = tiny_run.parent / "RAM-H1200-v1"
    roi = sorted((data / "SvdH_Scoring" / "SvdH_JSN_Scoring" / "test").glob("*/*.bmp"))[0]
    args = {
        "train": ["train", "hand-jsn-score", "--data", data, "--out", out],
        "test": ["test", tiny_run, "--data", data, "--out", out],
        "predict": ["predict", tiny_run, roi, "--out", out],
        "synth": ["synth", out, "--hands", "3"],
        "bench": ["bench", out, "--quick"],
    }[command]
    code, stdout, err = run_cli(args, capsys)
    _clean(stdout, err)
    line = _one_error_line(err)
    assert code == 2 and str(out) in line and text in line, line


@pytest.mark.parametrize(
    "make,text",
    [(lambda t: t, "is a folder"), (lambda t: _file(t) / "x.csv", "is a file"), (lambda t: Path("/proc/x.csv"), "")],
    ids=["folder", "parent-file", "read-only"],
)
@pytest.mark.parametrize("command", ["check", "evaluate"])
def test_bad_output_file(command, make, text, tmp_path, capsys):
    out = make(tmp_path)
    truth = tmp_path / "t.csv"
    truth.write_text("hand,joint,score\nh1,MCP1,0\n")
    args = (
        ["check", tmp_path / "missing", "--json", out]
        if command == "check"
        else ["evaluate", "scores", "--pred", truth, "--truth", truth, "--kind", "jsn", "--out", out]
    )
    code, stdout, err = run_cli(args, capsys)
    _clean(stdout, err)
    line = _one_error_line(err)
    assert code == 2 and str(out) in line and text in line, line


TRAIN_OPTIONS = [
    (["--patch-size", "5", "--task", "hand-bone-seg", "--model", "Unet"], "--patch-size"),
    (["--epochs", "0"], "--epochs"),
    (["--batch-size", "0"], "--batch-size"),
    (["--batch-size", "-3"], "--batch-size"),
    (["--lr", "-1"], "--lr"),
    (["--fg-ratio", "2"], "--fg-ratio"),
    (["--patches-per-image", "0"], "--patches-per-image"),
    (["--threads", "0"], "--threads"),
    (["--device", "tpu"], "--device"),
    (["--amp", "fp8"], "--amp"),
    (["--model-size", "huge"], "--model-size"),
    (["--model", "NoSuchNet"], "NoSuchNet"),
    (["--be-protocol", "foo"], "--be-protocol"),
    (["--input-scale", "0"], "--input-scale"),
    (["--mil-scheme", "3", "--task", "total-svdh-mil"], "--mil-scheme: must be one of 1, 2, got 3"),  # int choices
]


@pytest.mark.parametrize("extra,name", TRAIN_OPTIONS, ids=[" ".join(e) for e, _ in TRAIN_OPTIONS])
def test_bad_train_option(extra, name, tiny_run, tmp_path, capsys):
    data = tiny_run.parent / "RAM-H1200-v1"
    run = tmp_path / "run"
    task = extra[extra.index("--task") + 1] if "--task" in extra else "hand-jsn-score"
    extra = [e for i, e in enumerate(extra) if "--task" not in extra[max(i - 1, 0) : i + 1]]
    args = ["train", task, "--data", data, "--out", run, "--model-size", "tiny", "--threads", "1"]
    code, out, err = run_cli(args + extra, capsys)
    _clean(out, err)
    line = _one_error_line(err)
    assert code == 2 and name in line, line
    assert not run.exists()  # a failed train leaves no empty run folder


@pytest.mark.parametrize("extra,name", [(["--device", "tpu"], "--device"), (["--threads", "0"], "--threads")])
def test_bad_test_option(extra, name, tiny_run, tmp_path, capsys):
    code, out, err = run_cli(["test", tiny_run, "--data", tiny_run.parent, "--out", tmp_path / "o"] + extra, capsys)
    _clean(out, err)
    assert code == 2 and name in _one_error_line(err)


def test_a_real_bug_says_so(monkeypatch, tmp_path, capsys):
    import ramkit.check as chk

    def boom(*a, **k):
        raise ValueError("something internal")

    monkeypatch.setattr(chk, "check", boom)
    build_w600(tmp_path, per_split=1)
    code, out, err = run_cli(["check", tmp_path / "RAM-W600"], capsys)
    line = _one_error_line(err)
    assert code == 1 and "this is a bug in ramkit" in line and "RAMKIT_DEBUG=1" in line and "Traceback" not in err


def test_temporaries_are_swept_and_outputs_are_0644(tmp_path, capsys):
    out = tmp_path / "syn"
    out.mkdir()
    left = [out / ".RAM-H1200-v1.abcd1234.tmp", out / ".last_state.pt.x1y2z3w4.tmp.pt"]
    left[0].mkdir()
    left[1].write_bytes(b"partial")
    keep = out / ".keepme"
    keep.write_text("user file")
    check_output_dir(out)
    assert not any(p.exists() for p in left) and keep.exists()
    assert sweep_temp(out) == []
    from ramkit.io.atomic import write_text

    write_text(out / "a.txt", "x")
    assert stat.S_IMODE((out / "a.txt").stat().st_mode) == 0o644


def test_sigterm_removes_temporaries(tmp_path):
    """SIGTERM during `ramkit synth` (while its temporary dataset folder exists) ends with exit 143 and leaves
    no temporary behind."""
    import signal
    import subprocess
    import sys
    import time

    out = tmp_path / "syn"
    env = {**os.environ, "RAMKIT_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "ramkit", "synth", str(out), "--hands", "24", "--size", "medium"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 120
    while time.time() < deadline and not (out.is_dir() and any(p.name.endswith(".tmp") for p in out.iterdir())):
        if proc.poll() is not None:
            pytest.fail("synth finished before it could be interrupted")
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143 and b"Traceback" not in err, err
    assert list(out.iterdir()) == []


def test_bad_config_values_and_bench_options(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"data: 5\nout: {tmp_path / 'o'}\n")
    code, out, err = run_cli(["train", "hand-jsn-score", "--config", cfg], capsys)
    _clean(out, err)
    assert code == 2 and "--data" in _one_error_line(err) and not (tmp_path / "o").exists()
    code, out, err = run_cli(["bench", tmp_path / "b", "--epochs-scale", "-1"], capsys)
    _clean(out, err)
    assert code == 2 and "--epochs-scale" in _one_error_line(err) and not (tmp_path / "b").exists()


def _joint_coco(h):
    return h / "SvdH_Scoring" / "SvdH_JSN_Scoring" / "train" / "_annotations_jsn_joint_detection.coco.json"


def _bone_coco(h):
    return h / "Segmentation" / "test" / "_annotations_bone_rle.coco.json"


#: JSON corruptions a random mutation fuzzer found crashing `check` before they were handled
COCO_FIELD_CASES = {
    "bbox None": (_joint_coco, lambda d: d["annotations"][1]["bbox"].__setitem__(2, None), "bbox"),
    "bbox string": (_joint_coco, lambda d: d["annotations"][0].update(bbox="abc"), "bbox"),
    "category_id text": (_joint_coco, lambda d: d["annotations"][1].update(category_id="abc"), "category_id"),
    "category_id list": (_joint_coco, lambda d: d["annotations"][0].update(category_id=[1]), "category_id"),
    "negative height": (_bone_coco, lambda d: d["images"][0].update(height=-1), "height"),
    "huge height": (_bone_coco, lambda d: d["images"][0].update(height=1e30), "height"),
    "annotation not an object": (_bone_coco, lambda d: d["annotations"].append(5), "annotation 5"),
}


@pytest.mark.parametrize("case", list(COCO_FIELD_CASES), ids=list(COCO_FIELD_CASES))
def test_malformed_coco_fields(case, trees, capsys):
    h, _ = trees
    where, fn, text = COCO_FIELD_CASES[case]
    p = where(h)
    _edit_json(p, fn)
    code, out, err = run_cli(["check", h], capsys)
    _clean(out, err)
    errors = [ln for ln in out.splitlines() if ln.startswith("ERROR ")]
    assert code == 1 and any(p.name in ln and text in ln for ln in errors), errors
