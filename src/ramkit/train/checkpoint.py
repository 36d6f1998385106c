"""Checkpoints: model weights in safetensors, optimizer/scheduler/scaler/RNG state via ``torch.save`` (loaded back
with ``weights_only=True``, never unpickled), and a JSON with config, class names, score values, epoch and the
early-stopping state. Every file is written atomically; the JSON is written last, so it only ever points to
complete files.

Layout of a run directory::

    config.yaml              resolved configuration
    last.safetensors         model weights after the latest epoch
    last_state.pt            optimizer, scheduler, GradScaler and torch RNG states (weights_only loadable)
    last.json                {"epoch", "best", "best_epoch", "bad_epochs", "task", "model", "class_names", ...}
    best.safetensors         weights of the selected model (best validation criterion)
    best.json                metadata of the selected model
    log.csv, tb/             per-epoch CSV log and TensorBoard events
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ramkit.errors import RamkitError
from ramkit.io.atomic import atomic_path, write_json


def unwrap(model: nn.Module) -> nn.Module:
    """The bare module inside DDP/DataParallel wrappers."""
    return model.module if hasattr(model, "module") else model


def save_weights(model: nn.Module, path: str | os.PathLike, metadata: dict | None = None) -> None:
    """Write the model's state dict as a safetensors file (contiguous CPU clones, shared tensors copied)."""
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in unwrap(model).state_dict().items()}
    meta = {k: json.dumps(v) if not isinstance(v, str) else v for k, v in (metadata or {}).items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=meta)


def load_model_weights(model: nn.Module, path: str | os.PathLike) -> None:
    """Load a safetensors state dict saved by :func:`save_weights` into ``model`` (strict, one-line errors)."""
    try:
        state = load_file(os.fspath(path))
    except Exception as exc:  # noqa: BLE001
        raise RamkitError(f"cannot read checkpoint weights ({exc})", path) from None
    try:
        unwrap(model).load_state_dict(state, strict=True)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise RamkitError(
            f"checkpoint does not fit the model ({first[1].strip() if len(first) > 1 else first[0]})", path
        ) from None


def save_training_state(run: Path, model: nn.Module, optimizer, scheduler, scaler, meta: dict) -> None:
    """Write last.safetensors, last_state.pt and (last) last.json atomically."""
    save_weights(model, run / "last.safetensors")
    state = {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else {},
        "torch_rng": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    with atomic_path(run / "last_state.pt") as tmp:
        torch.save(state, tmp)
    write_json(run / "last.json", meta, indent=2)


def load_training_state(run: Path, model: nn.Module, optimizer, scheduler, scaler) -> dict:
    """Restore everything :func:`save_training_state` wrote; returns the JSON metadata."""
    meta = read_json(run / "last.json")
    load_model_weights(model, run / "last.safetensors")
    try:
        state = torch.load(run / "last_state.pt", map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise RamkitError(f"cannot read the training state ({exc})", run / "last_state.pt") from None
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    if scaler is not None and state.get("scaler"):
        scaler.load_state_dict(state["scaler"])
    torch.set_rng_state(state["torch_rng"])
    if "cuda_rng" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda_rng"])
    return meta


def read_json(path: Path) -> dict:
    """Read a checkpoint JSON; RamkitError naming the file when missing or corrupt."""
    if not path.is_file():
        raise RamkitError("not found (is this a ramkit run directory?)", path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise RamkitError(f"corrupt checkpoint metadata ({exc})", path) from None
