"""Inference for every task kind: sliding window at full resolution, whole-image resize, joint ROIs."""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from torch import nn

from ramkit.tasks import TaskSpec
from ramkit.train.data import rescale_image, resize_image, resize_target, to_float


def autocast(device: torch.device, amp: str):
    """Autocast context for ``amp`` in "none" | "bf16" | "fp16" (fp16 only on CUDA)."""
    if amp == "none":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


@torch.no_grad()
def seg_logits(
    model: nn.Module,
    img: np.ndarray | torch.Tensor,
    spec: TaskSpec,
    size: int,
    device: torch.device,
    amp: str = "none",
    sw_batch: int = 4,
    overlap: float = 0.5,
    scale: float = 1.0,
) -> torch.Tensor:
    """C×H×W float logits for one H×W image (uint8/uint16 array or a 1×H×W float tensor in [0, 1]).

    Patch tasks: MONAI sliding window (roi = training patch size, overlap 0.5, Gaussian blending) at full
    resolution. With ``scale`` ≠ 1 (a run trained with ``input_scale``) the image is first resampled by ``scale``
    exactly as in training and the logits are resized back (bilinear) to H×W, so metrics stay at full resolution.
    Whole-image tasks: the image resized to ``size``; logits are returned at ``size``×``size``.
    """
    from monai.inferers import sliding_window_inference

    x = img if isinstance(img, torch.Tensor) else torch.from_numpy(to_float(np.ascontiguousarray(img))).unsqueeze(0)
    x = x.to(device)
    h, w = x.shape[-2:]
    whole = spec.kind.input == "whole"
    if whole:
        x = resize_image(x.cpu(), size).to(device)
    elif scale != 1.0:
        x = rescale_image(x.cpu(), scale).to(device)
    with autocast(device, amp):
        if whole:
            out = model(x.unsqueeze(0))
        else:
            out = sliding_window_inference(
                x.unsqueeze(0),
                roi_size=(size, size),
                sw_batch_size=sw_batch,
                predictor=model,
                overlap=overlap,
                mode="gaussian",
                padding_mode="constant",
            )
    if not whole and out.shape[-2:] != (h, w):
        out = torch.nn.functional.interpolate(out.float(), size=(h, w), mode="bilinear", align_corners=False)
    return out[0].float()


def seg_masks(logits: torch.Tensor, spec: TaskSpec) -> np.ndarray:
    """Binary C×H×W masks of the evaluated channels (sigmoid > 0.5, or softmax argmax without background)."""
    return spec.kind.masks(logits)


def target_masks(target: np.ndarray, spec: TaskSpec, n_channels: int, size: int | None = None) -> np.ndarray:
    """Ground truth as binary C×H×W of the evaluated channels (resized with nearest for whole-image tasks)."""
    t = torch.from_numpy(np.ascontiguousarray(target))
    if size is not None and spec.kind.input == "whole":
        t = resize_target(t, size)
    return spec.kind.truth(t.numpy(), n_channels)


def restore_size(masks: np.ndarray, height: int, width: int) -> np.ndarray:
    """Nearest resize of C×h×w masks back to the source H×W (for whole-image predictions of new images)."""
    if masks.shape[-2:] == (height, width):
        return masks
    t = torch.from_numpy(masks.astype(np.uint8)).unsqueeze(0).float()
    return torch.nn.functional.interpolate(t, size=(height, width), mode="nearest")[0].numpy() > 0.5


@torch.no_grad()
def roi_predict(
    model: nn.Module,
    images: list[np.ndarray],
    spec: TaskSpec,
    size: int,
    device: torch.device,
    amp: str = "none",
    batch: int = 32,
) -> tuple[np.ndarray, np.ndarray]:
    """Class indices and raw outputs (threshold logits or class probabilities) for a list of ROI crops."""
    preds, raws = [], []
    for i in range(0, len(images), batch):
        xs = torch.stack(
            [
                resize_image(torch.from_numpy(to_float(np.ascontiguousarray(im))).unsqueeze(0), size)
                for im in images[i : i + batch]
            ]
        ).to(device)
        with autocast(device, amp):
            out = model(xs).float()
        pred, raw = spec.kind.decode(out)
        preds.append(pred)
        raws.append(raw)
    if not preds:
        return np.zeros(0, np.int64), np.zeros((0, 1), np.float32)
    return torch.cat(preds).numpy(), torch.cat(raws).numpy()
