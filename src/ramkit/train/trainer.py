"""The one trainer for every benchmark task (``ramkit train``).

AdamW + cosine schedule (per epoch, down to 1 % of the learning rate), early stopping on the task's
model-selection criterion, bf16/fp16 autocast (GradScaler for fp16 on CUDA), seeded and deterministic sampling,
DDP under ``torchrun`` (gloo on CPU, nccl on GPU; DistributedSampler; validation and checkpoints on rank 0),
checkpoints in safetensors, resumable so that an interrupted run ends with the same weights as an uninterrupted one.
"""

from __future__ import annotations

import math
import os
import random
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ramkit.errors import RamkitError
from ramkit.tasks import TaskSpec
from ramkit.tasks import get as get_task


@dataclass
class TrainConfig:
    """Resolved configuration of one training run (saved as RUN/config.yaml). ``None`` = the task default."""

    task: str
    data: str
    out: str
    model: str | None = None
    model_size: str = "base"  #: "base" | "tiny" (narrow variants for CPU smoke runs)
    epochs: int | None = None
    batch_size: int | None = None
    patch_size: int | None = None  #: patch / input side (ROI and whole-image tasks: resize target)
    patches_per_image: int | None = None
    fg_ratio: float | None = None
    pos_image_ratio: float | None = None  #: patch tasks: share of patches drawn from images with foreground
    #: (None: every image equally often); the BE CPU bench oversamples the few lesion images this way
    fg_class_weight: float | None = None  #: softmax (BE) tasks: CE weight of the lesion classes (background 1)
    lr: float | None = None
    weight_decay: float | None = None
    patience: int | None = None  #: 0 disables early stopping
    input_scale: float = 1.0  #: patch tasks: resample images by this factor (train + inference; scored at full res)
    warmup_epochs: int = 0  #: linear learning-rate warm-up epochs before the cosine decay (0 = paper schedule)
    seed: int = 2026
    device: str = "auto"  #: "cpu" | "cuda" | "auto"
    amp: str = "auto"  #: "auto" (bf16/fp16 on CUDA, off on CPU) | "bf16" | "fp16" | "none"
    be_protocol: str = "svdh90"
    ordinal: str = "independent"  #: "independent" | "coral"
    ordinal_pos_weight: bool | str = False  #: True: per-threshold pos_weight #neg/#pos (official --use_class_weight);
    #: "sqrt": its square root (damped; the CPU bench uses it so rare top scores are not over-predicted)
    weights: str | None = None  #: user safetensors to start from
    num_workers: int = 0
    max_val_cases: int | None = None  #: validate on the first N cases only (CPU smoke runs)
    val_overlap: float = 0.5  #: sliding-window overlap of the per-epoch validation (``ramkit test`` always uses 0.5)
    max_minutes: float | None = None  #: stop training after this wall-clock budget (bench only)
    threads: int | None = None  #: torch CPU threads
    tensorboard: bool = True
    resume: bool = True  #: continue from RUN/last.* when present
    allow_invalid_data: bool = False  #: train even when ``ramkit check`` finds errors in the data (recorded)
    model_kw: dict = field(default_factory=dict)

    def resolve(self) -> TrainConfig:
        """Fill ``None`` fields from the task defaults."""
        spec = get_task(self.task)
        d = asdict(self)
        for k, v in spec.hyperparameters().items():
            if d.get(k) is None:
                d[k] = v
        if d["model"] is None:
            d["model"] = spec.default_model
        if d["amp"] not in ("auto", "bf16", "fp16", "none"):
            raise RamkitError(f"unknown --amp {d['amp']!r}; expected auto, bf16, fp16 or none")
        if d["device"] not in ("auto", "cpu", "cuda"):
            raise RamkitError(f"unknown --device {d['device']!r}; expected cpu, cuda or auto")
        if d["ordinal_pos_weight"] not in (True, False, "sqrt"):
            raise RamkitError(f"ordinal_pos_weight must be true, false or 'sqrt' (got {d['ordinal_pos_weight']!r})")
        if not 0.05 <= float(d["input_scale"]) <= 4.0:
            raise RamkitError(f"--input-scale must be in [0.05, 4] (got {d['input_scale']})")
        if not 0.0 <= float(d["val_overlap"]) < 1.0:
            raise RamkitError(f"val_overlap must be in [0, 1) (got {d['val_overlap']})")
        from ramkit.validate import check_train_options

        check_train_options(d)
        return TrainConfig(**d)

    @classmethod
    def from_dict(cls, d: dict, where: str = "config") -> TrainConfig:
        """Build from a dict (YAML); unknown keys are an error naming them."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - names)
        if unknown:
            raise RamkitError(f"unknown configuration keys {unknown}; valid keys: {sorted(names)}", where)
        return cls(**d)


# -------------------------------------------------------------------------------------------------------------
def setup_distributed() -> tuple[int, int, int]:
    """Initialise torch.distributed when launched by torchrun; returns (rank, world_size, local_rank)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1, 0
    import torch.distributed as dist

    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    return dist.get_rank(), world, int(os.environ.get("LOCAL_RANK", "0"))


