"""Task ``total-svdh-mil``: a hand's total SvdH score by gated-attention multiple-instance learning (MIL).

Protocol (``shared/spec/TASKS.md``, the anatomy-aware MIL paper):

* **Bags.** Scheme 2 (default): the hand's joint patches — the release's BE (16) and JSN (15) ROI crops, each
  with its joint name and its position (box centre on the radiograph, from the joint-detection COCO files).
  Scheme 1: tiles of 1/10 of the radiograph's longer side on a regular grid, the top ``mil_tiles`` ranked by the
  patch classifier's abnormality probability.
* **Model** (:class:`ramkit.models.mil.MilNet`): a patch classifier normal/abnormal (a joint is abnormal when its
  BE or JSN score is > 0) is trained first (``mil_feature_epochs``, AdamW, cosine); truncated before its last
  layer it is the feature extractor, frozen (default: its features are computed once) or fine-tuned
  (``mil_finetune``); gated attention (tanh × sigmoid), dropout 0.1, linear regression head; MSE on totals
  standardised with the training mean/SD; SGD (momentum 0.9) with the run's LR / weight decay (paper: 1e-3, 1e-3).
* **Target** (``target``): ``total`` = BE + JSN of the hand, or ``be`` / ``jsn`` alone.

:func:`predict_bag` scores one bag given as patches, positions and joint names (``ramkit analyze`` can call it
with joint boxes it derives itself).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar

import numpy as np

from ramkit.errors import RamkitError, warn
from ramkit.tasks.base import TaskKind

T = TypeVar("T")

#: scheme-1 tile side as a fraction of the radiograph's longer side (the paper's 1/10)
TILE_FRACTION = 0.1
#: scheme-1 tiles whose mean intensity is below this multiple of the image's mean are background, never kept
#: (radiographs are mostly dark background, so the image mean lies between background and hand)
TILE_MIN_SIGNAL = 1.0


@dataclass
class Instance:
    """One patch of a bag: its pixels (lazy), name (joint stem or tile id), box (x, y, w, h) on the radiograph."""

    name: str
    image: Callable[[], np.ndarray]  #: () -> uint8 H×W
    box: tuple[float, float, float, float] | None
    abnormal: int = 0  #: per-joint label (score > 0) for the patch classifier; -1 = unknown (tiles)

    @property
    def position(self) -> tuple[float, float] | None:
        """(x, y) centre of the box, or None."""
        if self.box is None:
            return None
        x, y, w, h = self.box
        return (x + w / 2, y + h / 2)


def _constant(value: T) -> Callable[[], T]:
    """A lazy getter of an already computed value (the ``image`` / ``target`` callables of cases and instances)."""
    return lambda: value


def max_total(target: str) -> float:
    """The largest possible total of ``target`` (be: 16 × 5 = 80, jsn: 15 × 4 = 60, total: 140)."""
    from ramkit import anatomy

    kinds = ("be", "jsn") if target == "total" else (target,)
    return float(sum(len(anatomy.JOINTS[k]) * max(anatomy.SCORE_VALUES[k]) for k in kinds))


def clip_total(value: float, target: str) -> float:
    """A predicted total clipped to the valid range [0, :func:`max_total`] (the regression head is unbounded)."""
    return float(min(max(value, 0.0), max_total(target)))


# ---------------------------------------------------------------------------------------------------------------
# bag building
# ---------------------------------------------------------------------------------------------------------------
def _radiograph_path(ds, hand: str) -> Path | None:
    """The whole radiograph of ``hand`` in the release (``Segmentation/<split>/<hand>.bmp``), if present."""
    root = getattr(ds, "root", None)
    if root is None:
        return None
    for split in ("train", "val", "test"):
        p = Path(root) / "Segmentation" / split / f"{hand}.bmp"
        if p.is_file():
            return p
    return None


def _boxes(ds, kind: str, split: str) -> dict:
    try:
        return ds.joint_boxes(kind, split)
    except (AttributeError, RamkitError):
        return {}


def hand_cases(ds, split: str) -> list:
    """One case per hand scored in both BE and JSN: instances = its joint ROI crops; targets = the totals."""
    from ramkit.train.data import Case

    rows = {k: ds.scores(k, split) for k in ("be", "jsn")}
    boxes = {k: _boxes(ds, k, split) for k in ("be", "jsn")}
    hands: dict[str, dict] = {}
    for kind, rs in rows.items():
        for r in rs:
            h = hands.setdefault(r.hand, {"be": [], "jsn": []})
            box = boxes[kind].get(r.hand, {}).get(r.joint.stem)
            h[kind].append((r, box))
    out = []
    dropped = []
    for hand in sorted(hands):
        h = hands[hand]
        if not h["be"] or not h["jsn"]:
            dropped.append(hand)
            continue
        inst = [
            Instance(f"{kind.upper()}:{r.joint.stem}", partial(r.image, orient=True), box, int(r.score > 0))
            for kind in ("be", "jsn")
            for r, box in h[kind]
        ]
        totals = {k: float(sum(r.score for r, _ in h[k])) for k in ("be", "jsn")}
        totals["total"] = totals["be"] + totals["jsn"]
        radiograph = _radiograph_path(ds, hand)
        meta = {"hand": hand, "instances": inst, "totals": totals, "radiograph": radiograph}
        out.append(Case(hand, partial(_read, radiograph), _constant(totals["total"]), meta))
    if dropped:
        warn(f"{len(dropped)} hand(s) lack BE or JSN scores and are left out of the MIL bags (first: {dropped[0]})")
    return out


def _read(path: Path | None) -> np.ndarray:
    from ramkit.io.images import read_gray8

    if path is None:
        raise RamkitError("no whole radiograph for this hand (needed by MIL scheme 1 and attention maps)")
    return read_gray8(path)


def tiles(image: np.ndarray, fraction: float = TILE_FRACTION) -> list[Instance]:
    """Regular non-overlapping grid of square tiles of ``fraction`` × the longer side; background tiles (mean below
    ``TILE_MIN_SIGNAL`` × the image mean) dropped."""
    h, w = image.shape
    side = max(8, int(round(fraction * max(h, w))))
    mean = float(image.mean()) or 1.0
    out = []
    for y in range(0, max(h - side, 0) + 1, side):
        for x in range(0, max(w - side, 0) + 1, side):
            t = image[y : y + side, x : x + side]
            if float(t.mean()) < TILE_MIN_SIGNAL * mean:
                continue
            out.append(Instance(f"tile y{y} x{x}", _constant(t), (float(x), float(y), float(side), float(side)), -1))
    return out


def _tensor(images: list[np.ndarray], size: int):
    import torch

    from ramkit.train.data import resize_image, to_float

    return torch.stack(
        [resize_image(torch.from_numpy(to_float(np.ascontiguousarray(im))).unsqueeze(0), size) for im in images]
    )


def _batched(model, fn, patches, size: int, device, batch: int = 64):
    import torch

    outs = []
    with torch.no_grad():
        for i in range(0, len(patches), batch):
            outs.append(fn(_tensor(patches[i : i + batch], size).to(device)).float().cpu())
    return torch.cat(outs) if outs else torch.zeros(0)


def bag_instances(model, case, cfg, device) -> list[Instance]:
    """The instances of a hand's bag: its joint ROI crops (scheme 2) or its top-K abnormal tiles (scheme 1)."""
    if cfg.mil_scheme == 2:
        return list(case.meta["instances"])
    cand = tiles(case.image())
    if not cand:
        raise RamkitError(f"{case.key}: no tiles with signal on the radiograph")
    p = _batched(model, model.patch_logits, [c.image() for c in cand], cfg.patch_size, device).softmax(1)[:, 1]
    order = np.argsort(-p.numpy(), kind="stable")[: cfg.mil_tiles]
    return [cand[i] for i in sorted(order)]


