"""``ramkit export --format onnx``: ONNX Runtime reproduces PyTorch for a segmentation and a scoring run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
from train_fakes import FakeDataset, tiny_config  # noqa: E402

from ramkit.train import fit  # noqa: E402

pytest.importorskip("onnxruntime")
torch.set_num_threads(1)


def _run(task: str, out: Path) -> Path:
    return fit(tiny_config(task, out), dataset=FakeDataset(n_channels=30, n=3, size=40), quiet=True)


@pytest.mark.parametrize("task,channels", [("hand-bone-seg", 30), ("hand-jsn-score", 4)])
def test_onnx_matches_pytorch(tmp_path, capsys, task, channels):
    import onnx

    from ramkit.cli import main
    from ramkit.export import compare, ort_session
    from ramkit.train.trainer import load_run

    run = _run(task, tmp_path / task)
    main(["export", str(run), "--format", "onnx"])
    line = capsys.readouterr().out
    assert "max |ONNX Runtime − PyTorch|" in line
    path = run / "model.onnx"
    model, spec, cfg, _ = load_run(run, "best", "cpu")
    x = torch.rand(3, 1, 32, 32, generator=torch.Generator().manual_seed(7))  # batch 3: the batch axis is dynamic
    diff, shape = compare(model, path, x)
    print(f"{task}: max |ORT - torch| = {diff:.3g}")
    assert diff < 1e-4
    assert shape[:2] == (3, channels)
    got = ort_session(path).run(None, {"image": x.numpy()})[0]
    with torch.no_grad():
        ref = model(x).numpy()
    if spec.kind.activation == "ordinal":  # the decoded scores agree, not just the logits
        assert np.array_equal((got > 0).sum(1), (ref > 0).sum(1))
    else:
        assert np.array_equal(got > 0, ref > 0)
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert meta["ramkit.task"] == task and json.loads(meta["ramkit.classes"]) == list(spec.class_names())
    card = (run / "model_card.md").read_text()
    assert "## Export" in card and "model.onnx" in card and f"# Model card: {task}" in card


def test_export_bad_input(tmp_path):
    from ramkit.errors import RamkitError
    from ramkit.export import export_run

    with pytest.raises(RamkitError, match="not found"):
        export_run(tmp_path)
    run = _run("hand-jsn-score", tmp_path / "r")
    with pytest.raises(RamkitError, match="--format must be one of onnx"):
        export_run(run, fmt="tflite")
    assert not list(run.glob("*.onnx*"))  # nothing half-written