def pick_device(name: str, local_rank: int = 0) -> torch.device:
    """cpu / cuda / auto -> torch.device; RamkitError when CUDA is asked for but absent."""
    if name == "cuda" and not torch.cuda.is_available():
        raise RamkitError("--device cuda requested but no CUDA GPU is available (use --device cpu)")
    if name in ("cuda", "auto") and torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
        return torch.device("cuda", local_rank)
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch; deterministic algorithms where possible."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True


def amp_mode(amp: str, device: torch.device) -> str:
    """Effective autocast mode: "auto" means bf16 (fp16 if unsupported) on CUDA and none on CPU."""
    if amp == "auto":
        if device.type != "cuda":
            return "none"
        return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if amp == "fp16" and device.type != "cuda":
        raise RamkitError("--amp fp16 needs CUDA; use --amp bf16 on CPU")
    return amp


class TaskLoss(nn.Module):
    """The loss of a task: BCE+Dice (multi-label), DiceCE (softmax), ordinal BCE, class-weighted CE."""

    def __init__(
        self,
        spec: TaskSpec,
        class_weights: torch.Tensor | None = None,
        pos_weight: torch.Tensor | None = None,
        ce_weight: torch.Tensor | None = None,
    ):
        super().__init__()
        self.spec = spec
        self.pos_weight = pos_weight
        if spec.loss == "bce+dice":
            from monai.losses import DiceLoss

            self.dice = DiceLoss(sigmoid=True, squared_pred=True, smooth_nr=1e-5, smooth_dr=1e-5, batch=True)
        elif spec.loss == "dicece":
            # batch Dice: lesions are tiny and many patches have none; per-sample Dice is then mostly noise
            from monai.losses import DiceLoss

            # batch Dice: lesions are tiny and many patches have none; per-sample Dice is then mostly noise.
            # Dice without background + (optionally class-weighted) CE over all classes.
            self.dice = DiceLoss(
                to_onehot_y=True, softmax=True, include_background=False, squared_pred=True, batch=True
            )
        self.register_buffer("weights", class_weights if class_weights is not None else torch.ones(2))
        self.ce_weight = ce_weight

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()
        if self.spec.loss == "bce+dice":
            return F.binary_cross_entropy_with_logits(logits, target) + self.dice(logits, target)
        if self.spec.loss == "dicece":
            w = None if self.ce_weight is None else self.ce_weight.to(logits.device)
            return self.dice(logits, target.unsqueeze(1)) + F.cross_entropy(logits, target.long(), weight=w)
        if self.spec.loss == "ordinal-bce":
            from ramkit.models.ordinal import ordinal_loss

            pw = None if self.pos_weight is None else self.pos_weight.to(logits.device)
            return ordinal_loss(logits, target, pos_weight=pw)
        return F.cross_entropy(logits, target, weight=self.weights)


