"""Rasterise a phantom hand (or wrist crop) and form an X-ray-like image from it.

:func:`draw_hand` is the per-radiograph entry point. It returns a :class:`HandDrawing` with the 8-bit image,
the 30 bone masks (``anatomy.HAND_BONES`` order), the 3 BE lesion masks (``anatomy.BE_CATEGORIES`` order), the
non-bone object masks (``anatomy.NON_BONE_OBJECTS`` order), the per-annotation parts that the COCO writer
uses, the raw BE/JSN scores and the joint boxes — so tests can compare what the readers return with what
was drawn.

Image formation (all lengths in mm, so small and full size look alike): each bone's attenuation is a chord
term (thicker towards the middle, from the distance transform of its mask) times trabecular texture plus a
cortical-rim term that decays from the outline; bones add where they overlap; erosion bites remove
attenuation (fully for clear SvdH-BE-90 lesions, partly for fainter ones); soft tissue is a smooth rounded
silhouette; then 1 - exp(-mu), a per-centre tone curve, heel-effect gradient, blur, noise and quantisation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage
from skimage.draw import disk, polygon

from ramkit import anatomy
from ramkit.joints import square_box
from ramkit.synth.geometry import HandAnatomy, HandGeometry, Pose, build_hand, draw_anatomy, rot

#: (height, width, mm per pixel) of hand radiographs and wrist crops per size.
SIZES: dict[str, dict[str, tuple[int, int, float]]] = {
    "small": {"hand": (432, 320, anatomy.H1200_SPACING_MM * 4), "wrist": (160, 160, 90.0 / 160)},
    "medium": {"hand": (864, 640, anatomy.H1200_SPACING_MM * 2), "wrist": (300, 300, 90.0 / 300)},
    "full": {"hand": (1720, 1280, anatomy.H1200_SPACING_MM), "wrist": (600, 600, anatomy.W600_SPACING_MM)},
}

#: Per-centre acquisition differences: tone-curve gamma, black and white level, noise sd, bit depth.
CENTER_STYLE: dict[str, tuple[float, float, float, float, int]] = {
    "HMCRD": (0.85, 0.05, 0.97, 0.010, 8),
    "SCGH": (1.00, 0.08, 0.95, 0.016, 8),
    "SARC": (0.78, 0.03, 0.99, 0.008, 7),
    "HU1": (1.12, 0.10, 0.93, 0.020, 6),
    "HU2": (0.95, 0.06, 0.96, 0.012, 8),
    "HU3": (0.90, 0.07, 0.98, 0.018, 7),
}
assert set(CENTER_STYLE) == set(anatomy.H1200_CENTERS)
WRIST_STYLE = (0.85, 0.09, 0.98, 0.012, 8)


@dataclass
class HandDrawing:
    """Everything drawn for one radiograph (hand or wrist crop), in the orientation it is stored."""

    image: np.ndarray  # uint8 H×W
    bones: np.ndarray  # uint8 30×H×W, anatomy.HAND_BONES order
    be: np.ndarray  # uint8 3×H×W, anatomy.BE_CATEGORIES order
    objects: np.ndarray  # uint8 3×H×W, anatomy.NON_BONE_OBJECTS order
    be_scores: dict[str, int]  # BE joint stem -> raw score
    jsn_scores: dict[str, int]  # JSN joint stem -> raw score
    be_boxes: dict[str, tuple[int, int, int, int]]  # stem -> (x, y, w, h) pixels
    jsn_boxes: dict[str, tuple[int, int, int, int]]
    spacing_mm: float
    bone_parts: dict[str, list[np.ndarray]] = field(default_factory=dict)  # one mask per COCO annotation
    lesion_parts: list[tuple[str, np.ndarray]] = field(default_factory=list)
    lesion_joints: list[str | None] = field(default_factory=list)  # BE joint stem each lesion part counts for
    lesion_bones: list[str] = field(default_factory=list)  # bone each lesion part was removed from
    object_parts: list[tuple[str, np.ndarray]] = field(default_factory=list)
    values: dict[str, float] = field(default_factory=dict)  # "be:<stem>" eroded fraction, "jsn:<stem>" gap ratio

    @property
    def wrist_masks(self) -> np.ndarray:
        """uint8 14×H×W masks in ``anatomy.WRIST_BONES`` order (from the hand channels)."""
        idx = [anatomy.HAND_BONES.index(anatomy.WRIST_TO_HAND[w]) for w in anatomy.WRIST_BONES]
        return self.bones[idx]

    @property
    def wrist_scores(self) -> dict[str, int]:
        """Raw BE scores of the 6 RAM-W600 joints."""
        from ramkit.synth.geometry import W600_TO_BE

        return {j.stem: self.be_scores[W600_TO_BE[j.stem]] for j in anatomy.W600_JOINTS}

    @property
    def wrist_boxes(self) -> dict[str, tuple[int, int, int, int]]:
        from ramkit.synth.geometry import W600_TO_BE

        return {j.stem: self.be_boxes[W600_TO_BE[j.stem]] for j in anatomy.W600_JOINTS}


# --------------------------------------------------------------------------------------------------
def _raster(poly_px: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    m = np.zeros(shape, bool)
    rr, cc = polygon(poly_px[:, 1], poly_px[:, 0], shape)
    m[rr, cc] = True
    return m


def _bbox(mask: np.ndarray, pad: int, shape) -> tuple[slice, slice] | None:
    rows = np.flatnonzero(mask.any(1))
    if len(rows) == 0:
        return None
    cols = np.flatnonzero(mask.any(0))
    r0, r1 = max(rows[0] - pad, 0), min(rows[-1] + pad + 1, shape[0])
    c0, c1 = max(cols[0] - pad, 0), min(cols[-1] + pad + 1, shape[1])
    return slice(r0, r1), slice(c0, c1)


def _bandpass(rng: np.random.Generator, shape, sp: float, lo_mm: float, hi_mm: float) -> np.ndarray:
    n = rng.standard_normal(shape).astype(np.float32)
    a = ndimage.gaussian_filter(n, max(lo_mm / sp, 0.3))
    b = ndimage.gaussian_filter(n, max(hi_mm / sp, 0.6))
    t = a - b
    return t / (t.std() + 1e-6)


def _add_lip(a: np.ndarray, b: np.ndarray, sp: float, rng: np.random.Generator) -> None:
    """Make bone mask ``a`` overlap ``b`` (in place) with a small bump at one end of their facing zone.

    Real PA projections show the 14 overlap pairs overlapping (dorsal/palmar lips); the phantom keeps a joint
    gap at the centre of each interface and adds the overlap towards one end of it.
    """
    sl = _bbox(a | b, 4, a.shape)
    if sl is None or not b.any() or not a.any():
        return
    ac, bc = a[sl], b[sl]
    da = ndimage.distance_transform_edt(~ac)
    dmin = da[bc].min()
    zone = bc & (da <= dmin + max(2.5, 1.5 / sp))
    ys, xs = np.nonzero(zone)
    pts = np.stack([xs, ys], 1).astype(float)
    c = pts.mean(0)
    if len(pts) > 2:
        cov = np.cov((pts - c).T)
        v = np.linalg.eigh(cov)[1][:, -1]
    else:
        v = np.array([1.0, 0.0])
    proj = (pts - c) @ v
    k = int(np.argmax(proj) if rng.random() < 0.5 else np.argmin(proj))
    px, py = pts[k]
    radius = da[int(py), int(px)] + max(1.5, 0.8 / sp)
    rr, cc = disk((py, px), radius, shape=ac.shape)
    lip = np.zeros_like(ac)
    lip[rr, cc] = True
    lip &= da <= radius
    ac |= lip


def _overlap_lips(masks: dict, full_masks: dict, bitten: dict, sp: float, rng: np.random.Generator) -> bool:
    """Fallback: a lip (:func:`_add_lip`) for each of ``anatomy.OVERLAP_PAIRS`` whose masks do not overlap (in
    place, outside the first bone's bites); True when one was added."""
    added = False
    for a, b in anatomy.OVERLAP_PAIRS:
        if masks[a].any() and masks[b].any() and not (masks[a] & masks[b]).any():
            before = masks[a].copy()
            _add_lip(masks[a], masks[b], sp, rng)
            if a in bitten:
                masks[a] &= ~bitten[a] | before
            full_masks[a] |= masks[a]
            added = True
    return added


def _clean_masks(masks: dict, full_masks: dict, bite_px: dict) -> None:
    """Make every bone mask one solid body (in place): fill unlabelled holes, drop stray fragments.

    A hole (pixels enclosed by the bone that are neither bone nor one of its lesions, e.g. where a lip wrapped
    round) is filled in the label and in the drawn bone. A fragment (any component but the largest; the
    sesamoids keep every component of ``labels.SESAMOID_MIN_PX`` or more) that touches one of the bone's lesions
    was cut off by that bite: it joins the lesion (its attenuation is removed with it); any other fragment
    (a rasterised sliver) is removed from the label and from the drawn bone. Works on the bone's bounding box.
    """
    for name, m in masks.items():
        les_list = [x for x, _ in bite_px.get(name, [])]
        sl = _bbox(np.any([m, *les_list], axis=0) if les_list else m, 2, m.shape)
        if sl is None:
            continue
        crop_les = [x[sl] for x in les_list]  # views: edits reach the lesion masks
        for _ in range(4):  # dropping a diagonal sliver can open a hole, filling one can join a sliver
            if not _clean_once(name, m[sl], full_masks[name][sl], crop_les):
                break


def _clean_once(name: str, m: np.ndarray, full: np.ndarray, les_list: list) -> bool:
    """One fill-then-drop pass of :func:`_clean_masks` on views of one bone; True when it changed something."""
    from ramkit.synth.labels import bone_holes, fragment_ids

    if not m.any():
        return False
    changed = False
    holes = bone_holes(m, np.any(les_list, axis=0) if les_list else None)
    if holes.any():
        m |= holes
        full |= holes
        changed = True
    lab, n = ndimage.label(m)
    if n > 1:
        # (sesamoid slivers cut by the wrist crop's edge are all dropped)
        for k in fragment_ids(np.bincount(lab.ravel())[1:], name):
            frag = lab == k + 1
            m &= ~frag
            changed = True
            touching = [x for x in les_list if (ndimage.binary_dilation(frag) & x).any()]
            if touching:
                touching[0] |= frag
            else:
                full &= ~frag
    return changed


def draw_hand(
    rng: np.random.Generator,
    anat: HandAnatomy | None = None,
    pose: Pose | None = None,
    progress: float = 1.0,
    size: str = "small",
    view: str = "hand",
    center: str = "HMCRD",
    objects: bool = True,
    width_jitter: bool = True,
) -> HandDrawing:
    """Draw one phantom radiograph in right-hand orientation.

    ``rng`` drives everything visit-specific (pose when not given, canvas, objects, noise); ``anat`` (drawn
    from ``rng`` when None) fixes the patient's anatomy and disease; ``progress`` in [0, 1] is the visit's
    place in the patient's follow-up (disease grows monotonically with it). ``view`` is ``"hand"`` (a whole
    RAM-H1200 radiograph) or ``"wrist"`` (a RAM-W600-style carpal crop). ``center`` picks the acquisition
    style (``anatomy.H1200_CENTERS``).
    """
    if size not in SIZES:
        raise ValueError(f"size must be one of {sorted(SIZES)}, got {size!r}")
    if anat is None:
        anat = draw_anatomy(rng)
    if pose is None:
        pose = Pose.draw(rng)
    H, W, sp = SIZES[size][view]
    if view == "hand" and width_jitter:
        W = int(W + {"small": 16, "medium": 32}.get(size, 64) * int(rng.integers(-1, 2)))
    geo = build_hand(anat, pose, progress, wrist_view=(view == "wrist"))
    # hand frame (mm) -> pixel (x=col, y=row)
    if view == "hand":
        origin_px = np.array([0.53 * W, 0.67 * H]) + rng.normal(0, 0.01, 2) * np.array([W, H])
        view_c = pose.shift
        origin_px = _fit_canvas(geo, (origin_px - view_c / sp), sp, W, H) + view_c / sp
    else:
        origin_px = np.array([W / 2, H / 2])
        view_c = pose.shift + rot(pose.rotation) @ np.array([-3.0, 3.0]) * anat.scale + rng.normal(0, 2.0, 2)

    def to_px(pts: np.ndarray) -> np.ndarray:
        return (pts - view_c) / sp + origin_px

    shape = (H, W)
    masks: dict[str, np.ndarray] = {}
    parts: dict[str, list[np.ndarray]] = {}
    for name, bone in geo.bones.items():
        m = _raster(to_px(bone.outline), shape)
        masks[name] = m
        parts[name] = [m]
    for extra in geo.overlap_hints.get("extra_sesamoids", []):
        m = _raster(to_px(extra), shape)
        if m.any():
            masks["Sesamoid"] = masks["Sesamoid"] | m
            parts["Sesamoid"].append(m)
    # erosion bites: removed from their own bone; the lesion mask is what was removed
    full_masks = {k: v.copy() for k, v in masks.items()}
    bite_px: dict[str, list[tuple[np.ndarray, float]]] = {}
    lesion_parts: list[tuple[str, np.ndarray]] = []
    lesion_joints: list[str | None] = []
    lesion_bones: list[str] = []
    for bt in geo.bites:
        bone = geo.bones[bt.bone]
        d = np.zeros(shape, bool)
        for centre, radius in bt.discs():
            c = to_px(bone.to_hand(centre[None]))[0]
            rr, cc = disk((c[1], c[0]), radius * anat.scale / sp, shape=shape)
            d[rr, cc] = True
        les = d & full_masks[bt.bone]
        if not les.any():
            continue
        masks[bt.bone] &= ~les
        bite_px.setdefault(bt.bone, []).append((les, bt.clarity))
        lesion_parts.append((bt.category, les))
        lesion_joints.append(bt.joint)
        lesion_bones.append(bt.bone)
    # the 14 overlap pairs overlap in a PA projection (the carpus templates overlap by construction): add a small
    # lip only where the drawn masks do not; again after the cleaning, which can drop a thin rasterised overlap
    bitten = {k: np.any([m for m, _ in v], axis=0) for k, v in bite_px.items()}
    _overlap_lips(masks, full_masks, bitten, sp, rng)
    _clean_masks(masks, full_masks, bite_px)
    if _overlap_lips(masks, full_masks, bitten, sp, rng):
        _clean_masks(masks, full_masks, bite_px)
    for name in parts:
        if len(parts[name]) == 1:
            parts[name] = [masks[name]]
        else:
            parts[name] = [p & masks[name] for p in parts[name] if (p & masks[name]).any()]
    # soft tissue silhouette
    soft = _soft_tissue(masks, geo, to_px, sp, shape)
    masks["SoftTissue"] = soft
    parts["SoftTissue"] = [soft]
    # sometimes split a bone into two annotations (readers must unite them)
    for name in list(parts):
        if len(parts[name]) == 1 and masks[name].sum() > 40 and rng.random() < 0.12:
            m = masks[name]
            ys, xs = np.nonzero(m)
            cut = np.median(ys)
            upper = np.zeros_like(m)
            upper[: int(cut)] = True
            parts[name] = [m & upper, m & ~upper]
    # non-bone objects
    obj_parts: list[tuple[str, np.ndarray, float]] = []
    if objects:
        obj_parts = _objects(geo, to_px, rng, shape, sp)

    inner: dict[str, list[tuple[np.ndarray, float, float]]] = {}  # inner contours (pisiform, hook of hamate)
    for bone_name, poly, chord, rim in geo.overlap_hints.get("rings", []):
        ring = _raster(to_px(geo.bones[bone_name].to_hand(poly)), shape)
        if ring.any():
            inner.setdefault(bone_name, []).append((ring, chord, rim))
    image, bar = _form_image(
        np.random.default_rng(rng.integers(2**63)),
        full_masks,
        bite_px,
        soft,
        obj_parts,
        geo,
        sp,
        shape,
        CENTER_STYLE[center] if view == "hand" else WRIST_STYLE,
        _porosis_map(geo, to_px, sp, shape),
        inner,
    )

    bones = np.zeros((len(anatomy.HAND_BONES), H, W), np.uint8)
    for k, name in enumerate(anatomy.HAND_BONES):
        bones[k] = masks[name]
    be = np.zeros((3, H, W), np.uint8)
    for cat, m in lesion_parts:
        be[anatomy.BE_CATEGORIES.index(cat)] |= m
    obj = np.zeros((len(anatomy.NON_BONE_OBJECTS), H, W), np.uint8)
    for cat, m, _ in obj_parts:
        obj[anatomy.NON_BONE_OBJECTS.index(cat)] |= m

    if bar:  # nothing is labelled under the padding bar
        for arr in [bones, be, obj] + [p for v in parts.values() for p in v]:
            arr[..., :bar, :] = 0
        for _, m in lesion_parts:
            m[:bar] = False
        for _, m, _ in obj_parts:
            m[:bar] = False
        _drop_sesamoid_slivers(bones, parts)
    be_scores, jsn_scores, be_boxes, jsn_boxes, values = {}, {}, {}, {}, {}
    scored: dict[str, np.ndarray] = {}
    for (_, les), joint in zip(lesion_parts, lesion_joints, strict=True):
        if joint is not None:
            scored[joint] = scored[joint] | les if joint in scored else les.copy()
    for j in geo.joints:
        c = to_px(j.center[None])[0]
        side = j.side_mm / sp
        box = square_box(c, side, W, H)
        if j.kind == "be" and j.score > 0 and j.stem in scored:
            box = _box_holding(box, scored[j.stem], W, H)
        if j.kind == "be":
            be_scores[j.stem], be_boxes[j.stem] = j.score, box
        else:
            jsn_scores[j.stem], jsn_boxes[j.stem] = j.score, box
        values[f"{j.kind}:{j.stem}"] = j.value
    return HandDrawing(
        image=image,
        bones=bones,
        be=be,
        objects=obj,
        be_scores=be_scores,
        jsn_scores=jsn_scores,
        be_boxes=be_boxes,
        jsn_boxes=jsn_boxes,
        spacing_mm=sp,
        bone_parts={k: [p.astype(np.uint8) for p in v] for k, v in parts.items()},
        lesion_parts=[(c, m.astype(np.uint8)) for c, m in lesion_parts],
        lesion_joints=lesion_joints,
        lesion_bones=lesion_bones,
        object_parts=[(c, m.astype(np.uint8)) for c, m, _ in obj_parts],
        values=values,
    )


def _drop_sesamoid_slivers(bones: np.ndarray, parts: dict[str, list[np.ndarray]]) -> None:
    """Remove from the Sesamoid label the pieces the padding bar left below ``labels.SESAMOID_MIN_PX`` (a sesamoid
    near the top edge of a wrist crop cut by the bar), in place."""
    from ramkit.synth.labels import fragment_ids

    k = anatomy.HAND_BONES.index("Sesamoid")
    lab, n = ndimage.label(bones[k])
    if n == 0:
        return
    small = np.isin(lab, 1 + fragment_ids(np.bincount(lab.ravel())[1:], "Sesamoid"))
    if small.any():
        bones[k][small] = 0
        for p in parts.get("Sesamoid", []):
            p[small] = False


def _box_holding(box: tuple[int, int, int, int], les: np.ndarray, W: int, H: int) -> tuple[int, int, int, int]:
    """``box`` shifted (and, only if shifting cannot do it, enlarged) so that it holds every pixel of ``les``."""
    x, y, s, _ = box
    rows, cols = np.flatnonzero(les.any(1)), np.flatnonzero(les.any(0))
    if len(rows) == 0:
        return box
    r0, r1, c0, c1 = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    if c0 >= x and c1 <= x + s and r0 >= y and r1 <= y + s:
        return box
    s = max(s, c1 - c0 + 2, r1 - r0 + 2)
    nx = min(max(x, c1 + 1 - s), c0 - 1)
    ny = min(max(y, r1 + 1 - s), r0 - 1)
    return square_box(np.array([nx + s / 2, ny + s / 2]), s, W, H)


def _soft_tissue(masks, geo: HandGeometry, to_px, sp: float, shape) -> np.ndarray:
    """Smooth hand/forearm silhouette: bones dilated by a few mm, the palm hull and a wider forearm."""
    from scipy.spatial import ConvexHull

    bones_union = np.zeros(shape, bool)
    for name in anatomy.HAND_BONES:
        if name in masks and name != "SoftTissue":
            bones_union |= masks[name]
    if not bones_union.any():
        return bones_union
    dist = ndimage.distance_transform_edt(~bones_union) * sp
    soft = dist < 4.5
    pts = np.concatenate(
        [
            geo.bones[n].outline
            for n in (
                "MC1",
                "MC2",
                "MC3",
                "MC4",
                "MC5",
                "Capitate",
                "Hamate",
                "Trapezium",
                "Scaphoid",
                "Pisifrom_Triquetrum",
                "Lunate",
            )
        ]
    )
    hull = to_px(pts[ConvexHull(pts).vertices])
    palm = _raster(hull, shape)
    soft |= ndimage.distance_transform_edt(~palm) * sp < 3.0
    fore = masks["Radius"] | masks["Ulna"]
    if fore.any():
        soft |= ndimage.distance_transform_edt(~fore) * sp < 8.0
    sm = ndimage.gaussian_filter(soft.astype(np.float32), max(2.0 / sp, 0.8))
    return sm > 0.5


def _objects(geo: HandGeometry, to_px, rng: np.random.Generator, shape, sp: float):
    """Occasional ring, metal implant or intravenous cannula: (category, mask, attenuation per mm)."""
    ring, implant, cannula = anatomy.NON_BONE_OBJECTS[2], anatomy.NON_BONE_OBJECTS[1], anatomy.NON_BONE_OBJECTS[0]
    assert ring == "Ring" and implant == "Metal Implant" and cannula == "Intravenous cannula"
    out = []
    if rng.random() < 0.12:
        f = int(rng.choice([3, 4, 4, 5]))
        pp = geo.bones[f"PP{f}"]
        L = pp.local[:, 1].max()
        hw = np.abs(pp.local[:, 0]).max() * 0.62 + 4.8
        s0 = L * rng.uniform(0.25, 0.45)
        poly = np.array([[-hw, s0], [hw, s0], [hw, s0 + 2.6], [-hw, s0 + 2.6]])
        out.append((ring, to_px(pp.to_hand(poly)), 3.5))
    if rng.random() < 0.06:
        rad = geo.bones["Radius"]
        y0 = rng.uniform(22, 35)
        plate = np.array([[-4.5, y0], [4.5, y0], [4.0, y0 + 45], [-4.0, y0 + 45]])
        out.append((implant, to_px(rad.to_hand(plate)), 3.0))
        for k in range(3):
            yy = y0 + 8 + 13 * k
            screw = np.array([[-9.0, yy], [9.0, yy], [9.0, yy + 2.2], [-9.0, yy + 2.2]])
            out.append((implant, to_px(rad.to_hand(screw)), 3.0))
    if rng.random() < 0.08:
        c = geo.bones[f"MC{int(rng.integers(2, 5))}"].to_hand(np.array([[0.0, 20.0]]))[0]
        ang = rng.uniform(-0.6, 0.6)
        R = rot(ang)
        tube = np.array([[-0.7, -18], [0.7, -18], [0.7, 18], [-0.7, 18]]) @ R.T + c
        hub = np.array([[-3.0, 18], [3.0, 18], [3.0, 29], [-3.0, 29]]) @ R.T + c
        out.append((cannula, to_px(tube), 1.6))
        out.append((cannula, to_px(hub), 0.9))
    result = []
    for cat, poly, dens in out:
        m = _raster(poly, shape)
        if m.sum() >= 3:
            result.append((cat, m, dens))
    return result


@dataclass
class Acquisition:
    """Per-radiograph exposure and processing, drawn from wide ranges (``Acquisition.draw``).

    ``k_mu``: attenuation scale of 1 - exp(-k·μ) (exposure / kVp); ``gamma``, ``lo``, ``hi``: tone curve and
    window (black / white level); ``heel``: relative intensity gradient (anode-heel effect) along y and x;
    ``soft``: soft-tissue attenuation; ``usm``: unsharp-mask layers (sigma mm, amount) — processed radiographs
    enhance edges at several scales, which leaves halos; ``blur_mm``: system blur; ``noise``: noise sd (0..1
    units) and its correlation length (mm); ``bits``: quantisation; ``bar``/``collimation``/``marker``: padding
    bar height (mm, 0 = none), collimation edge (side, depth mm, level; side -1 = none), L/R marker corner (-1 =
    none).
    """

    k_mu: float
    gamma: float
    lo: float
    hi: float
    heel: tuple[float, float]
    soft: float
    soft_tex: float
    usm: tuple[tuple[float, float], ...]
    blur_mm: float
    noise: tuple[float, float]
    bits: int
    bar: float
    collimation: tuple[int, float, float]
    marker: int

    @staticmethod
    def draw(rng: np.random.Generator, style: tuple[float, float, float, float, int]) -> Acquisition:
        """Draw around a centre's ``style`` (gamma, black, white, noise sd, bits) with wide per-image spread."""
        gamma, lo, hi, noise_sd, bits = style
        u = rng.uniform
        return Acquisition(
            k_mu=float(u(1.05, 1.5)),
            gamma=float(gamma * np.exp(rng.normal(0, 0.18))),
            lo=float(np.clip(lo + rng.normal(0, 0.04), 0.0, 0.2)),
            hi=float(np.clip(hi + rng.normal(0, 0.03), 0.82, 1.0)),
            heel=(float(rng.normal(0, 0.08)), float(rng.normal(0, 0.04))),
            soft=float(u(0.3, 0.6)),
            soft_tex=float(u(0.06, 0.16)),
            usm=((float(u(2.0, 6.0)), float(u(0.15, 0.8))), (float(u(0.5, 1.0)), float(u(0.0, 0.15)))),
            blur_mm=float(u(0.16, 0.26)),
            noise=(float(noise_sd * u(0.5, 0.95)), float(u(0.05, 0.13))),
            bits=bits,
            bar=float(u(0.8, 3.5)) if rng.random() < 0.3 else 0.0,
            collimation=(int(rng.integers(4)), float(u(1.0, 8.0)), float(u(0.1, 0.9)))
            if rng.random() < 0.3
            else (-1, 0.0, 0.0),
            marker=int(rng.integers(4)) if rng.random() < 0.5 else -1,
        )


def _trabecular(rng: np.random.Generator, shape, sp: float) -> np.ndarray:
    """Unit-sd trabecular texture: band-pass noise (0.2-0.8 mm) elongated along the bone axis (y) plus an
    isotropic part, so struts run mostly longitudinally as in the radius and the tubular bones."""
    n = rng.standard_normal(shape).astype(np.float32)
    along = ndimage.gaussian_filter(n, (max(0.7 / sp, 0.5), max(0.22 / sp, 0.3)))
    along -= ndimage.gaussian_filter(n, max(1.6 / sp, 0.8))
    iso = _bandpass(rng, shape, sp, 0.2, 0.8)
    t = 0.7 * along / (along.std() + 1e-6) + 0.5 * iso
    return t / (t.std() + 1e-6)


def _fit_canvas(geo: HandGeometry, origin: np.ndarray, sp: float, W: int, H: int, margin_mm: float = 6.0):
    """``origin`` (pixel position of the hand frame's origin) moved as little as possible so that every bone —
    the radius and ulna only down to 25 mm below their distal end: the forearm may leave the image — lies at
    least ``margin_mm`` inside the canvas (rotated, spread hands must not be cut off)."""
    pts = []
    for name, b in geo.bones.items():
        loc = b.local if name not in ("Radius", "Ulna") else b.local[b.local[:, 1] < b.local[:, 1].min() + 25.0]
        pts.append(b.to_hand(loc))
    p = np.concatenate(pts) / sp + origin
    m = margin_mm / sp
    shift = np.zeros(2)
    for k, size in ((0, W), (1, H)):
        lo, hi = p[:, k].min() - m, p[:, k].max() + m
        if hi - lo > size:  # cannot fit: centre it
            shift[k] = (size - hi - lo) / 2
        elif lo < 0:
            shift[k] = -lo
        elif hi > size:
            shift[k] = size - hi
    return origin + shift


def _porosis_map(geo: HandGeometry, to_px, sp: float, shape) -> np.ndarray:
    """Marrow density factor per pixel (1 = normal): the patient's osteopenia and, around affected finger
    joints, periarticular osteopenia (a Gaussian spot of the joint's radius and depth)."""
    out = np.full(shape, 1.0 - geo.porosis[0], np.float32)
    H, W = shape
    for c_mm, r_mm, depth in geo.periarticular:
        c = to_px(np.asarray(c_mm)[None])[0]
        r = r_mm / sp
        r0, r1 = max(int(c[1] - 3 * r), 0), min(int(c[1] + 3 * r) + 1, H)
        c0, c1 = max(int(c[0] - 3 * r), 0), min(int(c[0] + 3 * r) + 1, W)
        if r0 >= r1 or c0 >= c1:
            continue
        yy, xx = np.mgrid[r0:r1, c0:c1]
        out[r0:r1, c0:c1] -= depth * np.exp(-((xx - c[0]) ** 2 + (yy - c[1]) ** 2) / (2 * r**2))
    return np.clip(out, 0.35, 1.0)


def _bone_attenuation(name, m, sl, geo, sp, tex, cortex_mod, bite_px, rng, poro, inner=()) -> np.ndarray:
    """Attenuation of one bone in its bounding box: marrow chord term with texture (times the osteopenia map
    ``poro``) plus a cortical shell whose thickness and brightness vary along the outline (thinner with the
    patient's osteopenia); ``inner`` contours (full-image masks, chord and rim weights: the pisiform over the
    triquetrum, the hook of hamate) add their own chord and cortical ring inside the bone without changing its
    label; erosion bites and cysts remove it (fully or by their clarity)."""
    mc = m[sl]
    d = ndimage.distance_transform_edt(mc) * sp
    half = max(float(d.max()), 1e-3)
    dens = geo.bones[name].density * rng.uniform(0.9, 1.1)
    chord = np.sqrt(np.clip(d / half, 0, 1)) * poro[sl]
    thick = rng.uniform(0.45, 1.1) * (1 + 0.35 * cortex_mod[sl]) * geo.porosis[1]
    thick = np.clip(np.minimum(thick, 0.3 * half + 0.25), 0.2 * geo.porosis[1], None)
    rim = np.exp(-np.maximum(d - sp * 0.5, 0) / thick) * (0.6 + 0.4 * poro[sl])
    att = dens * (0.5 * chord * (1 + 0.09 * tex[sl]) + rng.uniform(0.5, 0.85) * rim * (1 + 0.04 * tex[sl])) * mc
    for ring, chord_w, rim_w in inner:
        rc = ring[sl] & mc
        if rc.any():
            dr = ndimage.distance_transform_edt(rc) * sp
            hr = max(float(dr.max()), 1e-3)
            ring_rim = np.exp(-np.maximum(dr - sp * 0.5, 0) / 0.45)
            att = att + dens * (chord_w * np.sqrt(np.clip(dr / hr, 0, 1)) + rim_w * ring_rim) * rc
    for les, clarity in bite_px.get(name, []):
        soft_les = ndimage.gaussian_filter(les[sl].astype(np.float32), 0.5)
        att = att * (1 - clarity * np.clip(soft_les * 1.4, 0, 1))
    return att.astype(np.float32)


def _form_image(
    rng, masks, bite_px, soft, obj_parts, geo, sp, shape, style, poro, inner=None
) -> tuple[np.ndarray, int]:
    """X-ray-like 8-bit image from the (un-eroded) bone masks, the bites, soft tissue, objects, the osteopenia
    map ``poro`` and the inner contours of bones (``inner``: bone -> [(mask, chord, rim)]), and the height (rows)
    of its padding bar (0 = none)."""
    inner = inner or {}
    acq = Acquisition.draw(rng, style)
    H, W = shape
    tex = _trabecular(rng, shape, sp)
    cortex_mod = _bandpass(rng, shape, sp, 2.0, 8.0)
    mu = np.zeros(shape, np.float32)
    if soft.any():  # soft tissue: rounded cross-section with slow thickness variation
        ds = ndimage.distance_transform_edt(soft) * sp
        mu += (
            acq.soft
            * np.sqrt(np.clip(ds / 12.0, 0, 1)).astype(np.float32)
            * (1 + 0.05 * _bandpass(rng, shape, sp, 6, 25) + acq.soft_tex * _bandpass(rng, shape, sp, 1.5, 8))
        )
    for name in anatomy.HAND_BONES:
        if name == "SoftTissue" or name not in masks:
            continue
        sl = _bbox(masks[name], 2, shape)
        if sl is not None:
            mu[sl] += _bone_attenuation(
                name, masks[name], sl, geo, sp, tex, cortex_mod, bite_px, rng, poro, inner.get(name, ())
            )
    for _, m, dens in obj_parts:
        mu += dens * m
    intensity = 1 - np.exp(-acq.k_mu * mu)
    yy = np.linspace(-1, 1, H, dtype=np.float32)[:, None]
    xx = np.linspace(-1, 1, W, dtype=np.float32)[None, :]
    intensity = intensity * (1 + acq.heel[0] * yy + acq.heel[1] * xx) + 0.03 * (1 + yy) * abs(acq.heel[0])
    intensity = np.clip(intensity / 0.92, 0, 1) ** acq.gamma
    v = ndimage.gaussian_filter(intensity, max(acq.blur_mm / sp, 0.4))
    for sigma_mm, amount in acq.usm:  # multi-scale unsharp masking (edge enhancement with halos)
        v = v + amount * (v - ndimage.gaussian_filter(v, max(sigma_mm / sp, 0.7)))
    v = acq.lo + (acq.hi - acq.lo) * v
    noise = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), max(acq.noise[1] / sp, 0.3))
    noise /= noise.std() + 1e-6
    v = v + noise * acq.noise[0] * (0.35 + 1.6 * np.clip(v, 0, 1))  # fewer photons behind bone: noisier
    v = _acquisition_marks(v, acq, sp, rng)
    levels = 2**acq.bits - 1
    v = np.round(np.clip(v, 0, 1) * levels) / levels
    return np.round(v * 255).astype(np.uint8), (max(int(acq.bar / sp), 1) if acq.bar > 0 else 0)


