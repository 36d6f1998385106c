"""ramkit metrics: flat functions on numpy arrays plus accumulating evaluators (see ``docs/metrics.md``).

Conventions follow ``shared/spec/METRICS.md``: the official RAM-H1200 code's by default, the official RAM-W600 code's
for the wrist tasks (:mod:`ramkit.metrics.conventions`).
"""

from ramkit.metrics import names
from ramkit.metrics.binary import binary_counts, binary_scores
from ramkit.metrics.conventions import CONVENTIONS, H1200, W600, Convention, for_dataset, get_convention
from ramkit.metrics.evaluators import (
    BinaryEvaluator,
    ScoreEvaluator,
    SegmentationEvaluator,
    binary_table,
    plot_confusion,
    plot_confusion_grid,
    score_table,
)
from ramkit.metrics.landmarks import box_iou, detection_rate, mre, radial_errors, sdr
from ramkit.metrics.regression import bland_altman, pearson, plot_bland_altman, regression_scores
from ramkit.metrics.scoring import (
    accuracy,
    balanced_accuracy,
    confusion_matrix,
    mean_absolute_error,
    ordinal_scores,
    pn_accuracy,
    pn_sensitivity,
    quadratic_kappa,
    within1_accuracy,
)
from ramkit.metrics.segmentation import (
    channel_counts,
    class_mean,
    dice,
    f1,
    finite_mean,
    finite_sd,
    image_counts,
    iou,
    msd,
    nsd,
    overlap_channel_counts,
    overlap_masks,
    overlap_scores,
    precision,
    ravd,
    recall,
    scores_from_counts,
    segmentation_scores,
    voe,
)
from ramkit.metrics.stats import (
    bootstrap_ci,
    icc1,
    icc1_from_ms,
    mann_whitney,
    one_way_ms,
    paired_bootstrap,
    spearman,
)

__all__ = [
    "names",
    "Convention", "CONVENTIONS", "H1200", "W600", "get_convention", "for_dataset", "class_mean",
    "SegmentationEvaluator", "ScoreEvaluator", "BinaryEvaluator", "score_table", "binary_table",
    "plot_confusion", "plot_confusion_grid",
    "segmentation_scores", "overlap_scores", "overlap_masks", "channel_counts", "overlap_channel_counts",
    "image_counts",
    "scores_from_counts", "dice", "nsd", "voe", "iou", "msd", "ravd", "recall", "precision", "f1",
    "finite_mean", "finite_sd",
    "accuracy", "balanced_accuracy", "quadratic_kappa", "mean_absolute_error", "within1_accuracy", "pn_accuracy",
    "pn_sensitivity", "ordinal_scores", "confusion_matrix",
    "binary_counts", "binary_scores",
    "pearson", "regression_scores", "bland_altman", "plot_bland_altman",
    "radial_errors", "mre", "sdr", "box_iou", "detection_rate",
    "spearman", "mann_whitney", "icc1", "icc1_from_ms", "one_way_ms", "bootstrap_ci", "paired_bootstrap",
]  # fmt: skip