def build_model(cfg: TrainConfig, spec: TaskSpec) -> nn.Module:
    """The model of a resolved config (registry + optional user weights)."""
    from ramkit.models import create, load_weights

    kw = dict(cfg.model_kw)
    if spec.model_kind == "ordinal":
        kw["ordinal"] = cfg.ordinal
    model = create(cfg.model, spec.model_kind, 1, spec.out_channels(cfg.be_protocol), size=cfg.model_size, **kw)
    if spec.activation == "sigmoid":
        init_output_bias(model, spec.out_channels(cfg.be_protocol))
    if cfg.weights:
        load_weights(model, cfg.weights)
    return model


def init_output_bias(model: nn.Module, channels: int, prior: float = 0.01) -> bool:
    """Prior-probability initialisation of a sigmoid output layer (bias = logit(prior), as in RetinaNet).

    Multi-label masks are sparse (a bone covers ~1 % of a patch); starting at p = 0.5 makes Adam spend
    thousands of steps just moving the biases. Returns whether an output convolution was found.
    """
    last = None
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)) and m.out_channels == channels and m.bias is not None:
            last = m
    if last is None:
        return False
    with torch.no_grad():
        last.bias.fill_(math.log(prior / (1 - prior)))
    return True


def lesion_cases_first(val_cases: list) -> list:
    """Validation cases with any lesion first (original order kept within each group).

    With ``max_val_cases`` the selection metric ``positive_DSC`` (DSC over images *with* lesions) must see lesion
    images: a subset of lesion-free images scores 0 for every epoch and freezes model selection at epoch 1.
    """
    pos, neg = [], []
    for c in val_cases:
        (pos if np.asarray(c.target()).any() else neg).append(c)
    return pos + neg


def make_scheduler(opt: torch.optim.Optimizer, epochs: int, warmup_epochs: int = 0, floor: float = 0.01):
    """Per-epoch schedule: cosine from the base LR down to ``floor`` × LR over ``epochs``.

    With ``warmup_epochs`` > 0 the first epochs ramp linearly (epoch e runs at (e+1)/(w+1) of the LR) and the cosine
    spans the remaining epochs. Without warm-up this is ``CosineAnnealingLR(T_max=epochs, eta_min=floor·lr)``.
    """
    if warmup_epochs <= 0:
        lr = opt.param_groups[0]["lr"]
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs, eta_min=lr * floor)
    w = int(warmup_epochs)
    span = max(epochs - w, 1)

    def factor(e: int) -> float:
        if e < w:
            return (e + 1) / (w + 1)
        t = min(e - w, span) / span
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


def _oom(exc: BaseException, cfg: TrainConfig) -> RamkitError:
    return RamkitError(
        f"GPU out of memory with batch size {cfg.batch_size} and patch size {cfg.patch_size}; "
        "try a smaller --batch-size or --patch-size (or --amp bf16)"
    )


