"""``ramkit evaluate``: score predictions against ground truth with the papers' metric conventions.

``ramkit evaluate segmentation`` compares folders of ``<stem>.npy`` C×H×W 0/1 masks (truth may also be a RAM-H1200
split folder with COCO JSONs); ``ramkit evaluate scores`` compares two ``hand,joint,score`` CSV files.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated

import typer

from ramkit.errors import RamkitError

BONE_COCO = "_annotations_bone_rle.coco.json"
BE_COCO = "_annotations_be_rle.coco.json"
SEG_CLI_TASKS = ("bone", "wrist", "be")


def _convention(name: str | None, default: str):
    """The metrics convention object named by ``--convention`` (``default`` when not given)."""
    from ramkit.metrics.conventions import CONVENTIONS

    key = (name or default).lower()
    if key not in CONVENTIONS:
        raise RamkitError(f"--convention must be one of {', '.join(CONVENTIONS)}, got {name!r}")
    return CONVENTIONS[key]


def register(app: typer.Typer) -> None:
    """Add the ``evaluate`` command group to the ramkit CLI."""
    ev = typer.Typer(
        name="evaluate",
        help="Evaluate predictions against ground truth (segmentation masks or joint scores).",
        no_args_is_help=True,
    )
    ev.command("segmentation")(segmentation_command)
    ev.command("scores")(scores_command)
    app.add_typer(ev, name="evaluate")


# --------------------------------------------------------------------------------------------------
# segmentation
# --------------------------------------------------------------------------------------------------
def _load_npy(path: Path):
    import numpy as np

    from ramkit.validate import require_file

    require_file(path, "mask file")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise RamkitError(f"cannot read as a .npy array ({exc})", path) from None
    if not isinstance(arr, np.ndarray) or arr.ndim != 3:
        raise RamkitError(f"expected a C×H×W mask array, got shape {getattr(arr, 'shape', None)}", path)
    from ramkit.metrics.segmentation import as_binary

    try:
        return as_binary(arr, "mask")
    except ValueError as exc:
        raise RamkitError(str(exc), path) from None


def _read_class_names(path: Path) -> list[str]:
    try:
        names = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise RamkitError(f"cannot read class names ({exc})", path) from None
    if isinstance(names, dict) and "classes" in names:
        names = names["classes"]
    if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
        raise RamkitError("class names must be a JSON list of strings", path)
    if len(set(names)) != len(names):
        raise RamkitError("class names must be unique", path)
    return names


def _default_class_names(c: int, task: str, where: Path) -> list[str]:
    from ramkit import anatomy

    if task == "be":
        for classes in anatomy.BE_PROTOCOL_CLASSES.values():
            if len(classes) == c:
                return list(classes)
        raise RamkitError(f"{c} channels is no BE protocol (1 = SvdH-BE-90, 3 = all lesions); pass --classes", where)
    if task == "wrist":
        if c != len(anatomy.WRIST_BONES):
            raise RamkitError(f"{c} channels, but --task wrist needs the {len(anatomy.WRIST_BONES)} wrist bones", where)
        return list(anatomy.WRIST_BONES)
    if c == len(anatomy.HAND_BONES):
        return list(anatomy.HAND_BONES)
    if c == len(anatomy.WRIST_BONES):
        return list(anatomy.WRIST_BONES)
    raise RamkitError(f"{c} channels: no default class names (30 hand or 14 wrist bones); pass --classes", where)


class _CocoTruth:
    """Lazily decoded truth masks from a RAM-H1200 split folder (bones or BE lesions)."""

    def __init__(self, folder: Path, task: str):
        from ramkit.io.coco import CocoFile

        self.task = task
        self.coco = CocoFile(folder / (BE_COCO if task == "be" else BONE_COCO))
        self.stems = set(self.coco.by_stem)

    def masks(self, stem: str, class_names: list[str]):
        import numpy as np

        from ramkit import anatomy

        im = self.coco.by_stem[stem]
        if self.task != "be":
            usable = {
                n
                for cid, n in self.coco.categories.items()
                if cid != 0 and n not in anatomy.DROPPED_BONE_CATEGORY_NAMES
            }
            missing = [n for n in class_names if n not in usable]
            if missing:
                raise RamkitError(f"bone category {missing[0]!r} is missing from the categories", self.coco.path)
            return self.coco.masks(im, class_names) != 0
        unknown = [n for n in class_names if n not in anatomy.BE_CATEGORIES]
        if unknown:
            raise RamkitError(f"{unknown[0]!r} is not a BE lesion class {anatomy.BE_CATEGORIES}", self.coco.path)
        raw = self.coco.masks(im, list(anatomy.BE_CATEGORIES)) != 0  # priority order
        out = np.zeros((len(class_names), im.height, im.width), bool)
        for k, name in enumerate(class_names):
            i = anatomy.BE_CATEGORIES.index(name)
            out[k] = raw[i] & ~raw[:i].any(axis=0) if i else raw[i]
        return out


def segmentation_command(
    pred: Annotated[Path, typer.Option("--pred", help="Folder of <stem>.npy C×H×W 0/1 predicted masks.")],
    truth: Annotated[
        Path,
        typer.Option("--truth", help="Folder of <stem>.npy truth masks, or a RAM-H1200 split folder with COCO JSONs."),
    ],
    out: Annotated[Path, typer.Option("--out", help="Output CSV: per-image rows plus an 'Average' row.")],
    classes: Annotated[
        Path | None, typer.Option("--classes", help="JSON list of class names, one per channel.")
    ] = None,
    tolerance: Annotated[float, typer.Option("--tolerance", help="NSD tolerance in pixels.")] = 2.0,
    task: Annotated[
        str,
        typer.Option(
            "--task",
            help="bone (H1200 hand bones: DSC NSD VOE MSD RAVD), wrist (W600 wrist bones) or be (+ REC PREC F1).",
        ),
    ] = "bone",
    empty: Annotated[
        str, typer.Option("--empty", help="Empty-mask convention: paper (official code) or metricsreloaded.")
    ] = "paper",
    convention: Annotated[
        str | None,
        typer.Option(
            "--convention",
            help="Per-image class mean: h1200 (finite values; default for bone/be) or w600 (plain mean, an image "
            "with a NaN bone drops out; default for wrist).",
        ),
    ] = None,
) -> None:
    """Segmentation metrics (DSC, NSD, VOE, MSD, RAVD, overlap-aware DSC_O/NSD_O, BE REC/PREC/F1)."""
    from ramkit.io.atomic import check_output_file
    from ramkit.metrics import SegmentationEvaluator
    from ramkit.metrics.segmentation import EMPTY_POLICIES
    from ramkit.progress import track

    check_output_file(out, "--out")
    if task not in SEG_CLI_TASKS:
        raise RamkitError(f"--task must be one of {', '.join(SEG_CLI_TASKS)}, got {task!r}")
    conv = _convention(convention, "w600" if task == "wrist" else "h1200")
    if empty not in EMPTY_POLICIES:
        raise RamkitError(f"--empty must be one of {', '.join(EMPTY_POLICIES)}, got {empty!r}")
    if not math.isfinite(tolerance) or tolerance < 0:
        raise RamkitError(f"--tolerance must be a non-negative number, got {tolerance}")
    if not pred.is_dir():
        raise RamkitError("prediction folder not found", pred)
    if not truth.is_dir():
        raise RamkitError("truth folder not found", truth)
    pred_files = {p.stem: p for p in sorted(pred.glob("*.npy"))}
    if not pred_files:
        raise RamkitError("no <stem>.npy prediction files", pred)

    coco_name = BE_COCO if task == "be" else BONE_COCO
    coco: _CocoTruth | None = None
    if task != "wrist" and (truth / coco_name).is_file():
        coco = _CocoTruth(truth, task)
        truth_stems = coco.stems
        truth_where = truth / coco_name
    else:
        truth_files = {p.stem: p for p in sorted(truth.glob("*.npy"))}
        if not truth_files:
            raise RamkitError(f"no <stem>.npy truth files and no {coco_name}", truth)
        truth_stems = set(truth_files)
        truth_where = truth
    no_truth = sorted(set(pred_files) - truth_stems)
    if no_truth:
        raise RamkitError(f"{len(no_truth)} prediction(s) have no truth, e.g. {no_truth[0]!r}", truth_where)
    no_pred = sorted(truth_stems - set(pred_files))
    if no_pred:
        raise RamkitError(f"{len(no_pred)} truth image(s) have no prediction, e.g. {no_pred[0]!r}", pred)

    stems = sorted(pred_files)
    first = _load_npy(pred_files[stems[0]])
    class_names = (
        _read_class_names(classes) if classes else _default_class_names(first.shape[0], task, pred_files[stems[0]])
    )
    if len(class_names) != first.shape[0]:
        raise RamkitError(f"{first.shape[0]} channels but {len(class_names)} class names", pred_files[stems[0]])
    ev = SegmentationEvaluator(
        class_names,
        task="be" if task == "be" else "bone",
        tolerance=tolerance,
        empty=empty,  # type: ignore[arg-type]  # validated above
        convention=conv,
    )

    for stem in track(stems, "Evaluating"):
        p = first if stem == stems[0] else _load_npy(pred_files[stem])
        if p.shape[0] != len(class_names):
            raise RamkitError(f"{p.shape[0]} channels, expected {len(class_names)}", pred_files[stem])
        if coco is not None:
            t = coco.masks(stem, class_names)
            where = truth_where
        else:
            where = truth_files[stem]
            t = _load_npy(where)
        if t.shape != p.shape:
            raise RamkitError(f"truth shape {tuple(t.shape)} differs from prediction shape {tuple(p.shape)} "
                              f"({pred_files[stem]})", where)  # fmt: skip
        ev.add(stem, p, t)
    ev.to_csv(out)
    _print_seg_summary(ev, out)


def _fmt(v: float) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.4f}"


def _print_seg_summary(ev, out: Path) -> None:
    from rich.console import Console
    from rich.table import Table

    from ramkit.metrics import names

    s = ev.summary()
    table = Table(title=f"{len(ev)} images → {out}")
    table.add_column("metric")
    table.add_column("mean", justify="right")
    table.add_column("SD", justify="right")
    keys = list(ev.metrics) + ([m + names.OVERLAP_SUFFIX for m in names.OVERLAP_METRICS] if ev.pairs else [])
    for k in keys:
        table.add_row(k, _fmt(s[k]), _fmt(s[k + names.SD_SUFFIX]))
    Console().print(table)


# --------------------------------------------------------------------------------------------------
# scores
# --------------------------------------------------------------------------------------------------
SCORE_CSV_COLUMNS = ("hand", "joint", "score")


def _read_scores(path: Path, kind: str):
    """Rows (hand, joint stem, score) of a scores CSV, validated; RamkitError names the file and row."""
    import pandas as pd

    from ramkit import anatomy
    from ramkit.validate import require_file, score_problem

    require_file(path, "scores file")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise RamkitError(f"cannot read CSV ({str(exc).splitlines()[0]})", path) from None
    df.columns = [str(c).strip() for c in df.columns]
    missing = [c for c in SCORE_CSV_COLUMNS if c not in df.columns]
    if missing:
        raise RamkitError(f"missing column(s) {', '.join(missing)}; expected columns hand,joint,score", path)
    if df.empty:
        raise RamkitError("no rows", path)
    allowed = set(anatomy.SCORE_VALUES[kind]) | ({0, 1} if kind == "w600" else set())
    rows: dict[tuple[str, str], int] = {}
    for i, (hand, joint, score) in enumerate(zip(df["hand"], df["joint"], df["score"], strict=False), start=2):
        hand, joint, score = hand.strip(), joint.strip(), score.strip()
        if not hand:
            raise RamkitError(f"line {i}: empty hand", path)
        try:
            j = anatomy.joint_by_stem(kind, joint)
        except KeyError as exc:
            raise RamkitError(f"line {i}: {exc.args[0]}", path) from None
        try:
            value = float(score)
        except ValueError:
            raise RamkitError(f"line {i}: score {score!r} is not a number", path) from None
        if score_problem(value, sorted(allowed)):
            raise RamkitError(f"line {i}: score {score!r} is not in the score set {sorted(allowed)}", path)
        key = (hand, j.stem)
        if key in rows:
            raise RamkitError(f"line {i}: duplicate row for hand {hand!r} joint {j.stem!r}", path)
        rows[key] = int(value)
    return rows


def scores_command(
    pred: Annotated[Path, typer.Option("--pred", help="Predicted scores CSV (columns hand,joint,score; raw scores).")],
    truth: Annotated[Path, typer.Option("--truth", help="True scores CSV (columns hand,joint,score; raw scores).")],
    out: Annotated[Path, typer.Option("--out", help="Output CSV: an Overall row plus one row per joint.")],
    kind: Annotated[str, typer.Option("--kind", help="be | jsn (ordinal, H1200) or binary (W600 wrist BE).")] = "be",
    qwk_weights: Annotated[
        str, typer.Option("--qwk-weights", help="rank (papers: sklearn, BE 3→5 one step) or value (3→5 two steps).")
    ] = "rank",
    convention: Annotated[
        str | None,
        typer.Option(
            "--convention",
            help="Binary ratios with a zero denominator: w600 (0, as torchmetrics; default for binary) or h1200 "
            "(NaN). The ordinal metrics are the same under both.",
        ),
    ] = None,
) -> None:
    """Joint-score metrics: QWK, MAE, BACC, ACC, W1-ACC, P/N metrics (or binary ACC…DOR), Spearman of totals."""
    from ramkit.io.atomic import check_output_file
    from ramkit.metrics import BinaryEvaluator, ScoreEvaluator
    from ramkit.metrics.evaluators import plot_confusion, plot_confusion_grid

    check_output_file(out, "--out")
    if kind not in ("be", "jsn", "binary"):
        raise RamkitError(f"--kind must be be, jsn or binary, got {kind!r}")
    if qwk_weights not in ("rank", "value"):
        raise RamkitError(f"--qwk-weights must be rank or value, got {qwk_weights!r}")
    conv = _convention(convention, "w600" if kind == "binary" else "h1200")
    joint_kind = "w600" if kind == "binary" else kind
    t_rows = _read_scores(truth, joint_kind)
    p_rows = _read_scores(pred, joint_kind)
    no_pred = [k for k in t_rows if k not in p_rows]
    if no_pred:
        raise RamkitError(f"{len(no_pred)} truth row(s) have no prediction, e.g. hand {no_pred[0][0]!r} "
                          f"joint {no_pred[0][1]!r}", pred)  # fmt: skip
    no_truth = [k for k in p_rows if k not in t_rows]
    if no_truth:
        raise RamkitError(f"{len(no_truth)} predicted row(s) have no truth, e.g. hand {no_truth[0][0]!r} "
                          f"joint {no_truth[0][1]!r}", truth)  # fmt: skip
    ev: BinaryEvaluator | ScoreEvaluator
    if kind == "binary":
        ev = BinaryEvaluator(joint_kind, conv)
    else:
        ev = ScoreEvaluator(joint_kind, qwk_weights)  # type: ignore[arg-type]  # validated above
    for (hand, joint), t in t_rows.items():
        ev.add(hand, joint, t, p_rows[(hand, joint)])
    table = ev.table()
    ev.to_csv(out)
    base = out.with_suffix("")
    spearman: tuple[float, float] | None = None
    if isinstance(ev, ScoreEvaluator):
        plot_confusion(ev.confusion(), f"{base}_confusion.png", f"{kind.upper()} overall")
        plot_confusion_grid(
            {j.display: ev.confusion(j.stem) for j in ev.joints_present()}, f"{base}_confusion_joints.png"
        )
        spearman = ev.spearman_totals()
    else:
        plot_confusion(ev.confusion(), f"{base}_confusion.png", "Overall")
    _print_score_table(table, out, spearman)


def _print_score_table(table, out: Path, spearman: tuple[float, float] | None) -> None:
    from rich.console import Console
    from rich.table import Table

    t = Table(title=f"→ {out}")
    for c in table.columns:
        t.add_column(str(c), justify="left" if c in ("Scope", "Name") else "right", no_wrap=True)
    for row in table.itertuples(index=False):
        t.add_row(*[_fmt(v) if isinstance(v, float) else str(v) for v in row])
    console = Console()
    console = Console(width=max(console.width, 11 * len(table.columns) + 12))
    console.print(t)
    if spearman is not None:
        console.print(f"Spearman ρ of per-hand totals (predicted vs true): {_fmt(spearman[0])}  p = {spearman[1]:.3g}")
