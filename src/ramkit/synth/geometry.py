"""Phantom hand geometry in millimetres (right-hand PA orientation: fingers up, thumb on the image's left).

A :class:`HandAnatomy` is drawn once per patient (bone sizes, disease susceptibility, lesion sites); a
:class:`Pose` is drawn per visit (rotation, finger spread, translation). :func:`build_hand` combines them with
the visit's disease state into a :class:`HandGeometry`: every bone as a polygon in the hand frame (x to the
ulnar side, y towards the forearm, mm), its erosion bites, joint gaps, joint boxes and the raw scores.

Scores are computed from the geometry that is drawn, in each bone's own frame (so rotation and rasterisation
cannot change them): BE from the eroded area around a joint, JSN from the drawn joint gap.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from matplotlib.path import Path as MplPath

from ramkit import anatomy
from ramkit.synth import carpus

# --------------------------------------------------------------------------------------------------
# Constants of the phantom (mm). Normal joint gaps are close to real ones (MCP ~1.5-2 mm, PIP/DIP ~1 mm, carpal
# joint lines <= 1.5 mm); the carpus is packed by synth/carpus.py (0.8 mm lines between unscored neighbours, true
# overlaps).
# --------------------------------------------------------------------------------------------------
MCP_GAP_MM = 1.7  #: normal MCP joint gap (thumb included)
PIP_GAP_MM = 1.0  #: normal PIP and thumb IP joint gap
DIP_GAP_MM = 0.9  #: DIP joint gap (unscored, never narrowed)
CARPAL_GAP_MM = 1.4  #: normal gap of the scored carpal joints (SC, SR, STT, CMC-M/R/S)
PLAIN_GAP_MM = 0.35  #: unscored CMC-1/CMC-2 gaps (the carpus itself: synth/carpus.py INTERCARPAL_GAP_MM)
CARPAL_SCALE = 0.86  #: scale of draw_anatomy's carpal axes (only the sesamoid's are used now; carpus: synth/carpus.py)
MIN_BITE_MM = 2.0  #: smallest erosion radius (a visible notch: ~6 px at medium size)
BE50_CLARITY = 0.8  #: share of attenuation a fainter SvdH-BE-50 bite removes (BE-90 bites remove all)
#: BE score bands on the eroded fraction of the joint's reference area (upper bounds for 1, 2, 3; above = 5).
BE_BANDS: tuple[float, float, float] = (0.07, 0.16, 0.28)
#: JSN score bands on the drawn gap relative to normal (lower bounds for scores 0, 1, 2, 3; below = 4).
JSN_BANDS: tuple[float, float, float, float] = (0.85, 0.62, 0.38, 0.14)
#: Head outline per bone kind: (height / radius, superellipse exponent, intercondylar notch depth / radius). The
#: phalangeal heads are broad, flat trochleae with a shallow notch; MC heads are rounder; the DP tuft is round.
HEAD_SHAPE: dict[str, tuple[float, float, float]] = {
    "MC": (0.88, 2.4, 0.04),
    "PP": (0.74, 2.9, 0.09),
    "MP": (0.74, 2.9, 0.09),
    "DP": (1.0, 2.0, 0.0),
}
MAX_ROTATION = np.deg2rad(15.0)  #: largest global hand rotation of a visit
MAX_FLEXION = np.deg2rad(30.0)  #: largest finger flexion of a visit (phalanges foreshortened by its cosine)
MAX_DEVIATION = np.deg2rad(8.0)  #: largest radial/ulnar deviation of the hand at the wrist (forearm turned)
CYST_SHARE = 0.3  #: share of finger-joint erosion sites drawn as subcortical marginal cysts
CYST_MAX_MM = 1.6  #: largest cyst radius (a cyst grows from 0.9 mm to this about a fixed centre)
CYST_CORTEX_MM = 0.5  #: cortex left over a cyst of the largest radius (its distance from the outline)
SUBLUX_RATIO = 0.38  #: MCP gap ratio below which prone joints of severe patients start to subluxate

# name -> (MC length, MC head radius, MC shaft half-width, PP len, PP head r, MP len, MP head r, DP len, tip r)
_RAYS = {
    1: (44.0, 5.6, 3.8, 31.0, 4.6, 0.0, 0.0, 24.0, 3.6),
    2: (66.0, 5.8, 3.6, 41.0, 4.6, 24.0, 3.9, 17.0, 2.9),
    3: (63.0, 6.0, 3.7, 45.0, 4.8, 28.0, 4.1, 18.0, 3.0),
    4: (57.0, 5.6, 3.3, 42.0, 4.4, 26.0, 3.8, 17.0, 2.8),
    5: (52.0, 5.0, 3.0, 34.0, 3.9, 19.0, 3.3, 15.0, 2.6),
}
_FINGER_STEM = {1: "T", 2: "I", 3: "M", 4: "R", 5: "S"}


def be_score_from_fraction(frac: float) -> int:
    """Raw SvdH BE score (0/1/2/3/5) of an eroded-area fraction."""
    if frac <= 0:
        return 0
    for score, upper in zip((1, 2, 3), BE_BANDS, strict=False):
        if frac <= upper:
            return score
    return 5


def jsn_score_from_ratio(ratio: float) -> int:
    """Raw SvdH JSN score (0..4) of a drawn gap width relative to the normal gap."""
    for score, lower in enumerate(JSN_BANDS):
        if ratio >= lower:
            return score
    return 4


def rot(theta: float) -> np.ndarray:
    c, s = np.cos(theta), np.sin(theta)
    return np.array([[c, -s], [s, c]])


def blob(a: float, b: float, angle: float, rng: np.random.Generator, n: int = 72, wobble: float = 0.05) -> np.ndarray:
    """A rounded carpal-like outline (superellipse with low-frequency wobble), centred at 0, N×2 (x, y)."""
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    p = 2.4
    cx, sx = np.cos(t), np.sin(t)
    x = a * np.sign(cx) * np.abs(cx) ** (2 / p)
    y = b * np.sign(sx) * np.abs(sx) ** (2 / p)
    k = np.arange(2, 5)
    amp = rng.normal(0, wobble, size=(3, 2))
    r = 1 + (amp[:, :1] * np.cos(k[:, None] * t) + amp[:, 1:] * np.sin(k[:, None] * t)).sum(0)
    pts = np.stack([x * r, y * r], 1)
    return pts @ rot(angle).T


def ray_exit(poly: np.ndarray, origin: np.ndarray, direction: np.ndarray) -> float:
    """Largest t with ``origin + t*direction`` on the polygon boundary (origin inside the polygon)."""
    a = poly
    b = np.roll(poly, -1, axis=0)
    e = b - a
    d = direction / np.linalg.norm(direction)
    denom = d[0] * e[:, 1] - d[1] * e[:, 0]
    ok = np.abs(denom) > 1e-12
    w = a - origin
    t = np.where(ok, (w[:, 0] * e[:, 1] - w[:, 1] * e[:, 0]) / np.where(ok, denom, 1), -np.inf)
    u = np.where(ok, (w[:, 0] * d[1] - w[:, 1] * d[0]) / np.where(ok, denom, 1), -1)
    valid = ok & (u >= 0) & (u <= 1) & (t >= 0)
    return float(t[valid].max()) if valid.any() else 0.0


def polygon_area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return float(0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1))))


def head_curve(r: float, shape: tuple[float, float, float], n: int = 21) -> np.ndarray:
    """Outline of a bone head relative to its centre, (w, s) from w=-r over the top to w=+r: a superellipse of
    half-width ``r`` and height ``shape[0]·r`` (exponent ``shape[1]``) with a central notch ``shape[2]·r`` deep."""
    height, p, notch = shape
    phi = np.linspace(-np.pi / 2, np.pi / 2, n)
    sn, cs = np.sin(phi), np.cos(phi)
    w = r * np.sign(sn) * np.abs(sn) ** (2 / p)
    s = height * r * np.abs(cs) ** (2 / p) - notch * r * np.exp(-((w / (0.3 * r)) ** 2))
    return np.stack([w, s], 1)


def head_top(r: float, shape: tuple[float, float, float]) -> float:
    """Height of a head's articular surface above its centre on the axis (the notch floor)."""
    return float((shape[0] - shape[2]) * r)


