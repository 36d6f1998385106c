"""Carpus, distal radius and ulna of the phantom hand: shape templates packed into a tight mosaic.

Hand frame (mm, right hand PA): x to the ulnar side (image right), y towards the forearm (image down), the
capitate's centre near the origin. Every carpal bone starts as a **hand-authored outline template** (control
points from PA anatomy, low-pass smoothed), deformed per patient by a small shape model (global carpal scale and
aspect; per bone scale, aspect, rotation, low-order radial harmonics k = 2..4 and a sub-millimetre shift). The
templates are deliberately a little oversized, so neighbours collide; :func:`build_carpus` resolves the
collisions by a **partition** on a 0.15 mm grid (each contested point goes to the bone it lies deeper in; the
radius has priority, so its fossae shape the scaphoid and lunate), then shrinks every bone by half the joint
line of each neighbour (the full SR gap for the radius' neighbour). Joint lines are the scored gaps
(SC, STT, SR: ``gap`` of :func:`ramkit.synth.geometry.build_hand`) or ``INTERCARPAL_GAP_MM``.

PA projections overlap: **laps** (:data:`LAPS`) let one bone grow over its neighbour along one end of their
interface (a tapered crescent up to ~2 mm wide, the projected dorsal/palmar rim), so the 7 carpal pairs of
``anatomy.OVERLAP_PAIRS`` overlap by construction while the other end of each interface keeps a clear joint
line (where the JSN joint points are put). :func:`seat_bases` does the same for the metacarpal bases after the
rays are placed: the carpal's distal facet follows the MC base at the CMC gap and laps over one corner.

The pisiform is an oval over the triquetrum (label ``Pisifrom_Triquetrum`` = their union) and the hook of
hamate an oval ring over the hamate body: both are returned as *inner contours* (:class:`Carpus.rings`) that the
image formation draws as extra attenuation inside the label. Severe RA (visit severity > ``COLLAPSE_ONSET``, in
a share of the patients) collapses the carpus (radius moved distally, proximal row compressed, SC/SR narrowed) and
fuses unscored neighbours (no joint line, masks bridged).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage
from skimage.measure import find_contours

from ramkit import anatomy

GRID_MM = 0.15  #: resolution of the partition grid
INTERCARPAL_GAP_MM = 0.8  #: joint line between unscored carpal neighbours (real: ~1 mm)
RL_GAP_MM = 1.4  #: radio-lunate joint line (unscored)
COLLAPSE_ONSET = 0.75  #: visit severity above which carpal collapse / fusion starts (in a share of patients)
COLLAPSE_SHARE = 0.6  #: share of patients whose carpus collapses once their severity passes the onset
RADIUS_CORNER_Y_MM = 25.2  #: hand-frame y of the radius' ulnar corner: sets the carpal height (~34 mm)
DEVIATION_PIVOT = (0.0, 10.0)  #: radial/ulnar deviation turns the forearm about the capitate head (hand frame mm)
CARPAL_HEIGHT_MM = 34.0  #: capitate distal facet to radius lunate fossa (for the collapse)

CARPALS = ("Capitate", "Hamate", "Trapezoid", "Scaphoid", "Lunate", "Pisifrom_Triquetrum", "Trapezium")

# Hand-authored templates (hand frame mm; x ulnar, y proximal), slightly oversized where bones meet.
# fmt: off
_TEMPLATES: dict[str, list[tuple[float, float]]] = {
    # ~13 mm wide, ~22 mm long, flat distal facet for MC3, narrower neck, round proximal head
    "Capitate": [
        (-6.8, -10.6), (-2.0, -11.4), (2.5, -11.4), (6.6, -10.6), (7.6, -6.0), (6.9, -1.0), (5.9, 3.0), (6.6, 7.0),
        (5.2, 10.6), (2.2, 12.4), (-1.4, 12.4), (-4.6, 10.8), (-6.4, 7.6), (-5.8, 3.8), (-6.6, 0.0), (-7.6, -5.2),
    ],
    # wedge: distal facet for MC4/MC5, apex proximal towards the lunate
    "Hamate": [
        (6.2, -10.0), (11.0, -11.0), (16.2, -10.6), (20.3, -8.6), (21.6, -4.8), (19.2, -0.6), (15.4, 3.4),
        (11.4, 7.4), (8.2, 9.4), (5.9, 7.8), (5.8, 1.5), (6.8, -4.5),
    ],
    # pyramidal, ulnar to the lunate at its level, proximal to the hamate's ulnar slope, facing the ulnar head
    "Pisifrom_Triquetrum": [
        (18.4, -2.6), (22.6, 1.2), (23.6, 7.4), (21.6, 13.6), (17.4, 18.2), (12.6, 19.0), (10.0, 15.6), (10.6, 9.4),
        (14.6, 3.0),
    ],
    # quadrilateral / crescent (~15 mm wide, ~12 mm tall after packing): concave distal facet round the capitate
    # head, its radial and ulnar horns at the head's shoulders; convex proximal, oversized into the lunate fossa
    "Lunate": [
        (-5.0, 12.4), (-2.4, 13.4), (0.8, 13.8), (4.2, 13.0), (7.4, 10.8), (10.2, 11.2), (12.6, 14.6), (13.6, 19.4),
        (12.4, 24.0), (7.0, 26.8), (0.4, 27.0), (-4.6, 24.6), (-6.4, 18.6),
    ],
    # elongated (~26 mm), oblique ~45 deg, waist; ulnar side concave around the capitate; proximal pole oversized
    # into the scaphoid fossa (~3 mm: it still reaches the radius when the wrist deviates)
    "Scaphoid": [
        (-2.8, 23.2), (-7.0, 24.8), (-12.8, 23.6), (-17.4, 20.2), (-20.0, 14.4), (-20.8, 6.4), (-18.6, 0.4),
        (-14.8, -0.8), (-11.0, 0.6), (-7.6, 2.4), (-4.9, 6.2), (-3.8, 10.6), (-2.2, 15.6),
    ],
    # radial, distal to the scaphoid's distal pole; distal-ulnar horn up to the MC2 base
    "Trapezium": [
        (-14.6, -13.4), (-17.6, -12.4), (-22.0, -9.8), (-25.0, -6.2), (-25.8, -2.0), (-24.4, 2.0), (-21.4, 4.4),
        (-17.2, 4.0), (-14.0, 1.2), (-13.4, -4.0), (-13.8, -9.6),
    ],
    # between trapezium and capitate, distal facet for MC2
    "Trapezoid": [
        (-13.4, -12.8), (-8.6, -14.2), (-4.6, -12.8), (-3.8, -8.6), (-4.8, -3.6), (-7.6, -0.4), (-11.4, 0.2),
        (-14.6, -3.6), (-15.0, -8.6),
    ],
}
# fmt: on
TEMPLATE_SCALE = 0.93  #: templates are scaled about TEMPLATE_CENTRE (carpal block ~1.45x the radius width)
TEMPLATE_CENTRE = (-2.0, 8.0)
#: Pisiform (over the triquetrum) and hook of hamate: centre, semi-axes (mm), angle (rad).
_PISIFORM = ((16.8, 9.6), (4.6, 3.7), 0.5)
_HOOK = ((12.0, -4.6), (2.6, 3.4), 0.25)

#: Laps (A grows over B): pair, largest lap (mm), start of the lap along the interface (tau0), fixed side or 0
#: (side drawn per patient). Scored joints keep their joint point on the clear end (-side).
LAPS: tuple[tuple[str, str, float, float, int], ...] = (
    ("Scaphoid", "Radius", 1.8, -0.1, 1),
    ("Lunate", "Radius", 1.8, -0.2, 0),
    ("Scaphoid", "Lunate", 2.0, -0.2, 0),
    ("Scaphoid", "Capitate", 1.8, 0.0, 1),
    ("Scaphoid", "Trapezium", 1.6, 0.0, 1),
    ("Trapezoid", "Trapezium", 2.0, -0.2, 0),
    ("Trapezoid", "Capitate", 1.5, -0.1, 0),
    ("Capitate", "Lunate", 1.2, 0.1, 0),
    ("Hamate", "Pisifrom_Triquetrum", 1.2, 0.1, 0),
)
#: CMC seats (after the rays): carpal, MC ray, lap side (0 = per patient; -1 radial, +1 ulnar corner of the base),
#: where the lap starts (fraction of the base half-width). The last one is the trapezium's distal-ulnar horn
#: under the radial corner of the MC2 base (only that corner).
SEATS: tuple[tuple[str, int, int, float], ...] = (
    ("Trapezium", 1, 0, 0.3),
    ("Trapezoid", 2, -1, 0.05),
    ("Capitate", 3, 1, 0.3),
    ("Hamate", 4, 1, 0.3),
    ("Hamate", 5, 1, 0.3),
    ("Trapezium", 2, -1, 0.55),
)
CMC_LAP_MM = 1.6  #: largest overlap of a carpal's distal rim over its MC base corner
#: Scored carpal joints: stem -> (carpal pair, joint line from ``gap``).
SCORED = {"SC": ("Scaphoid", "Capitate"), "STT": ("Scaphoid", "Trapezium"), "SR": ("Scaphoid", "Radius")}
#: Unscored pairs that may fuse in severe RA.
FUSIBLE = (
    ("Capitate", "Hamate"),
    ("Lunate", "Pisifrom_Triquetrum"),
    ("Trapezium", "Trapezoid"),
    ("Capitate", "Trapezoid"),
)
assert set(CARPALS) | {"Radius", "Ulna"} <= set(anatomy.HAND_BONES)


@dataclass
class CarpusShape:
    """Per-patient shape parameters (drawn once from the patient's generator, in a fixed order)."""

    templates: dict[str, np.ndarray]  # varied carpal templates, hand frame
    pisiform: np.ndarray
    hook: np.ndarray
    radius_scale: tuple[float, float]  # (width, styloid height)
    ulnar_variance: float  # mm, + = ulna longer (head more distal)
    druj: float  # mm of overlap of the ulnar head over the sigmoid notch (negative = a gap)
    lap_side: dict[tuple[str, str], int]
    lap_size: dict[tuple[str, str], float]
    collapse_max: float  # 0 (never collapses) or 0.10-0.20
    fused: tuple[tuple[str, str], ...]


@dataclass
class Carpus:
    """The carpus of one visit: local outlines and centres (hand frame = local + centre), radius, ulna."""

    local: dict[str, np.ndarray]
    cen: dict[str, np.ndarray]
    radius: tuple[np.ndarray, np.ndarray]  # (local outline, translation)
    ulna: tuple[np.ndarray, np.ndarray]
    joint_points: dict[str, np.ndarray]  # SC / STT / SR -> hand-frame point on the clear part of the gap
    rings: list[tuple[str, np.ndarray, float, float]] = field(default_factory=list)  # (bone, hand poly, chord, rim)
    collapse: float = 0.0
    forearm_R: np.ndarray = field(default_factory=lambda: np.eye(2))  # radius/ulna local -> hand (deviation)


# --------------------------------------------------------------------------------------------------
# Templates and the shape model
# --------------------------------------------------------------------------------------------------
def smooth_closed(pts: np.ndarray, n: int = 120, keep: int = 8) -> np.ndarray:
    """Resample a closed control polygon to ``n`` points by arc length and keep its ``keep`` lowest harmonics."""
    p = np.asarray(pts, float)
    seg = np.linalg.norm(np.roll(p, -1, 0) - p, axis=1)
    s = np.concatenate([[0], np.cumsum(seg)])
    t = np.linspace(0, s[-1], n, endpoint=False)
    q = np.concatenate([p, p[:1]])
    z = np.interp(t, s, q[:, 0]) + 1j * np.interp(t, s, q[:, 1])
    f = np.fft.fft(z)
    k = np.fft.fftfreq(n, 1 / n)
    f[np.abs(k) > keep] = 0
    z = np.fft.ifft(f)
    return np.stack([z.real, z.imag], 1)


def ellipse(c, ab, ang: float, n: int = 48) -> np.ndarray:
    t = np.linspace(0, 2 * np.pi, n, endpoint=False)
    e = np.stack([ab[0] * np.cos(t), ab[1] * np.sin(t)], 1)
    ca, sa = np.cos(ang), np.sin(ang)
    return e @ np.array([[ca, -sa], [sa, ca]]).T + np.asarray(c, float)


def _vary(p: np.ndarray, rng: np.random.Generator, g_scale: float, g_aspect: float) -> np.ndarray:
    """One bone's shape-model variation about its centroid: scale, aspect, rotation, harmonics 2..4, shift."""
    c = p.mean(0)
    s, asp, ang = rng.normal(1, 0.04), rng.normal(1, 0.04), rng.normal(0, 0.05)
    amp = rng.normal(0, 0.025, size=(3, 2))
    shift = rng.normal(0, 0.35, size=2)
    q = p - c
    th = np.arctan2(q[:, 1], q[:, 0])
    k = np.arange(2, 5)[:, None]
    r = 1 + (amp[:, :1] * np.cos(k * th) + amp[:, 1:] * np.sin(k * th)).sum(0)
    ca, sa = np.cos(ang), np.sin(ang)
    q = (q * r[:, None]) @ np.array([[ca, -sa], [sa, ca]]).T
    q = q * np.array([s, s * asp])
    return (c + q + shift) * np.array([g_scale, g_scale * g_aspect])


def draw_shape(rng: np.random.Generator) -> CarpusShape:
    """Draw a patient's carpus shape (always the same number of draws, so the stream is fixed per patient)."""
    g_scale, g_aspect = rng.normal(1, 0.035), rng.normal(1, 0.03)
    c0 = np.array(TEMPLATE_CENTRE)

    def base(p) -> np.ndarray:
        return c0 + (np.asarray(p, float) - c0) * TEMPLATE_SCALE

    templates = {n: _vary(smooth_closed(base(_TEMPLATES[n])), rng, g_scale, g_aspect) for n in CARPALS}
    pc, pab, pang = _PISIFORM
    ab = np.array(pab) * TEMPLATE_SCALE
    pis = ellipse(base(pc) * g_scale + rng.normal(0, 0.5, 2), ab * rng.normal(1, 0.06, 2), pang)
    hc, hab, hang = _HOOK
    ab = np.array(hab) * TEMPLATE_SCALE
    hook = ellipse(base(hc) * g_scale + rng.normal(0, 0.4, 2), ab * rng.normal(1, 0.06, 2), hang)
    radius_scale = (float(rng.normal(0.97, 0.04)), float(rng.normal(1, 0.08)))
    uv = float(np.clip(rng.normal(0, 0.8), -2.0, 2.0))
    druj = float(rng.uniform(-0.6, 1.0))
    sides = rng.choice([-1, 1], size=len(LAPS))
    sizes = rng.uniform(0.75, 1.2, size=len(LAPS))
    lap_side = {(a, b): int(fix or sd) for (a, b, _, _, fix), sd in zip(LAPS, sides, strict=True)}
    lap_size = {(a, b): float(m * sz) for (a, b, m, _, _), sz in zip(LAPS, sizes, strict=True)}
    collapses = rng.random() < COLLAPSE_SHARE
    cmax = float(rng.uniform(0.10, 0.20))
    nf = int(rng.integers(1, 3))
    pick = rng.permutation(len(FUSIBLE))[:nf]
    return CarpusShape(
        templates=templates,
        pisiform=pis,
        hook=hook,
        radius_scale=radius_scale,
        ulnar_variance=uv,
        druj=druj,
        lap_side=lap_side,
        lap_size=lap_size,
        collapse_max=cmax if collapses else 0.0,
        fused=tuple(FUSIBLE[i] for i in sorted(pick)) if collapses else (),
    )


def collapse_of(shape: CarpusShape, sev: float) -> float:
    """Carpal height loss (fraction) at visit severity ``sev``: 0 below the onset, growing to ``collapse_max``."""
    if shape.collapse_max <= 0 or sev <= COLLAPSE_ONSET:
        return 0.0
    return float(shape.collapse_max * min((sev - COLLAPSE_ONSET) / (1 - COLLAPSE_ONSET), 1.0))


# --------------------------------------------------------------------------------------------------
# Distal radius and ulna
# --------------------------------------------------------------------------------------------------
def radius_outline(width: float, styloid: float) -> np.ndarray:
    """Distal radius in the hand frame (capitate at the origin): the first 24 points are the distal articular
    surface from the radial styloid over the scaphoid fossa, the interfossal ridge and the lunate fossa to the
    ulnar corner and the sigmoid notch; then the metaphysis flares from the ~19 mm shaft to ~29 mm distally."""
    xs = np.linspace(-19.6, 8.9, 22)
    u = (xs - 8.9) / (-19.6 - 8.9)  # 0 at the ulnar corner, 1 at the styloid
    y0 = RADIUS_CORNER_Y_MM
    # straight inclination line (styloid ~10.5 mm distal to the ulnar corner) minus two shallow concavities
    y = y0 - 10.5 * styloid * u
    y += 1.5 * np.sin(np.clip((xs + 19.6) / 15.0, 0, 1) * np.pi) * (xs < -4.6)  # scaphoid fossa
    y += 1.3 * np.sin(np.clip((xs + 4.6) / 13.5, 0, 1) * np.pi) * (xs >= -4.6)  # lunate fossa
    y[0] += 0.6  # rounded styloid tip
    surface = np.stack([xs, y], 1)
    notch = np.array([[9.5, y0 + 2.0], [9.0, y0 + 5.3]])  # sigmoid notch (concave for the ulnar head)
    rest = np.array(
        [
            [9.4, y0 + 8.8],
            [7.0, y0 + 16.8],
            [4.8, y0 + 30.8],
            [4.6, 170.0],
            [-14.6, 170.0],
            [-14.8, y0 + 30.8],
            [-17.8, y0 + 14.8],
            [-20.0, y0 + 2.8],
            [-20.5, y0 - 5.7],
        ]
    )
    pts = np.concatenate([surface, notch, rest])
    cx = -5.0
    pts[:, 0] = cx + (pts[:, 0] - cx) * width
    return pts


def ulna_outline() -> np.ndarray:
    """Distal ulna in the hand frame (ulnar variance 0): the first 17 points are the head with the thin ulnar
    styloid (~4.7 mm distal to the dome), then the shaft."""
    head = np.array(
        [
            [9.8, 27.5],
            [9.4, 24.5],
            [10.3, 22.3],
            [12.0, 21.2],
            [14.2, 20.9],
            [16.2, 21.0],
            [17.6, 20.5],
            [18.2, 18.8],
            [18.8, 17.1],
            [19.6, 16.3],
            [20.4, 16.6],
            [21.0, 18.2],
            [21.6, 20.5],
            [22.0, 22.8],
            [22.1, 25.0],
            [21.7, 27.5],
            [21.0, 30.0],
        ]
    )
    shaft = np.array([[19.8, 40.0], [19.2, 60.0], [19.2, 170.0], [11.8, 170.0], [11.6, 60.0], [10.8, 40.0]])
    return np.concatenate([head, shaft])


# --------------------------------------------------------------------------------------------------
# The partition
# --------------------------------------------------------------------------------------------------
class _Grid:
    """An axis-aligned grid in the hand frame (cell centres lo + (col, row) * GRID_MM)."""

    def __init__(self, lo: np.ndarray, hi: np.ndarray):
        self.lo = lo
        self.shape = (int(np.ceil((hi[1] - lo[1]) / GRID_MM)) + 1, int(np.ceil((hi[0] - lo[0]) / GRID_MM)) + 1)

    def raster(self, poly: np.ndarray) -> np.ndarray:
        """Cells inside ``poly`` (hand frame), as a writable bool array (PIL's polygon fill: fast, deterministic)."""
        img = Image.new("1", (self.shape[1], self.shape[0]), 0)
        ImageDraw.Draw(img).polygon([tuple(p) for p in ((poly - self.lo) / GRID_MM).tolist()], fill=1)
        return np.array(img, dtype=bool)

    def depth(self, poly: np.ndarray) -> np.ndarray:
        """Distance (cells) from each cell inside ``poly`` to its outside, computed on the polygon's bounding box."""
        m = self.raster(poly)
        out = np.zeros(self.shape, np.float64)
        box = ndimage.find_objects(m.astype(np.uint8))
        if box and box[0] is not None:
            sl = tuple(slice(max(b.start - 1, 0), b.stop + 1) for b in box[0])
            out[sl] = ndimage.distance_transform_edt(m[sl])
        return out

    def points(self, mask: np.ndarray) -> np.ndarray:
        r, c = np.nonzero(mask)
        return self.lo + np.stack([c, r], 1) * GRID_MM

    def outline(self, mask: np.ndarray, spacing: float = 0.35) -> np.ndarray:
        """Smooth outline (hand frame) of ``mask``: its longest contour (the outer boundary of its main body; slivers
        and holes are dropped), smoothed by 0.25 mm, resampled every ``spacing`` mm."""
        sm = ndimage.gaussian_filter(np.pad(mask, 3).astype(np.float32), 0.25 / GRID_MM)
        c = max(find_contours(sm, 0.5), key=len)
        pts = self.lo + (c[:, ::-1] - 3) * GRID_MM
        seg = np.linalg.norm(np.diff(pts, axis=0), axis=1)
        s = np.concatenate([[0], np.cumsum(seg)])
        t = np.arange(0, s[-1], spacing)
        return np.stack([np.interp(t, s, pts[:, 0]), np.interp(t, s, pts[:, 1])], 1)


def _line(a: str, b: str, gap: dict[str, float], fused) -> float:
    """Joint line (mm) between bones ``a`` and ``b``."""
    pair = {a, b}
    if any(pair == set(f) for f in fused):
        return 0.0
    for stem, p in SCORED.items():
        if pair == set(p):
            return gap[stem]
    if pair == {"Scaphoid", "Trapezoid"}:
        return gap["STT"]
    if pair == {"Lunate", "Radius"}:
        return RL_GAP_MM
    if "Ulna" in pair:
        return 2.5
    if "Radius" in pair:
        return 2.0
    return INTERCARPAL_GAP_MM


def _interface_axis(pts: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Centre, unit principal direction (pointing ulnar, or distal when vertical) and half-length of points."""
    c = pts.mean(0)
    v = np.linalg.eigh(np.cov((pts - c).T))[1][:, -1] if len(pts) > 2 else np.array([1.0, 0.0])
    if v[0] < -1e-6 or (abs(v[0]) <= 1e-6 and v[1] > 0):
        v = -v
    half = max(float(np.abs((pts - c) @ v).max()), GRID_MM)
    return c, v, half


def build_carpus(shape: CarpusShape, gap: dict[str, float], sev: float, deviation: float = 0.0) -> Carpus:
    """Pack the patient's carpal templates for one visit (scored gaps ``gap``, visit severity ``sev``).

    ``deviation`` (rad, + = ulnar): the hand's radial/ulnar deviation at the wrist — the radius and ulna are
    turned by −deviation about ``DEVIATION_PIVOT`` before the packing, so the carpals fill the fossae as they
    lie (the templates are oversized proximally) and every joint line is drawn at its width."""
    col = collapse_of(shape, sev)
    fused = shape.fused if col > 0 else ()
    dy = col * CARPAL_HEIGHT_MM
    tmpl = dict(shape.templates)
    for n in ("Scaphoid", "Lunate", "Pisifrom_Triquetrum"):
        tmpl[n] = tmpl[n] - np.array([0.0, 0.5 * dy])
    pis = shape.pisiform - np.array([0.0, 0.5 * dy])
    rad = radius_outline(*shape.radius_scale) - np.array([0.0, dy])
    uln = ulna_outline()
    corner = rad[21]
    uln = uln + np.array([rad[23, 0] - shape.druj - uln[1, 0], corner[1] - shape.ulnar_variance - uln[4, 1]])
    rt = np.array([-5.0, corner[1]])
    ut = np.array([uln[4, 0] + 2.0, uln[4, 1]])
    piv = np.array(DEVIATION_PIVOT)
    ca, sa = np.cos(-deviation), np.sin(-deviation)
    Rf = np.array([[ca, -sa], [sa, ca]])
    lo = np.min([t.min(0) for t in tmpl.values()], 0) - 3.0
    hi = np.max([t.max(0) for t in tmpl.values()], 0) + 3.0
    grid = _Grid(lo, hi)
    turned = {"Radius": (rad - piv) @ Rf.T + piv, "Ulna": (uln - piv) @ Rf.T + piv}
    regions, E = _partition(grid, tmpl, turned)
    final = _shrink(regions, E, gap, fused)
    points = _laps(grid, regions, E, final, shape, gap, fused)
    tri = "Pisifrom_Triquetrum"
    block = np.zeros(grid.shape, bool)
    for n in regions:
        if n != tri:
            block |= E[n] < (INTERCARPAL_GAP_MM / 2 if n in CARPALS else 2.0)
    final[tri] |= grid.raster(pis) & ~block
    local, cen = {}, {}
    for n in CARPALS:
        out = grid.outline(final[n])
        cen[n] = out.mean(0)
        local[n] = out - cen[n]
    rings = [(tri, pis, 0.3, 0.5), ("Hamate", shape.hook, 0.0, 0.55)]
    forearm = {"radius": (rad - rt, piv + Rf @ (rt - piv)), "ulna": (uln - ut, piv + Rf @ (ut - piv))}
    return Carpus(local, cen, forearm["radius"], forearm["ulna"], points, rings, col, Rf)


def _partition(grid: _Grid, tmpl: dict[str, np.ndarray], fixed: dict[str, np.ndarray]):
    """Regions of the carpals (argmax of the depth inside each template, outside the fixed radius and ulna) and
    of the fixed bones, and each region's distance map (mm)."""
    depth = np.stack([grid.depth(tmpl[n]) for n in CARPALS])
    fixed_m = {n: grid.raster(p) for n, p in fixed.items()}
    free = (depth.max(0) > 0) & ~fixed_m["Radius"] & ~fixed_m["Ulna"]
    owner = depth.argmax(0)
    regions = {n: free & (owner == k) for k, n in enumerate(CARPALS)}
    regions.update(fixed_m)
    big = float(np.hypot(*grid.shape) * GRID_MM)
    E = {
        n: ndimage.distance_transform_edt(~m) * GRID_MM if m.any() else np.full(grid.shape, big)
        for n, m in regions.items()
    }
    return regions, E


def _shrink(regions, E, gap, fused) -> dict[str, np.ndarray]:
    """Each carpal region minus the joint lines: half the line to a carpal, the full line to radius / ulna."""
    final = {}
    for a in CARPALS:
        keep = regions[a].copy()
        for b in regions:
            if b == a:
                continue
            g = _line(a, b, gap, fused)
            if g > 0:  # between two grid regions half a cell is lost on each side on average: add it back
                keep &= E[b] >= (0.5 * g + 0.5 * GRID_MM if b in CARPALS else g)
        final[a] = keep
    return final


def _laps(grid, regions, E, final, shape: CarpusShape, gap, fused) -> dict[str, np.ndarray]:
    """Grow bones over their neighbours (``LAPS``; fused pairs are bridged along the whole interface); return
    the joint points of the scored joints (on the interface, at the clear end)."""
    points: dict[str, np.ndarray] = {}
    laps = [(a, b, shape.lap_size[(a, b)], t0, shape.lap_side[(a, b)]) for a, b, _, t0, _ in LAPS]
    laps += [(a, b, 0.5, -2.0, 1) for a, b in fused]
    for a, b, wmax, tau0, side in laps:
        iface = regions[b] & (E[a] <= 1.5 * GRID_MM)
        if iface.sum() < 8:
            continue
        c, v, half = _interface_axis(grid.points(iface))
        win = (regions[a] & (E[b] <= 2.6)) | (regions[b] & (E[a] <= wmax + GRID_MM))
        p = grid.points(win)
        tau = ((p - c) @ v) / half
        w = wmax * np.clip((side * tau - tau0) / (1 - min(tau0, 0.9)), 0, 1)
        w *= np.clip((1.1 - np.abs(tau)) / 0.3, 0, 1)
        r, cc = np.nonzero(win)
        ok = (w > 0) & (regions[a][r, cc] | (E[a][r, cc] <= w))
        final[a][r[ok], cc[ok]] = True
        for stem, pair in SCORED.items():
            if (a, b) == pair or (b, a) == pair:
                ip = grid.points(iface)
                t_i = ((ip - c) @ v) / half
                points[stem] = ip[int(np.argmin(np.abs(t_i + 0.5 * side)))]
    return points


# --------------------------------------------------------------------------------------------------
# Metacarpal bases on the distal row
# --------------------------------------------------------------------------------------------------
def seat_bases(bones: dict, cmc_gap: dict[int, float], rng: np.random.Generator) -> None:
    """After the rays are placed (before the pose): each carpal's distal facet follows the convex base of its
    metacarpal(s) at the CMC gap (``cmc_gap`` at the MC axis, so the drawn CMC gaps are unchanged) and laps over
    one corner of the base by up to ``CMC_LAP_MM`` (the projected dorsal rim). Edits the carpals' outlines."""
    sides = rng.choice([-1, 1], size=len(SEATS))
    per: dict[str, list[tuple[int, int, float]]] = {}
    for (carpal, f, side, w0), sd in zip(SEATS, sides, strict=True):
        per.setdefault(carpal, []).append((f, int(side or sd), w0))
    for carpal, seats in per.items():
        bone = bones[carpal]
        poly = bone.outline
        bases = [bones[f"MC{f}"].to_hand(bones[f"MC{f}"].local[:11]) for f, _, _ in seats]
        allp = np.concatenate([poly, *bases])
        grid = _Grid(allp.min(0) - 3.0, allp.max(0) + 3.0)
        cm = grid.raster(poly)
        others = np.zeros(grid.shape, bool)
        for n in CARPALS:
            if n != carpal:
                others |= grid.raster(bones[n].outline)
        e_c = ndimage.distance_transform_edt(~cm) * GRID_MM
        e_o = ndimage.distance_transform_edt(~others) * GRID_MM if others.any() else np.full(grid.shape, 99.0)
        r, c = np.nonzero((e_c <= 4.5) & (e_o >= 0.5 * INTERCARPAL_GAP_MM) & ~cm)
        p = grid.lo + np.stack([c, r], 1) * GRID_MM
        add = np.zeros(len(p), bool)
        for f, side, w0 in seats:
            add |= _seat_band(bones[f"MC{f}"], p, cmc_gap[f], side, w0)
        cm[r[add], c[add]] = True
        out = grid.outline(cm)
        bone.local = out - bone.t


def _seat_band(mc, p: np.ndarray, g_axis: float, side: int, w0: float) -> np.ndarray:
    """Points ``p`` (hand frame) between an MC base and the carpal below it, kept ``g(w)`` from the base: the CMC
    gap at the axis, narrowing to an overlap of ``CMC_LAP_MM`` towards the ``side`` corner (from ``w0``)."""
    q = (p - mc.t) @ mc.R  # hand -> MC local (w, s)
    bp = mc.local[:11]
    hw = float(abs(bp[0, 0]))
    order = np.argsort(bp[:, 0])
    s_base = np.interp(q[:, 0], bp[order, 0], bp[order, 1])
    u = side * q[:, 0] / hw
    ramp = np.clip((u - w0) / max(0.9 - w0, 0.1), 0, 1)
    g = g_axis - (g_axis + CMC_LAP_MM) * ramp
    band = (np.abs(q[:, 0]) <= 0.92 * hw) & (q[:, 1] <= s_base - g) & (q[:, 1] >= -g_axis - 3.0)
    if w0 >= 0.5:  # a corner only
        band &= u >= w0 - 0.15
    return band
