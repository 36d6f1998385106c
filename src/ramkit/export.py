"""``ramkit export``: a trained run's selected model as ONNX, checked against PyTorch with ONNX Runtime.

The exported graph is the network alone (input ``image``: N×1×S×S float32 in [0, 1] — 8-bit images / 255,
16-bit / 65535 — output ``logits``), with a dynamic batch axis. Pre- and post-processing stay the caller's, as in
``ramkit predict``: segmentation patch tasks tile the (``input_scale``-resampled) image with an S×S sliding window,
whole-image tasks resize to S×S, scoring tasks resize the joint ROI to S×S; decode with sigmoid > 0.5 (bone
masks), softmax argmax (BE lesions, wrist BE class) or the count of threshold logits > 0 (ordinal scores). These
facts are stored in the ONNX ``metadata_props`` (keys ``ramkit.*``) and in ``RUN/model_card.md``.

The legacy TorchScript-based exporter (``dynamo=False``) is used: it needs only ``onnx``, not ``onnxscript``.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ramkit.errors import RamkitError

FORMATS = ("onnx",)
DEFAULT_OPSET = 17
INPUT_NAME, OUTPUT_NAME = "image", "logits"
#: decode rule of each output activation (ONNX metadata and model card)
DECODE = {
    "sigmoid": "per channel: sigmoid(logit) > 0.5 (multi-label masks)",
    "softmax": "argmax over channels; channel 0 = background",
    "ordinal": "class = number of threshold logits > 0; score = score_values[class]",
    "softmax-binary": "argmax over (no-erosion, erosion)",
}


@dataclass
class ExportResult:
    path: Path
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    max_abs_diff: float  #: max |ORT − torch| over a random batch of ``check_batch`` inputs
    check_batch: int
    metadata: dict = field(default_factory=dict)


def _require_onnx():
    try:
        import onnx
        import onnxruntime
    except ImportError as exc:  # pragma: no cover - the export extra is installed in CI
        raise RamkitError(
            f"ONNX export needs the export extra: pip install 'ramkit[export]' ({exc.name} missing)"
        ) from None
    return onnx, onnxruntime


def input_side(spec, cfg) -> int:
    """The network's input side S (training patch / resized input)."""
    return int(cfg.patch_size)


def export_metadata(spec, cfg, meta: dict) -> dict[str, str]:
    """``ramkit.*`` metadata stored in the ONNX file."""
    return {
        "ramkit.task": spec.id,
        "ramkit.model": str(cfg.model),
        "ramkit.input": spec.kind.input,
        "ramkit.input_side": str(input_side(spec, cfg)),
        "ramkit.input_scale": str(cfg.input_scale),
        "ramkit.normalisation": "float32 in [0, 1]: uint8 / 255, uint16 / 65535; 1 channel",
        "ramkit.activation": spec.kind.activation,
        "ramkit.decode": DECODE.get(spec.kind.activation, spec.kind.activation),
        "ramkit.classes": json.dumps(list(spec.class_names(cfg.be_protocol))),
        "ramkit.score_values": json.dumps(list(spec.score_values)),
        "ramkit.best_epoch": str(meta.get("best_epoch")),
    }


def ort_session(path: str | os.PathLike, threads: int | None = None):
    """An ONNX Runtime CPU inference session."""
    _, ort = _require_onnx()
    so = ort.SessionOptions()
    if threads:
        so.intra_op_num_threads = int(threads)
        so.inter_op_num_threads = 1
    return ort.InferenceSession(os.fspath(path), sess_options=so, providers=["CPUExecutionProvider"])


def export_run(
    run: str | os.PathLike,
    out: str | os.PathLike | None = None,
    fmt: str = "onnx",
    opset: int = DEFAULT_OPSET,
    check_batch: int = 2,
    seed: int = 0,
) -> ExportResult:
    """Export the selected model of ``run`` to ``out`` (default ``RUN/model.onnx``) and verify it with ORT."""
    from ramkit.io.atomic import atomic_path
    from ramkit.train.trainer import load_run

    if fmt not in FORMATS:
        raise RamkitError(f"--format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    onnx, _ = _require_onnx()
    run = Path(run)
    model, spec, cfg, meta = load_run(run, "best", "cpu")
    model.float().eval()
    side = input_side(spec, cfg)
    out = Path(out) if out is not None else run / "model.onnx"
    example = torch.rand(1, 1, side, side, generator=torch.Generator().manual_seed(seed))
    md = export_metadata(spec, cfg, meta)
    with atomic_path(out) as tmp:
        with torch.no_grad():
            torch.onnx.export(
                model,
                (example,),
                os.fspath(tmp),
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                opset_version=opset,
                dynamo=False,
            )
        proto = onnx.load(os.fspath(tmp))
        onnx.checker.check_model(proto)
        for k, v in md.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = k, v
        onnx.save(proto, os.fspath(tmp))
    x = torch.rand(check_batch, 1, side, side, generator=torch.Generator().manual_seed(seed + 1))
    diff, out_shape = compare(model, out, x)
    return ExportResult(out, tuple(x.shape), out_shape, diff, check_batch, md)


def compare(model: torch.nn.Module, onnx_path: str | os.PathLike, x: torch.Tensor) -> tuple[float, tuple[int, ...]]:
    """max |ORT − torch| of the logits on ``x`` and the output shape."""
    sess = ort_session(onnx_path)
    with torch.no_grad():
        ref = model(x).float().numpy()
    got = sess.run([OUTPUT_NAME], {INPUT_NAME: x.numpy()})[0]
    if got.shape != ref.shape:
        raise RamkitError(f"ONNX output shape {got.shape} differs from PyTorch {ref.shape}", onnx_path)
    return float(np.abs(got - ref).max()), tuple(int(s) for s in got.shape)


def time_inference(
    model: torch.nn.Module,
    onnx_path: str | os.PathLike,
    x: torch.Tensor,
    reps: int = 10,
    warmup: int = 2,
    threads: int | None = None,
) -> dict[str, float]:
    """Median wall-clock ms per forward of PyTorch (fp32, no_grad) and ONNX Runtime on ``x``."""
    sess = ort_session(onnx_path, threads)
    feed = {INPUT_NAME: x.numpy()}

    def med(fn) -> float:
        for _ in range(warmup):
            fn()
        ts = []
        for _ in range(reps):
            t0 = time.perf_counter()
            fn()
            ts.append(time.perf_counter() - t0)
        return float(np.median(ts) * 1000.0)

    with torch.no_grad():
        t_torch = med(lambda: model(x))
    t_ort = med(lambda: sess.run([OUTPUT_NAME], feed))
    return {"torch_ms": t_torch, "ort_ms": t_ort, "speedup": t_torch / t_ort if t_ort else float("nan")}


__all__ = ["export_run", "compare", "time_inference", "ort_session", "export_metadata", "ExportResult", "FORMATS"]
