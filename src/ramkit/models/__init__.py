"""One model registry (timm style): ``create(name, task, in_channels, out_channels)`` and ``list_models(kind)``.

Every entry of :data:`REGISTRY` maps a paper name to a builder; adding a model is one entry. All models are built
from scratch (``encoder_weights=None`` / ``pretrained=False``): nothing is ever downloaded. A user checkpoint is
loaded with :func:`load_weights` (safetensors only).

``task`` is the *kind* of output: ``"seg"`` (C-channel logits map), ``"cls"`` (C class logits) or ``"ordinal"``
(``out_channels`` = number of ordered classes K; the model emits K−1 threshold logits, see
:mod:`ramkit.models.ordinal`). A benchmark task id (e.g. ``"hand-jsn-score"``) is accepted too and resolved
through :func:`ramkit.tasks.get`.

``size="tiny"`` builds a narrow variant of the same architecture for fast CPU tests and smoke runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from ramkit.errors import RamkitError
from ramkit.models.mil import GatedAttentionMIL
from ramkit.models.ordinal import (
    CoralHead,
    OrdinalModel,
    non_monotone_share,
    ordinal_decode,
    ordinal_loss,
    ordinal_targets,
)

__all__ = [
    "REGISTRY",
    "OPTIONAL",
    "ModelEntry",
    "create",
    "list_models",
    "load_weights",
    "count_parameters",
    "GatedAttentionMIL",
    "OrdinalModel",
    "CoralHead",
    "ordinal_targets",
    "ordinal_decode",
    "ordinal_loss",
    "non_monotone_share",
]


@dataclass(frozen=True)
class ModelEntry:
    """A registry entry: kind ("seg"|"cls"), provider, builder(in_ch, out_ch, size, **kw) -> nn.Module."""

    kind: str
    provider: str
    builder: Callable[..., nn.Module]
    note: str = ""


class _FirstOutput(nn.Module):
    """Wrap a network that returns a list/tuple (MONAI BasicUNetPlusPlus) so it returns the main output."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        return out[0] if isinstance(out, (list, tuple)) else out


# ---------------------------------------------------------------------------------------------------------------
# Segmentation builders
# ---------------------------------------------------------------------------------------------------------------
def _dynunet(cin: int, cout: int, size: str, **kw) -> nn.Module:
    from monai.networks.nets import DynUNet

    filters = kw.pop("filters", (8, 16, 32, 64) if size == "tiny" else (32, 64, 128, 256, 512))
    n = len(filters)
    return DynUNet(
        spatial_dims=2,
        in_channels=cin,
        out_channels=cout,
        kernel_size=[3] * n,
        strides=[1] + [2] * (n - 1),
        upsample_kernel_size=[2] * (n - 1),
        filters=list(filters),
        res_block=kw.pop("res_block", True),
        **kw,
    )


def _unetpp(cin: int, cout: int, size: str, **kw) -> nn.Module:
    from monai.networks.nets import BasicUNetPlusPlus

    features = kw.pop("features", (8, 8, 16, 32, 64, 8) if size == "tiny" else (32, 32, 64, 128, 256, 32))
    return _FirstOutput(BasicUNetPlusPlus(spatial_dims=2, in_channels=cin, out_channels=cout, features=features, **kw))


def _swinunetr(cin: int, cout: int, size: str, **kw) -> nn.Module:
    from monai.networks.nets import SwinUNETR

    feature = kw.pop("feature_size", 12 if size == "tiny" else 48)
    return SwinUNETR(
        in_channels=cin,
        out_channels=cout,
        feature_size=feature,
        spatial_dims=2,
        depths=kw.pop("depths", (2, 2, 2, 2)),
        **kw,
    )


def _segresnet(cin: int, cout: int, size: str, **kw) -> nn.Module:
    from monai.networks.nets import SegResNet

    return SegResNet(
        spatial_dims=2,
        in_channels=cin,
        out_channels=cout,
        init_filters=kw.pop("init_filters", 8 if size == "tiny" else 32),
        **kw,
    )


def _smp(arch: str, default_encoder: str) -> Callable[..., nn.Module]:
    def build(cin: int, cout: int, size: str, **kw) -> nn.Module:
        import segmentation_models_pytorch as smp

        encoder = kw.pop(
            "encoder_name", "resnet18" if size == "tiny" and default_encoder.startswith("resnet") else default_encoder
        )
        if kw.pop("encoder_weights", None) is not None:
            raise RamkitError("encoder_weights must be None: ramkit never downloads weights (use --weights PATH)")
        return getattr(smp, arch)(encoder_name=encoder, encoder_weights=None, in_channels=cin, classes=cout, **kw)

    return build