# ---------------------------------------------------------------------------------------------------------------
def predict_bag(
    model, patches: list[np.ndarray], positions=None, joint_names=None, device=None, size: int | None = None
):
    """Total score and attention of one bag: ``(total, attention)`` (attention: one weight per patch, sum 1).

    ``patches``: uint8/float H×W crops (any size; resized to the run's input side ``size``, default the value
    stored on the model by :func:`ramkit.train.trainer.load_run`); ``positions`` / ``joint_names`` are carried
    for the caller (the model is order-invariant and does not use them). ``model`` is a trained
    :class:`~ramkit.models.mil.MilNet` (``load_run(RUN)[0]``). The total is clipped to its valid range.
    """
    import torch

    if not len(patches):
        raise RamkitError("an empty bag has no score")
    if positions is not None and len(positions) != len(patches):
        raise RamkitError(f"{len(positions)} positions for {len(patches)} patches")
    if joint_names is not None and len(joint_names) != len(patches):
        raise RamkitError(f"{len(joint_names)} joint names for {len(patches)} patches")
    device = device or next(model.parameters()).device
    size = size or int(getattr(model, "input_size", 64))
    model.eval()
    with torch.no_grad():
        x = _tensor(list(patches), size).to(device).unsqueeze(0)
        pred, attn = model.attend(x)
        total = clip_total(float(model.to_score(pred)[0]), getattr(model, "target", "total"))
    return total, attn[0].cpu().numpy()


