"""Joint localisation from anatomy: bone masks of a hand or wrist -> the scored joints' ROI boxes.

Each scored joint is found from the bones that form it (:data:`JOINT_RULES`):

* ``gap`` joints (MCP, PIP, IP, CMC, SC, SR, STT): the midpoint of the closest approach of the two bones'
  outlines (the joint space), with the axis from the first bone's centroid to the second's;
* ``end`` joints (distal radius, distal ulna): the end of the bone that faces the carpus;
* ``centroid`` joints (lunate, scaphoid, trapezium): the bone's centroid.

The box is a square whose side is a per-joint multiple of a size measured on the masks (the width of the
first bone near the joint, or a carpal bone's diameter), its centre shifted along/across the joint axis by a
per-joint fraction of the side. The three numbers per joint (``k``, ``du``, ``dv``) are medians over the
synthetic **train** split of the box the release layout draws for that joint (`benchmarks/bench_joints.py
--calibrate` prints them), so the boxes are sized like the release's ROI crops. Boxes are clamped inside the
image like the release's crops.

Joint stems come from :mod:`ramkit.anatomy` (``BE_JOINTS``, ``JSN_JOINTS``, ``W600_JOINTS``); the bone
names in the rules are checked against ``anatomy.HAND_BONES`` at import.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ramkit import anatomy

Box = tuple[int, int, int, int]  #: (x, y, w, h) pixels, COCO order

__all__ = ["JointRule", "JOINT_RULES", "joint_boxes", "wrist_joint_boxes", "Box", "box_to_source"]


@dataclass(frozen=True)
class JointRule:
    """How one joint is found: bones ``a`` (and ``b``), the centre rule, the size measure and calibration."""

    a: str
    b: str | None
    centre: str  #: "gap" | "end" | "centroid"
    size: str  #: "width" (of ``a`` near the joint) | "diameter" (of ``a``)
    k: float = 3.0  #: box side = k × size measure
    du: float = 0.0  #: centre shift along the joint axis (a -> b), in box sides
    dv: float = 0.0  #: centre shift across the axis (towards the image's +x side after rotation), in box sides


def _rules() -> dict[tuple[str, str], JointRule]:
    f = {"T": 1, "I": 2, "M": 3, "R": 4, "S": 5}
    r: dict[tuple[str, str], JointRule] = {}
    for kind in ("be", "jsn"):
        for j in anatomy.JOINTS[kind]:
            s = j.stem
            if s.startswith("MCP-"):
                n = f[s[-1]]
                r[kind, s] = JointRule(f"MC{n}", f"PP{n}", "gap", "width")
            elif s.startswith("PIP-"):
                n = f[s[-1]]
                r[kind, s] = JointRule(f"PP{n}", f"MP{n}", "gap", "width")
    r["be", "IP"] = JointRule("PP1", "DP1", "gap", "width")
    r["be", "CMC-T"] = JointRule("MC1", "Trapezium", "gap", "width")
    r["be", "R"] = JointRule("Radius", "Capitate", "end", "width")
    r["be", "U"] = JointRule("Ulna", "Hamate", "end", "width")
    r["be", "L"] = JointRule("Lunate", None, "centroid", "diameter")
    r["be", "S"] = JointRule("Scaphoid", None, "centroid", "diameter")
    r["be", "Tm"] = JointRule("Trapezium", None, "centroid", "diameter")
    r["jsn", "CMC-M"] = JointRule("MC3", "Capitate", "gap", "width")
    r["jsn", "CMC-R"] = JointRule("MC4", "Hamate", "gap", "width")
    r["jsn", "CMC-S"] = JointRule("MC5", "Hamate", "gap", "width")
    r["jsn", "SC"] = JointRule("Scaphoid", "Capitate", "gap", "diameter")
    r["jsn", "SR"] = JointRule("Scaphoid", "Radius", "gap", "diameter")
    r["jsn", "STT"] = JointRule("Scaphoid", "Trapezium", "gap", "diameter")
    return r


#: Calibration (k, du, dv) per joint: medians over the synthetic train split (``bench_joints.py --calibrate``).
CALIBRATION: dict[tuple[str, str], tuple[float, float, float]] = {
    ("be", "CMC-T"): (2.021, -0.011, -0.009),
    ("be", "IP"): (1.929, 0.012, 0.008),
    ("be", "L"): (1.502, 0.001, -0.003),
    ("be", "MCP-I"): (1.97, 0.034, 0.005),
    ("be", "MCP-M"): (1.975, 0.036, 0.002),
    ("be", "MCP-R"): (1.971, 0.038, -0.01),
    ("be", "MCP-S"): (1.975, 0.042, -0.012),
    ("be", "MCP-T"): (1.955, 0.036, 0.007),
    ("be", "PIP-I"): (1.96, 0.006, -0.001),
    ("be", "PIP-M"): (1.961, 0.005, -0.008),
    ("be", "PIP-R"): (1.966, 0.006, -0.004),
    ("be", "PIP-S"): (1.968, 0.006, -0.006),
    ("be", "R"): (1.21, -0.344, 0.31),
    ("be", "S"): (1.586, -0.009, 0.017),
    ("be", "Tm"): (1.991, 0.04, 0.01),
    ("be", "U"): (1.754, -0.494, -0.072),
    ("jsn", "CMC-M"): (2.226, 0.083, 0.186),
    ("jsn", "CMC-R"): (2.216, 0.071, 0.188),
    ("jsn", "CMC-S"): (2.201, 0.091, -0.01),
    ("jsn", "MCP-I"): (1.97, 0.034, 0.005),
    ("jsn", "MCP-M"): (1.975, 0.039, 0.002),
    ("jsn", "MCP-R"): (1.971, 0.038, -0.01),
    ("jsn", "MCP-S"): (1.975, 0.042, -0.012),
    ("jsn", "MCP-T"): (1.955, 0.036, 0.007),
    ("jsn", "PIP-I"): (1.96, 0.006, -0.001),
    ("jsn", "PIP-M"): (1.961, 0.007, -0.008),
    ("jsn", "PIP-R"): (1.966, 0.006, -0.004),
    ("jsn", "PIP-S"): (1.968, 0.006, -0.006),
    ("jsn", "SC"): (0.817, 0.065, -0.246),
    ("jsn", "SR"): (0.817, -0.253, 0.497),
    ("jsn", "STT"): (0.817, -0.062, -0.285),
}

#: The W600 wrist joints, calibrated on the synthetic W600 train split (``--calibrate --calibrate-wrist``): wrist
#: crops cut the radius and ulna short, so their ends sit differently relative to the measured size.
WRIST_CALIBRATION: dict[str, tuple[float, float, float]] = {
    "DistalRadius": (1.175, -0.358, 0.376),
    "DistalUlna": (1.671, -0.567, -0.162),
    "Lunate": (1.481, -0.002, -0.004),
    "Metacarpal1st": (1.996, -0.011, 0.018),
    "Scaphoid": (1.634, -0.003, 0.017),
    "Trapezium": (2.008, 0.04, 0.002),
}

_BASE = _rules()
for (_kind, _stem), _rule in list(_BASE.items()):
    for _name in (_rule.a, _rule.b):
        assert _name is None or _name in anatomy.HAND_BONES, _name
assert {(k, j.stem) for k in ("be", "jsn") for j in anatomy.JOINTS[k]} == set(_BASE)


def joint_rules() -> dict[tuple[str, str], JointRule]:
    """The rules with the current calibration applied."""
    out = {}
    for key, rule in _BASE.items():
        k, du, dv = CALIBRATION.get(key, (rule.k, rule.du, rule.dv))
        out[key] = JointRule(rule.a, rule.b, rule.centre, rule.size, k, du, dv)
    return out


JOINT_RULES = joint_rules()


# ----------------------------------------------------------------------------------------------------------
class _Bones:
    """Lazy per-bone pixel coordinates (x, y) and outlines of a C×H×W mask stack (hand bone names)."""

    def __init__(self, masks: np.ndarray, names: tuple[str, ...] | list[str], min_px: int):
        self.masks = masks
        self.index = {n: i for i, n in enumerate(names)}
        self.min_px = min_px
        self._pts: dict[str, np.ndarray | None] = {}
        self._edge: dict[str, np.ndarray | None] = {}
        self._cc: dict[int, np.ndarray] = {}

    def _component(self, i: int) -> np.ndarray:
        """The largest connected component of channel ``i`` (predicted masks carry stray islands)."""
        if i not in self._cc:
            from scipy import ndimage

            m = np.asarray(self.masks[i]).astype(bool)
            lab, n = ndimage.label(m)
            if n > 1:
                sizes = np.bincount(lab.ravel())[1:]
                m = lab == (int(np.argmax(sizes)) + 1)
            self._cc[i] = m
        return self._cc[i]

    def pts(self, name: str) -> np.ndarray | None:
        if name not in self._pts:
            i = self.index.get(name)
            if i is None:
                self._pts[name] = None
            else:
                ys, xs = np.nonzero(self._component(i))
                self._pts[name] = np.stack([xs, ys], 1).astype(np.float64) if len(xs) >= self.min_px else None
        return self._pts[name]

    def edge_without(self, name: str, other: str) -> np.ndarray | None:
        """Outline of ``name`` minus the pixels it shares with ``other`` (predicted masks of neighbouring bones
        overlap where one is over-segmented; the joint lies where the distal bone begins)."""
        if self.pts(name) is None or self.pts(other) is None:
            return None
        from scipy import ndimage

        m = self._component(self.index[name]) & ~self._component(self.index[other])
        if m.sum() < self.min_px:
            return self.edge(name)
        e = m & ~ndimage.binary_erosion(m)
        ys, xs = np.nonzero(e)
        return np.stack([xs, ys], 1).astype(np.float64)

    def edge(self, name: str) -> np.ndarray | None:
        if name not in self._edge:
            p = self.pts(name)
            if p is None:
                self._edge[name] = None
            else:
                from scipy import ndimage

                m = self._component(self.index[name])
                e = m & ~ndimage.binary_erosion(m)
                ys, xs = np.nonzero(e)
                self._edge[name] = np.stack([xs, ys], 1).astype(np.float64)
        return self._edge[name]


def _unit(v: np.ndarray) -> np.ndarray:
    n = float(np.linalg.norm(v))
    return v / n if n > 1e-9 else np.array([0.0, -1.0])


def _gap_point(ea: np.ndarray, eb: np.ndarray, tol: float) -> np.ndarray:
    """Midpoint of the closest approach of two outlines (points within ``tol`` px of the minimum distance)."""
    from scipy.spatial import cKDTree

    da, _ = cKDTree(eb).query(ea)
    db, _ = cKDTree(ea).query(eb)
    dmin = min(float(da.min()), float(db.min()))
    pa = ea[da <= dmin + tol].mean(0)
    pb = eb[db <= dmin + tol].mean(0)
    return 0.5 * (pa + pb)


def _width_near(pts: np.ndarray, centre: np.ndarray, u: np.ndarray) -> float:
    """Width (px) of a bone across axis ``u`` in the quarter of its length nearest to ``centre``."""
    v = np.array([-u[1], u[0]])
    t = (pts - centre) @ u
    length = float(np.ptp(t)) if len(t) else 0.0
    near = pts[t >= t.max() - 0.25 * length] if t.max() <= 0 else pts[np.abs(t) <= 0.25 * length]
    if len(near) < 4:
        near = pts
    lat = (near - centre) @ v
    return float(np.percentile(lat, 97) - np.percentile(lat, 3))


def measure(rule: JointRule, bones: _Bones, spacing_mm: float) -> tuple[np.ndarray, np.ndarray, float] | None:
    """Uncalibrated (centre px, axis u, size px) of a joint, or None when a needed bone is missing."""
    pa = bones.pts(rule.a)
    if pa is None:
        return None
    ca = pa.mean(0)
    if rule.centre == "centroid":
        u = np.array([0.0, -1.0])  # towards the fingers in right-hand, fingers-up orientation
        centre = ca
    else:
        pb = bones.pts(rule.b) if rule.b else None
        if pb is None:
            return None
        u = _unit(pb.mean(0) - ca)
        ea = bones.edge_without(rule.a, rule.b) if rule.b else None
        eb = bones.edge(rule.b) if rule.b else None
        if rule.centre == "gap" and ea is not None and eb is not None:
            centre = _gap_point(ea, eb, tol=1.0 / spacing_mm)
        else:  # end of a facing b
            t = (pa - ca) @ u
            centre = pa[t >= np.percentile(t, 97)].mean(0)
    if rule.size == "diameter":
        size = 2.0 * float(np.sqrt(len(pa) / np.pi))
    else:
        size = _width_near(pa, centre, u)
    return centre, u, size


def square_box(centre: np.ndarray, side: float, width: int, height: int) -> Box:
    """Integer square box of ``side`` px centred at ``centre``, shifted (then clipped) to lie inside the image."""
    s = int(round(min(max(side, 8), width, height)))
    x = int(round(centre[0] - s / 2))
    y = int(round(centre[1] - s / 2))
    x = min(max(x, 0), width - s)
    y = min(max(y, 0), height - s)
    return x, y, s, s


def joint_boxes(
    masks: np.ndarray,
    spacing_mm: float,
    kind: str = "be",
    names: tuple[str, ...] | list[str] = anatomy.HAND_BONES,
    min_area_mm2: float = 4.0,
) -> dict[str, Box | None]:
    """ROI boxes of ``kind``'s joints ('be' 16, 'jsn' 15) from bone masks C×H×W in right-hand orientation.

    ``names`` are the mask channels (hand bone names; wrist masks: see :func:`wrist_joint_boxes`). A joint whose
    bones are missing (fewer than ``min_area_mm2`` of mask) gets ``None``.
    """
    masks = np.asarray(masks)
    h, w = masks.shape[-2:]
    bones = _Bones(masks, names, max(1, int(min_area_mm2 / spacing_mm**2)))
    rules = joint_rules()
    out: dict[str, Box | None] = {}
    for j in anatomy.JOINTS[kind]:
        out[j.stem] = _box(rules[kind, j.stem], bones, spacing_mm, w, h)
    return out


def _box(rule: JointRule, bones: _Bones, spacing_mm: float, w: int, h: int) -> Box | None:
    m = measure(rule, bones, spacing_mm)
    if m is None:
        return None
    centre, u, size = m
    side = rule.k * size
    v = np.array([-u[1], u[0]])
    c = centre + (rule.du * u + rule.dv * v) * side
    return square_box(c, side, w, h)


def wrist_joint_boxes(masks: np.ndarray, spacing_mm: float, min_area_mm2: float = 4.0) -> dict[str, Box | None]:
    """The 6 RAM-W600 joint boxes from 14 wrist bone masks (``anatomy.WRIST_BONES`` order, right orientation).

    Each W600 joint is the RAM-H1200 BE joint scoring the same site (``anatomy.W600_JOINT_TO_BE_STEM``).
    """
    names = [anatomy.WRIST_TO_HAND[n] for n in anatomy.WRIST_BONES]
    masks = np.asarray(masks)
    h, w = masks.shape[-2:]
    bones = _Bones(masks, names, max(1, int(min_area_mm2 / spacing_mm**2)))
    rules = joint_rules()
    out: dict[str, Box | None] = {}
    for j in anatomy.W600_JOINTS:
        r = rules["be", anatomy.W600_JOINT_TO_BE_STEM[j.stem]]
        k, du, dv = WRIST_CALIBRATION.get(j.stem, (r.k, r.du, r.dv))
        out[j.stem] = _box(JointRule(r.a, r.b, r.centre, r.size, k, du, dv), bones, spacing_mm, w, h)
    return out


def box_to_source(box: Box, model_shape: tuple[int, int], source_shape: tuple[int, int], flipped: bool) -> list:
    """Map a model-grid box (right-hand orientation) to the input file's grid: un-flip, then rescale."""
    x, y, bw, bh = box
    mh, mw = model_shape
    if flipped:
        x = mw - x - bw
    sy, sx = source_shape[0] / mh, source_shape[1] / mw
    return [round(x * sx, 1), round(y * sy, 1), round(bw * sx, 1), round(bh * sy, 1)]


def box_to_model(box, model_shape: tuple[int, int], source_shape: tuple[int, int], flipped: bool) -> Box:
    """Inverse of :func:`box_to_source`: a box on the input file's grid -> integer box on a model grid."""
    x, y, bw, bh = box
    mh, mw = model_shape
    sy, sx = mh / source_shape[0], mw / source_shape[1]
    x, y, bw, bh = x * sx, y * sy, bw * sx, bh * sy
    if flipped:
        x = mw - x - bw
    x0, y0 = max(0, int(round(x))), max(0, int(round(y)))
    return x0, y0, max(1, min(mw - x0, int(round(bw)))), max(1, min(mh - y0, int(round(bh))))


def crop(image: np.ndarray, box: Box) -> np.ndarray:
    """The ROI crop of a box (as the release crops: integer box inside the image)."""
    x, y, w, h = box
    return np.ascontiguousarray(image[y : y + h, x : x + w])
