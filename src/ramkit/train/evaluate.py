"""``ramkit test`` and ``ramkit predict``: predictions, per-case metrics, summaries, confusion matrices, timing.

Inference time follows the fixed protocol: warm-up passes first, ``torch.cuda.synchronize`` around each timed call
on CUDA, the median and the interquartile spread over cases, in ms per image (segmentation) or per ROI (scoring).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ramkit.errors import RamkitError
from ramkit.io.atomic import atomic_path, write_csv, write_json, write_text


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timing_summary(times_s: list[float], unit: str) -> dict:
    """Median, quartiles and mean of per-item times in milliseconds."""
    ms = np.asarray(times_s, dtype=float) * 1000.0
    if ms.size == 0:
        return {"unit": unit, "n": 0}
    q1, med, q3 = np.percentile(ms, [25, 50, 75])
    return {
        "unit": unit,
        "n": int(ms.size),
        "median_ms": float(med),
        "q1_ms": float(q1),
        "q3_ms": float(q3),
        "iqr_ms": float(q3 - q1),
        "mean_ms": float(ms.mean()),
        "sd_ms": float(ms.std(ddof=0)),
    }


def run_test(
    run: str | os.PathLike,
    data: str | os.PathLike,
    split: str = "test",
    out: str | os.PathLike | None = None,
    device: str = "auto",
    warmup: int = 2,
    max_cases: int | None = None,
    quiet: bool = False,
    dataset=None,
    threads: int | None = None,
    convention: str | None = None,
    amp: bool = False,
    allow_invalid_data: bool = False,
) -> dict:
    """Evaluate the selected model of ``run`` on ``split`` of ``data``; writes everything under ``out``.

    ``convention`` (``"h1200"`` / ``"w600"``, :mod:`ramkit.metrics.conventions`): default = the run's dataset's.
    The data pass :func:`ramkit.validate.require_valid` first (``allow_invalid_data`` overrides, recorded in the
    summary); a run whose training did not finish gets a ``note`` saying so in the summary.

    Returns the summary dict (headline metrics, timing). Files: ``predictions.json`` (COCO RLE) or
    ``predictions.csv``, ``per_case.csv``, ``summary.csv``, ``summary.json``, ``confusion.csv`` (scoring/binary),
    ``timing.json``, plus the papers' statistics of :mod:`ramkit.report.extras` (``scores.csv`` /
    ``truth_scores.csv`` in the ``ramkit evaluate scores`` format, ``correlations.csv``, ``erosive_split.csv``)
    and ``RUN/model_card.md``. Inference runs in fp32 like the official tester; ``amp=True`` uses the run's
    autocast mode instead.
    """
    from ramkit.metrics.conventions import for_dataset, get_convention
    from ramkit.train.checkpoint import is_finished, last_epoch
    from ramkit.train.data import cases, open_dataset, splits_of
    from ramkit.train.trainer import amp_mode, load_run, pick_device
    from ramkit.validate import require_valid

    dev = pick_device(device)
    model, spec, cfg, meta = load_run(run, "best", dev)
    data_errors = [] if dataset is not None else require_valid(data, spec.dataset, allow_invalid_data)
    amp_dtype = amp_mode(cfg.amp, dev) if amp else "none"
    if threads or cfg.threads:
        torch.set_num_threads(int(threads or cfg.threads))
    ds = dataset if dataset is not None else open_dataset(spec, data)
    if split not in splits_of(ds):
        raise RamkitError(f"split {split!r} not found (available: {', '.join(splits_of(ds))})", data)
    items = cases(spec, ds, split, cfg.be_protocol)
    if max_cases:
        items = items[:max_cases]
    if not items:
        raise RamkitError(f"no {split} cases for task {spec.id}", data)
    out = Path(out) if out is not None else Path(run) / f"test_{split}"
    out.mkdir(parents=True, exist_ok=True)
    conv = get_convention(convention) if convention else for_dataset(spec.dataset)
    summary: dict = {
        "convention": conv.name,
        "task": spec.id,
        "model": cfg.model,
        "split": split,
        "n_cases": len(items),
        "best_epoch": meta.get("best_epoch"),
        "amp": amp_dtype,
        "run": os.fspath(run),
    }
    if is_finished(run) is False:
        summary["note"] = f"training did not finish (last epoch {last_epoch(run)}); this is an intermediate model"
    if data_errors:
        summary.update(allow_invalid_data=True, data_errors=len(data_errors))
    summary.update(spec.kind.test(spec, model, cfg, items, out, dev, amp_dtype, warmup, quiet, split, convention=conv))
    summary.update(_test_extras(spec, ds, out, model, cfg, items))
    flat = {k: v for k, v in summary.items() if not isinstance(v, (dict, list))}
    flat.update({f"time_{k}": v for k, v in summary["timing"].items() if k != "unit"})
    write_csv(out / "summary.csv", pd.DataFrame([flat]))
    write_json(out / "summary.json", summary, indent=2)
    write_json(out / "timing.json", summary["timing"], indent=2)
    from ramkit.report import model_card

    model_card.write_model_card(run, summary)
    return summary


def _test_extras(spec, ds, out: Path, model, cfg, items: list) -> dict:
    """The papers' statistics of :mod:`ramkit.report.extras` (true masks streamed for segmentation tasks)."""
    from ramkit.report import extras
    from ramkit.train import inference as inf

    truth_masks = None
    if spec.model_kind == "seg":
        n = spec.out_channels(cfg.be_protocol)
        truth_masks = ((c.key, inf.target_masks(c.target(), spec, n, cfg.patch_size)) for c in items)
    return extras.test_extras(spec, ds, out, model, truth_masks)


