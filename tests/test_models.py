"""Model registry, ordinal heads, ABMIL pooling and weight loading."""

from __future__ import annotations

import pytest
import torch

from ramkit.errors import RamkitError
from ramkit.models import (
    OPTIONAL,
    GatedAttentionMIL,
    create,
    list_models,
    load_weights,
    non_monotone_share,
    ordinal_decode,
    ordinal_loss,
    ordinal_targets,
)

torch.set_num_threads(1)
FIXED_224 = {"LeViT", "EfficientFormer"}


@pytest.mark.parametrize("name", list_models("seg"))
def test_seg_models_forward(name):
    torch.manual_seed(0)
    m = create(name, "seg", 1, 3, size="tiny")
    x = torch.randn(2, 1, 64, 64)
    y = m(x)
    assert y.shape == (2, 3, 64, 64)
    assert torch.isfinite(y).all()


@pytest.mark.parametrize("name", ["Unet", "Unet++", "SegFormer"])
def test_seg_models_backward(name):
    m = create(name, "seg", 1, 2, size="tiny")
    y = m(torch.randn(2, 1, 64, 64))
    y.mean().backward()
    grads = [p.grad for p in m.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


@pytest.mark.parametrize("name", list_models("cls"))
def test_cls_models_ordinal_forward(name):
    m = create(name, "ordinal", 1, 5, size="tiny").eval()
    s = 224 if name in FIXED_224 else 64
    with torch.no_grad():
        y = m(torch.randn(2, 1, s, s))
    assert y.shape == (2, 4)


def test_cls_model_binary_and_backward():
    m = create("ResNet", "cls", 1, 2, size="tiny")
    y = m(torch.randn(2, 1, 32, 32))
    assert y.shape == (2, 2)
    torch.nn.functional.cross_entropy(y, torch.tensor([0, 1])).backward()


def test_task_id_resolves_kind():
    m = create("MobileNet", "hand-jsn-score", 1, 5, size="tiny")
    assert m(torch.randn(2, 1, 32, 32)).shape == (2, 4)
    with pytest.raises(RamkitError, match="classification model"):
        create("ResNet", "hand-bone-seg", 1, 30)


def test_unknown_and_optional_models():
    with pytest.raises(RamkitError, match="unknown model 'NoSuchNet'.*Unet.*ResNet"):
        create("NoSuchNet", "seg", 1, 2)
    for name in OPTIONAL:
        with pytest.raises(RamkitError, match="not available in ramkit"):
            create(name, "seg", 1, 2)
    with pytest.raises(RamkitError, match="mamba-ssm"):
        create("U-Mamba", "seg", 1, 2)


def test_ordinal_encode_decode():
    y = torch.tensor([0, 1, 2, 4])
    t = ordinal_targets(y, 5)
    assert t.tolist() == [[0, 0, 0, 0], [1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 1]]
    logits = (t * 2 - 1) * 3.0  # perfect confident logits
    assert ordinal_decode(logits).tolist() == y.tolist()
    assert non_monotone_share(logits) == 0.0
    bad = torch.tensor([[-1.0, 1.0, -1.0, -1.0], [1.0, 1.0, -1.0, -1.0]])
    assert non_monotone_share(bad) == 0.5
    assert ordinal_decode(bad).tolist() == [1, 2]  # count of positive thresholds, as the paper
    assert float(ordinal_loss(logits, y)) < 0.1


def test_coral_is_rank_consistent():
    m = create("ResNet", "ordinal", 1, 5, size="tiny", ordinal="coral")
    with torch.no_grad():
        m.coral.delta.copy_(torch.randn(3))
        logits = m(torch.randn(8, 1, 32, 32))
    cut = m.coral.cutpoints()
    assert (cut[1:] > cut[:-1]).all()
    assert non_monotone_share(logits) == 0.0
    assert (logits[:, 1:] <= logits[:, :-1]).all()


def test_abmil_attention():
    torch.manual_seed(0)
    mil = GatedAttentionMIL(16, hidden=8, dropout=0.1).eval()
    out, attn = mil(torch.randn(3, 7, 16))
    assert out.shape == (3, 1) and attn.shape == (3, 7)
    torch.testing.assert_close(attn.sum(1), torch.ones(3))
    mask = torch.ones(3, 7, dtype=torch.bool)
    mask[:, 5:] = False
    _, attn = mil(torch.randn(3, 7, 16), mask)
    assert (attn[:, 5:] == 0).all()
    torch.testing.assert_close(attn.sum(1), torch.ones(3))
    out1, a1 = mil(torch.randn(4, 16))
    assert out1.shape == (1,) and a1.shape == (4,)
    mil.train()
    out, _ = mil(torch.randn(2, 5, 16))
    out.sum().backward()
    assert mil.V.weight.grad is not None and mil.U.weight.grad is not None


def test_load_weights(tmp_path):
    from safetensors.torch import save_file

    m = create("Unet", "seg", 1, 2, size="tiny")
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous().clone() for k, v in m.state_dict().items()}, str(path))
    m2 = create("Unet", "seg", 1, 2, size="tiny")
    load_weights(m2, path)
    for k, v in m.state_dict().items():
        assert torch.equal(v, m2.state_dict()[k])
    wrong = create("Unet", "seg", 1, 3, size="tiny")
    with pytest.raises(RamkitError, match="do not fit the model"):
        load_weights(wrong, path)
    (tmp_path / "bad.safetensors").write_bytes(b"not a file")
    with pytest.raises(RamkitError, match="not a safetensors"):
        load_weights(m2, tmp_path / "bad.safetensors")
    with pytest.raises(RamkitError, match="not found"):
        load_weights(m2, tmp_path / "missing.safetensors")
