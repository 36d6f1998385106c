"""Metric and column names, spelled once for the whole package (CSV headers, summaries, CLI tables)."""

from __future__ import annotations

# Segmentation metrics (per class and per image).
DSC = "DSC"
NSD = "NSD"
VOE = "VOE"
MSD = "MSD"
RAVD = "RAVD"
REC = "REC"
PREC = "PREC"
F1 = "F1"

#: Metrics reported for the bone tasks (hand 30 bones, wrist 14 bones).
BONE_SEG_METRICS: tuple[str, ...] = (DSC, NSD, VOE, MSD, RAVD)
#: Metrics reported for the BE lesion task (bone metrics plus pixel recall/precision/F1).
BE_SEG_METRICS: tuple[str, ...] = (DSC, NSD, VOE, MSD, RAVD, REC, PREC, F1)
#: Metrics computed on the overlap regions of the 14 bone pairs.
OVERLAP_METRICS: tuple[str, ...] = (DSC, NSD, VOE, MSD, RAVD)

AVERAGE_ROW = "Average"  #: name of the final row of a per-image table
STEM_INDEX = "stem"  #: index name of per-image tables
SD_SUFFIX = "_sd"  #: summary key suffix of the sample SD
OVERLAP_SUFFIX = "_O"  #: summary key suffix of overlap-aware metrics (DSC_O, NSD_O, ...)


def class_column(metric: str, class_name: str) -> str:
    """Per-class column, e.g. ``DSC Radius``."""
    return f"{metric} {class_name}"


def mean_column(metric: str) -> str:
    """Per-image class-mean column, e.g. ``Mean DSC``."""
    return f"Mean {metric}"


def overlap_column(metric: str, pair_name: str) -> str:
    """Per-pair overlap column, e.g. ``Overlap DSC Radius&Scaphoid``."""
    return f"Overlap {metric} {pair_name}"


def overlap_mean_column(metric: str) -> str:
    """Per-image pair-mean overlap column, e.g. ``Mean Overlap DSC``."""
    return f"Mean Overlap {metric}"


# Ordinal / binary scoring tables.
SCOPE = "Scope"
NAME = "Name"
N = "N"
OVERALL = "Overall"
JOINT = "Joint"
QWK = "QWK"
MAE = "MAE"
BACC = "BACC"
ACC = "ACC"
W1_ACC = "W1_ACC"
PN_SEN = "PN_SEN"
PN_ACC = "PN_ACC"
SEN = "SEN"
SPC = "SPC"
PRE = "PRE"
DOR = "DOR"
#: Columns of an ordinal score table (after Scope, Name; N last).
SCORE_COLUMNS: tuple[str, ...] = (QWK, MAE, BACC, ACC, W1_ACC, PN_SEN, PN_ACC)
#: Columns of a binary (wrist BE) table (after Scope, Name; N last).
BINARY_COLUMNS: tuple[str, ...] = (ACC, SEN, SPC, PRE, F1, BACC, DOR)

# Regression / landmarks.
PCC = "PCC"
RMSE = "RMSE"
MRE = "MRE"
SPEARMAN_RHO = "spearman_rho"
SPEARMAN_P = "spearman_p"