def long_bone(
    length: float,
    head_r: float,
    shaft_hw: float,
    base_hw: float,
    base_pts: np.ndarray | None,
    rng: np.random.Generator,
    head_shape: tuple[float, float, float] = (1.0, 2.0, 0.0),
    n_side: int = 18,
) -> np.ndarray:
    """Outline of a tubular bone in its local frame (s along the axis, w lateral), as (w, s) points.

    ``base_pts`` (w from +``base_hw`` to -``base_hw``): the articular base of a phalanx, shaped on the proximal
    head (:func:`_joint_base`); None: a shallow rounded cap (metacarpal base). The head is :func:`head_curve`
    of radius ``head_r`` centred at s=length.
    """
    if base_pts is None:
        depth = 0.35 * base_hw
        phi = np.linspace(np.pi / 2, -np.pi / 2, 11)
        base_pts = np.stack([base_hw * np.sin(phi), depth * (1 - np.cos(phi))], 1)
    s1 = length
    t = np.linspace(0, 1, n_side)[1:-1]
    hw = (
        shaft_hw
        + (base_hw - shaft_hw) * np.exp(-((t / 0.2) ** 2))
        + (head_r - shaft_hw) * np.exp(-(((1 - t) / 0.17) ** 2))
    )
    asym = 1 + rng.normal(0, 0.03)
    s0r, s0l = float(base_pts[-1, 1]), float(base_pts[0, 1])
    right = np.stack([-hw * asym, s0r + t * (s1 - s0r)], 1)
    left = np.stack([hw / asym, s0l + t * (s1 - s0l)], 1)[::-1]
    head = head_curve(head_r, head_shape) + np.array([0.0, s1])
    # base goes from +w to -w, then right side up, head from -w over the top to +w, left side down
    return np.concatenate([base_pts, right, head, left])


def _joint_base(
    r_prev: float, shape_prev: tuple[float, float, float], rel: np.ndarray, bw: float, gap: float, tilt: float
) -> np.ndarray:
    """Articular base of a phalanx in its local frame (origin = the proximal head's centre): the proximal head
    curve seen from the distal frame (``rel`` = R_distal^T R_proximal), moved distally by ``gap·(1 + tilt·w/bw)``
    (|tilt| < 1: a wedge-shaped gap whose mean over the base is ``gap``). It mirrors the head, so it is concave
    with a slight central ridge in the intercondylar notch."""
    hc = head_curve(r_prev, shape_prev, n=81) @ rel.T
    order = np.argsort(hc[:, 0])
    wq = np.linspace(bw, -bw, 13)
    s = np.interp(wq, hc[order, 0], hc[order, 1]) + gap * (1 + tilt * wq / bw)
    return np.stack([wq, s], 1)


@dataclass
class Bite:
    """One erosion removed from ``bone``: a main disc (local centre, radius mm) plus smaller overlapping lobes
    (an irregular, lobulated cortical break rather than a round punch), category and clarity (0..1). A ``cyst``
    is a single subcortical disc inside the bone near the joint margin, under a thin intact cortex."""

    bone: str
    center: np.ndarray  # local frame of the bone (same frame as Bone.local)
    radius: float
    category: str  # one of anatomy.BE_CATEGORIES
    clarity: float
    joint: str | None  # BE joint stem it counts for (None for non-SvdH sites)
    lobes: tuple[tuple[np.ndarray, float], ...] = ()  # extra (local centre, radius) discs of the same lesion
    cyst: bool = False

    def discs(self) -> list[tuple[np.ndarray, float]]:
        """Every disc of the lesion: the main one first."""
        return [(self.center, self.radius), *self.lobes]


