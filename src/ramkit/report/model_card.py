"""``RUN/model_card.md``: what a trained run is, what it was trained on, how well it did, what it is for.

Written by ``ramkit test`` (with the test metrics) and refreshed by ``ramkit export`` (MONAI bundles carry the
same kind of metadata). Synthetic training data is detected from the dataset's own annotation files: the ramkit
generator writes ``info.description = "ramkit synthetic ... cohort"`` into every COCO file it writes.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from ramkit.io.atomic import write_text

CARD_FILE = "model_card.md"
#: the COCO file whose ``info`` is read for provenance, per layout (small files: joint boxes)
PROVENANCE_FILES = {
    "h1200": (
        "SvdH_Scoring/SvdH_BE_Scoring/train/_annotations_be_joint_detection.coco.json",
        "Segmentation/train/_annotations_be_rle.coco.json",
    ),
    "w600": ("JointLocationDetection/Joints.coco.json",),
}
_DESCRIPTION = re.compile(r'"description"\s*:\s*"((?:[^"\\]|\\.)*)"')


def dataset_provenance(root: str | os.PathLike) -> dict:
    """``{"layout", "root", "description", "synthetic"}`` of a dataset folder; ``synthetic`` is None if unknown.

    Reads at most the first 256 KiB of one annotation file (COCO writers put ``info`` first).
    """
    from ramkit.errors import RamkitError
    from ramkit.io.layout import detect

    try:
        layout, resolved = detect(root)
    except RamkitError:
        return {"layout": None, "root": os.fspath(root), "description": None, "synthetic": None}
    desc = None
    for rel in PROVENANCE_FILES[layout]:
        p = resolved / rel
        if p.is_file():
            with open(p, encoding="utf-8", errors="replace") as f:
                m = _DESCRIPTION.search(f.read(256 * 1024))
            if m:
                desc = json.loads(f'"{m.group(1)}"')
                break
    synthetic = None if desc is None else desc.lower().startswith("ramkit synthetic")
    return {"layout": layout, "root": os.fspath(resolved), "description": desc, "synthetic": synthetic}


def _metric_lines(summary: dict) -> list[str]:
    skip = {"task", "model", "split", "n_cases", "best_epoch", "amp", "params", "n_images", "run"}
    lines = []
    for k, v in summary.items():
        if k in skip or k.endswith("_sd") or isinstance(v, (dict, list)) or v is None:
            continue
        sd = summary.get(f"{k}_sd")
        val = f"{v:.4f}" if isinstance(v, float) else str(v)
        if isinstance(sd, float):
            val += f" ± {sd:.4f}"
        lines.append(f"| {k} | {val} |")
    return lines


def model_card(run: str | os.PathLike, summary: dict | None = None, export=None) -> str:
    """Markdown model card of ``run`` (``summary``: a ``ramkit test`` summary, or None before testing;
    ``export``: a :class:`ramkit.export.ExportResult` to describe, or None to keep an existing export section)."""
    from ramkit.tasks import get
    from ramkit.train import checkpoint as ck

    run = Path(run)
    meta = ck.read_json(run / "best.json")
    cfg = meta.get("config", {})
    spec = get(meta.get("task") or cfg.get("task"))
    prov = dataset_provenance(cfg.get("data", ""))
    synthetic = prov["synthetic"]
    if synthetic:
        data_line = f"**Trained on synthetic data** ({prov['description']}), not on RAM-H1200/RAM-W600 radiographs."
    elif synthetic is False:
        data_line = f"Not ramkit's synthetic cohort (annotation files say “{prov['description']}”)."
    else:
        data_line = "Provenance unknown (no annotation file with an `info.description` was readable)."
    lines = [
        f"# Model card: {spec.id} ({cfg.get('model')})",
        "",
        f"- **Task**: {spec.id} — {spec.description}; input: {spec.kind.input}, output: {spec.kind.activation}.",
        f"- **Data**: `{cfg.get('data')}`. {data_line}",
        f"- **Model**: {cfg.get('model')} (size {cfg.get('model_size')}), "
        f"{summary.get('params', 'unknown') if summary else 'see export'} trainable parameters; "
        f"weights `best.safetensors` (epoch {meta.get('best_epoch')}).",
        f"- **Budget**: {cfg.get('epochs')} epochs, batch {cfg.get('batch_size')}, patch/input {cfg.get('patch_size')}"
        f"{', input scale ' + str(cfg.get('input_scale')) if cfg.get('input_scale', 1.0) != 1.0 else ''}, "
        f"LR {cfg.get('lr')}, weight decay {cfg.get('weight_decay')}, seed {cfg.get('seed')}, "
        f"device {cfg.get('device')}, amp {cfg.get('amp')}. Full configuration: `config.yaml`.",
        "",
        "## Metrics",
        "",
    ]
    if summary:
        t = summary.get("timing", {})
        lines += [
            f"`ramkit test` on split **{summary.get('split')}** ({summary.get('n_cases')} cases, "
            f"inference {'fp32' if summary.get('amp', 'none') == 'none' else summary['amp']}); median "
            f"{t.get('median_ms', float('nan')):.1f} {t.get('unit', '')}.",
            "",
            "| metric | value |",
            "|---|---|",
            *_metric_lines(summary),
        ]
    else:
        lines.append("Not tested yet: run `ramkit test RUN --data DATA`.")
    lines += [
        "",
        "## Intended use",
        "",
        "Research on automated SvdH scoring and bone segmentation of hand/wrist radiographs "
        "(RAM-H1200 / RAM-W600 benchmark tasks). **Not a medical device**; not for diagnosis or treatment decisions.",
    ]
    if synthetic:
        lines.append(
            "This model learned from ramkit's synthetic phantoms: it demonstrates and tests the pipeline; its "
            "weights and metrics say nothing about real radiographs."
        )
    lines += _export_lines(run, export)
    lines += ["", "Written by ramkit; see docs/report.md.", ""]
    return "\n".join(lines)


EXPORT_HEADING = "## Export"


def _export_lines(run: Path, export) -> list[str]:
    if export is None:  # keep the section an earlier `ramkit export` wrote
        old = run / CARD_FILE
        text = old.read_text(encoding="utf-8") if old.is_file() else ""
        if EXPORT_HEADING not in text:
            return []
        section = text.split(EXPORT_HEADING, 1)[1].split("\n## ", 1)[0].split("\nWritten by ramkit", 1)[0]
        return ["", EXPORT_HEADING + section.rstrip()]
    md = export.metadata
    return [
        "",
        EXPORT_HEADING,
        "",
        f"- `{export.path.name}` (ONNX): input `image` N×1×{md['ramkit.input_side']}×{md['ramkit.input_side']} "
        f"float32 ({md['ramkit.normalisation']}), output `logits` {list(export.output_shape)[1:]} per item; "
        "dynamic batch axis.",
        f"- Decode: {md['ramkit.decode']}. Input handling: {md['ramkit.input']} "
        f"(input scale {md['ramkit.input_scale']}), as `ramkit predict`.",
        f"- Checked with ONNX Runtime: max |ORT − PyTorch| = {export.max_abs_diff:.3g} on a random batch of "
        f"{export.check_batch}.",
    ]


def write_model_card(run: str | os.PathLike, summary: dict | None = None, export=None) -> Path:
    """Write ``RUN/model_card.md`` atomically; returns its path."""
    path = Path(run) / CARD_FILE
    write_text(path, model_card(run, summary, export))
    return path


__all__ = ["dataset_provenance", "model_card", "write_model_card", "CARD_FILE"]