def test_segmentation(
    spec,
    model,
    cfg,
    items: list,
    out: Path,
    dev: torch.device,
    amp: str,
    warmup: int,
    quiet: bool,
    split: str = "test",
    convention=None,
) -> dict:
    """``ramkit test`` of a segmentation task: predictions.json (COCO RLE), per_case.csv; returns summary entries."""
    from ramkit.io.coco import encode_mask
    from ramkit.metrics import SegmentationEvaluator
    from ramkit.progress import track
    from ramkit.train import inference as inf

    size = cfg.patch_size
    it = items if quiet else track(items, f"test {spec.id}")

    names = list(spec.lesion_channels(cfg.be_protocol))
    evaluator = SegmentationEvaluator(names, task=spec.kind.metric_task, convention=convention or "h1200")
    warm = items[0].image()
    for _ in range(warmup):
        inf.seg_logits(model, warm, spec, size, dev, amp, scale=cfg.input_scale)
    times, preds = [], {}
    for c in it:
        img, tgt = c.image(), c.target()
        _sync(dev)
        t0 = time.perf_counter()
        logits = inf.seg_logits(model, img, spec, size, dev, amp, scale=cfg.input_scale)
        _sync(dev)
        times.append(time.perf_counter() - t0)
        pred = inf.seg_masks(logits, spec)
        truth = inf.target_masks(tgt, spec, spec.out_channels(cfg.be_protocol), size)
        evaluator.add(c.key, pred, truth)
        preds[c.key] = {n: encode_mask(pred[k]) for k, n in enumerate(names)}
    write_json(
        out / "predictions.json",
        {"task": spec.id, "classes": names, "resized_to": size if spec.kind.input == "whole" else None, "masks": preds},
    )
    table = evaluator.table()
    write_csv(out / "per_case.csv", table, index=True)  # index = case stem
    summary = {k: _num(v) for k, v in evaluator.summary().items()}
    summary["timing"] = timing_summary(times, "ms per image")
    return summary


