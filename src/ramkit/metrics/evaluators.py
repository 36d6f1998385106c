"""Accumulating evaluators (MONAI style): add one image / one joint at a time, then ask for tables and summaries.

Tables follow the official CSV layout (``anchor-code-study.md`` §2.2, §2.5): per-image rows indexed by stem with
``DSC <class>`` … ``Mean DSC`` columns, ``Overlap DSC A&B`` … ``Mean Overlap DSC`` for the bone tasks, and a last row
``Average`` (finite column means); score tables have an ``Overall`` row and one ``Joint`` row per joint.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import pandas as pd

from ramkit import anatomy
from ramkit.io.atomic import write_csv
from ramkit.metrics import names
from ramkit.metrics import scoring as sc
from ramkit.metrics.binary import binary_scores
from ramkit.metrics.conventions import Convention, get_convention
from ramkit.metrics.segmentation import (
    EMPTY_POLICIES,
    EmptyPolicy,
    class_mean,
    finite_mean,
    finite_sd,
    image_counts,
    scores_from_counts,
)
from ramkit.metrics.stats import spearman

SEG_TASKS: tuple[str, ...] = ("bone", "be")


class SegmentationEvaluator:
    """Per-image segmentation metrics of C×H×W binary masks, with the papers' aggregation.

    Parameters
    ----------
    class_names : one name per channel (e.g. ``anatomy.HAND_BONES``).
    task : ``"bone"`` (DSC, NSD, VOE, MSD, RAVD) or ``"be"`` (adds REC, PREC, F1).
    tolerance : NSD tolerance in pixels (papers: 2).
    empty : empty-mask policy, ``"paper"`` or ``"metricsreloaded"`` (see :mod:`ramkit.metrics.segmentation`).
    overlap : compute the 14 overlap pairs; default: whenever the classes contain them (30 hand / 14 wrist bones).
    convention : ``"h1200"`` (default: per-image ``Mean <metric>`` over the finite class values) or ``"w600"``
        (plain mean: an image with a NaN class is NaN and drops out of the average; MSD stays a finite mean) —
        see :mod:`ramkit.metrics.conventions`. Overlap-pair means are finite means under both (as both codes do).
    """

    def __init__(
        self,
        class_names: Sequence[str],
        task: str = "bone",
        tolerance: float = 2.0,
        empty: EmptyPolicy = "paper",
        overlap: bool | None = None,
        convention: str | Convention = "h1200",
    ):
        if task not in SEG_TASKS:
            raise ValueError(f"task must be one of {SEG_TASKS}, got {task!r}")
        if empty not in EMPTY_POLICIES:
            raise ValueError(f"empty must be one of {EMPTY_POLICIES}, got {empty!r}")
        if not class_names or len(set(class_names)) != len(class_names):
            raise ValueError("class names must be non-empty and unique")
        self.class_names = tuple(class_names)
        self.task = task
        self.tolerance = float(tolerance)
        self.empty = empty
        self.convention = get_convention(convention)
        self.metrics = names.BE_SEG_METRICS if task == "be" else names.BONE_SEG_METRICS
        pairs = anatomy.overlap_pairs_for(self.class_names)
        if overlap is None:
            overlap = bool(pairs)
        if overlap and not pairs:
            raise ValueError("overlap metrics need the 30 hand bones or the 14 wrist bones")
        self.pairs: list[tuple[int, int]] = pairs if overlap else []
        self.pair_names = [anatomy.overlap_pair_name(self.class_names[a], self.class_names[b]) for a, b in self.pairs]
        self.columns = self._columns()
        self._rows: dict[str, np.ndarray] = {}

    def _columns(self) -> list[str]:
        cols: list[str] = []
        for m in self.metrics:
            cols += [names.class_column(m, c) for c in self.class_names] + [names.mean_column(m)]
        if self.pairs:
            for m in names.OVERLAP_METRICS:
                cols += [names.overlap_column(m, p) for p in self.pair_names] + [names.overlap_mean_column(m)]
        return cols

    def __len__(self) -> int:
        return len(self._rows)

    def compute(self, pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
        """Metrics of one image as ``{column: value}`` (nothing is stored)."""
        c = len(self.class_names)
        pred = np.asarray(pred)
        truth = np.asarray(truth)
        if pred.ndim != 3 or pred.shape[0] != c:
            raise ValueError(f"prediction must be {c}×H×W, got shape {pred.shape}")
        if truth.shape != pred.shape:
            raise ValueError(f"prediction shape {pred.shape} differs from truth shape {truth.shape}")
        values: list[float] = []
        cls_counts, pair_counts = image_counts(pred, truth, self.pairs, self.tolerance)
        per = scores_from_counts(cls_counts, self.metrics, self.empty)
        for m in self.metrics:
            values += per[m].tolist() + [class_mean(per[m], m, self.convention.image_mean)]
        if self.pairs:
            ov = scores_from_counts(pair_counts, names.OVERLAP_METRICS, self.empty)
            for m in names.OVERLAP_METRICS:
                values += ov[m].tolist() + [finite_mean(ov[m])]
        return dict(zip(self.columns, values, strict=False))

    def add(self, stem: str, pred: np.ndarray, truth: np.ndarray) -> dict[str, float]:
        """Evaluate one image (C×H×W 0/1 arrays, bool or uint8) and store its row under ``stem``."""
        stem = str(stem)
        if stem in self._rows:
            raise ValueError(f"image {stem!r} was added twice")
        row = self.compute(pred, truth)
        self._rows[stem] = np.fromiter(row.values(), np.float64, len(self.columns))
        return row

    def per_image(self) -> pd.DataFrame:
        """Per-image rows only (index = stem)."""
        data = np.stack(list(self._rows.values())) if self._rows else np.zeros((0, len(self.columns)))
        df = pd.DataFrame(data, index=pd.Index(list(self._rows), name=names.STEM_INDEX), columns=self.columns)
        return df

    def table(self) -> pd.DataFrame:
        """Per-image rows plus a final ``Average`` row (finite mean of each column over images)."""
        df = self.per_image()
        avg = finite_mean(df.to_numpy(), axis=0) if len(df) else np.full(len(self.columns), np.nan)
        avg_row = pd.DataFrame(
            [np.atleast_1d(avg)], index=pd.Index([names.AVERAGE_ROW], name=names.STEM_INDEX), columns=self.columns
        )
        return pd.concat([df, avg_row]) if len(df) else avg_row

    def summary(self) -> dict[str, float]:
        """Headline numbers: ``{"DSC": mean over images of Mean DSC, "DSC_sd": sample SD, ..., "DSC_O": ...}``."""
        df = self.per_image()
        out: dict[str, float] = {"n_images": float(len(df))}
        for m in self.metrics:
            col = df[names.mean_column(m)].to_numpy()
            out[m] = finite_mean(col) if col.size else float("nan")
            out[m + names.SD_SUFFIX] = finite_sd(col)
        if self.pairs:
            for m in names.OVERLAP_METRICS:
                col = df[names.overlap_mean_column(m)].to_numpy()
                key = m + names.OVERLAP_SUFFIX
                out[key] = finite_mean(col) if col.size else float("nan")
                out[key + names.SD_SUFFIX] = finite_sd(col)
        return out

    def per_class(self) -> pd.DataFrame:
        """Per-class table: rows = classes, columns = metrics, values = column means over images (finite)."""
        df = self.per_image()
        data = {
            m: [finite_mean(df[names.class_column(m, c)].to_numpy()) if len(df) else np.nan for c in self.class_names]
            for m in self.metrics
        }
        return pd.DataFrame(data, index=pd.Index(self.class_names, name="class"))

    def to_csv(self, path: str | os.PathLike) -> None:
        """Write :meth:`table` atomically."""
        write_csv(path, self.table(), index=True)


class _JointEvaluator:
    """Shared storage of (hand, joint, truth, pred) rows for score and binary evaluators."""

    kind: str

    def __init__(self, kind: str):
        if kind not in anatomy.JOINTS:
            raise ValueError(f"kind must be one of {tuple(anatomy.JOINTS)}, got {kind!r}")
        self.kind = kind
        self.allowed = set(anatomy.SCORE_VALUES[kind])
        self.hands: list[str] = []
        self.joints: list[anatomy.Joint] = []
        self.truth: list[int] = []
        self.pred: list[int] = []
        self._seen: set[tuple[str, str]] = set()

    def _value(self, v, what: str) -> int:
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise ValueError(f"{what} score {v!r} is not a number") from None
        if not f.is_integer() or int(f) not in self.allowed:
            raise ValueError(f"{what} score {v!r} is not in the {self.kind.upper()} score set {sorted(self.allowed)}")
        return int(f)

    def add(self, hand: str, joint: str | anatomy.Joint, truth, pred) -> None:
        """Add one scored joint of one hand (raw scores; joint by stem, key or display name)."""
        if isinstance(joint, anatomy.Joint):
            j = joint
        else:
            try:
                j = anatomy.joint_by_stem(self.kind, str(joint))
            except KeyError as exc:
                raise ValueError(str(exc.args[0])) from None
        key = (str(hand), j.stem)
        if key in self._seen:
            raise ValueError(f"hand {hand!r} joint {j.stem!r} appears twice")
        t = self._value(truth, "true")
        p = self._value(pred, "predicted")
        self._seen.add(key)
        self.hands.append(str(hand))
        self.joints.append(j)
        self.truth.append(t)
        self.pred.append(p)

    def add_many(self, hands: Sequence[str], joints: Sequence, truth: Sequence, pred: Sequence) -> None:
        """Add several rows (equal-length sequences)."""
        if not (len(hands) == len(joints) == len(truth) == len(pred)):
            raise ValueError("hands, joints, truth and pred must have the same length")
        for h, j, t, p in zip(hands, joints, truth, pred, strict=False):
            self.add(h, j, t, p)

    def __len__(self) -> int:
        return len(self.truth)

    def _groups(self) -> list[tuple[str, str, np.ndarray]]:
        """(Scope, Name, row mask) for Overall then each joint present, in anatomy order."""
        n = len(self.truth)
        out = [(names.OVERALL, "All", np.ones(n, bool))]
        stems = np.array([j.stem for j in self.joints])
        for j in anatomy.JOINTS[self.kind]:
            m = stems == j.stem
            if m.any():
                out.append((names.JOINT, j.display, m))
        return out

    def _metric_dict(self, t: np.ndarray, p: np.ndarray) -> dict[str, float]:
        raise NotImplementedError

    def table(self) -> pd.DataFrame:
        """Rows Overall + one per joint; columns Scope, Name, metrics…, N."""
        if not self.truth:
            raise ValueError("no scores were added")
        t = np.asarray(self.truth)
        p = np.asarray(self.pred)
        rows = []
        for scope, name, m in self._groups():
            rows.append({names.SCOPE: scope, names.NAME: name, **self._metric_dict(t[m], p[m]), names.N: int(m.sum())})
        return pd.DataFrame(rows)

    def to_csv(self, path: str | os.PathLike) -> None:
        """Write :meth:`table` atomically."""
        write_csv(path, self.table())


class ScoreEvaluator(_JointEvaluator):
    """Ordinal joint-score metrics (BE / JSN) pooled over all joints (``Overall``) and per joint.

    ``qwk_weights``: ``"rank"`` (default, papers) or ``"value"`` — see :mod:`ramkit.metrics.scoring`.
    """

    def __init__(self, kind: str = "be", qwk_weights: sc.QwkWeights = "rank"):
        super().__init__(kind)
        if qwk_weights not in ("rank", "value"):
            raise ValueError(f"qwk_weights must be 'rank' or 'value', got {qwk_weights!r}")
        self.qwk_weights = qwk_weights

    def _metric_dict(self, t, p):
        return sc.ordinal_scores(t, p, self.qwk_weights)

    def spearman_totals(self) -> tuple[float, float]:
        """Spearman ρ and p of per-hand totals (predicted vs true), summed over the joints added per hand."""
        tt = sc.hand_totals(self.hands, self.truth)
        pt = sc.hand_totals(self.hands, self.pred)
        hands = list(tt)
        return spearman([tt[h] for h in hands], [pt[h] for h in hands])

    def confusion(self, joint: str | None = None) -> pd.DataFrame:
        """Confusion matrix (rows = truth, columns = prediction, labels = the score set), overall or one joint."""
        t = np.asarray(self.truth)
        p = np.asarray(self.pred)
        if joint is not None:
            j = anatomy.joint_by_stem(self.kind, joint)
            m = np.array([x.stem == j.stem for x in self.joints], bool)
            t, p = t[m], p[m]
        labels = list(anatomy.SCORE_VALUES[self.kind])
        cm = sc.confusion_matrix(t, p, labels)
        return pd.DataFrame(cm, index=pd.Index(labels, name="truth"), columns=pd.Index(labels, name="pred"))

    def joints_present(self) -> list[anatomy.Joint]:
        """The joints that have at least one row, in anatomy order."""
        stems = {j.stem for j in self.joints}
        return [j for j in anatomy.JOINTS[self.kind] if j.stem in stems]


class BinaryEvaluator(_JointEvaluator):
    """Binary joint metrics (RAM-W600 BE present / absent): positive = raw score ≠ 0 (0/1 labels work too).

    ``convention``: ``"w600"`` (default, the official W600 code / torchmetrics: a ratio with a zero denominator is 0)
    or ``"h1200"`` (NaN); see :mod:`ramkit.metrics.conventions`.
    """

    def __init__(self, kind: str = "w600", convention: str | Convention = "w600"):
        super().__init__(kind)
        self.allowed |= {0, 1}
        self.convention = get_convention(convention)

    def _metric_dict(self, t, p):
        return binary_scores(t != 0, p != 0, self.convention.zero_division)

    def confusion(self) -> pd.DataFrame:
        """2×2 confusion matrix (rows truth, columns prediction; 0 = negative, 1 = positive)."""
        t = (np.asarray(self.truth) != 0).astype(int)
        p = (np.asarray(self.pred) != 0).astype(int)
        cm = sc.confusion_matrix(t, p, [0, 1])
        return pd.DataFrame(cm, index=pd.Index([0, 1], name="truth"), columns=pd.Index([0, 1], name="pred"))


def score_table(
    hands, joints, truth_raw, pred_raw, kind: str = "be", qwk_weights: sc.QwkWeights = "rank"
) -> pd.DataFrame:
    """Ordinal score table (Scope, Name, QWK, MAE, BACC, ACC, W1_ACC, PN_SEN, PN_ACC, N) of raw scores."""
    ev = ScoreEvaluator(kind, qwk_weights)
    ev.add_many(hands, joints, truth_raw, pred_raw)
    return ev.table()


def binary_table(hands, joints, truth, pred, kind: str = "w600", convention: str | Convention = "w600") -> pd.DataFrame:
    """Binary table (Scope, Name, ACC, SEN, SPC, PRE, F1, BACC, DOR, N); positive = value ≠ 0."""
    ev = BinaryEvaluator(kind, convention)
    ev.add_many(hands, joints, truth, pred)
    return ev.table()


def _draw_confusion(ax, cm: pd.DataFrame, title: str = "") -> None:
    a = cm.to_numpy()
    ax.imshow(a, cmap="Blues")
    ax.set_xticks(range(a.shape[1]), [str(c) for c in cm.columns])
    ax.set_yticks(range(a.shape[0]), [str(c) for c in cm.index])
    ax.set_xlabel("prediction")
    ax.set_ylabel("truth")
    top = a.max() if a.size else 0
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            ax.text(j, i, str(a[i, j]), ha="center", va="center", fontsize=8,
                    color="white" if top and a[i, j] > top / 2 else "black")  # fmt: skip
    if title:
        ax.set_title(title, fontsize=9)


def _save_figure(fig, path: str | os.PathLike) -> None:
    import matplotlib.pyplot as plt

    from ramkit.io.atomic import atomic_path

    fig.tight_layout()
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
    finally:
        plt.close(fig)


def plot_confusion(cm: pd.DataFrame, path: str | os.PathLike, title: str = "") -> None:
    """Save a confusion-matrix heat map (matplotlib Agg) atomically as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = cm.shape[0]
    fig, ax = plt.subplots(figsize=(1.2 + 0.6 * n, 1.0 + 0.6 * n), dpi=120)
    _draw_confusion(ax, cm, title)
    _save_figure(fig, path)


def plot_confusion_grid(cms: dict[str, pd.DataFrame], path: str | os.PathLike, ncols: int = 4) -> None:
    """Save several confusion matrices (e.g. one per joint) as one PNG grid, titled by the dict keys."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not cms:
        raise ValueError("no confusion matrices to plot")
    n = len(cms)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    size = 0.5 * next(iter(cms.values())).shape[0] + 1.0
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), dpi=100, squeeze=False)
    for ax, (title, cm) in zip(axes.ravel(), cms.items(), strict=False):
        _draw_confusion(ax, cm, title)
    for ax in axes.ravel()[n:]:
        ax.axis("off")
    _save_figure(fig, path)