# ---------------------------------------------------------------------------------------------------------------
# Classification builders
# ---------------------------------------------------------------------------------------------------------------
def _timm(base: str, tiny: str, fixed_224: bool = False) -> Callable[..., nn.Module]:
    def build(cin: int, cout: int, size: str, **kw) -> nn.Module:
        import timm

        arch = kw.pop("variant", tiny if size == "tiny" else base)
        return timm.create_model(arch, pretrained=False, in_chans=cin, num_classes=cout, **kw)

    build.fixed_224 = fixed_224  # type: ignore[attr-defined]
    return build


def _densenet(cin: int, cout: int, size: str, **kw) -> nn.Module:
    from monai.networks.nets import DenseNet, DenseNet121

    if size == "tiny":
        return DenseNet(
            spatial_dims=2,
            in_channels=cin,
            out_channels=cout,
            init_features=8,
            growth_rate=8,
            block_config=(2, 2),
            bn_size=2,
            **kw,
        )
    return DenseNet121(spatial_dims=2, in_channels=cin, out_channels=cout, **kw)


REGISTRY: dict[str, ModelEntry] = {
    # segmentation: MONAI
    "Unet": ModelEntry("seg", "MONAI", _dynunet, "DynUNet, residual blocks, filters 32-512, 5 levels"),
    "Unet++": ModelEntry("seg", "MONAI", _unetpp, "BasicUNetPlusPlus, features 32,32,64,128,256,32"),
    "SwinUNETR": ModelEntry("seg", "MONAI", _swinunetr, "2-D, feature 48, depths 2,2,2,2; input side % 32 == 0"),
    "SegResNet": ModelEntry("seg", "MONAI", _segresnet, "2-D SegResNet"),
    # segmentation: segmentation-models-pytorch (smp default encoders, random init)
    "DeepLabV3": ModelEntry("seg", "smp", _smp("DeepLabV3", "resnet34")),
    "DeepLabV3+": ModelEntry("seg", "smp", _smp("DeepLabV3Plus", "resnet34")),
    "FPN": ModelEntry("seg", "smp", _smp("FPN", "resnet34")),
    "PSPNet": ModelEntry("seg", "smp", _smp("PSPNet", "resnet34")),
    "SegFormer": ModelEntry("seg", "smp", _smp("Segformer", "mit_b0")),
    # classification / scoring backbones
    "ResNet": ModelEntry("cls", "timm", _timm("resnet34", "resnet18"), "resnet34 (paper ResNet34)"),
    "ResNet18": ModelEntry("cls", "timm", _timm("resnet18", "resnet18")),
    "DenseNet": ModelEntry("cls", "MONAI", _densenet, "DenseNet121"),
    "EfficientNetV2": ModelEntry("cls", "timm", _timm("efficientnetv2_s", "efficientnetv2_rw_t")),
    "MobileViT": ModelEntry("cls", "timm", _timm("mobilevit_s", "mobilevit_xxs")),
    "LeViT": ModelEntry("cls", "timm", _timm("levit_128s", "levit_128s", True), "fixed 224x224 input, batch >= 2"),
    "EfficientFormer": ModelEntry(
        "cls", "timm", _timm("efficientformerv2_s0", "efficientformerv2_s0", True), "fixed 224x224 input"
    ),
    "ConvNeXtV2": ModelEntry("cls", "timm", _timm("convnextv2_tiny", "convnextv2_atto")),
    "MobileNet": ModelEntry("cls", "timm", _timm("mobilenetv2_050", "mobilenetv3_small_050")),
}

#: Models of the papers that ramkit does not build, with the reason and what would be needed.
OPTIONAL: dict[str, str] = {
    "TransUNet": "needs the vendored TransUNet (R50-ViT-B/16) code, which is not part of ramkit; use SwinUNETR or "
    "SegFormer as a transformer baseline",
    "UKAN": "needs the vendored U-KAN code (not packaged on PyPI); not included in ramkit",
    "U-Mamba": "needs mamba-ssm CUDA kernels (GPU-only) and the vendored U-Mamba/dynamic_network_architectures code",
    "Swin-UMamba": "needs mamba-ssm CUDA kernels (GPU-only) and the vendored Swin-UMamba code",
    "MambaVision": "needs the mambavision package, which pins mamba-ssm (CUDA-only) and old timm/transformers",
    "MedMamba": "needs the vendored MedMamba (VSSM) code with selective-scan CUDA kernels; not included",
    "ConvKAN": "needs a vendored ConvKAN implementation (no maintained PyPI package); not included",
    "SAM": "zero-shot SAM needs user-supplied segment-anything weights and GT-derived prompts; not a trainable model "
    "here",
    "MedSAM": "zero-shot MedSAM needs user-supplied MedSAM weights and GT-derived prompts; not a trainable model here",
}
_ALIASES = {
    "UNet": "Unet",
    "UNet++": "Unet++",
    "UnetPlusPlus": "Unet++",
    "ResNet34": "ResNet",
    "DenseNet121": "DenseNet",
    "Segformer": "SegFormer",
    "DeepLabV3Plus": "DeepLabV3+",
    "TransUnet": "TransUNet",
    "UMamba": "U-Mamba",
    "SwinUMamba": "Swin-UMamba",
}


