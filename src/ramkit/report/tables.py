"""The papers' tables, filled from the files ``ramkit test`` writes, with the published rows beside ramkit's.

A :class:`Table` is source-agnostic (rows of numbers with optional SDs, a source label per row); the builders
below read one :class:`TestResult` (a test folder: ``summary.json``, ``per_case.csv``, ``table.csv``,
``confusion.csv``, ``correlations.csv``, ``erosive_split.csv``) and the published CSVs of ``ramkit/data/``.
Units follow each paper: RAM-H1200 segmentation and scoring rates in %, QWK/MAE as fractions, MSD in pixels;
RAM-W600 everything as fractions.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from ramkit.io.atomic import write_csv, write_text
from ramkit.metrics import names

PUBLISHED = "published, real data"
#: explanation shown under a table that has NaN cells, by kind of NaN (paper conventions)
NA_REASONS = {
    "spearman": "Spearman ρ is undefined (n/a) when fewer than 3 hands pair up or one side is constant "
    "(e.g. a model that predicts the same total for every hand).",
    "dor": "DOR = TP·TN/(FP·FN) is undefined (n/a) when FP·FN = 0 (METRICS.md, binary).",
    "seg": "Per-class DSC/VOE are undefined (n/a) when the class is empty in every truth mask, NSD when empty in "
    "both; MSD is n/a when a prediction or truth boundary is missing in every image (paper convention: such "
    "values are skipped, not counted as 0).",
    "kappa": "QWK is undefined (n/a) on a joint whose truth and prediction hold a single class; BACC ignores "
    "classes absent from both.",
    "split": "A group statistic is n/a when the group has no image (or fewer than 2 for an SD); the Mann–Whitney "
    "test needs both groups.",
    "published": "The paper does not report this value (n/a).",
    "binary": "SEN (and so BACC) is n/a on a joint without a positive test ROI, PRE/F1 when nothing is predicted "
    "positive, DOR when FP·FN = 0 (ramkit's binary metrics; the official W600 code reports 0 there, METRICS.md).",
}


@dataclass
class Column:
    key: str
    label: str
    scale: float = 1.0  #: multiply ramkit's values (fractions → % for RAM-H1200)
    better: str | None = None  #: "high" | "low" | None (no bold)
    digits: int = 2
    pub: str | None = None  #: column of the published CSV when it differs from ``key``


@dataclass
class Table:
    id: str  #: file stem under tables/
    title: str
    columns: list[Column]
    rows: list[dict] = field(default_factory=list)  #: {"Model", "Source", key: float|None, key_sd: float|None}
    notes: list[str] = field(default_factory=list)
    na: set[str] = field(default_factory=set)  #: NA_REASONS keys that explain this table's n/a cells
    images: dict[str, Path] = field(default_factory=dict)  #: caption -> PNG shown with the table
    text_columns: tuple[str, ...] = ("Model", "Source")

    def has_na(self) -> bool:
        return any(_missing(r.get(c.key)) for r in self.rows for c in self.columns)

    def best(self) -> dict[str, set[int]]:
        """{column key: indices of the rows printed in bold}: per source group (published / ramkit), the rows whose
        shown value equals the group's best; nothing when the whole group ties or has one row."""
        out: dict[str, set[int]] = {}
        for c in self.columns:
            if c.better is None:
                continue
            groups: dict[str, list[tuple[float, int]]] = {}
            for i, r in enumerate(self.rows):
                v: Any = r.get(c.key)
                if not _missing(v):
                    groups.setdefault(_group(r), []).append((round(float(v), c.digits), i))
            bold: set[int] = set()
            for vs in groups.values():
                values = {v for v, _ in vs}
                if len(values) > 1:
                    top = max(values) if c.better == "high" else min(values)
                    bold |= {i for v, i in vs if v == top}
            out[c.key] = bold
        return out

    # ------------------------------------------------------------------ text forms
    def cell(self, r: dict, c: Column) -> str:
        v: Any = r.get(c.key)
        if _missing(v):
            return "n/a"
        s = f"{float(v):.{c.digits}f}"
        sd: Any = r.get(c.key + names.SD_SUFFIX)
        if not _missing(sd):
            s += f" ± {float(sd):.{c.digits}f}"
        return s

    def to_frame(self) -> pd.DataFrame:
        """Numbers only (means and SDs in separate columns), for CSV."""
        recs = []
        for r in self.rows:
            rec = {t: r.get(t, "") for t in self.text_columns}
            for c in self.columns:
                v: Any = r.get(c.key)
                rec[c.label] = None if _missing(v) else (int(v) if c.digits == 0 else float(v))
                if any(not _missing(x.get(c.key + names.SD_SUFFIX)) for x in self.rows):
                    sd: Any = r.get(c.key + names.SD_SUFFIX)
                    rec[c.label + " SD"] = None if _missing(sd) else float(sd)
            recs.append(rec)
        return pd.DataFrame(recs)

    def to_markdown(self) -> str:
        best = self.best()
        head = list(self.text_columns) + [c.label for c in self.columns]
        lines = [f"## {self.title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for i, r in enumerate(self.rows):
            cells = [str(r.get(t, "")) for t in self.text_columns]
            for c in self.columns:
                s = self.cell(r, c)
                cells.append(f"**{s}**" if i in best.get(c.key, ()) else s)
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        lines += [f"{n}" for n in self.notes]
        if self.has_na():
            lines += [NA_REASONS[k] for k in sorted(self.na)]
        return "\n".join(lines).rstrip() + "\n"


def _missing(v) -> bool:
    if v is None:
        return True
    try:
        return not math.isfinite(float(v))
    except (TypeError, ValueError):
        return False


def _group(r: dict) -> str:
    return "published" if r.get("Source") == PUBLISHED else "ramkit"


def write_tables(tables: list[Table], folder: Path) -> list[Path]:
    """``folder/<id>.md`` and ``folder/<id>.csv`` per table; returns the paths."""
    paths = []
    for t in tables:
        write_text(folder / f"{t.id}.md", t.to_markdown())
        write_csv(folder / f"{t.id}.csv", t.to_frame())
        paths += [folder / f"{t.id}.md", folder / f"{t.id}.csv"]
    return paths


# ------------------------------------------------------------------------------------------------------------
# inputs
# ------------------------------------------------------------------------------------------------------------
def published(name: str) -> pd.DataFrame:
    """A published-results CSV of ``ramkit/data/`` (e.g. ``h1200_bone_seg``)."""
    with resources.files("ramkit.data").joinpath(f"{name}.csv").open("r", encoding="utf-8") as f:
        return pd.read_csv(f)


@dataclass
class TestResult:
    """One ``ramkit test`` folder and what the report needs from it."""

    folder: Path
    summary: dict
    label: str  #: e.g. "ramkit, synthetic medium cohort (seed 0), test split"
    device: str = "cpu"
    extra: dict = field(default_factory=dict)  #: e.g. train_s from the bench summary

    @property
    def task(self) -> str:
        return self.summary["task"]

    def csv(self, name: str, **kw) -> pd.DataFrame | None:
        p = self.folder / name
        return pd.read_csv(p, **kw) if p.is_file() else None


def read_test(folder: Path, label: str, device: str = "cpu") -> TestResult:
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    return TestResult(folder, summary, label, device)


def _ours_row(res: TestResult, cols: list[Column]) -> dict:
    s = res.summary
    row: dict = {"Model": f"{s.get('model')} (ramkit)", "Source": res.label}
    for c in cols:
        if c.key == "params_M":
            row[c.key] = s["params"] / 1e6 if s.get("params") else None
        elif c.key in ("time_ms_gpu", "time_ms"):
            row[c.key] = s.get("timing", {}).get("median_ms")
        else:
            v: Any = s.get(c.key)
            row[c.key] = None if _missing(v) else float(v) * c.scale
            sd: Any = s.get(c.key + names.SD_SUFFIX)
            if not _missing(sd):
                row[c.key + names.SD_SUFFIX] = float(sd) * c.scale
    return row


def _published_rows(name: str, cols: list[Column], model_col: str = "model") -> list[dict]:
    df = published(name)
    rows = []
    for _, r in df.iterrows():
        row: dict = {"Model": str(r[model_col]), "Source": PUBLISHED}
        for c in cols:
            row[c.key] = r.get(c.pub or c.key)
            sd = next((k + names.SD_SUFFIX for k in (c.pub, c.key) if k and k + names.SD_SUFFIX in df.columns), None)
            if sd is not None:
                row[c.key + names.SD_SUFFIX] = r[sd]
        rows.append(row)
    return rows


def _time_note(res: TestResult) -> str:
    t = res.summary.get("timing", {})
    return (
        f"Time: ramkit = measured median {t.get('unit', 'ms')} on {res.device} over {t.get('n')} items "
        f"(`ramkit test`, {_precision(res.summary.get('amp'))}; IQR {t.get('iqr_ms', float('nan')):.2f} ms); "
        "published = GPU ms on the authors' hardware (RTX 8000 / RTX 4090): not comparable."
    )


def _precision(amp: str | None) -> str:
    return "fp32" if amp in (None, "none") else f"{amp} autocast"


def _main_table(res: TestResult, tid: str, title: str, pub: str, cols: list[Column], na: set[str]) -> Table:
    t = Table(tid, title, cols, [_ours_row(res, cols)] + _published_rows(pub, cols), na=na | {"published"})
    t.notes = [
        f"Rows marked “{PUBLISHED}” are the paper's; ramkit's row says the data it came from. Best value per "
        "column in bold within the published rows (as in the papers); ramkit's rows are not ranked against "
        "them — different data.",
        _time_note(res),
    ]
    return t


# ------------------------------------------------------------------------------------------------------------
# per-task builders
# ------------------------------------------------------------------------------------------------------------
PCT = 100.0
H_BONE_COLS = [
    Column("DSC", "DSC (%)", PCT, "high"),
    Column("NSD", "NSD (%)", PCT, "high"),
    Column("DSC_O", "DSC_O (%)", PCT, "high"),
    Column("NSD_O", "NSD_O (%)", PCT, "high"),
    Column("VOE", "VOE (%)", PCT, "low"),
    Column("MSD", "MSD (px)", 1.0, "low", pub="MSD_px"),
]
H_BE_COLS = [
    Column("DSC", "DSC (%)", PCT, "high"),
    Column("NSD", "NSD (%)", PCT, "high"),
    Column("REC", "REC (%)", PCT, "high"),
    Column("PREC", "PREC (%)", PCT, "high"),
    Column("VOE", "VOE (%)", PCT, "low"),
    Column("MSD", "MSD (px)", 1.0, "low", pub="MSD_px"),
]
H_SCORE_COLS = [
    Column("QWK", "QWK", 1.0, "high", 4),
    Column("MAE", "MAE", 1.0, "low", 4),
    Column("BACC", "BACC (%)", PCT, "high"),
    Column("ACC", "ACC (%)", PCT, "high"),
    Column("W1_ACC", "W1-ACC (%)", PCT, "high"),
    Column("PN_SEN", "P/N-SEN (%)", PCT, "high"),
    Column("PN_ACC", "P/N-ACC (%)", PCT, "high"),
]
W_CLS_COLS = [
    Column("BACC", "BACC", 1.0, "high", 3),
    Column("F1", "F1", 1.0, "high", 3),
    Column("DOR", "DOR", 1.0, "high", 3),
    Column("ACC", "ACC", 1.0, "high", 3),
    Column("SEN", "SEN", 1.0, "high", 3),
    Column("SPC", "SPC", 1.0, "high", 3),
    Column("PRE", "PRE", 1.0, "high", 3),
]
COST_COLS = [Column("params_M", "#Params (M)", 1.0, None), Column("time_ms_gpu", "Time (ms/item)", 1.0, None)]


def _per_class_table(res: TestResult, tid: str, title: str, metrics: tuple[str, ...], overlap: bool) -> Table | None:
    """Per-bone (or per overlap pair) mean ± SD over images of the per-case columns."""
    df = res.csv("per_case.csv")
    if df is None:
        return None
    if names.STEM_INDEX in df.columns:
        df = df[df[names.STEM_INDEX] != names.AVERAGE_ROW]
    else:
        df = df.iloc[: int(res.summary.get("n_cases", len(df) - 1))]
    prefix = "Overlap " if overlap else ""
    label = "Overlap pair" if overlap else "Bone"
    first = f"{prefix}{metrics[0]} "
    classes = [c[len(first) :] for c in df.columns if c.startswith(first) and not c.startswith("Mean")]
    if not classes:
        return None
    scale = PCT if res.task.startswith("hand") else 1.0
    cols = [
        Column(m, f"{m} (%)" if scale == PCT else m, scale, "high" if m in ("DSC", "NSD") else "low") for m in metrics
    ]
    rows = []
    for cl in classes:
        row: dict = {label: cl}
        for m in metrics:
            v = df[f"{prefix}{m} {cl}"].astype(float)
            v = v[v.map(math.isfinite)]
            row[m] = float(v.mean()) * scale if len(v) else None
            row[m + names.SD_SUFFIX] = float(v.std(ddof=1)) * scale if len(v) > 1 else None
        rows.append(row)
    t = Table(tid, f"{title} ({res.label})", cols, rows, na={"seg"}, text_columns=(label,))
    t.notes = [
        "Mean ± SD over test images of the finite per-image values; the papers publish only the averages "
        "of these per-class tables."
    ]
    return t


def _correlation_table(results: list[TestResult]) -> Table | None:
    """All Spearman rows of the papers: ramkit's from correlations.csv, published totals from the scoring CSVs."""
    cols = [
        Column("rho", "Spearman ρ", 1.0, None, 4),
        Column("p", "p", 1.0, None, 4),
        Column("n", "n (hands)", 1.0, None, 0),
    ]
    rows: list[dict] = []
    for res in results:
        df = res.csv("correlations.csv")
        if df is None:
            continue
        for _, r in df.iterrows():
            rows.append(
                {
                    "Statistic": f"{r['statistic']}: {r['x']} vs {r['y']}",
                    "Model": f"{res.summary.get('model')} (ramkit)",
                    "Source": res.label,
                    "rho": r["rho"],
                    "p": r["p"],
                    "n": r["n"],
                }
            )
    if not rows:
        return None
    for kind, name in (("BE", "h1200_be_score"), ("JSN", "h1200_jsn_score")):
        for _, r in published(name).iterrows():
            rows.append(
                {
                    "Statistic": f"total {kind}: predicted total vs true total",
                    "Model": r["model"],
                    "Source": PUBLISHED,
                    "rho": r["spearman_total"],
                    "p": None,
                    "n": None,
                }
            )
    order = ["overlap area", "BE area", "total BE", "total JSN"]
    rows.sort(key=lambda r: next((i for i, o in enumerate(order) if r["Statistic"].startswith(o)), len(order)))
    t = Table(
        "spearman",
        "Spearman correlations (H1200 Tables 16, 19, 22, 25)",
        cols,
        rows,
        na={"spearman", "published"},
        text_columns=("Statistic", "Model", "Source"),
    )
    t.notes = [
        "Per-hand totals = sums of the joint scores of one hand. Area rows pair a test image's mask area with the "
        "same hand's true total score (scores from any split). The papers publish ρ of the totals (Tables 22, 25) "
        "without p or n; their area correlations (Tables 16, 19) are not in ramkit/data/."
    ]
    return t


def _per_joint_table(res: TestResult) -> Table | None:
    df = res.csv("table.csv")
    if df is None:
        return None
    df = df[df[names.SCOPE] == names.JOINT]
    binary = res.task == "wrist-be-cls"
    keys = ("BACC", "SEN", "SPC", "F1") if binary else ("QWK", "BACC", "MAE")
    scale = {"BACC": 1.0 if binary else PCT}
    cols = [
        Column(
            k,
            k + (" (%)" if scale.get(k, 1.0) == PCT else ""),
            scale.get(k, 1.0),
            "low" if k == "MAE" else "high",
            3 if binary else 4 if k != "BACC" else 2,
        )
        for k in keys
    ]
    cols.append(Column("N", "N (ROIs)", 1.0, None, 0))
    rows = []
    for _, r in df.iterrows():
        row: dict = {"Joint": r[names.NAME], "N": r[names.N]}
        for c in cols[:-1]:
            row[c.key] = None if _missing(r[c.key]) else float(r[c.key]) * c.scale
        rows.append(row)
    t = Table(
        f"{res.task}_per_joint",
        f"{res.task}: per-joint metrics ({res.label})",
        cols,
        rows,
        na={"binary"} if binary else {"kappa"},
        text_columns=("Joint",),
    )
    t.notes = ["Computed on each joint's test ROIs. Best joint per column in bold."]
    return t


def _confusion_table(res: TestResult) -> Table | None:
    df = res.csv("confusion.csv", index_col=0)
    if df is None:
        return None
    cols = [Column(str(c), f"pred {c}", 1.0, None, 0) for c in df.columns]
    rows = [{"Truth": f"truth {i}", **{str(c): float(df.loc[i, c]) for c in df.columns}} for i in df.index]
    t = Table(
        f"{res.task}_confusion",
        f"{res.task}: confusion matrix ({res.label}, all joints)",
        cols,
        rows,
        text_columns=("Truth",),
    )
    png = res.folder / "confusion.png"
    if png.is_file():
        t.images["confusion matrix"] = png
    return t


def _erosive_tables(res: TestResult) -> list[Table]:
    df = res.csv("erosive_split.csv")
    if df is None:
        return []
    by = {r["metric"]: r for _, r in df.iterrows()}
    s = dict(res.summary)
    for m in ("DSC", "NSD"):
        if m in by:
            s[f"{m}_BE"], s[f"{m}_nonBE"] = by[m]["erosive_mean"], by[m]["non_erosive_mean"]
        s[f"{m}_all"] = s.get(m)
    res2 = TestResult(res.folder, s, res.label, res.device)
    cols = [Column(k, k, 1.0, "high", 3) for k in ("DSC_BE", "DSC_nonBE", "DSC_all", "NSD_BE", "NSD_nonBE", "NSD_all")]
    cols += [
        Column("VOE", "VOE", 1.0, "low", 3),
        Column("MSD", "MSD (px)", 1.0, "low", 3, pub="MSD_px"),
        Column("RAVD", "RAVD", 1.0, "low", 3),
    ] + COST_COLS
    main = _main_table(
        res2,
        "w600_table4_wrist_seg",
        "RAM-W600 Table 4: wrist bone segmentation",
        "w600_wrist_seg",
        cols,
        {"split", "seg"},
    )
    main.notes.insert(0, "BE / nonBE = wrists with / without any joint BE score > 0 (JointBE_SvdH_GT.json).")
    mw_cols = [
        Column("erosive_mean", "erosive", 1.0, None, 4),
        Column("n_erosive", "n erosive", 1.0, None, 0),
        Column("non_erosive_mean", "non-erosive", 1.0, None, 4),
        Column("n_non_erosive", "n non-erosive", 1.0, None, 0),
        Column("U", "U", 1.0, None, 1),
        Column("p", "p (two-sided)", 1.0, None, 4),
    ]
    rows = []
    for m, r in by.items():
        row = {"Model": f"{m} ({res.summary.get('model')}, ramkit)", "Source": res.label}
        for c in mw_cols:
            row[c.key] = r[c.key]
        row["erosive_mean_sd"], row["non_erosive_mean_sd"] = r["erosive_sd"], r["non_erosive_sd"]
        rows.append(row)
    mw = Table(
        "w600_mann_whitney",
        "RAM-W600 Tables 10–11: erosive vs non-erosive wrists, Mann–Whitney U",
        mw_cols,
        rows,
        na={"split"},
    )
    mw.notes = ["Per-image DSC / NSD (mean ± SD) in the two groups; two-sided Mann–Whitney U (scipy)."]
    return [main, mw]


def task_tables(res: TestResult) -> list[Table]:
    """Every table of one test result (the paper table with the published rows first)."""
    task = res.task
    out: list[Table | None] = []
    if task == "hand-bone-seg":
        out.append(
            _main_table(
                res,
                "h1200_table2_bone_seg",
                "RAM-H1200 Table 2: hand bone segmentation",
                "h1200_bone_seg",
                H_BONE_COLS + COST_COLS,
                {"seg"},
            )
        )
        out.append(
            _per_class_table(res, "hand-bone-seg_per_bone", "hand-bone-seg: per-bone DSC / NSD", ("DSC", "NSD"), False)
        )
        out.append(
            _per_class_table(
                res, "hand-bone-seg_overlap", "hand-bone-seg: overlap pairs (DSC_O / NSD_O)", ("DSC", "NSD"), True
            )
        )
    elif task == "hand-be-seg":
        out.append(
            _main_table(
                res,
                "h1200_table3_be_seg",
                "RAM-H1200 Table 3: bone-erosion segmentation",
                "h1200_be_seg",
                H_BE_COLS + COST_COLS,
                {"seg"},
            )
        )
    elif task in ("hand-be-score", "hand-jsn-score"):
        kind = "be" if task == "hand-be-score" else "jsn"
        n = 4 if kind == "be" else 5
        out.append(
            _main_table(
                res,
                f"h1200_table{n}_{kind}_score",
                f"RAM-H1200 Table {n}: {kind.upper()} scoring",
                f"h1200_{kind}_score",
                H_SCORE_COLS + COST_COLS,
                {"kappa"},
            )
        )
        out += [_per_joint_table(res), _confusion_table(res)]
    elif task == "wrist-bone-seg":
        out += _erosive_tables(res)
        out.append(
            _per_class_table(
                res, "wrist-bone-seg_per_bone", "wrist-bone-seg: per-bone DSC / NSD", ("DSC", "NSD"), False
            )
        )
        out.append(
            _per_class_table(res, "wrist-bone-seg_overlap", "wrist-bone-seg: overlap pairs", ("DSC", "NSD"), True)
        )
    elif task == "wrist-be-cls":
        out.append(
            _main_table(
                res,
                "w600_table5_wrist_be_cls",
                "RAM-W600 Table 5: wrist bone-erosion classification",
                "w600_wrist_be_cls",
                W_CLS_COLS + COST_COLS,
                {"dor", "binary"},
            )
        )
        out += [_per_joint_table(res), _confusion_table(res)]
    else:  # a task without a paper table here: its headline numbers
        out.append(_generic_table(res))
    return [t for t in out if t is not None]


def _generic_table(res: TestResult) -> Table | None:
    s = res.summary
    keys = [k for k, v in s.items() if isinstance(v, (int, float)) and not isinstance(v, bool)]
    keys = [k for k in keys if not k.endswith(names.SD_SUFFIX) and k not in ("n_cases", "best_epoch", "params")]
    if not keys:
        return None
    cols = [Column(k, k, 1.0, None, 4) for k in keys] + COST_COLS
    t = Table(f"{res.task}_summary", f"{res.task}: test summary", cols, [_ours_row(res, cols)], na={"seg"})
    t.notes = [_time_note(res)]
    return t


def mil_table() -> Table:
    """MIL paper Table 2 (published only: its dataset is not RAM data and ramkit has no such run here)."""
    cols = [
        Column("PCC", "PCC", 1.0, "high", 3),
        Column("MAE", "MAE", 1.0, "low", 2),
        Column("RMSE", "RMSE", 1.0, "low", 2),
    ]
    rows = []
    for _, r in published("mil_total_svdh").iterrows():
        fe = r["feature_extractor"] if isinstance(r["feature_extractor"], str) else "—"
        rows.append(
            {"Model": f"{r['method']} / {fe}", "Source": PUBLISHED, "PCC": r["PCC"], "MAE": r["MAE"], "RMSE": r["RMSE"]}
        )
    t = Table("mil_table2_total_svdh", "MIL paper Table 2: dual-hand total SvdH (published only)", cols, rows)
    t.notes = ["Public 3,818-image dataset of the MIL paper, not RAM data; no ramkit run of this task in this report."]
    return t


def all_tables(results: list[TestResult]) -> list[Table]:
    """Every table of a report: per task, then the Spearman rows, then the MIL table."""
    tables: list[Table] = []
    for res in results:
        tables += task_tables(res)
    corr = _correlation_table(results)
    if corr is not None:
        tables.append(corr)
    tables.append(mil_table())
    return tables


__all__ = [
    "Table",
    "Column",
    "TestResult",
    "read_test",
    "task_tables",
    "all_tables",
    "write_tables",
    "published",
    "PUBLISHED",
    "NA_REASONS",
]
