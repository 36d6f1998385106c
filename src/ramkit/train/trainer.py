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
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ramkit.errors import RamkitError
from ramkit.tasks import TaskSpec
from ramkit.tasks import get as get_task
from ramkit.train.config import TrainConfig  # noqa: F401  (re-exported: ramkit.train.trainer.TrainConfig)


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


def TaskLoss(spec: TaskSpec, cfg: TrainConfig | None = None, train_cases: list | None = None) -> nn.Module:
    """The loss module of ``spec`` (built by ``spec.kind.loss``; class weights from ``train_cases`` if given)."""
    cfg = cfg or TrainConfig(task=spec.id, data="", out="").resolve()
    return spec.kind.loss(spec, cfg, train_cases or [])


def build_model(cfg: TrainConfig, spec: TaskSpec) -> nn.Module:
    """The model of a resolved config (``spec.kind.build_model`` + optional user weights)."""
    from ramkit.models import load_weights

    model = spec.kind.build_model(spec, cfg)
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
    pos: list = []
    neg: list = []
    for c in val_cases:
        (pos if np.asarray(c.target()).any() else neg).append(c)
    return pos + neg


def make_scheduler(opt: torch.optim.Optimizer, epochs: int, warmup_epochs: int = 0, floor: float = 0.01):
    """Per-epoch schedule from torch's schedulers: cosine from the base LR down to ``floor`` × LR over ``epochs``.

    With ``warmup_epochs`` w > 0: ``SequentialLR(LinearLR, CosineAnnealingLR)`` — epoch e < w runs at (e+1)/(w+1)
    of the LR, then the cosine spans the remaining epochs. Without warm-up this is
    ``CosineAnnealingLR(T_max=epochs, eta_min=floor·lr)`` (the paper schedule).
    """
    from torch.optim.lr_scheduler import CosineAnnealingLR, LinearLR, SequentialLR

    lr = opt.param_groups[0]["lr"]
    w = int(warmup_epochs)
    if w <= 0:
        return CosineAnnealingLR(opt, T_max=epochs, eta_min=lr * floor)
    warm = LinearLR(opt, start_factor=1.0 / (w + 1), end_factor=1.0, total_iters=w)
    cosine = CosineAnnealingLR(opt, T_max=max(epochs - w, 1), eta_min=lr * floor)
    return SequentialLR(opt, [warm, cosine], milestones=[w])


def _oom(exc: BaseException, cfg: TrainConfig) -> RamkitError:
    return RamkitError(
        f"GPU out of memory with batch size {cfg.batch_size} and patch size {cfg.patch_size}; "
        "try a smaller --batch-size or --patch-size (or --amp bf16)"
    )


# -------------------------------------------------------------------------------------------------------------
@torch.no_grad()
def validate(model: nn.Module, spec: TaskSpec, val_cases, cfg: TrainConfig, device: torch.device, amp: str) -> dict:
    """Validation metrics of the task (``spec.kind.validate``) on the first ``max_val_cases`` of ``val_cases``."""
    model.eval()
    cases = val_cases[: cfg.max_val_cases] if cfg.max_val_cases else val_cases
    out = spec.kind.validate(spec, model, cases, cfg, device, amp)
    return {k: (float(v) if math.isfinite(v) else 0.0) for k, v in out.items()}


def _require_finite(value: float, x, task: str, epoch: int) -> None:
    """Stop a run whose loss ``value`` is NaN/inf (it would otherwise train on silently and select epoch 1)."""
    import torch

    if math.isfinite(value):
        return
    xs = x if isinstance(x, (tuple, list)) else (x,)
    where = "non-finite values in the input batch" if any(not torch.isfinite(t).all() for t in xs) else "finite inputs"
    raise RamkitError(
        f"task {task}: the training loss is {value} in epoch {epoch} ({where}); "
        "check the data and augmentation, or lower the learning rate"
    )


def fit(cfg: TrainConfig, stop_after: int | None = None, quiet: bool = False, dataset=None) -> Path:
    """Train ``cfg`` (resolved here) and return the run directory.

    ``stop_after`` stops after that many epochs *in total* without touching the schedule (simulates a kill;
    used by tests and by resumable time-sliced runs). ``dataset`` is an already opened reader (H1200/W600 or an
    object with the same ``seg``/``scores``/``splits`` methods); by default ``cfg.data`` is opened.
    """
    from ramkit.io.atomic import write_text
    from ramkit.progress import track
    from ramkit.train import checkpoint as ck
    from ramkit.train.data import augmentation_of, cases, open_dataset, splits_of
    from ramkit.validate import check_model_input, require_valid

    cfg = cfg.resolve()
    # resolve() fills these from the budget, the paper protocol or the field fallback; narrowed once for mypy
    assert (
        cfg.device is not None
        and cfg.amp is not None
        and cfg.be_protocol is not None
        and cfg.seed is not None
        and cfg.patch_size is not None
        and cfg.batch_size is not None
        and cfg.epochs is not None
        and cfg.warmup_epochs is not None
        and cfg.allow_invalid_data is not None
    )
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
    seed_everything(cfg.seed + rank)
    model = build_model(cfg, spec).to(device)
    if spec.kind.input != "bag":  # MIL bags are probed by their own patch classifier
        check_model_input(model, cfg.patch_size, device, seg=spec.model_kind == "seg")
    spec.kind.prepare(spec, cfg, model, train_cases, val_cases, device, run)
    loss_fn = spec.kind.loss(spec, cfg, train_cases).to(device)
    opt = spec.kind.optimizer(spec, cfg, model)
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

    train_cases, val_cases = spec.kind.prepare_cases(spec, cfg, train_cases, val_cases)
    train_ds = spec.kind.train_dataset(spec, cfg, train_cases, model, device)
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
        "input": spec.kind.input,
        "config": asdict(cfg),
        "augmentation": asdict(augmentation_of(spec)),  # the task's, recorded: not a TrainConfig option
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
                x, y = to_device(x, device), to_device(y, device)
                from ramkit.train.inference import autocast

                with autocast(device, amp):
                    logits = net(*x) if isinstance(x, (tuple, list)) else net(x)
                loss = loss_fn(logits, y)
                value = float(loss.detach())  # one device sync per step: logged below, checked here
                if scaler is None:  # (fp16 AMP skips overflowing steps itself)
                    _require_finite(value, x, cfg.task, epoch + 1)
                opt.zero_grad(set_to_none=True)
                if scaler is not None:
                    scaler.scale(loss).backward()
                    scaler.step(opt)
                    scaler.update()
                else:
                    loss.backward()
                    opt.step()
                losses.append(value)
                n_items += len(y)
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


def to_device(x, device: torch.device):
    """Move a tensor, or a tuple/list of tensors (MIL bags: features + mask), to ``device``."""
    if isinstance(x, (tuple, list)):
        return type(x)(to_device(v, device) for v in x)
    return x.to(device, non_blocking=True)


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