def _acquisition_marks(v: np.ndarray, acq: Acquisition, sp: float, rng: np.random.Generator) -> np.ndarray:
    """Collimation edge (a shaded band along one side), an L/R lead marker in a corner, a black padding bar."""
    H, W = v.shape
    side, depth, level = acq.collimation
    if side >= 0:
        n = max(int(depth / sp), 1)
        band = (slice(0, n), slice(None)) if side == 0 else (slice(None), slice(0, n))
        if side == 2:
            band = (slice(H - n, H), slice(None))
        elif side == 3:
            band = (slice(None), slice(W - n, W))
        v[band] = 0.6 * v[band] + 0.4 * level
    if acq.marker >= 0:
        s = max(int(6.0 / sp), 4)
        r0 = int(0.04 * H) if acq.marker < 2 else H - s - int(0.04 * H)
        c0 = int(0.04 * W) if acq.marker % 2 == 0 else W - s - int(0.04 * W)
        box = np.zeros((s, s), bool)
        t = max(s // 5, 1)
        box[:, :t] = True  # an "L"-like lead letter: bright, sharp
        box[-t:, :] = True
        if rng.random() < 0.5:
            box = box[:, ::-1]
        v[r0 : r0 + s, c0 : c0 + s][box] = 0.97
    if acq.bar > 0:  # padding bar: no anatomy is visible (or labelled) under it
        v[: max(int(acq.bar / sp), 1)] = 0.0
    return v