# ---------------------------------------------------------------------------------------------------------------
class BagDataset:
    """Training bags padded to a common length: ``((bag, mask), target)``; bag = features N×D or patches N×1×S×S."""

    def __init__(self, bags: list, targets: list[float]):
        import torch

        self.n = max(len(b) for b in bags)
        self.items = []
        for b, t in zip(bags, targets, strict=True):
            pad = self.n - len(b)
            mask = torch.zeros(self.n, dtype=torch.bool)
            mask[: len(b)] = True
            if pad:
                b = torch.cat([b, b.new_zeros((pad, *b.shape[1:]))])
            self.items.append(((b, mask), torch.tensor(float(t))))

    def set_epoch(self, epoch: int) -> None:
        """Bags are fixed (features of a frozen extractor); nothing to redraw."""

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int):
        return self.items[i]


@dataclass(frozen=True, eq=False)
class MilKind(TaskKind):
    """Behaviour of ``total-svdh-mil`` (see the module docstring)."""

    model_kind = "mil"
    input = "bag"
    activation = "regression"  #: the head's output is the standardised total (de-standardised at decode)
    item_unit = "hand"
    headline = ("PCC", "MAE", "RMSE")

    def class_names(self, spec, be_protocol="svdh90"):
        return ("total",)

    def cases(self, spec, ds, split, be_protocol="svdh90"):
        return hand_cases(ds, split)

    # ------------------------------------------------------------------ model
    def build_model(self, spec, cfg):
        from ramkit.models import create
        from ramkit.models.mil import MilNet

        backbone = create(cfg.model, "cls", 1, 2, size=cfg.model_size, **cfg.model_kw)
        if not hasattr(backbone, "reset_classifier"):
            raise RamkitError(f"model {cfg.model!r} cannot be truncated into a feature extractor (use a timm model)")
        backbone.reset_classifier(0)
        model = MilNet(backbone, int(getattr(backbone, "head_hidden_size", None) or backbone.num_features))
        model.input_size = int(cfg.patch_size)
        model.target = cfg.target
        return model

    def prepare(self, spec, cfg, model, train_cases, val_cases, device, run):
        """Stage 1: train the patch classifier; then freeze it unless ``mil_finetune``; set the target scaling."""
        import torch

        if not train_cases:
            raise RamkitError("task total-svdh-mil: no training hands found")
        meta_file = Path(run) / "last.json"
        targets = torch.tensor([c.meta["totals"][cfg.target] for c in train_cases])
        model.target_mean.fill_(float(targets.mean()))
        model.target_std.fill_(max(float(targets.std()) if len(targets) > 1 else 1.0, 1e-3))
        if not (cfg.resume and meta_file.is_file()):  # a resumed run restores the trained classifier with the weights
            import pandas as pd

            from ramkit.io.atomic import write_csv
            from ramkit.train.data import augmentation_of

            t0 = time.perf_counter()
            losses = train_patch_classifier(model, train_cases, cfg, device, augmentation_of(spec))
            log = pd.DataFrame({"epoch": range(1, len(losses) + 1), "train_loss": losses})
            log["seconds_total"] = time.perf_counter() - t0
            write_csv(Path(run) / "patch_classifier.csv", log)
        for p in model.extractor.parameters():
            p.requires_grad_(bool(cfg.mil_finetune))
        for p in model.patch_head.parameters():  # the truncated last layer: only ranks scheme-1 tiles from here on
            p.requires_grad_(False)

    def loss(self, spec, cfg, train_cases):
        import torch

        from ramkit.train.losses import StandardisedMSELoss

        t = torch.tensor([c.meta["totals"][cfg.target] for c in train_cases])
        return StandardisedMSELoss(float(t.mean()), max(float(t.std()) if len(t) > 1 else 1.0, 1e-3))

    def optimizer(self, spec, cfg, model):
        import torch

        params = [p for p in model.parameters() if p.requires_grad]
        return torch.optim.SGD(params, lr=cfg.lr, momentum=0.9, weight_decay=cfg.weight_decay)

    # ------------------------------------------------------------------ bags
    def bag_tensor(self, model, case, cfg, device, features: bool):
        """(instances, tensor): patches N×1×S×S, or their N×D features when ``features``."""
        import torch

        inst = bag_instances(model, case, cfg, device)
        imgs = [i.image() for i in inst]
        if features:
            with torch.no_grad():
                return inst, _batched(model, model.features, imgs, cfg.patch_size, device)
        return inst, _tensor(imgs, cfg.patch_size)

    def train_dataset(self, spec, cfg, train_cases, model, device):
        model.eval()
        frozen = not cfg.mil_finetune
        bags = [self.bag_tensor(model, c, cfg, device, frozen)[1] for c in train_cases]
        return BagDataset(bags, [c.meta["totals"][cfg.target] for c in train_cases])

    def predict_cases(self, model, cases, cfg, device):
        """Per case: (total prediction, attention weights, instances); features cached on the model when frozen."""
        import torch

        model.eval()
        cache = model.__dict__.setdefault("_bag_cache", {}) if not cfg.mil_finetune else {}
        out = []
        with torch.no_grad():
            for c in cases:
                key = (c.key, cfg.mil_scheme)
                if key not in cache:
                    cache[key] = self.bag_tensor(model, c, cfg, device, True)
                inst, feats = cache[key]
                pred, attn = model.mil(feats.to(device))
                total = clip_total(float(model.to_score(pred.squeeze(-1))), cfg.target)
                out.append((total, attn.cpu().numpy(), inst))
        return out

    def validate(self, spec, model, cases, cfg, device, amp):
        from ramkit.metrics.regression import regression_scores

        preds = [p for p, _, _ in self.predict_cases(model, cases, cfg, device)]
        truth = [c.meta["totals"][cfg.target] for c in cases]
        out = regression_scores(truth, preds)
        out["neg_RMSE"] = -out["RMSE"]  # the selection metric (higher is better)
        return out

    # ------------------------------------------------------------------ test / predict
    def test(self, spec, model, cfg, items, out, dev, amp, warmup, quiet, split="test", convention=None):
        return test_mil(self, spec, model, cfg, items, out, dev, warmup, quiet, split)

    def predict(self, predictor, images, out, joint_boxes=None, **opts):
        return predict_mil(predictor.model, predictor.config, images, out, predictor.device, joint_boxes)