@dataclass
class Bone:
    """A bone outline in its local frame plus the transform to the hand frame (a rotation times the patient
    scale; for flexed phalanges also a foreshortening along the local axis)."""

    name: str
    local: np.ndarray  # N×2 outline in the local frame
    R: np.ndarray  # 2×2 rotation local -> hand
    t: np.ndarray  # translation local -> hand (mm)
    density: float = 1.0

    def to_hand(self, pts: np.ndarray) -> np.ndarray:
        return pts @ self.R.T + self.t

    @property
    def outline(self) -> np.ndarray:
        return self.to_hand(self.local)


@dataclass
class JointSpec:
    """A scored joint: where it is (hand frame, mm), how large its box is, its raw score and its bones."""

    kind: str  # "be" | "jsn" | "w600"
    stem: str
    center: np.ndarray
    side_mm: float
    score: int
    bones: tuple[str, ...]
    value: float = 0.0  # eroded fraction (BE) or gap ratio (JSN)


@dataclass
class HandGeometry:
    bones: dict[str, Bone]
    bites: list[Bite]
    joints: list[JointSpec]
    objects: list[tuple[str, np.ndarray, float]] = field(
        default_factory=list
    )  # (category, hand-frame polygon, density)
    overlap_hints: dict = field(default_factory=dict)
    #: osteopenia: share of marrow density lost everywhere, cortex thickness factor (1 = normal), and periarticular
    #: spots (hand-frame centre mm, radius mm, extra marrow loss) around affected finger joints
    porosis: tuple[float, float] = (0.0, 1.0)
    periarticular: list[tuple[np.ndarray, float, float]] = field(default_factory=list)


# --------------------------------------------------------------------------------------------------
# Patient-level anatomy and disease, visit-level pose
# --------------------------------------------------------------------------------------------------
BE_STEMS = tuple(j.stem for j in anatomy.BE_JOINTS)
JSN_STEMS = tuple(j.stem for j in anatomy.JSN_JOINTS)
W600_TO_BE = anatomy.W600_JOINT_TO_BE_STEM  #: W600 wrist joint -> the H1200 BE joint whose lesions it shows


@dataclass
class HandAnatomy:
    """Everything fixed for one patient: size, bone shapes, per-joint disease susceptibility and lesion sites."""

    scale: float
    seed: int
    severity: float  # 0..1
    be_slope: dict[str, float]
    be_offset: dict[str, float]
    jsn_slope: dict[str, float]
    jsn_offset: dict[str, float]
    bite_plan: dict[str, list[tuple[str, float, float, float]]]  # joint -> [(bone, site u, inset, weight)]
    nonsvdh_plan: list[tuple[str, float, float]]  # (bone, site u, radius)
    rays: dict[int, tuple[float, ...]]
    carpal_axes: dict[str, tuple[float, float, float]]


def _be_bones(stem: str) -> tuple[tuple[str, tuple[float, float]], ...]:
    """Bones of a BE joint and the part of their outline (fraction of the local s-range) where bites go."""
    fingers = {"T": 1, "I": 2, "M": 3, "R": 4, "S": 5}
    if stem.startswith("MCP-"):
        f = fingers[stem[-1]]
        return ((f"MC{f}", (0.91, 1.0)), (f"PP{f}", (0.0, 0.12)))
    if stem.startswith("PIP-"):
        f = fingers[stem[-1]]
        return ((f"PP{f}", (0.88, 1.0)), (f"MP{f}", (0.0, 0.16)))
    return {
        "IP": (("PP1", (0.86, 1.0)), ("DP1", (0.0, 0.18))),
        "CMC-T": (("MC1", (0.0, 0.15)),),
        "R": (("Radius", (0.0, 0.12)),),
        "U": (("Ulna", (0.0, 0.12)),),
        "L": (("Lunate", (0.0, 1.0)),),
        "S": (("Scaphoid", (0.0, 1.0)),),
        "Tm": (("Trapezium", (0.0, 1.0)),),
    }[stem]


def draw_anatomy(rng: np.random.Generator, severity: float | None = None, wrist_mode: bool = False) -> HandAnatomy:
    """Draw a patient's anatomy and disease susceptibility. ``severity`` in [0, 1] (random when None)."""
    if severity is None:
        severity = 0.0 if rng.random() < 0.3 else float(rng.beta(1.4, 2.2))
    scale = float(rng.uniform(0.9, 1.1))
    be_slope, be_off, jsn_slope, jsn_off = {}, {}, {}, {}
    for s in BE_STEMS:
        # continuous lesion load e = slope*severity + offset; erosion present where e > 0
        be_slope[s] = float(rng.uniform(0.3, 1.0))
        be_off[s] = float(rng.normal(-0.23 if not wrist_mode else -0.2, 0.12))
    for s in JSN_STEMS:
        jsn_slope[s] = float(rng.uniform(0.4, 1.3))
        jsn_off[s] = float(rng.normal(-0.18, 0.14))
    plan = {}
    for s in BE_STEMS:
        sites = []
        bones = _be_bones(s)
        n = int(rng.integers(1, 4))
        w = rng.dirichlet(np.full(n, 3.0))
        for i in range(n):
            bone, (lo, hi) = bones[int(rng.integers(len(bones)))]
            sites.append((bone, float(rng.uniform(lo, hi)), float(rng.uniform(0.15, 0.4)), float(w[i])))
        plan[s] = sites
    non = []
    for _ in range(int(rng.integers(0, 3))):
        f = int(rng.integers(2, 6))
        non.append(
            (f"DP{f}" if rng.random() < 0.5 else f"MP{f}", float(rng.uniform(0.0, 0.15)), float(rng.uniform(1.2, 2.2)))
        )
    rays = {}
    for f, vals in _RAYS.items():
        jitter = rng.normal(1.0, 0.04, size=len(vals))
        rays[f] = tuple(float(v * j) for v, j in zip(vals, jitter, strict=False))
    axes = {
        "Capitate": (6.6, 11.0, 0.0),
        "Hamate": (7.2, 9.2, -0.15),
        "Trapezoid": (5.0, 6.2, 0.2),
        "Scaphoid": (5.6, 11.5, 0.85),
        "Lunate": (7.2, 6.4, 0.1),
        "Pisifrom_Triquetrum": (6.2, 7.6, -0.45),
        "Trapezium": (7.0, 6.6, 0.5),
        "Sesamoid": (2.2, 2.6, 0.0),
    }
    axes = {
        k: (
            a * rng.normal(1, 0.04) * (CARPAL_SCALE if k != "Sesamoid" else 1.0),
            b * rng.normal(1, 0.04) * (CARPAL_SCALE if k != "Sesamoid" else 1.0),
            ang + rng.normal(0, 0.05),
        )
        for k, (a, b, ang) in axes.items()
    }
    return HandAnatomy(
        scale=scale,
        seed=int(rng.integers(2**31)),
        severity=float(severity),
        be_slope=be_slope,
        be_offset=be_off,
        jsn_slope=jsn_slope,
        jsn_offset=jsn_off,
        bite_plan=plan,
        nonsvdh_plan=non,
        rays=rays,
        carpal_axes=axes,
    )