def resolve_name(name: str) -> str:
    """Canonical registry name for ``name`` (case-insensitive, common aliases); RamkitError when unknown/absent."""
    name = _ALIASES.get(name, name)
    lower = {k.lower(): k for k in list(REGISTRY) + list(OPTIONAL)}
    name = lower.get(name.lower(), name)
    if name in OPTIONAL:
        raise RamkitError(f"model {name!r} is not available in ramkit: {OPTIONAL[name]}")
    if name not in REGISTRY:
        raise RamkitError(
            f"unknown model {name!r}; segmentation models: {', '.join(list_models('seg'))}; "
            f"classification models: {', '.join(list_models('cls'))}"
        )
    return name


def list_models(kind: str | None = None) -> list[str]:
    """Registered model names, optionally only ``kind`` "seg" or "cls" (ordinal scoring uses the "cls" models)."""
    if kind is not None and kind not in ("seg", "cls", "ordinal"):
        raise RamkitError(f"unknown model kind {kind!r}; expected 'seg' or 'cls'")
    kind = "cls" if kind == "ordinal" else kind
    return [n for n, e in REGISTRY.items() if kind is None or e.kind == kind]


def create(
    name: str, task: str, in_channels: int, out_channels: int, *, size: str = "base", ordinal: str = "independent", **kw
) -> nn.Module:
    """Build model ``name`` for ``task`` ("seg" | "cls" | "ordinal" or a benchmark task id), from scratch.

    For ``task="ordinal"`` ``out_channels`` is the number of ordered classes K and the returned
    :class:`OrdinalModel` emits K−1 threshold logits (``ordinal="independent"`` or the rank-consistent
    ``"coral"``). Extra keyword arguments go to the underlying constructor (e.g. ``filters=`` for "Unet").
    """
    if size not in ("base", "tiny"):
        raise RamkitError(f"unknown model size {size!r}; expected 'base' or 'tiny'")
    canonical = resolve_name(name)
    entry = REGISTRY[canonical]
    kind = task
    if task not in ("seg", "cls", "ordinal"):
        from ramkit.tasks import get as get_task

        kind = get_task(task).model_kind
    want = "seg" if kind == "seg" else "cls"
    if entry.kind != want:
        raise RamkitError(
            f"model {canonical!r} is a {'segmentation' if entry.kind == 'seg' else 'classification'} model; "
            f"task {task!r} needs one of: {', '.join(list_models(want))}"
        )
    if in_channels < 1 or out_channels < 1:
        raise RamkitError(f"model {canonical!r}: in_channels and out_channels must be >= 1")
    if kind == "ordinal":
        if out_channels < 2:
            raise RamkitError("an ordinal model needs at least 2 classes")
        if ordinal not in ("independent", "coral"):
            raise RamkitError(f"unknown ordinal head {ordinal!r}; expected 'independent' or 'coral'")
        width = out_channels - 1 if ordinal == "independent" else 1
        return OrdinalModel(entry.builder(in_channels, width, size, **kw), out_channels, ordinal)
    return entry.builder(in_channels, out_channels, size, **kw)


def count_parameters(model: nn.Module) -> int:
    """Number of parameters of ``model``."""
    return sum(p.numel() for p in model.parameters())


def load_weights(model: nn.Module, path: str | os.PathLike, strict: bool = True) -> nn.Module:
    """Load a user safetensors file into ``model`` (shape-checked; one-line RamkitError on mismatch)."""
    from safetensors.torch import load_file

    if not os.path.isfile(path):
        raise RamkitError("weights file not found", path)
    try:
        state = load_file(os.fspath(path))
    except Exception as exc:  # noqa: BLE001 - any parse failure is a user file problem
        raise RamkitError(f"not a safetensors weights file ({exc})", path) from None
    own = model.state_dict()
    if any(k.startswith("model.") for k in state) and not any(k in own for k in state):
        state = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
    bad = [k for k, v in state.items() if k in own and tuple(own[k].shape) != tuple(v.shape)]
    if bad:
        k = bad[0]
        raise RamkitError(
            f"weights do not fit the model: {k} has shape {tuple(state[k].shape)}, model expects "
            f"{tuple(own[k].shape)} (wrong model, channel count or number of classes?)",
            path,
        )
    missing = [k for k in own if k not in state]
    if strict and missing:
        raise RamkitError(f"weights lack {len(missing)} tensors of the model (first: {missing[0]}); wrong model?", path)
    model.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
    return model