# ---------------------------------------------------------------------------------------------------------------
def train_patch_classifier(model, train_cases, cfg, device, aug=None) -> list[float]:
    """Stage 1 of MIL: the normal/abnormal patch classifier on every joint ROI crop of the training hands.

    Class-weighted CE, AdamW, ``mil_feature_epochs`` epochs, warm-up + cosine; augmentation ``aug`` (an
    :class:`ramkit.train.data.Augmentation`; None = the default of every task, as the ROI tasks).
    Returns the per-epoch mean losses.
    """
    import torch
    import torch.nn.functional as F

    from ramkit.train.data import DEFAULT_AUGMENTATION, augment
    from ramkit.train.trainer import make_scheduler

    aug = DEFAULT_AUGMENTATION if aug is None else aug

    inst = [i for c in train_cases for i in c.meta["instances"]]
    imgs = [i.image() for i in inst]
    labels = torch.tensor([i.abnormal for i in inst])
    counts = torch.bincount(labels, minlength=2).float()
    weight = (counts.sum() / (2 * counts.clamp(min=1))).to(device)
    base = _tensor(imgs, cfg.patch_size)
    params = list(model.extractor.parameters()) + list(model.patch_head.parameters())
    opt = torch.optim.AdamW(params, lr=1e-3, weight_decay=1e-2)
    epochs = int(cfg.mil_feature_epochs)
    sched = make_scheduler(opt, max(epochs, 1), min(1, max(epochs - 1, 0)))
    bs = 32
    losses = []
    for epoch in range(epochs):
        model.train()
        g = torch.Generator().manual_seed(cfg.seed * 7919 + epoch)
        order = torch.randperm(len(base), generator=g)
        run = []
        for i in range(0, len(order), bs):
            idx = order[i : i + bs]
            xs = []
            for j in idx.tolist():
                rng = np.random.default_rng([cfg.seed, 10_000 + epoch, j])
                xs.append(augment(base[j], None, rng, aug)[0])
            x = torch.stack(xs).to(device)
            loss = F.cross_entropy(model.patch_logits(x).float(), labels[idx].to(device), weight=weight)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            run.append(float(loss.detach()))
        sched.step()
        losses.append(float(np.mean(run)))
    model.eval()
    return losses


