"""In-memory stand-ins for the H1200/W600 readers (same sample methods), for trainer tests without files."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ramkit import anatomy


def _disc(h: int, w: int, cy: float, cx: float, r: float) -> np.ndarray:
    yy, xx = np.mgrid[:h, :w]
    return ((yy - cy) ** 2 + (xx - cx) ** 2) <= r * r


@dataclass
class FakeSeg:
    stem: str
    img: np.ndarray
    masks_: np.ndarray
    label: np.ndarray
    side: str = "R"

    def image(self, orient=False):
        return self.img

    def bones(self):
        return self.masks_

    def masks(self, orient=False):
        return self.masks_

    def be(self, protocol="svdh90"):
        return self.label


@dataclass
class FakeScore:
    hand: str
    joint: anatomy.Joint
    score: int
    img: np.ndarray
    side: str = "R"
    path: str = "fake.bmp"

    def image(self, orient=False):
        return self.img


class FakeDataset:
    """A reader double: ``seg(split)``, ``scores(kind, split)`` / ``scores(split)``, ``splits()``."""

    def __init__(self, n_channels: int = 30, n: int = 4, size: int = 48, seed: int = 0, w600: bool = False):
        rng = np.random.default_rng(seed)
        self.w600 = w600
        self._seg, self._scores = {}, {}
        for split in ("train", "val", "test"):
            segs, scores = [], []
            for i in range(n):
                h, w = size, size + 8
                masks = np.zeros((n_channels, h, w), np.uint8)
                img = rng.normal(40, 5, (h, w))
                for c in range(n_channels):
                    cy, cx, r = rng.uniform(8, h - 8), rng.uniform(8, w - 8), rng.uniform(3, 7)
                    m = _disc(h, w, cy, cx, r)
                    masks[c][m] = 1
                    img[m] += 60
                label = (masks[0] > 0).astype(np.uint8)
                segs.append(FakeSeg(f"{split}_{i}", np.clip(img, 0, 255).astype(np.uint8), masks, label))
                kind = "w600" if w600 else "jsn"
                for j in anatomy.JOINTS[kind][:3]:
                    s = int(rng.choice((0, 1, 2, 3)))  # valid for BE, JSN and W600
                    roi = np.clip(rng.normal(30 + 40 * s, 5, (24, 24)), 0, 255).astype(np.uint8)
                    scores.append(FakeScore(f"{split}_{i}", j, s, roi))
            self._seg[split], self._scores[split] = segs, scores

    @property
    def splits(self):
        return ("train", "val", "test")

    def seg(self, split, be_protocol="svdh90"):
        return self._seg[split]

    def scores(self, kind_or_split, split=None):
        return self._scores[split or kind_or_split]


#: tasks whose tiny test runs use a MobileNet (scoring / classification on ROI crops)
ROI_TASKS = ("hand-be-score", "hand-jsn-score", "wrist-be-cls")


def tiny_config(task: str, out, data: str = "unused", **kw):
    """The one-epoch tiny-model TrainConfig the trainer, report, export, analyze and MIL tests train with."""
    from ramkit.train import TrainConfig

    base: dict = dict(
        task=task,
        data=str(data),
        out=str(out),
        model_size="tiny",
        epochs=1,
        batch_size=2,
        patch_size=32,
        patches_per_image=2,
        tensorboard=False,
        threads=1,
        seed=3,
    )
    if task in ROI_TASKS:
        base.update(model="MobileNet", batch_size=4)
    base.update(kw)
    return TrainConfig(**base)