def test_scores(
    spec,
    model,
    cfg,
    items: list,
    out: Path,
    dev: torch.device,
    amp: str,
    warmup: int,
    quiet: bool,
    split: str = "test",
    convention=None,
) -> dict:
    """``ramkit test`` of a joint-scoring task: predictions/per_case/table/confusion CSVs; returns summary entries."""
    from ramkit.train import inference as inf

    size = cfg.patch_size
    truth = np.array([int(c.target()) for c in items])
    images = [c.image() for c in items]
    for _ in range(warmup):
        inf.roi_predict(model, images[: min(len(images), 32)], spec, size, dev, amp)
    times = []
    pred_l, raw_l = [], []
    for i in range(0, len(images), 32):
        chunk = images[i : i + 32]
        _sync(dev)
        t0 = time.perf_counter()
        p, r = inf.roi_predict(model, chunk, spec, size, dev, amp)
        _sync(dev)
        times += [(time.perf_counter() - t0) / len(chunk)] * len(chunk)
        pred_l.append(p)
        raw_l.append(r)
    pred, raw = np.concatenate(pred_l), np.concatenate(raw_l)
    hands = [c.meta["hand"] for c in items]
    joints = [c.meta["joint"] for c in items]
    rows = pd.DataFrame({"hand": hands, "joint": [j.stem for j in joints], "truth_class": truth, "pred_class": pred})
    for k in range(raw.shape[1]):
        rows[f"out_{k}"] = raw[:, k]
    summary: dict = {}
    if not spec.kind.binary:
        from ramkit.metrics import ScoreEvaluator
        from ramkit.models.ordinal import non_monotone_share

        values = np.array(spec.score_values)
        rows["truth"], rows["pred"] = values[truth], values[pred]
        ev = ScoreEvaluator(spec.score_kind)
        ev.add_many(hands, joints, values[truth].tolist(), values[pred].tolist())
        summary["non_monotone_share"] = non_monotone_share(torch.from_numpy(raw))
    else:
        from ramkit.metrics import BinaryEvaluator

        rows["truth"], rows["pred"] = truth, pred
        ev = BinaryEvaluator(spec.score_kind, convention or "w600")
        ev.add_many(hands, joints, truth.tolist(), pred.tolist())
    table = ev.table()
    overall = table.iloc[0].to_dict()
    cm_df = ev.confusion()
    write_csv(out / "predictions.csv", rows)
    write_csv(out / "per_case.csv", rows)
    write_csv(out / "table.csv", table)
    write_csv(out / "confusion.csv", cm_df, index=True)
    try:
        from ramkit.metrics import plot_confusion

        plot_confusion(cm_df, out / "confusion.png", title=f"{spec.id} {split}")
    except Exception:  # noqa: BLE001 - the figure is optional
        pass
    summary.update({k: _num(v) for k, v in overall.items() if k not in ("Scope", "Name", "N")})
    summary["timing"] = timing_summary(times, "ms per ROI")
    return summary


def _num(v):
    try:
        f = float(v)
        return f if np.isfinite(f) else None
    except (TypeError, ValueError):
        return v


def run_predict(
    run: str | os.PathLike,
    images: list[str],
    out: str | os.PathLike,
    device: str = "auto",
    threads: int | None = None,
    spacing_mm: float | None = None,
    side: str | None = None,
    flip_left: bool | None = None,
    amp: bool = False,
    input_spacing_mm: float | None = None,
    joint_boxes: str | None = None,
) -> list[Path]:
    """Predict new images with the selected model of ``run``; a thin loop over :class:`ramkit.Predictor`.

    Segmentation: ``<name>.npy`` (uint8 C×H×W), ``<name>.png`` (label map: index+1 of the last positive
    channel), ``<name>_overlay.png`` (colour overlay of every mask on the image, for viewing) and ``<name>.json``
    (COCO RLE per class), where ``<name>`` is the file stem, prefixed by its parent folders when two inputs share
    a stem (``a/ok_R.png``, ``b/ok_R.png`` -> ``a__ok_R``, ``b__ok_R``: no input overwrites another's outputs).
    The Predictor brings each radiograph from its spacing (DICOM, else ``input_spacing_mm``, else the release
    spacing) to the run's training spacing (``spacing_mm`` overrides it), applies the run's input scale, mirrors
    left hands for the model (``flip_left=None``: all but released RAM-H1200 names, which the release stores
    in right-hand orientation) and maps the masks back to the input file's grid and orientation. fp32 unless
    ``amp``. Scoring/classification: ``scores.csv`` with class, score, class probabilities, expected score
    and its SD per ROI crop (crops are used as given).
    MIL (``total-svdh-mil``): ``totals.csv``, ``attention.csv`` and ``<stem>_attention.png`` per radiograph;
    scheme-2 runs need ``joint_boxes`` (joint-detection COCO file(s), see :func:`ramkit.tasks.mil.predict_mil`).
    The task's behaviour object writes the outputs (``spec.kind.predict``).
    """
    from ramkit.predictor import Predictor

    if not images:
        raise RamkitError("no input images given")
    for p in images:
        if not os.path.isfile(p):
            raise RamkitError("image not found", p)
    pred = Predictor.from_run(run, device=device, amp=amp, threads=threads, train_spacing_mm=spacing_mm)
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise RamkitError("output path exists and is not a folder", out)
    out.mkdir(parents=True, exist_ok=True)
    opts: dict = {"side": side, "flip_left": flip_left, "input_spacing_mm": input_spacing_mm}
    if joint_boxes is not None:
        opts["joint_boxes"] = joint_boxes
    return pred.task.kind.predict(pred, images, out, **opts)