@dataclass
class Pose:
    """Visit-level pose: global rotation (rad, within ±``MAX_ROTATION``), translation (mm), finger spread (rad per
    ray), thumb abduction, finger flexion (rad per ray 1..5 at index 0..4, 0..``MAX_FLEXION``: a flexed
    finger's phalanges are foreshortened by cos(flexion) in the PA projection) and the radial/ulnar deviation of
    the hand at the wrist (the forearm turned against the carpus, within ±``MAX_DEVIATION``)."""

    rotation: float
    shift: np.ndarray
    spread: np.ndarray
    thumb: float
    flexion: np.ndarray = field(default_factory=lambda: np.zeros(5))
    deviation: float = 0.0  #: radial (−) / ulnar (+) deviation at the wrist, rad, within ±MAX_DEVIATION

    @staticmethod
    def draw(rng: np.random.Generator) -> Pose:
        rotation = float(np.clip(rng.normal(0, 0.12), -MAX_ROTATION, MAX_ROTATION))
        shift = rng.normal(0, 5, size=2)
        # fingers fan out together (never cross): a hand-level fan times (ray - 3) plus a small jitter per ray
        fan = max(float(rng.normal(0.02, 0.04)), -0.02)
        spread = fan * (np.arange(6) - 3) + rng.normal(0, 0.02, size=6)
        thumb = float(rng.normal(0, 0.08))
        flex = np.clip(rng.uniform(0, 0.6 * MAX_FLEXION) + rng.normal(0, 0.1, size=5), 0, MAX_FLEXION)
        deviation = float(np.clip(rng.normal(0, 0.5 * MAX_DEVIATION), -MAX_DEVIATION, MAX_DEVIATION))
        return Pose(rotation=rotation, shift=shift, spread=spread, thumb=thumb, flexion=flex, deviation=deviation)


# --------------------------------------------------------------------------------------------------
# Building the hand for one visit
# --------------------------------------------------------------------------------------------------
def _dir(angle: float) -> np.ndarray:
    """Unit vector pointing distally (up in the image) tilted by ``angle`` towards the ulnar side (+x)."""
    return np.array([np.sin(angle), -np.cos(angle)])


def _frame(angle: float) -> np.ndarray:
    """Rotation taking local (w, s) to the hand frame for a bone whose axis points along ``_dir(angle)``."""
    u = _dir(angle)
    n = np.array([np.cos(angle), np.sin(angle)])  # local +w = ulnar side when upright
    return np.stack([n, u], 1)