def _bootstrap(truth, pred, seed: int = 0) -> dict:
    from ramkit.metrics import names
    from ramkit.metrics.regression import regression_scores
    from ramkit.metrics.stats import bootstrap_ci

    out = {}
    for k in (names.PCC, names.MAE, names.RMSE):
        est, lo, hi = bootstrap_ci(lambda t, p, k=k: regression_scores(t, p)[k], truth, pred, n_boot=1000, seed=seed)
        out.update({k: est, f"{k}_lo": lo, f"{k}_hi": hi})
    return out


def test_mil(kind, spec, model, cfg, items, out: Path, dev, warmup: int, quiet: bool, split: str) -> dict:
    """``ramkit test`` of the MIL task: predictions.csv, attention.csv, summary with bootstrap 95 % CIs, scatter and
    Bland–Altman plots, attention maps (attention/<hand>.png) and the published MIL table beside ours."""
    import pandas as pd

    from ramkit.io.atomic import write_csv
    from ramkit.metrics.regression import plot_bland_altman
    from ramkit.progress import track
    from ramkit.train.evaluate import _sync, timing_summary

    for _ in range(min(warmup, 1)):  # warm-up: one bag end to end
        kind.predict_cases(model, items[:1], cfg, dev)
    model.__dict__.pop("_bag_cache", None)
    rows, att_rows, times = [], [], []
    it = items if quiet else track(items, f"test {spec.id}")
    for c in it:
        _sync(dev)
        t0 = time.perf_counter()
        [(pred, attn, inst)] = kind.predict_cases(model, [c], cfg, dev)
        _sync(dev)
        times.append(time.perf_counter() - t0)
        tot = c.meta["totals"]
        rows.append({"hand": c.key, "truth": tot[cfg.target], "pred": pred, "be": tot["be"], "jsn": tot["jsn"]})
        for i, w in zip(inst, attn, strict=True):
            pos = i.position or (float("nan"), float("nan"))
            att_rows.append({"hand": c.key, "instance": i.name, "x": pos[0], "y": pos[1], "attention": float(w)})
    df = pd.DataFrame(rows)
    att = pd.DataFrame(att_rows)
    write_csv(out / "predictions.csv", df)
    write_csv(out / "attention.csv", att)
    summary = _bootstrap(df["truth"].to_numpy(), df["pred"].to_numpy(), seed=cfg.seed)
    summary.update({"target": cfg.target, "scheme": cfg.mil_scheme})
    title = f"{spec.id} scheme {cfg.mil_scheme} ({cfg.target}, {split})"
    plot_scatter(df["truth"], df["pred"], out / "scatter.png", title)
    plot_bland_altman(df["truth"], df["pred"], out / "bland_altman.png", title=f"Bland–Altman: {title}")
    for c in items:
        if c.meta.get("radiograph") is not None:
            a = att[att["hand"] == c.key]
            boxes = {i.name: i.box for i in bag_instances(model, c, cfg, dev)}
            draw_attention(
                c.image(),
                [boxes.get(n) for n in a["instance"]],
                a["attention"].to_numpy(),
                list(a["instance"]),
                out / "attention" / f"{c.key}.png",
                f"{c.key}: truth {c.meta['totals'][cfg.target]:.0f}, "
                f"pred {float(df.loc[df.hand == c.key, 'pred'].iloc[0]):.1f}",
            )
    write_csv(out / "published.csv", published_table(summary, cfg))
    summary["timing"] = timing_summary(times, "ms per hand")
    return summary