# -------------------------------------------------------------------------------------------------------------
@torch.no_grad()
def validate(model: nn.Module, spec: TaskSpec, val_cases, cfg: TrainConfig, device: torch.device, amp: str) -> dict:
    """Validation metrics of the task (DSC / positive_DSC / QWK / BACC) on ``val_cases``."""
    from ramkit.train import inference as inf

    model.eval()
    cases = val_cases[: cfg.max_val_cases] if cfg.max_val_cases else val_cases
    out: dict[str, float] = {}
    if spec.accessor == "seg":
        from ramkit.metrics.segmentation import dice

        per_image, positive = [], []
        n = spec.out_channels(cfg.be_protocol)
        for c in cases:
            img, tgt = c.image(), c.target()
            logits = inf.seg_logits(
                model,
                img,
                spec,
                cfg.patch_size,
                device,
                amp,
                scale=cfg.input_scale,
                overlap=cfg.val_overlap,
                sw_batch=16,
            )
            pred = inf.seg_masks(logits, spec)
            truth = inf.target_masks(tgt, spec, n, cfg.patch_size)
            d = np.asarray(dice(pred, truth), dtype=float)
            v = float(np.nanmean(d)) if np.isfinite(d).any() else (1.0 if not pred.any() else 0.0)
            per_image.append(v)
            if truth.any():
                positive.append(v)
        out["DSC"] = float(np.mean(per_image)) if per_image else 0.0
        out["positive_DSC"] = float(np.mean(positive)) if positive else 0.0
    else:
        from ramkit.metrics.scoring import balanced_accuracy, mean_absolute_error, quadratic_kappa

        truth = np.array([int(c.target()) for c in cases])
        pred, _ = inf.roi_predict(model, [c.image() for c in cases], spec, cfg.patch_size, device, amp)
        if spec.activation == "ordinal":
            values = np.array(spec.score_values)
            out["QWK"] = float(quadratic_kappa(values[truth], values[pred]))
            out["MAE"] = float(mean_absolute_error(values[truth], values[pred]))
        out["BACC"] = float(balanced_accuracy(truth, pred))
        out["ACC"] = float((truth == pred).mean()) if len(truth) else 0.0
    for k, v in list(out.items()):
        if not math.isfinite(v):
            out[k] = 0.0
    return out