def build_hand(anat: HandAnatomy, pose: Pose, progress: float, wrist_view: bool = False) -> HandGeometry:
    """Geometry of one visit. ``progress`` in [0, 1] scales the disease (monotone across a patient's visits)."""
    rng = np.random.default_rng(anat.seed)  # shape details are fixed per patient
    sev = anat.severity * (0.5 + 0.5 * progress)
    gap_ratio = {}
    for s in JSN_STEMS:
        e = anat.jsn_slope[s] * sev + anat.jsn_offset[s]
        gap_ratio[s] = float(np.clip(1.0 - max(e, 0.0) * 1.6, 0.0, 1.0))
    gap = {s: normal_gap_mm(s) * gap_ratio[s] for s in JSN_STEMS}
    fd = _finger_disease(anat, gap_ratio)

    ax = anat.carpal_axes
    # --- carpus, distal radius and ulna (synth/carpus.py: packed templates; local frame = hand frame, translated)
    cshape = carpus.draw_shape(np.random.default_rng([anat.seed, 11]))
    collapse = carpus.collapse_of(cshape, sev)
    if collapse > 0:  # carpal collapse narrows the scaphoid joints with it (scores follow the drawn gaps)
        for s in ("SC", "SR"):
            gap_ratio[s] = min(gap_ratio[s], float(np.clip(1.0 - 2.5 * collapse, 0.0, 1.0)))
            gap[s] = normal_gap_mm(s) * gap_ratio[s]
    carp = carpus.build_carpus(cshape, gap, sev, pose.deviation)
    loc, cen = carp.local, carp.cen
    hand = lambda n: loc[n] + cen[n]  # noqa: E731
    bones: dict[str, Bone] = {}
    eye = np.eye(2)
    for name in loc:
        bones[name] = Bone(name, loc[name], eye, cen[name].copy())
    bones["Radius"] = Bone("Radius", carp.radius[0], carp.forearm_R, carp.radius[1].copy(), density=1.05)
    bones["Ulna"] = Bone("Ulna", carp.ulna[0], carp.forearm_R, carp.ulna[1].copy(), density=1.05)

    # --- rays
    mc_angle = {1: -0.62 + pose.thumb, 2: -0.13, 3: -0.02, 4: 0.09, 5: 0.2}
    spread_pp = {1: 0.12, 2: -0.06, 3: 0.0, 4: 0.05, 5: 0.12}
    base_of = {
        1: ("Trapezium", 0.0),
        2: ("Trapezoid", 0.0),
        3: ("Capitate", 0.0),
        4: ("Hamate", -2.6),
        5: ("Hamate", 3.6),
    }
    cmc_gap = {1: PLAIN_GAP_MM, 2: PLAIN_GAP_MM, 3: gap["CMC-M"], 4: gap["CMC-R"], 5: gap["CMC-S"]}
    heads: dict[str, tuple[np.ndarray, float, float]] = {}  # bone -> (head centre, head r, axis angle)
    mids: dict[str, np.ndarray] = {}  # finger joint stem -> middle of its drawn gap on the distal bone's axis
    for f in range(1, 6):
        L_mc, r_mc, hw_mc, L_pp, r_pp, L_mp, r_mp, L_dp, r_tip = anat.rays[f]
        ang = mc_angle[f] + pose.spread[f] * 0.5
        carpal, off = base_of[f]
        u = _dir(ang)
        n = np.array([np.cos(ang), np.sin(ang)])
        origin = cen[carpal] + off * n
        t_exit = ray_exit(hand(carpal), origin, u)
        base_hw = r_mc * (0.95 if f != 1 else 1.1)
        base_point = origin + u * (t_exit + cmc_gap[f])
        mc_local = long_bone(L_mc, r_mc, hw_mc, base_hw, None, rng, HEAD_SHAPE["MC"])
        bones[f"MC{f}"] = Bone(f"MC{f}", mc_local, _frame(ang), base_point)
        heads[f"MC{f}"] = (base_point + u * L_mc, r_mc, ang)
        chain = [
            ("PP", L_pp, r_pp, spread_pp[f] + pose.spread[f]),
            ("MP", L_mp, r_mp, 0.02 * (f - 3)),
            ("DP", L_dp, r_tip, 0.0),
        ]
        prev = f"MC{f}"
        for kind, L, r, dang in chain:
            if kind == "MP" and f == 1:
                continue
            c_prev, r_prev, ang_prev = heads[prev]
            if kind == "PP":
                j = f"MCP-{_FINGER_STEM[f]}"
            elif kind == "MP" or f == 1:
                j = f"PIP-{_FINGER_STEM[f]}" if f != 1 else "IP"
            else:
                j = None
            sub, dev = fd.sublux.get(j or "", (0.0, 0.0))
            ang_b = ang_prev + dang + dev  # ulnar deviation of a subluxated MCP turns the whole finger
            g = gap[j] if j in gap else (PIP_GAP_MM if j else DIP_GAP_MM)
            shape_prev = HEAD_SHAPE[prev[:2]]
            bw = 0.95 * r_prev
            # the base is shaped on the head at the finger's anatomical angle (pose spread only adds a slight
            # wedge, mean gap unchanged), so the local outline — where bites and scores live — is pose-free
            rel = _frame(ang_b - (pose.spread[f] if kind == "PP" else 0.0)).T @ _frame(ang_prev)
            base_pts = _joint_base(r_prev, shape_prev, rel, bw, g, fd.tilt.get(j or "", 0.0))
            shaft = r * (0.62 if kind != "DP" else 0.55)
            local = long_bone(L, r, shaft, bw, base_pts, rng, HEAD_SHAPE[kind])
            name = f"{kind}{f}"
            # flexion foreshortens the bone along its axis in PA, about its base (the joint gap is kept)
            cf = float(np.cos(pose.flexion[f - 1]))
            s_b = head_top(r_prev, shape_prev) + g
            R_b = _frame(ang_b) @ np.diag([1.0, cf])
            u_b = _dir(ang_b)
            t_b = c_prev + u_b * (s_b * (1 - cf)) - u_b * sub + R_b[:, 0] * (0.35 * sub)  # sub: base slides on head
            bones[name] = Bone(name, local, R_b, t_b)
            heads[name] = (t_b + u_b * (cf * L), r, ang_b)
            if j:
                mids[j] = c_prev + _dir(ang_b) * (head_top(r_prev, shape_prev) + 0.5 * (g - sub))
            if sub > 0 and j:  # a subluxated joint is scored on the mean gap as drawn (overlap = 0)
                gap_ratio[j] = _slid_gap(r_prev, shape_prev, rel, base_pts, sub) / normal_gap_mm(j)
            prev = name
    # sesamoid(s) at MCP1 (one or two)
    c1, r1, a1 = heads["MC1"]
    n1 = np.array([np.cos(a1), np.sin(a1)])
    sa, sb, sang = ax["Sesamoid"]
    ses = [c1 + 0.55 * r1 * n1 - 0.2 * r1 * _dir(a1)]
    if rng.random() < 0.6:
        ses.append(c1 - 0.75 * r1 * n1 - 0.1 * r1 * _dir(a1))
    ses_local = np.concatenate([blob(sa, sb, sang, rng, n=24, wobble=0.02) + (p - ses[0]) for p in ses[:1]])
    bones["Sesamoid"] = Bone("Sesamoid", ses_local, eye, ses[0].copy(), density=0.9)
    extra_ses = [blob(sa * 0.85, sb * 0.85, sang, rng, n=24, wobble=0.02) + p for p in ses[1:]]

    carpus.seat_bases(bones, cmc_gap, np.random.default_rng([anat.seed, 12]))
    # scored carpal joint points and the inner contours (pisiform, hook of hamate) in their bones' local frames
    carpal_points = {k: v - bones["Scaphoid"].t for k, v in carp.joint_points.items()}
    rings = [(b, poly - bones[b].t, chord, rim) for b, poly, chord, rim in carp.rings]

    # --- pose: rotate the whole hand about the capitate and shift, scaled by the patient size
    Rg = rot(pose.rotation) * anat.scale
    for b in bones.values():
        b.R = Rg @ b.R
        b.t = Rg @ b.t + pose.shift
    extra_ses = [p @ Rg.T + pose.shift for p in extra_ses]
    for k, (c, r, a) in list(heads.items()):
        heads[k] = (Rg @ c + pose.shift, r * anat.scale, a + pose.rotation)
    mids = {k: Rg @ c + pose.shift for k, c in mids.items()}

    # --- erosions (bone-local frames; radii in bone-local mm, i.e. before the patient scale)
    bites: list[Bite] = []
    for stem in BE_STEMS:
        e = anat.be_slope[stem] * sev + anat.be_offset[stem]
        if e <= 0:
            continue
        frac_target = 0.02 + 0.85 * e
        r_ref = _reference_radius(stem, bones)
        for site_k, (bone_name, u_site, inset, w) in enumerate(anat.bite_plan[stem]):
            rho = max(MIN_BITE_MM, r_ref * np.sqrt(2 * frac_target * w))
            rho = min(rho, 0.75 * r_ref)
            cat = anatomy.BE_CATEGORIES[0] if rho >= 0.42 * r_ref or frac_target > 0.2 else anatomy.BE_CATEGORIES[1]
            clar = 1.0 if cat == anatomy.BE_CATEGORIES[0] else BE50_CLARITY
            centre = _site_point(bones[bone_name], u_site, inset * rho, stem)
            site_rng = np.random.default_rng([int(anat.seed), 7, BE_STEMS.index(stem), site_k])
            lobes = _lobes(site_rng, centre, rho)
            cyst = _cyst_centre(bones[bone_name], u_site) if stem in mids and site_rng.random() < CYST_SHARE else None
            if cyst is not None:  # fixed per site: a cyst stays a cyst
                rc = float(np.clip(0.45 * rho, 0.9, CYST_MAX_MM))
                bites.append(Bite(bone_name, cyst, rc, cat, 0.7 * clar, stem, (), cyst=True))
                continue
            bites.append(Bite(bone_name, centre, float(0.85 * rho), cat, clar, stem, lobes))
    for bone_name, u_site, rho in anat.nonsvdh_plan:
        if bone_name in bones and sev > 0.25:
            centre = _site_point(bones[bone_name], u_site, 0.3 * rho, None)
            bites.append(Bite(bone_name, centre, rho, anatomy.BE_CATEGORIES[2], 0.6, None))

    joints = _joints(bones, heads, mids, bites, gap, gap_ratio, anat.scale, carpal_points)
    geo = HandGeometry(bones=bones, bites=bites, joints=joints)
    geo.overlap_hints["extra_sesamoids"] = extra_ses
    geo.overlap_hints["rings"] = rings  # (bone, local outline, chord weight, rim weight): inner attenuation
    geo.overlap_hints["collapse"] = carp.collapse
    _osteopenia(geo, anat, fd, sev, gap_ratio, mids, heads)
    return geo


