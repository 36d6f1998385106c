"""Resume after a real kill: SIGKILL a `ramkit train` process mid-run, run the same command again, and the final
weights equal those of an uninterrupted run, bit for bit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file

from ramkit.synth import generate_cohort


def _train_cmd(data, out):
    return [
        sys.executable,
        "-m",
        "ramkit",
        "train",
        "hand-jsn-score",
        "--data",
        str(data),
        "--out",
        str(out),
        "--model",
        "MobileNet",
        "--model-size",
        "tiny",
        "--epochs",
        "4",
        "--batch-size",
        "8",
        "--patch-size",
        "32",
        "--threads",
        "1",
        "--seed",
        "3",
    ]


@pytest.mark.slow
def test_sigkill_then_resume_gives_identical_weights(tmp_path):
    generate_cohort(tmp_path / "data", hands=4, seed=5, size="small", progress=False)
    data = tmp_path / "data" / "RAM-H1200-v1"
    env = {**os.environ, "RAMKIT_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"}

    full = tmp_path / "full"
    subprocess.run(_train_cmd(data, full), check=True, env=env, capture_output=True, timeout=600)

    part = tmp_path / "part"
    proc = subprocess.Popen(_train_cmd(data, part), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline:  # kill as soon as the first epoch's checkpoint is complete
        meta = part / "last.json"
        if meta.is_file() and json.loads(meta.read_text()).get("epoch", -1) >= 0:
            break
        if proc.poll() is not None:
            pytest.fail("training finished before it could be killed")
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = json.loads((part / "last.json").read_text())["epoch"]
    assert killed_at < 3, "the run was not interrupted"

    subprocess.run(_train_cmd(data, part), check=True, env=env, capture_output=True, timeout=600)
    assert json.loads((part / "last.json").read_text())["epoch"] == 3
    a, b = load_file(str(full / "last.safetensors")), load_file(str(part / "last.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
