"""Label-defect checks of a drawn radiograph (used by the tests and ``benchmarks/realism.py``).

Three defects make ground truth wrong rather than merely unrealistic (issue 11):

* **holes**: pixels enclosed by a bone mask (with the lesions removed from that bone) that are neither bone nor
  one of those lesions (they look like an erosion on a joint scored 0);
* **out-of-crop erosions**: lesion pixels of a *scored* erosion (a bite that counts for a BE joint with score > 0)
  outside that joint's ROI box, i.e. outside the crop that carries the score;
* **fragments**: small stray connected components of a bone mask (4-connectivity) beside the bone's main body
  (the two sesamoids at MCP1 are separate bones by design: any component >= ``SESAMOID_MIN_PX`` counts as one).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ramkit import anatomy

SESAMOID_MIN_PX = 12  #: smallest component of the Sesamoid mask that counts as a sesamoid, not a fragment


def bone_holes(mask: np.ndarray, lesion: np.ndarray | None = None) -> np.ndarray:
    """Pixels enclosed by ``mask`` that are not in it (nor in ``lesion``, a drawn erosion): a bool mask."""
    m = mask.astype(bool)
    covered = m if lesion is None else m | lesion.astype(bool)
    return ndimage.binary_fill_holes(covered) & ~covered


def fragment_ids(sizes: np.ndarray, name: str | None = None) -> np.ndarray:
    """Indices (0-based, into ``sizes``) of the components of bone ``name``'s mask that are fragments, not bone:
    every one but the largest; for the ``Sesamoid`` label (two separate bones by design) every one below
    ``SESAMOID_MIN_PX``. The one rule of the generator's label cleaning and of :func:`label_defects`."""
    if name == "Sesamoid":
        return np.flatnonzero(sizes < SESAMOID_MIN_PX)
    return np.flatnonzero(np.arange(len(sizes)) != int(np.argmax(sizes)))


def small_components(mask: np.ndarray, name: str | None = None) -> list[int]:
    """Sizes of the fragments (:func:`fragment_ids`) of ``mask`` when it has more than one component, largest
    first."""
    lab, n = ndimage.label(mask.astype(bool))
    if n <= 1:
        return []
    sizes = np.bincount(lab.ravel())[1:]
    return sorted((int(sizes[i]) for i in fragment_ids(sizes, name)), reverse=True)


def label_defects(d) -> dict[str, list]:
    """Defects of a :class:`~ramkit.synth.phantom.HandDrawing`: ``holes`` [(bone, px)], ``fragments`` [(bone, px)],
    ``out_of_crop`` [(joint, fraction of its scored lesion pixels outside the box)]."""
    own: dict[str, np.ndarray] = {}
    for (_, les), bone in zip(d.lesion_parts, d.lesion_bones, strict=True):
        own[bone] = own[bone] | les.astype(bool) if bone in own else les.astype(bool)
    holes, frags, out = [], [], []
    for k, name in enumerate(anatomy.HAND_BONES):
        m = d.bones[k].astype(bool)
        if name == "SoftTissue" or not m.any():
            continue
        h = int(bone_holes(m, own.get(name)).sum())
        if h:
            holes.append((name, h))
        for s in small_components(m, name):
            frags.append((name, s))
    per_joint: dict[str, np.ndarray] = {}
    for (_, les), joint in zip(d.lesion_parts, d.lesion_joints, strict=True):
        if joint is not None and d.be_scores.get(joint, 0) > 0:
            per_joint[joint] = per_joint.get(joint, np.zeros(les.shape, bool)) | les.astype(bool)
    for joint, les in per_joint.items():
        x, y, w, h = d.be_boxes[joint]
        total = int(les.sum())
        inside = int(les[y : y + h, x : x + w].sum())
        if total and inside < total:
            out.append((joint, 1.0 - inside / total))
    return {"holes": holes, "fragments": frags, "out_of_crop": out}
