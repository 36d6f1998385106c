"""Checkpoints: model weights in safetensors, optimizer/scheduler/scaler/RNG state via ``torch.save`` (loaded back
with ``weights_only=True``, never unpickled), and a JSON with config, class names, score values, epoch and the
early-stopping state.

**One checkpoint is one atomic unit.** Every epoch writes a complete new folder
``checkpoints/.epoch-NNNN.tmp/`` (weights, state, metadata, best model, log), renames it to
``checkpoints/epoch-NNNN/`` and then flips the symlink ``checkpoint -> checkpoints/epoch-NNNN`` with one
``rename`` (atomic on POSIX). A process killed at any point leaves ``checkpoint`` pointing at either the old
epoch or the new one, never a mix; a resume sweeps the leftovers. The run's public names are symlinks into the
current checkpoint, so readers (``load_run``) see one consistent epoch too.

Layout of a run directory::

    config.yaml              resolved configuration
    checkpoint -> checkpoints/epoch-NNNN      the current checkpoint (flipped atomically)
    checkpoints/epoch-NNNN/  last.safetensors, last_state.pt, last.json, best.safetensors, best.json, log.csv
    last.safetensors         -> checkpoint/last.safetensors   model weights after the latest epoch
    last_state.pt            -> checkpoint/last_state.pt      optimizer, scheduler, GradScaler, torch RNG states
    last.json                -> checkpoint/last.json          {"epoch", "best", "best_epoch", "bad_epochs", ...}
    best.safetensors         -> checkpoint/best.safetensors   weights of the selected model
    best.json                -> checkpoint/best.json          metadata of the selected model
    log.csv                  -> checkpoint/log.csv            per-epoch CSV log
    tb/                      TensorBoard events (not part of the checkpoint)

``last.json`` holds ``"finished": true`` once training ended normally (all epochs, early stop or time budget).
Runs written by older versions (plain files at the top level) are still read and resumed.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ramkit.errors import RamkitError
from ramkit.io.atomic import FILE_MODE, atomic_path, sweep_temp, write_json

CURRENT = "checkpoint"
CKPT_DIR = "checkpoints"
#: files of one checkpoint; each has a symlink of the same name at the top of the run directory
FILES = ("last.safetensors", "last_state.pt", "last.json", "best.safetensors", "best.json", "log.csv")
#: test hook: ``RAMKIT_TEST_KILL_AT=<point>@<epoch>`` SIGKILLs the process at that point of that epoch's save
KILL_ENV = "RAMKIT_TEST_KILL_AT"
KILL_POINTS = (*FILES, "rename", "flip", "links", "cleanup")


def unwrap(model: nn.Module) -> nn.Module:
    """The bare module inside DDP/DataParallel wrappers."""
    return model.module if hasattr(model, "module") else model


def _weights_and_meta(model: nn.Module, metadata: dict | None) -> tuple[dict, dict]:
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in unwrap(model).state_dict().items()}
    meta = {k: json.dumps(v) if not isinstance(v, str) else v for k, v in (metadata or {}).items()}
    return state, meta


def save_weights(model: nn.Module, path: str | os.PathLike, metadata: dict | None = None) -> None:
    """Write the model's state dict as a safetensors file (contiguous CPU clones, shared tensors copied)."""
    state, meta = _weights_and_meta(model, metadata)
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