def fit(cfg: TrainConfig, stop_after: int | None = None, quiet: bool = False, dataset=None) -> Path:
    """Train ``cfg`` (resolved here) and return the run directory.

    ``stop_after`` stops after that many epochs *in total* without touching the schedule (simulates a kill;
    used by tests and by resumable time-sliced runs). ``dataset`` is an already opened reader (H1200/W600 or an
    object with the same ``seg``/``scores``/``splits`` methods); by default ``cfg.data`` is opened.
    """
    from ramkit.io.atomic import write_text
    from ramkit.progress import track
    from ramkit.train import checkpoint as ck
    from ramkit.train.data import TaskDataset, cases, open_dataset, splits_of
    from ramkit.validate import check_model_input, require_valid

    cfg = cfg.resolve()
    spec = get_task(cfg.task)
    rank, world, local_rank = setup_distributed()
    device = pick_device(cfg.device, local_rank)
    amp = amp_mode(cfg.amp, device)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    run = Path(cfg.out)
    data_errors = [] if dataset is not None else require_valid(cfg.data, spec.dataset, cfg.allow_invalid_data)
    if rank == 0:
        run.mkdir(parents=True, exist_ok=True)
        ck.sweep(run)

    ds = dataset if dataset is not None else open_dataset(spec, cfg.data)
    train_cases = cases(spec, ds, "train", cfg.be_protocol)
    val_cases = cases(spec, ds, "val", cfg.be_protocol) if "val" in splits_of(ds) else []
    if cfg.max_val_cases and spec.select == "positive_DSC":
        val_cases = lesion_cases_first(val_cases)
    seed_everything(cfg.seed + rank)
    model = build_model(cfg, spec).to(device)
    check_model_input(model, cfg.patch_size, device, seg=spec.model_kind == "seg")

    class_weights = None
    if spec.loss == "weighted-ce":
        counts = np.bincount([int(c.target()) for c in train_cases], minlength=2).astype(float)
        class_weights = torch.tensor(counts.sum() / (2 * np.maximum(counts, 1)), dtype=torch.float32)
    pos_weight = None
    if spec.loss == "ordinal-bce" and cfg.ordinal_pos_weight:
        from ramkit.models.ordinal import ordinal_targets

        k = spec.out_channels()
        t = ordinal_targets(torch.tensor([int(c.target()) for c in train_cases]), k)
        pos = t.sum(0)
        pos_weight = ((len(t) - pos) / pos.clamp(min=1)).clamp(max=100.0)
        if cfg.ordinal_pos_weight == "sqrt":
            pos_weight = pos_weight.sqrt()
    ce_weight = None
    if spec.loss == "dicece" and cfg.fg_class_weight:
        ce_weight = torch.full((spec.out_channels(cfg.be_protocol),), float(cfg.fg_class_weight))
        ce_weight[0] = 1.0
    loss_fn = TaskLoss(spec, class_weights, pos_weight, ce_weight).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = make_scheduler(opt, cfg.epochs, cfg.warmup_epochs)
    scaler = torch.amp.GradScaler("cuda") if amp == "fp16" else None

    meta = {"epoch": -1, "best": -math.inf, "best_epoch": -1, "bad_epochs": 0}
    resume_dir = ck.current_dir(run) if cfg.resume else None
    if resume_dir is not None:
        old = ck.read_json(resume_dir / "last.json")
        if old.get("task") != cfg.task or old.get("model") != cfg.model:
            raise RamkitError(
                f"holds a run of task {old.get('task')} / model {old.get('model')}, not "
                f"{cfg.task} / {cfg.model}; choose another --out",
                run,
            )
        meta = ck.load_training_state(run, model, opt, sched, scaler)
    elif rank == 0:
        import yaml

        write_text(run / "config.yaml", yaml.safe_dump(asdict(cfg), sort_keys=False))

    net: nn.Module = model
    if world > 1:
        from torch.nn.parallel import DistributedDataParallel

        net = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    if spec.input == "patch" and cfg.input_scale != 1.0:
        from ramkit.train.data import rescale_case

        train_cases = [rescale_case(c, cfg.input_scale) for c in train_cases]
    train_ds = TaskDataset(
        spec,
        train_cases,
        cfg.patch_size,
        seed=cfg.seed,
        train=True,
        patches_per_image=cfg.patches_per_image,
        fg_ratio=cfg.fg_ratio,
        pos_image_ratio=cfg.pos_image_ratio,
    )
    writer = None
    if rank == 0 and cfg.tensorboard:
        try:
            from torch.utils.tensorboard import SummaryWriter

            writer = SummaryWriter(log_dir=str(run / "tb"))
        except Exception:  # noqa: BLE001 - TensorBoard is optional
            writer = None
    base_meta = {
        "task": cfg.task,
        "model": cfg.model,
        "class_names": list(spec.class_names(cfg.be_protocol)),
        "score_values": list(spec.score_values),
        "select": spec.select,
        "be_protocol": cfg.be_protocol,
        "patch_size": cfg.patch_size,
        "input": spec.input,
        "activation": spec.activation,
        "config": asdict(cfg),
        "seed": cfg.seed,
    }
    if data_errors:
        base_meta["data_errors"] = data_errors
    t_start = time.perf_counter()
    epoch = int(meta["epoch"]) + 1
    interrupted = False  # stopped by ``stop_after``: the run is not finished
    try:
        while epoch < cfg.epochs:
            if stop_after is not None and epoch >= stop_after:
                interrupted = True
                break
            train_ds.set_epoch(epoch)
            if world > 1:
                from torch.utils.data.distributed import DistributedSampler

                sampler = DistributedSampler(
                    train_ds, num_replicas=world, rank=rank, shuffle=True, seed=cfg.seed, drop_last=True
                )
                sampler.set_epoch(epoch)
                order = list(iter(sampler))
            else:
                g = torch.Generator().manual_seed(cfg.seed * 100003 + epoch)
                order = torch.randperm(len(train_ds), generator=g).tolist()
            bs = cfg.batch_size
            drop_last = len(order) >= bs
            batches = [order[i : i + bs] for i in range(0, len(order), bs)]
            if drop_last and len(batches[-1]) < bs:
                batches = batches[:-1]
            loader = torch.utils.data.DataLoader(
                train_ds, batch_sampler=batches, num_workers=cfg.num_workers, persistent_workers=False
            )
            net.train()
            losses, t0, n_items, t_data = [], time.perf_counter(), 0, 0.0
            t_fetch = time.perf_counter()
            it = loader if quiet or rank != 0 else track(loader, f"{cfg.task} epoch {epoch + 1}/{cfg.epochs}")
            for x, y in it:
                t_data += time.perf_counter() - t_fetch
                x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
                from ramkit.train.inference import autocast

                with autocast(device, amp):
                    logits = net(x)
                loss = loss_fn(logits, y)
                opt.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.step(opt)
                    scaler.update()
                else:
                    loss.backward()
                    opt.step()
                losses.append(float(loss.detach()))
                n_items += len(x)
                t_fetch = time.perf_counter()
            sched.step()
            train_time = time.perf_counter() - t0
            row = {
                "epoch": epoch + 1,
                "train_loss": float(np.mean(losses)) if losses else float("nan"),
                "lr": opt.param_groups[0]["lr"],
                "items_per_s": n_items / max(train_time, 1e-9),
                "data_share": t_data / max(train_time, 1e-9),
            }
            stop = False
            if rank == 0:
                metrics = validate(model, spec, val_cases, cfg, device, amp) if val_cases else {}
                row.update({f"val_{k}": v for k, v in metrics.items()})
                score = metrics.get(spec.select, -float(row["train_loss"]))
                improved = score > meta["best"]
                if improved:
                    meta.update(best=score, best_epoch=epoch + 1, bad_epochs=0)
                else:
                    meta["bad_epochs"] = int(meta["bad_epochs"]) + 1
                meta["epoch"] = epoch
                full = {**base_meta, **meta, "metrics": metrics}
                ck.save_checkpoint(run, model, opt, sched, scaler, full, improved=improved, log_row=row)
                if writer is not None:
                    for k, v in row.items():
                        if k != "epoch":
                            writer.add_scalar(k, v, epoch + 1)
                    writer.flush()
                if cfg.patience and meta["bad_epochs"] >= cfg.patience:
                    stop = True
                if cfg.max_minutes is not None and (time.perf_counter() - t_start) / 60 > cfg.max_minutes:
                    stop = True
            if world > 1:
                import torch.distributed as dist

                flag = torch.tensor([1 if stop else 0], device=device)
                dist.broadcast(flag, 0)
                stop = bool(flag.item())
            epoch += 1
            if stop:
                break
    except torch.cuda.OutOfMemoryError as exc:
        raise _oom(exc, cfg) from None
    finally:
        if writer is not None:
            writer.close()
    if rank == 0 and not interrupted:
        ck.mark_finished(run)
    if world > 1:
        import torch.distributed as dist

        dist.barrier()
    return run


def load_run(run: str | os.PathLike, which: str = "best", device: torch.device | str = "cpu"):
    """Load a trained run: returns ``(model, spec, config, meta)`` with the ``best`` (or ``last``) weights."""
    from ramkit.train import checkpoint as ck

    run = Path(run)
    meta = ck.read_json(run / f"{which}.json")
    if "config" not in meta or "task" not in meta:
        raise RamkitError("checkpoint metadata lacks task/config; not a ramkit run", run / f"{which}.json")
    cfg = TrainConfig.from_dict(meta["config"], where=str(run / f"{which}.json"))
    spec = get_task(cfg.task)
    model = build_model(TrainConfig(**{**asdict(cfg), "weights": None}), spec)
    weights = run / f"{which}.safetensors"
    if not weights.is_file():
        raise RamkitError("weights missing from the run directory", weights)
    ck.load_model_weights(model, weights)
    model.to(device).eval()
    return model, spec, cfg, meta


__all__ = [
    "TrainConfig",
    "fit",
    "validate",
    "load_run",
    "build_model",
    "TaskLoss",
    "seed_everything",
    "init_output_bias",
]
