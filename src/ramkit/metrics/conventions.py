"""Aggregation conventions of the two official codebases, as objects passed to the evaluators.

The per-class / per-joint values are the same in both codebases; they differ in two places
(``shared/spec/METRICS.md``):

==================  =======================================  ==========================================
                    ``H1200`` (official RAM-H1200 code)      ``W600`` (official RAM-W600 code)
==================  =======================================  ==========================================
per-image mean      mean of the *finite* class values         *plain* mean over the classes: one NaN
over classes        (NaN, ±inf skipped)                       class (DSC/VOE: bone empty in the truth;
                                                              NSD: empty in both) makes the image NaN,
                                                              so it drops out of the dataset average.
                                                              MSD stays a finite mean (as the W600 code)
zero denominators   NaN (undefined; the H1200 code has no     0, as torchmetrics ``Binary*``
(binary metrics)    binary metrics, textbook reading)         (e.g. no true positive: SEN 0, BACC = SPC/2)
==================  =======================================  ==========================================

Everything else (dataset figure = finite mean over images, per-class tables, SD, overlap-pair means, DOR NaN when
FP·FN = 0, the ordinal metrics) is shared. Each dataset's own convention is the default for its tasks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ImageMean = Literal["finite", "plain"]
ZeroDivision = Literal["zero", "nan"]
IMAGE_MEANS: tuple[str, ...] = ("finite", "plain")
ZERO_DIVISIONS: tuple[str, ...] = ("zero", "nan")


@dataclass(frozen=True)
class Convention:
    """How per-image class means and zero-denominator ratios are reduced (see the module docstring)."""

    name: str
    image_mean: ImageMean
    zero_division: ZeroDivision
    summary: str


H1200 = Convention("h1200", "finite", "nan", "per-image mean of finite class values; zero-denominator ratios are NaN")
W600 = Convention(
    "w600", "plain", "zero", "per-image plain mean (a NaN class makes the image NaN); zero-denominator ratios are 0"
)
CONVENTIONS: dict[str, Convention] = {c.name: c for c in (H1200, W600)}


def get_convention(name: str | Convention) -> Convention:
    """The convention called ``name`` (``"h1200"`` or ``"w600"``); a Convention is returned as it is."""
    if isinstance(name, Convention):
        return name
    try:
        return CONVENTIONS[str(name).lower()]
    except KeyError:
        raise ValueError(f"unknown convention {name!r}; expected one of {', '.join(CONVENTIONS)}") from None


def for_dataset(dataset: str) -> Convention:
    """The convention of the official code of ``dataset`` (``"h1200"`` or ``"w600"``; H1200 for anything else)."""
    return W600 if str(dataset).lower() == "w600" else H1200
