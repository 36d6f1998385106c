"""``TrainConfig``: the configuration of one training run (torch-free, so the CLI can derive its options from it
without importing torch)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from ramkit.errors import RamkitError
from ramkit.tasks import get as get_task


def _opt(help: str, default=None):
    """A TrainConfig field: ``None`` = unset (filled by :meth:`TrainConfig.resolve`), its help text for the CLI and
    the fallback used when neither the user, the budget nor the task's paper protocol sets it."""
    return field(default=None, metadata={"help": help, "default": default})


@dataclass
class TrainConfig:
    """Configuration of one training run (saved resolved as RUN/config.yaml). ``None`` = unset.

    :meth:`resolve` fills unset fields, in this order: the named ``budget`` of the task (``quick`` | ``cpu`` |
    ``paper``; default ``paper``), then the task's paper protocol (``TaskSpec`` hyper-parameters and default model),
    then the fallback of the field. Every field is a ``ramkit train`` option (``--field-name``) and a ``--config``
    / ``--set`` key: the CLI is derived from this class.
    """

    task: str
    data: str
    out: str
    budget: str | None = _opt("Named budget of the task: quick, cpu or paper (the default: papers' protocol, GPU).")
    model: str | None = _opt("Model name (see docs/training.md); budget/task default.")
    model_size: str | None = _opt("base (paper) or tiny (narrow variants for CPU smoke runs).", "base")
    epochs: int | None = _opt("Training epochs.")
    batch_size: int | None = _opt("Batch size (MIL: bags per batch).")
    patch_size: int | None = _opt("Patch / network input side in pixels (ROI, tile and whole-image tasks: resize).")
    patches_per_image: int | None = _opt("Patch tasks: random patches per image per epoch.")
    fg_ratio: float | None = _opt("Patch tasks: share of patches placed on foreground / lesion pixels.")
    pos_image_ratio: float | None = _opt(
        "Patch tasks: share of patches drawn from images with foreground (default: every image equally often)."
    )
    fg_class_weight: float | None = _opt("BE segmentation: cross-entropy weight of the lesion classes (background 1).")
    lr: float | None = _opt("Learning rate.")
    weight_decay: float | None = _opt("Weight decay.")
    patience: int | None = _opt("Early-stopping patience on the selection metric (0 = off).")
    input_scale: float | None = _opt("Patch tasks: resample images by this factor (train + inference).", 1.0)
    warmup_epochs: int | None = _opt("Linear LR warm-up epochs before the cosine decay (0 = paper schedule).", 0)
    seed: int | None = _opt("Random seed.", 2026)
    device: str | None = _opt("cpu, cuda or auto.", "auto")
    amp: str | None = _opt("auto (bf16/fp16 on CUDA, off on CPU), bf16, fp16 or none.", "auto")
    be_protocol: str | None = _opt("BE protocol: svdh90 or 3class.", "svdh90")
    ordinal: str | None = _opt("Ordinal head: independent (paper) or coral.", "independent")
    ordinal_pos_weight: bool | str | None = _opt(
        "Scoring: per-threshold pos_weight #neg/#pos (true), its square root (sqrt) or none (false).", False
    )
    target: str | None = _opt("MIL: the regressed total: be, jsn or total (BE + JSN).", "total")
    mil_scheme: int | None = _opt("MIL bag: 2 = the hand's joint patches, 1 = top-K tiles of 1/10 the longer side.", 2)
    mil_tiles: int | None = _opt("MIL scheme 1: tiles kept per hand (top-K by the patch classifier).", 50)
    mil_feature_epochs: int | None = _opt(
        "MIL: epochs of the normal/abnormal patch classifier (feature extractor).", 10
    )
    mil_finetune: bool | None = _opt("MIL: fine-tune the feature extractor with the MIL head (default: frozen).", False)
    weights: str | None = _opt("Start from a user safetensors file.")
    num_workers: int | None = _opt("DataLoader workers.", 0)
    max_val_cases: int | None = _opt("Validate on the first N cases only (CPU smoke runs).")
    val_overlap: float | None = _opt("Sliding-window overlap of the per-epoch validation (test always 0.5).", 0.5)
    max_minutes: float | None = _opt("Stop training after this wall-clock budget (minutes).")
    threads: int | None = _opt("torch CPU threads.")
    tensorboard: bool | None = _opt("Write TensorBoard events under RUN/tb.", True)
    resume: bool | None = _opt("Continue from RUN/last.* when present.", True)
    allow_invalid_data: bool | None = _opt(
        "Train even when `ramkit check` finds errors in the data (recorded in the run).", False
    )
    model_kw: dict | None = _opt("Extra model constructor arguments (YAML mapping; --set model_kw={filters: [8, 16]}).")

    def resolve(self) -> TrainConfig:
        """Fill unset fields from the budget, the task's paper protocol and the field fallbacks; validate."""
        spec = get_task(self.task)
        d = asdict(self)
        d["budget"] = d["budget"] or "paper"
        layers = (spec.budget(d["budget"]), spec.budget("paper"))
        for f in fields(self):
            if d[f.name] is not None:
                continue
            for layer in layers:
                if layer.get(f.name) is not None:
                    d[f.name] = layer[f.name]
                    break
            else:
                d[f.name] = f.metadata.get("default")
        d["model_kw"] = dict(d["model_kw"] or {})
        if isinstance(d["ordinal_pos_weight"], str) and d["ordinal_pos_weight"].lower() in ("true", "false"):
            d["ordinal_pos_weight"] = d["ordinal_pos_weight"].lower() == "true"
        from ramkit.validate import check_train_options

        check_train_options(d)  # numbers, fractions, choices: one line naming the option
        for k, allowed in {"amp": ("auto", "bf16", "fp16", "none"), "device": ("auto", "cpu", "cuda")}.items():
            if d[k] not in allowed:
                raise RamkitError(f"unknown --{k.replace('_', '-')} {d[k]!r}; expected one of: {', '.join(allowed)}")
        if d["ordinal_pos_weight"] not in (True, False, "sqrt"):
            raise RamkitError(f"ordinal_pos_weight must be true, false or 'sqrt' (got {d['ordinal_pos_weight']!r})")
        if not 0.05 <= float(d["input_scale"]) <= 4.0:
            raise RamkitError(f"--input-scale must be in [0.05, 4] (got {d['input_scale']})")
        if not 0.0 <= float(d["val_overlap"]) < 1.0:
            raise RamkitError(f"val_overlap must be in [0, 1) (got {d['val_overlap']})")
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