def published_table(summary: dict, cfg):
    """Our PCC/MAE/RMSE row beside the published MIL rows (``ramkit/data/mil_total_svdh.csv``)."""
    from importlib.resources import files

    import pandas as pd

    pub = pd.read_csv(files("ramkit.data").joinpath("mil_total_svdh.csv").open())
    pub["source"] = "published, real data"
    ours = {
        "method": f"ramkit scheme {cfg.mil_scheme} ({cfg.target})",
        "feature_extractor": cfg.model,
        "PCC": summary["PCC"],
        "MAE": summary["MAE"],
        "RMSE": summary["RMSE"],
        "source": "ramkit, synthetic test split",
    }
    return pd.concat([pd.DataFrame([ours]), pub], ignore_index=True)


def plot_scatter(truth, pred, path: Path, title: str) -> None:
    """Predicted vs true totals with the identity line (PNG, atomic)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ramkit.io.atomic import atomic_path

    t, p = np.asarray(truth, float), np.asarray(pred, float)
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=120)
    ax.scatter(t, p, s=14, alpha=0.8)
    lo, hi = min(t.min(), p.min()), max(t.max(), p.max())
    ax.plot([lo, hi], [lo, hi], "k--", linewidth=1)
    ax.set_xlabel("true total")
    ax.set_ylabel("predicted total")
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def draw_attention(image: np.ndarray, boxes: list, weights: np.ndarray, names: list[str], path: Path, title: str):
    """The radiograph with every patch's box filled by its attention weight (colour bar; top 3 named). PNG, atomic."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import colormaps
    from matplotlib.patches import Rectangle

    from ramkit.io.atomic import atomic_path

    path.parent.mkdir(parents=True, exist_ok=True)
    w = np.asarray(weights, float)
    norm = matplotlib.colors.Normalize(vmin=float(w.min()), vmax=max(float(w.max()), float(w.min()) + 1e-9))
    cmap = colormaps["inferno"]
    h, wd = image.shape
    fig, ax = plt.subplots(figsize=(5 * wd / max(h, wd) + 1.2, 5 * h / max(h, wd)), dpi=130)
    ax.imshow(image, cmap="gray")
    top = set(np.argsort(-w)[:3].tolist())
    for k, (box, a) in enumerate(zip(boxes, w, strict=True)):
        if box is None:
            continue
        x, y, bw, bh = box
        ax.add_patch(Rectangle((x, y), bw, bh, facecolor=cmap(norm(a)), alpha=0.55, edgecolor=cmap(norm(a)), lw=1))
        if k in top:
            ax.annotate(f"{names[k]} {a:.2f}", (x + bw / 2, y), color="cyan", fontsize=6, ha="center", va="bottom")
    ax.set_axis_off()
    ax.set_title(title, fontsize=8)
    fig.colorbar(matplotlib.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, fraction=0.04, label="attention")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def predict_mil(model, cfg, images: list[str], out: Path, dev, joint_boxes: str | None = None) -> list[Path]:
    """``ramkit predict`` of a MIL run on whole radiographs: totals.csv, attention.csv, <stem>_attention.png.

    Scheme 1 tiles the radiograph itself. Scheme 2 needs the joint boxes: ``joint_boxes`` = a joint-detection COCO
    file of the release (``_annotations_{be,jsn}_joint_detection.coco.json``; both kinds may be given separated by
    a comma) whose images match the radiographs by stem.
    """
    import pandas as pd

    from ramkit.io.atomic import write_csv
    from ramkit.io.images import read_gray8

    boxes: dict[str, dict] = {}
    if cfg.mil_scheme == 2:
        if not joint_boxes:
            raise RamkitError("a scheme-2 MIL run needs --joint-boxes (joint-detection COCO file(s) of the release)")
        from ramkit.io.coco import CocoFile
        from ramkit.io.h1200 import coco_joint_boxes

        for part in str(joint_boxes).split(","):
            kind = "jsn" if "jsn" in Path(part).name.lower() else "be"
            if not Path(part).is_file():
                raise RamkitError("joint-box file not found", part)
            for stem, b in coco_joint_boxes(CocoFile(Path(part)), kind).items():
                boxes.setdefault(stem, {}).update({f"{kind.upper()}:{j}": v for j, v in b.items()})
    rows, att_rows, written = [], [], []
    for p in images:
        img = read_gray8(p)
        stem = Path(p).stem
        if cfg.mil_scheme == 1:
            from ramkit.train.data import Case

            case = Case(stem, _constant(img), _constant(0.0), {"instances": []})
            inst = bag_instances(model, case, cfg, dev)
        else:
            if stem not in boxes:
                raise RamkitError(f"no joint boxes for {stem} in {joint_boxes}", p)
            inst = []
            for n, b in sorted(boxes[stem].items()):
                x, y, w, h = (int(round(v)) for v in b)
                inst.append(Instance(n, _constant(img[max(y, 0) : y + h, max(x, 0) : x + w]), tuple(b)))
        patches = [i.image() for i in inst]
        total, attn = predict_bag(
            model, patches, [i.position for i in inst], [i.name for i in inst], dev, cfg.patch_size
        )
        rows.append({"image": str(p), "target": cfg.target, "pred": total})
        for i, a in zip(inst, attn, strict=True):
            centre = i.position
            assert centre is not None  # tiles and joint-box instances always carry their box
            att_rows.append(
                {"image": str(p), "instance": i.name, "x": centre[0], "y": centre[1], "attention": float(a)}
            )
        png = out / f"{stem}_attention.png"
        draw_attention(
            img, [i.box for i in inst], attn, [i.name for i in inst], png, f"{stem}: {cfg.target} {total:.1f}"
        )
        written.append(png)
    write_csv(out / "totals.csv", pd.DataFrame(rows))
    write_csv(out / "attention.csv", pd.DataFrame(att_rows))
    return [out / "totals.csv", out / "attention.csv", *written]