def _slid_gap(r_prev: float, shape_prev, rel: np.ndarray, base_pts: np.ndarray, sub: float) -> float:
    """Mean axial gap (mm, >= 0) between a base slid by ``sub`` proximally and 0.35·``sub`` ulnarwards (see the
    ray code) and the proximal head, in the distal bone's frame."""
    hc = head_curve(r_prev, shape_prev, n=81) @ rel.T
    order = np.argsort(hc[:, 0])
    head_s = np.interp(base_pts[:, 0] + 0.35 * sub, hc[order, 0], hc[order, 1])
    return max(float(np.mean(base_pts[:, 1] - sub - head_s)), 0.0)


def normal_gap_mm(stem: str) -> float:
    """Normal (unnarrowed) joint gap of a JSN/BE joint stem, mm."""
    if stem.startswith("MCP-"):
        return MCP_GAP_MM
    if stem.startswith("PIP-") or stem == "IP":
        return PIP_GAP_MM
    return CARPAL_GAP_MM


@dataclass
class _FingerDisease:
    """Per-visit finger-joint disease beyond the gap ratio: wedge tilt of each narrowed gap, MCP subluxation
    (stem -> (palmar slide of the PP base over the head, mm; ulnar deviation, rad)) and osteopenia proneness."""

    tilt: dict[str, float]
    sublux: dict[str, tuple[float, float]]
    porosis_k: float


def _finger_disease(anat: HandAnatomy, gap_ratio: dict[str, float]) -> _FingerDisease:
    """Draw :class:`_FingerDisease` from a stream of its own (seeded by the patient: the same at every visit, and
    the shape stream is untouched); amounts grow as the gap ratios fall, so they only grow over visits."""
    rng = np.random.default_rng([int(anat.seed), 11])
    fingers = [s for s in JSN_STEMS if s.startswith(("MCP-", "PIP-"))]
    tilt, sublux = {}, {}
    for s in fingers:  # narrowed joints narrow more on one side: up to 0.2x / 1.8x the mean gap at the margins
        k = float(rng.uniform(0.4, 0.85) * rng.choice((-1.0, 1.0)))
        tilt[s] = k * min(1.0, 2.5 * (1.0 - gap_ratio[s]))
    # ulnar drift turns all four fingers together (no crossing), by the hand's mean MCP damage; a prone MCP also
    # slides (palmar subluxation seen in PA: the PP base over the MC head) by its own damage
    mcps = [s for s in fingers if s.startswith("MCP-") and s != "MCP-T"]
    amount = {s: float(np.clip((SUBLUX_RATIO - gap_ratio[s]) / 0.3, 0.0, 1.0)) for s in mcps}
    drift = float(rng.uniform(0.08, 0.25)) * float(np.mean(list(amount.values())))
    for s in mcps:
        prone, slide = rng.random() < 0.5, float(rng.uniform(1.5, 3.5))
        if anat.severity > 0.45 and (drift > 0 or amount[s] > 0):
            sublux[s] = (amount[s] * slide if prone else 0.0, drift)
    return _FingerDisease(tilt, sublux, float(rng.uniform(0.5, 1.0)))


