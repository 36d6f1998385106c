"""What ``ramkit test`` adds to a run's test folder beyond the per-case metrics: the papers' statistics.

:func:`test_extras` is the one hook ``run_test`` calls after it has written ``predictions.*`` and ``per_case.csv``;
it reads those files back (so it is also usable on an existing test folder) and writes:

``scores.csv`` / ``truth_scores.csv`` (scoring tasks)
    ``hand,joint,score`` rows in exactly the format ``ramkit evaluate scores`` reads, so
    ``ramkit evaluate scores --pred scores.csv --truth truth_scores.csv --kind be|jsn|binary`` re-computes the
    test metrics.
``correlations.csv``
    one row per Spearman statistic of the papers: predicted vs true per-hand totals (H1200 Tables 22, 25),
    BE area vs the hand's total BE score (Table 19), bone-overlap area vs total JSN (Table 16); columns
    ``statistic, x, y, rho, p, n``. ``rho``/``p`` are empty when fewer than 3 hands pair up or one side is constant.
``erosive_split.csv`` (wrist bone segmentation)
    per-image DSC/NSD of erosive vs non-erosive wrists (a wrist is erosive when any of its joints has BE score
    > 0 in ``JointBE_SvdH_GT.json``) and the two-sided Mann–Whitney U test between them (W600 Tables 10–11).

The returned dict is merged into ``summary.json``: ``params`` (trainable parameters), ``spearman_total``,
``spearman_total_p``, ``n_hands`` and nested ``correlations`` / ``erosive_split``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from ramkit import anatomy
from ramkit.errors import RamkitError
from ramkit.io.atomic import write_csv
from ramkit.metrics import names
from ramkit.metrics.stats import mann_whitney, spearman

SCORES_FILE = "scores.csv"  #: predicted hand,joint,score rows of a scoring test
TRUTH_SCORES_FILE = "truth_scores.csv"  #: the matching ground truth
CORRELATIONS_FILE = "correlations.csv"
EROSIVE_SPLIT_FILE = "erosive_split.csv"
CORRELATION_COLUMNS = ("statistic", "x", "y", "rho", "p", "n")
#: ``ramkit evaluate scores --kind`` value of each score kind
EVALUATE_KIND = {"be": "be", "jsn": "jsn", "w600": "binary"}


def count_parameters(model) -> int:
    """Trainable parameters of a torch module."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad))


# ------------------------------------------------------------------------------------------------------------
# scores
# ------------------------------------------------------------------------------------------------------------
def write_score_files(rows: pd.DataFrame, out: Path) -> tuple[Path, Path]:
    """``scores.csv`` (predicted) and ``truth_scores.csv`` in the ``hand,joint,score`` format of evaluate."""
    for col in ("hand", "joint", "truth", "pred"):
        if col not in rows.columns:
            raise RamkitError(f"predictions lack column {col!r}", out)
    pred = pd.DataFrame({"hand": rows["hand"], "joint": rows["joint"], "score": rows["pred"].astype(int)})
    truth = pd.DataFrame({"hand": rows["hand"], "joint": rows["joint"], "score": rows["truth"].astype(int)})
    write_csv(out / SCORES_FILE, pred)
    write_csv(out / TRUTH_SCORES_FILE, truth)
    return out / SCORES_FILE, out / TRUTH_SCORES_FILE


def hand_totals(hands: Iterable[str], values: Iterable) -> dict[str, float]:
    """Per-hand sums of raw scores."""
    out: dict[str, float] = {}
    for h, v in zip(hands, values, strict=True):
        out[str(h)] = out.get(str(h), 0.0) + float(v)
    return out


def correlation_row(statistic: str, x: str, y: str, a: dict[str, float], b: dict[str, float]) -> dict:
    """Spearman ρ/p of two per-key series over the keys both have."""
    keys = sorted(set(a) & set(b))
    rho, p = spearman([a[k] for k in keys], [b[k] for k in keys])
    return {"statistic": statistic, "x": x, "y": y, "rho": _finite(rho), "p": _finite(p), "n": len(keys)}


