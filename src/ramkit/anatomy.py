"""The single source of every anatomical name, joint list, score set and overlap pair in ramkit.

No other module spells a bone, joint, category or score value: import them from here.
Facts follow ``shared/spec/DATA.md`` (RAM-H1200 and RAM-W600 appendices and the official code).
Spellings that are wrong in the datasets (``Pisifrom_Triquetrum``, ``Trapzium``, ...) are kept on purpose:
they are the names in the real files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# --------------------------------------------------------------------------------------------------
# Pixel spacing of the releases
# --------------------------------------------------------------------------------------------------
H1200_SPACING_MM = 0.175  #: RAM-H1200 images are resampled to 0.175 mm/pixel.
W600_SPACING_MM = 0.15  #: RAM-W600 wrist crops are 0.15 mm/pixel.

H1200_CENTERS: tuple[str, ...] = ("HMCRD", "SCGH", "SARC", "HU1", "HU2", "HU3")
SPLITS: tuple[str, ...] = ("train", "val", "test")
SIDES: tuple[str, ...] = ("L", "R")

# --------------------------------------------------------------------------------------------------
# Hand bones: 30 channels of the RAM-H1200 bone task, in dataset (COCO id) order
# --------------------------------------------------------------------------------------------------
HAND_BONES: tuple[str, ...] = (
    "Capitate",
    "DP1", "DP2", "DP3", "DP4", "DP5",
    "Hamate",
    "Lunate",
    "MC1", "MC2", "MC3", "MC4", "MC5",
    "MP2", "MP3", "MP4", "MP5",
    "PP1", "PP2", "PP3", "PP4", "PP5",
    "Pisifrom_Triquetrum",
    "Radius",
    "Scaphoid",
    "Sesamoid",
    "SoftTissue",
    "Trapezium",
    "Trapezoid",
    "Ulna",
)  # fmt: skip
assert len(HAND_BONES) == 30 and list(HAND_BONES) == sorted(HAND_BONES)

#: Non-bone objects annotated in the bone COCO file; excluded from the benchmark channels.
NON_BONE_OBJECTS: tuple[str, ...] = ("Intravenous cannula", "Metal Implant", "Ring")
#: Category names dropped when building bone channels (besides the id-0 super-category).
DROPPED_BONE_CATEGORY_NAMES: frozenset[str] = frozenset(NON_BONE_OBJECTS) | {"Background", "background"}
#: Name of the id-0 super-category that ramkit's synthetic exports write (Roboflow style).
SUPERCATEGORY_NAME = "hand-bones"


def h1200_bone_categories() -> list[dict]:
    """COCO ``categories`` of a RAM-H1200 bone file as the release orders them.

    Id 0 is the dataset super-category; the 30 bones and the non-bone objects follow with ids assigned in
    ASCII-sorted name order (the Roboflow export convention), so dropping the non-bone objects and sorting
    by id yields :data:`HAND_BONES` in order.
    """
    cats = [{"id": 0, "name": SUPERCATEGORY_NAME, "supercategory": "none"}]
    for i, name in enumerate(sorted(HAND_BONES + NON_BONE_OBJECTS), start=1):
        cats.append({"id": i, "name": name, "supercategory": SUPERCATEGORY_NAME})
    return cats


# --------------------------------------------------------------------------------------------------
# Bone erosion (BE) lesion categories
# --------------------------------------------------------------------------------------------------
#: Lesion categories in priority order (earlier wins where masks overlap). Label value = index + 1.
BE_CATEGORIES: tuple[str, ...] = ("SvdH-BE-90", "SvdH-BE-50", "Non-SvdH-BE")
BE_SUPERCATEGORY_NAME = "bone-erosion"
BEProtocol = Literal["svdh90", "3class"]
#: Benchmark protocols: default binary SvdH-BE-90 only, second protocol the three lesion classes.
BE_PROTOCOL_CLASSES: dict[str, tuple[str, ...]] = {
    "svdh90": ("SvdH-BE-90",),
    "3class": BE_CATEGORIES,
}


def h1200_be_categories() -> list[dict]:
    """COCO ``categories`` of a RAM-H1200 BE file: id-0 super-category, then the 3 lesion classes."""
    cats = [{"id": 0, "name": BE_SUPERCATEGORY_NAME, "supercategory": "none"}]
    for i, name in enumerate(sorted(BE_CATEGORIES), start=1):
        cats.append({"id": i, "name": name, "supercategory": BE_SUPERCATEGORY_NAME})
    return cats


# --------------------------------------------------------------------------------------------------
# Joints and scores
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Joint:
    """One scored joint: ROI file stem, score key in the JSON, display name in per-joint tables."""

    stem: str
    key: str
    display: str


def _joint(prefix: str, stem: str, display: str | None = None) -> Joint:
    return Joint(stem=stem, key=f"{prefix}_{stem}", display=display or stem)


#: 16 BE joints of RAM-H1200 (file stem -> score key -> display name).
BE_JOINTS: tuple[Joint, ...] = (
    _joint("BE", "R", "Radius"),
    _joint("BE", "U", "Ulna"),
    _joint("BE", "IP", "IP"),
    _joint("BE", "L", "Lunate"),
    _joint("BE", "MCP-T", "MCP1"),
    _joint("BE", "MCP-I", "MCP2"),
    _joint("BE", "MCP-M", "MCP3"),
    _joint("BE", "MCP-R", "MCP4"),
    _joint("BE", "MCP-S", "MCP5"),
    _joint("BE", "CMC-T", "CMC1"),
    _joint("BE", "PIP-I", "PIP2"),
    _joint("BE", "PIP-M", "PIP3"),
    _joint("BE", "PIP-R", "PIP4"),
    _joint("BE", "PIP-S", "PIP5"),
    _joint("BE", "S", "Scaphoid"),
    _joint("BE", "Tm", "Trapezium"),
)

#: 15 JSN joints of RAM-H1200.
JSN_JOINTS: tuple[Joint, ...] = (
    _joint("JSN", "MCP-T", "MCP1"),
    _joint("JSN", "MCP-I", "MCP2"),
    _joint("JSN", "MCP-M", "MCP3"),
    _joint("JSN", "MCP-R", "MCP4"),
    _joint("JSN", "MCP-S", "MCP5"),
    _joint("JSN", "PIP-I", "PIP2"),
    _joint("JSN", "PIP-M", "PIP3"),
    _joint("JSN", "PIP-R", "PIP4"),
    _joint("JSN", "PIP-S", "PIP5"),
    _joint("JSN", "CMC-M"),
    _joint("JSN", "CMC-R"),
    _joint("JSN", "CMC-S"),
    _joint("JSN", "SC"),
    _joint("JSN", "SR"),
    _joint("JSN", "STT"),
)

#: 6 scored wrist joints of RAM-W600 (the JSON key is the joint name, which is also the ROI file stem).
W600_JOINTS: tuple[Joint, ...] = tuple(
    Joint(stem=n, key=n, display=n)
    for n in ("Metacarpal1st", "Trapezium", "Scaphoid", "Lunate", "DistalRadius", "DistalUlna")
)
#: RAM-W600 wrist joint -> the RAM-H1200 BE joint (ROI stem) scoring the same site.
W600_JOINT_TO_BE_STEM: dict[str, str] = {
    "Metacarpal1st": "CMC-T",
    "Trapezium": "Tm",
    "Scaphoid": "S",
    "Lunate": "L",
    "DistalRadius": "R",
    "DistalUlna": "U",
}
#: Alternative spellings met in RAM-W600 files/code, mapped to the canonical joint name above.
W600_JOINT_ALIASES: dict[str, str] = {"Trapzium": "Trapezium"}

ScoreKind = Literal["be", "jsn", "w600"]
#: Raw score values allowed per scoring kind.
SCORE_VALUES: dict[str, tuple[int, ...]] = {
    "be": (0, 1, 2, 3, 5),
    "jsn": (0, 1, 2, 3, 4),
    "w600": (0, 1, 2, 3, 5),
}
JOINTS: dict[str, tuple[Joint, ...]] = {"be": BE_JOINTS, "jsn": JSN_JOINTS, "w600": W600_JOINTS}
#: Largest possible per-hand total: BE 16x5 = 80, JSN 15x4 = 60, wrist 6x5 = 30.
MAX_TOTAL: dict[str, int] = {k: len(JOINTS[k]) * max(SCORE_VALUES[k]) for k in JOINTS}


def joint_by_stem(kind: str, stem: str) -> Joint:
    """Look up a joint of ``kind`` ('be', 'jsn', 'w600') by file stem, key or display name."""
    if kind == "w600":
        stem = W600_JOINT_ALIASES.get(stem, stem)
    for j in JOINTS[kind]:
        if stem in (j.stem, j.key, j.display):
            return j
    raise KeyError(f"unknown {kind.upper()} joint {stem!r}; expected one of {[j.stem for j in JOINTS[kind]]}")


def is_positive(score: int) -> bool:
    """Binarisation used by P/N metrics and the wrist task: erosion / narrowing present = raw score != 0."""
    return score != 0


# --------------------------------------------------------------------------------------------------
# Wrist bones (RAM-W600): 14 mask channels in the order of the official code, spellings sic
# --------------------------------------------------------------------------------------------------
WRIST_BONES: tuple[str, ...] = (
    "Capitate",
    "DistalRadius",
    "DistalUlna",
    "Hamate",
    "Lunate",
    "Pisifrom&Triquetrum",
    "Scaphoid",
    "Trapzium",
    "Trapzoid",
    "metacarpal1st",
    "metacarpal2nd",
    "metacarpal3rd",
    "metacarpal4th",
    "metacarpal5th",
)
#: Wrist bone name -> the corresponding RAM-H1200 hand bone name.
WRIST_TO_HAND: dict[str, str] = {
    "Capitate": "Capitate",
    "DistalRadius": "Radius",
    "DistalUlna": "Ulna",
    "Hamate": "Hamate",
    "Lunate": "Lunate",
    "Pisifrom&Triquetrum": "Pisifrom_Triquetrum",
    "Scaphoid": "Scaphoid",
    "Trapzium": "Trapezium",
    "Trapzoid": "Trapezoid",
    "metacarpal1st": "MC1",
    "metacarpal2nd": "MC2",
    "metacarpal3rd": "MC3",
    "metacarpal4th": "MC4",
    "metacarpal5th": "MC5",
}
HAND_TO_WRIST: dict[str, str] = {v: k for k, v in WRIST_TO_HAND.items()}
assert set(WRIST_TO_HAND) == set(WRIST_BONES)

# --------------------------------------------------------------------------------------------------
# Overlap pairs (overlap-aware metrics): 14 pairs of adjacent bones, hand names
# --------------------------------------------------------------------------------------------------
OVERLAP_PAIRS: tuple[tuple[str, str], ...] = (
    ("Radius", "Scaphoid"),
    ("Radius", "Lunate"),
    ("Scaphoid", "Trapezium"),
    ("Capitate", "Scaphoid"),
    ("Trapezium", "MC1"),
    ("Capitate", "MC3"),
    ("Hamate", "MC4"),
    ("Lunate", "Scaphoid"),
    ("Trapezium", "Trapezoid"),
    ("Capitate", "Trapezoid"),
    ("Hamate", "MC5"),
    ("Trapezium", "MC2"),
    ("Trapezoid", "MC2"),
    ("MC2", "MC3"),
)
#: The same pairs with RAM-W600 spellings.
WRIST_OVERLAP_PAIRS: tuple[tuple[str, str], ...] = tuple((HAND_TO_WRIST[a], HAND_TO_WRIST[b]) for a, b in OVERLAP_PAIRS)


def overlap_pair_name(a: str, b: str) -> str:
    """Column label of an overlap pair, e.g. ``Radius&Scaphoid`` (as in ``Overlap DSC Radius&Scaphoid``)."""
    return f"{a}&{b}"


def overlap_pairs_for(class_names: tuple[str, ...] | list[str]) -> list[tuple[int, int]]:
    """Channel index pairs of the 14 overlap pairs for a class list, resolved **by name**.

    Returns an empty list when the classes are neither the 30 hand bones nor the 14 wrist bones.
    """
    names = list(class_names)
    for pairs in (OVERLAP_PAIRS, WRIST_OVERLAP_PAIRS):
        if all(a in names and b in names for a, b in pairs):
            return [(names.index(a), names.index(b)) for a, b in pairs]
    return []


# --------------------------------------------------------------------------------------------------
# File-name conventions
# --------------------------------------------------------------------------------------------------
#: RAM-H1200 image stem: JP_<Center>_P<PatientID>_<StudyDate>_<ImageID>_<L|R>
H1200_STEM_PATTERN = r"^JP_(?P<center>[A-Z0-9]+)_P(?P<patient>\w+?)_(?P<date>\d{8})_(?P<image>\w+?)_(?P<side>[LR])$"
#: RAM-W600 stem: <PatientID>_<StudyID>_<L|R>
W600_STEM_PATTERN = r"^(?P<patient>\d+)_(?P<study>\d+)_(?P<side>[LR])$"

#: Columns of RAM-H1200 Metadata.xlsx, in order.
H1200_METADATA_COLUMNS: tuple[str, ...] = (
    "Mapped Image Stem",
    "StudyID",
    "Normalized PatientID",
    "isRA",
    "Sex",
    "Age",
    "Center",
    "PixelSpacing",
    "ImageSize",
    "LR",
)