def _osteopenia(geo: HandGeometry, anat: HandAnatomy, fd: _FingerDisease, sev: float, gap_ratio, mids, heads) -> None:
    """Set ``geo.porosis`` (lower marrow density, thinner cortex with the visit's severity) and the periarticular
    osteopenia around finger joints with erosive load or narrowing (deeper with the load)."""
    k = fd.porosis_k * sev
    geo.porosis = (0.35 * k, 1.0 - 0.45 * k)
    prox = {"MCP": "MC", "PIP": "PP", "IP": "PP"}
    for stem, c in mids.items():
        e = anat.be_slope[stem] * sev + anat.be_offset[stem] if stem in anat.be_slope else 0.0
        load = max(e, 1.0 - gap_ratio.get(stem, 1.0), 0.0)
        if load > 0.02:
            f = 1 if stem == "IP" else "TIMRS".index(stem[-1]) + 1
            r = heads[f"{prox[stem.split('-')[0]]}{f}"][1]
            geo.periarticular.append((c, 1.6 * r, min(0.45, 0.8 * load)))


def _dist_to_outline(poly: np.ndarray, p: np.ndarray) -> float:
    """Smallest distance from point ``p`` to the closed polygon ``poly``'s edges."""
    a, b = poly, np.roll(poly, -1, axis=0)
    e = b - a
    t = np.clip(((p - a) * e).sum(1) / np.maximum((e * e).sum(1), 1e-12), 0, 1)
    return float(np.sqrt((((a + t[:, None] * e) - p) ** 2).sum(1)).min())


def _cyst_centre(bone: Bone, u_site: float) -> np.ndarray | None:
    """Centre (local frame) of a marginal cyst: at the side of the head (head sites) or of the base just distal to
    its articular surface (base sites) — the bare area at the joint margin — ``CYST_MAX_MM + CYST_CORTEX_MM``
    inside the outline (pushed further in where the outline bends round it), so a cyst of any radius up to
    ``CYST_MAX_MM`` keeps an intact cortex over it and grows about a fixed centre. None where it does not fit."""
    pts = bone.local
    s = pts[:, 1]
    lo, hi = s.min(), s.max()
    side = 1.0 if int(u_site * 1e4) % 2 else -1.0
    cand = np.flatnonzero((side * pts[:, 0]) >= 0.6 * np.abs(pts[:, 0]).max())  # the bone's side, not its ends
    depth = CYST_MAX_MM + CYST_CORTEX_MM
    if u_site > 0.5:
        s_t = lo + 0.9 * (hi - lo)
    else:  # above the base's articular surface (its highest point near the axis)
        near_axis = (np.abs(pts[:, 0]) < 0.3 * np.abs(pts[:, 0]).max()) & (s < lo + 0.5 * (hi - lo))
        s_t = s[near_axis].max() + depth + 0.3
    i = int(cand[np.argmin(np.abs(s[cand] - s_t))])
    tng = pts[(i + 1) % len(pts)] - pts[i - 1]
    nrm = np.array([-tng[1], tng[0]]) / (np.linalg.norm(tng) + 1e-9)
    path = MplPath(pts)
    if not path.contains_point(pts[i] + 0.05 * nrm):  # make it the inward normal
        nrm = -nrm
    c = pts[i] + depth * nrm
    for _ in range(10):
        if path.contains_point(c) and _dist_to_outline(pts, c) >= depth - 1e-6:
            return c
        c = c + 0.2 * nrm
    return None


def _lobes(rng: np.random.Generator, centre: np.ndarray, rho: float) -> tuple[tuple[np.ndarray, float], ...]:
    """1-3 lobes around an erosion's main disc. Their directions and relative sizes come from ``rng`` (seeded per
    patient, joint and site, so they are the same at every visit) and scale with ``rho``: lesions only grow."""
    out = []
    for _ in range(int(rng.integers(1, 4))):
        a = rng.uniform(0, 2 * np.pi)
        off = rng.uniform(0.45, 0.85) * rho
        out.append((centre + off * np.array([np.cos(a), np.sin(a)]), float(rng.uniform(0.3, 0.6) * rho)))
    return tuple(out)


def _reference_radius(stem: str, bones: dict[str, Bone]) -> float:
    """Local-frame reference radius of a BE joint: the proximal head radius or the carpal's equivalent radius."""
    bb = _be_bones(stem)
    if stem in ("L", "S", "Tm"):
        return float(np.sqrt(polygon_area(bones[bb[0][0]].local) / np.pi))
    if stem in ("R", "U"):
        w = np.ptp(bones[bb[0][0]].local[:, 0])
        return 0.3 * w
    if stem == "CMC-T":
        return 0.9 * np.abs(bones["MC1"].local[:11, 0]).max()
    return float(np.abs(bones[bb[0][0]].local[:, 0]).max())