def _finite(v: float) -> float | None:
    return float(v) if v is not None and math.isfinite(v) else None


# ------------------------------------------------------------------------------------------------------------
# dataset look-ups (every split: the segmentation and scoring splits of one hand need not coincide)
# ------------------------------------------------------------------------------------------------------------
def _splits(ds) -> tuple[str, ...]:
    sp = ds.splits
    return tuple(sp() if callable(sp) else sp)


def true_totals(ds, kind: str) -> dict[str, float]:
    """True per-hand totals of ``kind`` (H1200 'be' | 'jsn', W600 'w600') over every split the reader has."""
    hands: list[str] = []
    values: list[int] = []
    for split in _splits(ds):
        try:
            rows = ds.scores(kind, split) if kind != "w600" else ds.scores(split)
        except (RamkitError, KeyError, TypeError):
            continue
        hands += [r.hand for r in rows]
        values += [r.score for r in rows]
    return hand_totals(hands, values)


# ------------------------------------------------------------------------------------------------------------
# segmentation
# ------------------------------------------------------------------------------------------------------------
def read_predictions(path: Path) -> tuple[list[str], dict[str, list[dict]]]:
    """Class names and ``{stem: [RLE per class]}`` of a test ``predictions.json``."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        classes = list(doc["classes"])
        masks = {s: [m[c] for c in classes] for s, m in doc["masks"].items()}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise RamkitError(f"cannot read test predictions ({exc})", path) from None
    return classes, masks


def _decode(rles: list[dict]) -> np.ndarray:
    from pycocotools import mask as mask_utils

    coded = [{"size": r["size"], "counts": r["counts"].encode("ascii")} for r in rles]
    return np.moveaxis(mask_utils.decode(coded), -1, 0).astype(bool)


def lesion_area(masks: np.ndarray) -> float:
    """Pixels covered by any lesion channel of a C×H×W mask stack."""
    return float(np.asarray(masks, bool).any(axis=0).sum())


def overlap_area(masks: np.ndarray, class_names: list[str] | tuple[str, ...]) -> float:
    """Summed pixel area of the 14 bone-pair overlaps (AND of the two bones' masks) of a C×H×W mask stack."""
    m = np.asarray(masks, bool)
    return float(sum(int((m[a] & m[b]).sum()) for a, b in anatomy.overlap_pairs_for(list(class_names))))


def per_image_mean(per_case: pd.DataFrame, stems: list[str], metric: str) -> dict[str, float]:
    """``{stem: Mean <metric>}`` of a test ``per_case.csv`` (rows by ``stem`` column, else in prediction order)."""
    col = names.mean_column(metric)
    df = per_case
    if names.STEM_INDEX in df.columns:
        df = df[df[names.STEM_INDEX] != names.AVERAGE_ROW]
        keys = df[names.STEM_INDEX].astype(str).tolist()
    else:
        df = df.iloc[: len(stems)]
        keys = stems
    if col not in df.columns:
        return {}
    return dict(zip(keys, df[col].astype(float).tolist(), strict=True))


def erosive_split(
    per_case: pd.DataFrame, stems: list[str], erosive: dict[str, bool], metrics: tuple[str, ...] = ("DSC", "NSD")
) -> list[dict]:
    """Per metric: mean ± SD of per-image values in erosive and non-erosive wrists and the Mann–Whitney U test."""
    rows = []
    for m in metrics:
        vals = per_image_mean(per_case, stems, m)
        be = np.array([v for s, v in vals.items() if erosive.get(s) is True], float)
        non = np.array([v for s, v in vals.items() if erosive.get(s) is False], float)
        be, non = be[np.isfinite(be)], non[np.isfinite(non)]
        u, p = mann_whitney(be, non) if be.size and non.size else (float("nan"), float("nan"))
        rows.append(
            {
                "metric": m,
                "erosive_mean": _finite(float(be.mean())) if be.size else None,
                "erosive_sd": _finite(float(be.std(ddof=1))) if be.size > 1 else None,
                "n_erosive": int(be.size),
                "non_erosive_mean": _finite(float(non.mean())) if non.size else None,
                "non_erosive_sd": _finite(float(non.std(ddof=1))) if non.size > 1 else None,
                "n_non_erosive": int(non.size),
                "U": _finite(u),
                "p": _finite(p),
            }
        )
    return rows


def _seg_extras(spec, ds, out: Path, true_masks) -> dict:
    classes, rles = read_predictions(out / "predictions.json")
    stems = list(rles)
    extra: dict = {}
    corr: list[dict] = []
    if spec.id == "hand-be-seg":
        pred_area = {s: lesion_area(_decode(r)) for s, r in rles.items()}
        totals = true_totals(ds, "be")
        corr.append(
            correlation_row("BE area vs total BE", "predicted BE area (px)", "true total BE", pred_area, totals)
        )
        if true_masks is not None:
            area = {s: lesion_area(m) for s, m in true_masks}
            corr.append(correlation_row("BE area vs total BE", "true BE area (px)", "true total BE", area, totals))
    elif spec.id == "hand-bone-seg":
        pred_area = {s: overlap_area(_decode(r), classes) for s, r in rles.items()}
        totals = true_totals(ds, "jsn")
        corr.append(
            correlation_row(
                "overlap area vs total JSN", "predicted overlap area (px)", "true total JSN", pred_area, totals
            )
        )
        if true_masks is not None:
            area = {s: overlap_area(m, classes) for s, m in true_masks}
            corr.append(
                correlation_row("overlap area vs total JSN", "true overlap area (px)", "true total JSN", area, totals)
            )
    elif spec.id == "wrist-bone-seg":
        totals = true_totals(ds, "w600")
        per_case = pd.read_csv(out / "per_case.csv")
        split = erosive_split(per_case, stems, {h: t > 0 for h, t in totals.items()})
        write_csv(out / EROSIVE_SPLIT_FILE, pd.DataFrame(split))
        extra["erosive_split"] = split
    if corr:
        extra["correlations"] = corr
    return extra


def test_extras(spec, ds, out: Path, model=None, true_masks=None) -> dict:
    """Papers' statistics of a test folder ``out`` (see the module doc); returns keys to merge into the summary.

    ``true_masks``: optional iterable (consumed lazily) of ``(stem, C×H×W truth)`` of the test cases
    (segmentation), for the area correlations on the ground-truth masks next to the predicted ones.
    """
    out = Path(out)
    extra: dict = {}
    if model is not None:
        extra["params"] = count_parameters(model)
    if spec.model_kind == "seg":
        extra.update(_seg_extras(spec, ds, out, true_masks))
    elif spec.model_kind in ("ordinal", "cls"):
        rows = pd.read_csv(out / "predictions.csv", dtype={"hand": str, "joint": str})
        write_score_files(rows, out)
        if spec.model_kind == "ordinal":
            pt = hand_totals(rows["hand"], rows["pred"])
            tt = hand_totals(rows["hand"], rows["truth"])
            row = correlation_row("total " + spec.score_kind.upper(), "predicted total", "true total", pt, tt)
            extra.update(spearman_total=row["rho"], spearman_total_p=row["p"], n_hands=row["n"])
            extra["correlations"] = [row]
    if extra.get("correlations"):
        write_csv(out / CORRELATIONS_FILE, pd.DataFrame(extra["correlations"], columns=list(CORRELATION_COLUMNS)))
    return extra


__all__ = [
    "test_extras",
    "write_score_files",
    "hand_totals",
    "correlation_row",
    "true_totals",
    "lesion_area",
    "overlap_area",
    "erosive_split",
    "count_parameters",
    "SCORES_FILE",
    "TRUTH_SCORES_FILE",
    "CORRELATIONS_FILE",
    "EROSIVE_SPLIT_FILE",
    "EVALUATE_KIND",
]
