"""total-svdh-mil: gated attention learns a planted abnormal instance; bags, train/test/predict on a tiny cohort."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import torch

from ramkit.errors import RamkitError
from ramkit.models.mil import GatedAttentionMIL
from ramkit.tasks.mil import tiles

torch.set_num_threads(1)


def _toy_bags(n_bags: int, n_inst: int = 8, dim: int = 4, seed: int = 0):
    """Noise instances; half the bags hold one planted abnormal instance (feature 0 shifted), target 1 for those."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n_bags, n_inst, dim, generator=g)
    where = torch.randint(0, n_inst, (n_bags,), generator=g)
    y = (torch.arange(n_bags) % 2).float()
    pos = y > 0
    x[torch.arange(n_bags)[pos], where[pos], 0] += 4.0  # the planted abnormal patch
    return x, y, where, pos


def test_attention_sums_to_one_and_learns_the_planted_patch():
    torch.manual_seed(0)
    x, y, where, pos = _toy_bags(256)
    mil = GatedAttentionMIL(4, hidden=16, dropout=0.1)
    mil.eval()
    with torch.no_grad():
        _, a0 = mil(x)
    assert torch.allclose(a0.sum(1), torch.ones(256), atol=1e-6)
    before = float(a0[torch.arange(256), where][pos].mean())
    opt = torch.optim.Adam(mil.parameters(), lr=1e-2)
    mil.train()
    for _ in range(300):
        pred, _ = mil(x)
        loss = torch.nn.functional.mse_loss(pred.squeeze(-1), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    mil.eval()
    xt, yt, wt, pt = _toy_bags(64, seed=1)  # unseen bags
    with torch.no_grad():
        pred, a = mil(xt)
    assert torch.allclose(a.sum(1), torch.ones(64), atol=1e-6)
    on_planted = float(a[torch.arange(64), wt][pt].mean())
    assert before < 0.25 and on_planted > 0.5, (before, on_planted)  # uniform would be 1/8
    assert float(torch.nn.functional.mse_loss(pred.squeeze(-1), yt)) < 0.5 * float(yt.var())
    # masked (padded) instances get no attention
    mask = torch.ones(64, 8, dtype=torch.bool)
    mask[:, -2:] = False
    with torch.no_grad():
        _, am = mil(xt, mask)
    assert float(am[:, -2:].abs().max()) == 0.0 and torch.allclose(am.sum(1), torch.ones(64), atol=1e-6)


def test_tiles_are_a_tenth_of_the_longer_side_and_skip_background():
    img = np.full((200, 100), 10, np.uint8)
    img[:, :60] = 200
    ts = tiles(img)
    assert {t.box[2] for t in ts} == {20.0}  # 1/10 of 200
    assert all(t.box[0] + t.box[2] <= 60 for t in ts)  # background tiles dropped
    assert len(ts) == 10 * 3


@pytest.mark.slow
def test_mil_trains_tests_and_predicts_on_a_tiny_cohort(tmp_path):
    from ramkit.io.h1200 import H1200
    from ramkit.synth import generate_cohort
    from ramkit.tasks.mil import predict_bag
    from ramkit.train import TrainConfig, fit
    from ramkit.train.evaluate import run_predict, run_test
    from ramkit.train.trainer import load_run

    generate_cohort(tmp_path / "d", hands=6, seed=2, size="small", progress=False)
    data = tmp_path / "d" / "RAM-H1200-v1"
    runs = {}
    for scheme in (2, 1):
        cfg = TrainConfig(
            task="total-svdh-mil",
            data=str(data),
            out=str(tmp_path / f"s{scheme}"),
            budget="quick",
            epochs=3,
            mil_feature_epochs=1,
            patch_size=32,
            mil_scheme=scheme,
            mil_tiles=6,
            threads=1,
            tensorboard=False,
            seed=1,
        )
        runs[scheme] = fit(cfg, quiet=True)
        s = run_test(runs[scheme], data, quiet=True, warmup=1)
        assert s["n_cases"] >= 1 and s["timing"]["unit"] == "ms per hand"
        out = runs[scheme] / "test_test"
        pred = pd.read_csv(out / "predictions.csv")
        att = pd.read_csv(out / "attention.csv")
        assert np.allclose(att.groupby("hand")["attention"].sum(), 1.0, atol=1e-5)
        for f in ("scatter.png", "bland_altman.png", "published.csv"):
            assert (out / f).is_file()
        assert len(list((out / "attention").glob("*.png"))) == len(pred)
        # the test totals are BE + JSN of the release's joint scores
        ds = H1200(data)
        hand = pred["hand"].iloc[0]
        want = sum(r.score for k in ("be", "jsn") for r in ds.scores(k, "test") if r.hand == hand)
        assert pred["truth"].iloc[0] == want
    # predict on a whole radiograph: scheme 2 with the release's joint boxes, scheme 1 from tiles alone
    img = next((data / "Segmentation" / "test").glob("*.bmp"))
    boxes = ",".join(
        str(
            data / "SvdH_Scoring" / f"SvdH_{k}_Scoring" / "test" / f"_annotations_{k.lower()}_joint_detection.coco.json"
        )
        for k in ("BE", "JSN")
    )
    files = run_predict(runs[2], [str(img)], tmp_path / "p2", joint_boxes=boxes)
    tot = pd.read_csv(tmp_path / "p2" / "totals.csv")
    assert len(tot) == 1 and np.isfinite(tot["pred"]).all() and any(str(f).endswith("_attention.png") for f in files)
    assert len(pd.read_csv(tmp_path / "p2" / "attention.csv")) == 31  # 16 BE + 15 JSN joints
    with pytest.raises(RamkitError, match="joint-boxes"):
        run_predict(runs[2], [str(img)], tmp_path / "p2b")
    run_predict(runs[1], [str(img)], tmp_path / "p1")
    assert len(pd.read_csv(tmp_path / "p1" / "attention.csv")) == 6
    # the library entry point analyze can call
    model, _, cfg, _ = load_run(runs[2])
    total, attn = predict_bag(model, [np.full((20, 20), 100, np.uint8)] * 3, [(0, 0)] * 3, ["a", "b", "c"])
    assert np.isfinite(total) and attn.shape == (3,) and attn.sum() == pytest.approx(1.0, abs=1e-5)
    # `ramkit analyze` shows the MIL total beside the per-joint sums and draws its attention map
    from test_analyze import _every_bone_everywhere
    from train_fakes import tiny_config

    from ramkit.pipeline.analyze import analyze

    bone_cfg = tiny_config("hand-bone-seg", tmp_path / "bone", data=data)
    bone = fit(bone_cfg, quiet=True)
    _every_bone_everywhere(bone, 30)
    res = analyze([img], tmp_path / "an", {"hand-bone-seg": bone, "total-svdh-mil": runs[2]}, quiet=True)
    assert res["failed"] == 0
    result = json.loads((tmp_path / "an" / img.stem / "result.json").read_text())
    mil = result["mil"]
    assert mil["key"] == "SvdH_mil" and np.isfinite(mil["total"]) and result["totals"]["SvdH_mil"] == mil["total"]
    assert sum(p["attention"] for p in mil["patches"]) == pytest.approx(1.0, abs=1e-3)
    assert (tmp_path / "an" / img.stem / "attention.png").is_file()
    assert "MIL total" in (tmp_path / "an" / "report.html").read_text()