def _training_state(optimizer, scheduler, scaler) -> dict:
    state = {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None else {},
        "torch_rng": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda_rng"] = torch.cuda.get_rng_state_all()
    return state


def _kill_point(point: str, epoch: int) -> None:
    """Test hook: SIGKILL this process at ``point`` of epoch ``epoch`` when ``RAMKIT_TEST_KILL_AT`` asks for it."""
    want = os.environ.get(KILL_ENV)
    if want and want == f"{point}@{epoch}":
        os.kill(os.getpid(), signal.SIGKILL)


def _append_log(previous: Path | None, target: Path, row: dict) -> None:
    """``previous`` log rows (those before ``row``'s epoch) plus ``row``, written to ``target``."""
    rows = []
    if previous is not None and previous.is_file():
        with previous.open(newline="") as f:
            rows = [r for r in csv.DictReader(f) if int(r["epoch"]) < int(row["epoch"])]
    rows.append({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    cols: list[str] = []
    for r in rows:
        cols += [k for k in r if k not in cols]
    with target.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=cols)
        w.writeheader()
        w.writerows(rows)


def current_dir(run: str | os.PathLike) -> Path | None:
    """The folder holding the run's current checkpoint (``checkpoint/`` or, for old runs, the run itself)."""
    run = Path(run)
    cur = run / CURRENT
    if cur.is_dir() and (cur / "last.json").is_file():
        return cur
    if (run / "last.json").is_file() and not (run / "last.json").is_symlink():
        return run  # written by an older ramkit: plain files at the top level
    return None


def _link_public(run: Path) -> None:
    """Top-level names -> ``checkpoint/<name>`` (created once; a legacy plain file is replaced)."""
    for name in FILES:
        link = run / name
        if link.is_symlink() and os.readlink(link) == f"{CURRENT}/{name}":
            continue
        tmp = run / f".{name}.link.tmp"
        tmp.unlink(missing_ok=True)
        os.symlink(f"{CURRENT}/{name}", tmp)
        os.replace(tmp, link)


def sweep(run: str | os.PathLike) -> None:
    """Remove what a killed save left: unfinished or superseded checkpoint folders and temporary files."""
    run = Path(run)
    keep = (run / CURRENT).resolve() if (run / CURRENT).is_symlink() else None
    ck = run / CKPT_DIR
    if ck.is_dir():
        for p in ck.iterdir():
            if keep is not None and p.resolve() == keep:
                continue
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
    sweep_temp(run)
    if keep is not None and keep.is_dir():
        _link_public(run)


def save_checkpoint(
    run: str | os.PathLike, model: nn.Module, optimizer, scheduler, scaler, meta: dict, improved: bool, log_row: dict
) -> Path:
    """Write one epoch's checkpoint as a unit (see the module docstring); returns its folder.

    ``meta`` (with ``"epoch"``) goes to ``last.json``; when ``improved`` the current weights and ``meta`` also
    become ``best.*``, otherwise the previous checkpoint's best files are carried over (hard links).
    """
    run = Path(run)
    epoch = int(meta["epoch"])
    prev = current_dir(run)
    ck = run / CKPT_DIR
    ck.mkdir(parents=True, exist_ok=True)
    tmp = ck / f".epoch-{epoch:04d}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    state, wmeta = _weights_and_meta(model, None)
    save_file(state, str(tmp / "last.safetensors"), metadata=wmeta)
    _kill_point("last.safetensors", epoch)
    torch.save(_training_state(optimizer, scheduler, scaler), tmp / "last_state.pt")
    _kill_point("last_state.pt", epoch)
    if improved:
        save_file(state, str(tmp / "best.safetensors"), metadata=wmeta)
        _kill_point("best.safetensors", epoch)
        (tmp / "best.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        _kill_point("best.json", epoch)
    elif prev is not None:
        for name in ("best.safetensors", "best.json"):
            if (prev / name).is_file():
                try:
                    os.link((prev / name).resolve(), tmp / name)
                except OSError:
                    shutil.copy2(prev / name, tmp / name)
    _append_log(prev / "log.csv" if prev is not None else None, tmp / "log.csv", log_row)
    _kill_point("log.csv", epoch)
    (tmp / "last.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
    _kill_point("last.json", epoch)
    for p in tmp.iterdir():
        p.chmod(FILE_MODE)
    final = ck / f"epoch-{epoch:04d}"
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp, final)
    _kill_point("rename", epoch)
    link_tmp = run / f".{CURRENT}.link.tmp"
    link_tmp.unlink(missing_ok=True)
    os.symlink(f"{CKPT_DIR}/{final.name}", link_tmp)
    _kill_point("flip", epoch)
    os.replace(link_tmp, run / CURRENT)  # the commit point
    _kill_point("links", epoch)
    _link_public(run)
    _kill_point("cleanup", epoch)
    sweep(run)
    return final


def mark_finished(run: str | os.PathLike) -> None:
    """Record in the current checkpoint's ``last.json`` that training ended normally (atomic rewrite)."""
    cur = current_dir(run)
    if cur is None:
        return
    meta = read_json(cur / "last.json")
    if not meta.get("finished"):
        meta["finished"] = True
        write_json((cur / "last.json").resolve(), meta, indent=2)


def is_finished(run: str | os.PathLike) -> bool | None:
    """True / False whether training of ``run`` ended normally; None when unknown (runs of older versions)."""
    cur = current_dir(run)
    if cur is None:
        return False
    meta = read_json(cur / "last.json")
    if "finished" in meta or cur != Path(run):
        return bool(meta.get("finished"))
    epochs = (meta.get("config") or {}).get("epochs")
    return None if epochs is None or int(meta.get("epoch", -1)) + 1 < int(epochs) else True


def last_epoch(run: str | os.PathLike) -> str:
    """``"<n> of <epochs>"`` for the run's current checkpoint (1-based), for messages."""
    cur = current_dir(run)
    if cur is None:
        return "none"
    meta = read_json(cur / "last.json")
    return f"{int(meta.get('epoch', -1)) + 1} of {(meta.get('config') or {}).get('epochs', '?')}"


def load_training_state(run: Path, model: nn.Module, optimizer, scheduler, scaler) -> dict:
    """Restore everything :func:`save_checkpoint` wrote; returns the ``last.json`` metadata."""
    cur = current_dir(run)
    if cur is None:
        raise RamkitError("no checkpoint to resume from", run)
    meta = read_json(cur / "last.json")
    meta.pop("finished", None)  # a resumed run is not finished until it ends again
    load_model_weights(model, cur / "last.safetensors")
    try:
        state = torch.load(cur / "last_state.pt", map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001
        raise RamkitError(f"cannot read the training state ({exc})", cur / "last_state.pt") from None
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


@contextmanager
def run_dir_guard(run: str | os.PathLike) -> Iterator[Path]:
    """Remove ``run`` again when the block fails before writing a first checkpoint and ``run`` did not exist."""
    run = Path(run)
    created = not run.exists()
    try:
        yield run
    except BaseException:
        if created and run.is_dir() and current_dir(run) is None:
            shutil.rmtree(run, ignore_errors=True)
        elif run.is_dir():
            sweep(run)
        raise