def predict_segmentation(
    pred, images: list[str], out: Path, side=None, flip_left=None, input_spacing_mm=None
) -> list[Path]:
    """``ramkit predict`` of a segmentation run (see :func:`run_predict`); ``pred`` is a :class:`ramkit.Predictor`."""
    from ramkit.io.coco import encode_mask
    from ramkit.io.images import write_gray
    from ramkit.pipeline.inputs import unique_names
    from ramkit.report.overlay import overlay_rgb, write_rgb

    written: list[Path] = []
    names = list(pred.class_names)
    for p, stem in zip(images, unique_names([Path(p) for p in images]), strict=True):
        r = pred.predict_prepared(pred.prepare(p, spacing_mm=input_spacing_mm, side=side, flip_left=flip_left))
        masks = r.masks
        img = r.to_source(r.pixels)  # the input's grid, for the overlay
        with atomic_path(out / f"{stem}.npy") as tmp, open(tmp, "wb") as f:
            np.save(f, masks.astype(np.uint8))
        label = np.zeros(img.shape, np.uint8)
        for k in range(len(names)):
            label[masks[k]] = k + 1
        write_gray(out / f"{stem}.png", label)
        write_rgb(out / f"{stem}_overlay.png", overlay_rgb(img, masks))
        write_json(
            out / f"{stem}.json",
            {
                "image": os.fspath(p),
                "task": pred.task.id,
                "height": img.shape[0],
                "width": img.shape[1],
                "masks": {n: encode_mask(masks[k]) for k, n in enumerate(names)},
            },
        )
        written += [out / f"{stem}.npy", out / f"{stem}.png", out / f"{stem}_overlay.png", out / f"{stem}.json"]
    return written


def predict_scores(pred, images: list[str], out: Path, input_spacing_mm=None, **_opts) -> list[Path]:
    """``ramkit predict`` of a scoring/classification run on joint crops: ``scores.csv`` (see :func:`run_predict`)."""
    s = pred.predict_rois([pred.roi_array(p) for p in images], spacing_mm=input_spacing_mm)
    df = pd.DataFrame({"image": [os.fspath(p) for p in images], "class": s.classes})
    if pred.task.kind.activation == "ordinal":
        df["score"] = s.scores
        for k, v in enumerate(s.values):
            df[f"p_{v}"] = s.probs[:, k]
        df["expected"], df["sd"] = s.expected, s.sd
    else:
        df["erosion"] = s.classes.astype(bool)
        df["p_erosion"] = s.probs[:, 1]
    write_csv(out / "scores.csv", df)
    return [out / "scores.csv"]


def write_markdown_table(df: pd.DataFrame, path: Path, title: str) -> None:
    """A small markdown table (no extra dependency)."""
    cols = list(df.columns)
    lines = [f"## {title}", "", "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in df.iterrows():
        lines.append("| " + " | ".join(_fmt(r[c]) for c in cols) + " |")
    write_text(path, "\n".join(lines) + "\n")


def _fmt(v) -> str:
    if isinstance(v, float):
        return "nan" if not np.isfinite(v) else f"{v:.4g}"
    return str(v)


__all__ = ["run_test", "run_predict", "timing_summary", "write_markdown_table"]