def _site_point(bone: Bone, u_site: float, inset: float, stem: str | None) -> np.ndarray:
    """A point on the bone's outline (local frame) at relative position ``u_site``, moved ``inset`` inwards."""
    pts = bone.local
    if bone.name in ("Lunate", "Scaphoid", "Trapezium") or stem in ("L", "S", "Tm"):
        i = int(u_site * len(pts)) % len(pts)
    else:
        s = pts[:, 1]
        if bone.name in ("Radius", "Ulna"):
            # top (distal) end: outline points near the smallest y
            order = np.argsort(s)[: max(6, len(s) // 3)]
            order = order[np.argsort(pts[order, 0])]
            i = int(order[min(int(u_site / 0.12 * len(order)), len(order) - 1)])
        else:
            lo, hi = s.min(), s.max()
            target = lo + u_site * (hi - lo)
            cand = np.argsort(np.abs(s - target))[:4]
            i = int(cand[int(u_site * 1e4) % len(cand)])
    p = pts[i]
    c = pts.mean(0)
    v = c - p
    return p + inset * v / (np.linalg.norm(v) + 1e-9)


def eroded_area(bone: Bone, bites: list[Bite], step: float = 0.05) -> float:
    """Area (local mm²) of the union of ``bites`` inside ``bone``'s outline, on a fine local grid."""
    discs = [d for b in bites for d in b.discs()]
    if not discs:
        return 0.0
    lo = np.min([c - r for c, r in discs], 0)
    hi = np.max([c + r for c, r in discs], 0)
    xs = np.arange(lo[0], hi[0] + step, step)
    ys = np.arange(lo[1], hi[1] + step, step)
    gx, gy = np.meshgrid(xs, ys)
    inside_bite = np.zeros(gx.shape, bool)
    for c, r in discs:
        inside_bite |= (gx - c[0]) ** 2 + (gy - c[1]) ** 2 <= r**2
    if not inside_bite.any():
        return 0.0
    pts = np.stack([gx[inside_bite], gy[inside_bite]], 1)
    inside = MplPath(bone.local).contains_points(pts)
    return float(inside.sum() * step * step)


def _box_side(r: float, k: float = 3.4) -> float:
    return k * r


def _joints(bones, heads, mids, bites, gap, gap_ratio, scale, carpal_points=None) -> list[JointSpec]:
    out: list[JointSpec] = []

    def centre(name: str) -> np.ndarray:
        return bones[name].outline.mean(0)

    by_joint: dict[str, list[Bite]] = {}
    for b in bites:
        if b.joint:
            by_joint.setdefault(b.joint, []).append(b)
    fingers = {"T": 1, "I": 2, "M": 3, "R": 4, "S": 5}
    for j in anatomy.BE_JOINTS:
        s = j.stem
        jb = by_joint.get(s, [])
        area = sum(eroded_area(bones[bn], [b for b in jb if b.bone == bn]) for bn in {b.bone for b in jb})
        r_ref = _reference_radius(s, bones)
        frac = area / (np.pi * r_ref**2)
        score = be_score_from_fraction(frac)
        if s.startswith(("MCP-", "PIP-")) or s == "IP":
            f = 1 if s == "IP" else fingers[s[-1]]
            if s == "IP":
                prox, dist = "PP1", "DP1"
            elif s.startswith("MCP"):
                prox, dist = f"MC{f}", f"PP{f}"
            else:
                prox, dist = f"PP{f}", f"MP{f}"
            c = mids[s]
            side = _box_side(heads[prox][1])
            bns = (prox, dist)
        elif s == "CMC-T":
            mc = bones["MC1"]
            c = mc.to_hand(np.array([[0.0, 1.0]]))[0]
            side = _box_side(r_ref * scale, 3.8)
            bns = ("MC1", "Trapezium")
        elif s in ("R", "U"):
            name = "Radius" if s == "R" else "Ulna"
            b = bones[name]
            top = b.local[:24] if s == "R" else b.local[:17]
            c = b.to_hand(np.array([[top[:, 0].mean(), top[:, 1].max() * 0.5 + 4.0]]))[0]
            side = np.ptp(top[:, 0]) * scale * (1.15 if s == "R" else 1.5)
            bns = (name,)
        else:
            name = {"L": "Lunate", "S": "Scaphoid", "Tm": "Trapezium"}[s]
            c = centre(name)
            side = 2.0 * np.abs(bones[name].local).max() * scale * 1.25
            bns = (name,)
        out.append(JointSpec("be", s, c, float(side), score, bns, float(frac)))
    for j in anatomy.JSN_JOINTS:
        s = j.stem
        score = jsn_score_from_ratio(gap_ratio[s])
        if s.startswith(("MCP-", "PIP-")):
            f = fingers[s[-1]]
            prox, dist = (f"MC{f}", f"PP{f}") if s.startswith("MCP") else (f"PP{f}", f"MP{f}")
            c = mids[s]
            side = _box_side(heads[prox][1])
            bns = (prox, dist)
        elif s.startswith("CMC-"):
            f = {"M": 3, "R": 4, "S": 5}[s[-1]]
            mc = bones[f"MC{f}"]
            c = mc.to_hand(np.array([[0.0, -0.5 * gap[s]]]))[0]
            side = _box_side(heads[f"MC{f}"][1], 3.6)
            bns = (f"MC{f}", "Capitate" if f == 3 else "Hamate")
        else:
            pair = carpus.SCORED[s]
            a, b = bones[pair[0]].outline, bones[pair[1]].outline
            ca = a.mean(0)
            if s == "SR":
                cb = a[np.argmax(a[:, 1])] + np.array([0, 1.0])
            elif s == "STT":
                cb = bones["Trapezium"].outline.mean(0)
            else:
                cb = b.mean(0)
            if carpal_points and s in carpal_points:  # on the clear (un-lapped) part of the joint line
                c = bones["Scaphoid"].to_hand(carpal_points[s][None])[0]
            else:  # midpoint of the closest approach along the centre line
                d = cb - ca
                d = d / np.linalg.norm(d)
                ta = ray_exit(a, ca, d)
                c = ca + d * (ta + 0.5 * gap[s] * scale)
            side = 14.0 * scale
            bns = pair
        out.append(JointSpec("jsn", s, c, float(side), score, bns, float(gap_ratio[s])))
    return out
