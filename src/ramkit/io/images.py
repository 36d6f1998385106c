"""Read and write radiograph pixels: BMP/PNG/TIFF (8/16-bit) with PIL, DICOM with pydicom.

* :func:`read_gray` returns the stored grey values (uint8 or uint16 H×W), the layout the datasets use.
* :func:`read_radiograph` prepares a *new* radiograph for a model: float32 in [0, 1] using the real bit depth,
  resampled to a target pixel spacing when the spacing is known, left hands flipped to right-hand orientation
  (recorded in :attr:`Radiograph.flipped`; :meth:`Radiograph.to_source` undoes flip and resampling).
* :func:`write_gray` writes an 8/16-bit grey image atomically (format from the suffix).

Every unreadable input raises :class:`~ramkit.errors.RamkitError` naming the file; odd but usable input
(RGB radiographs, missing pixel spacing, unknown side) gives one :func:`~ramkit.errors.warn` line.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ramkit.errors import RamkitError, warn

#: Suffixes read through PIL.
PIL_SUFFIXES = (".bmp", ".png", ".tif", ".tiff", ".jpg", ".jpeg")
#: Suffixes treated as DICOM (files without a suffix are sniffed for the ``DICM`` preamble).
DICOM_SUFFIXES = (".dcm", ".dicom", ".dic")

_SIDE_WORDS = {"left": "L", "right": "R", "l": "L", "r": "R"}


def _pil_to_array(img, path: Path) -> np.ndarray:
    """Convert an opened (and loaded) PIL image to a uint8/uint16 H×W array."""
    mode = img.mode
    if mode == "L":
        return np.asarray(img, dtype=np.uint8).copy()
    if mode == "1":
        return np.asarray(img, dtype=np.uint8) * np.uint8(255)
    if mode.startswith("I;16"):
        return np.asarray(img).astype(np.uint16)
    if mode in ("I", "I;32", "F"):
        arr = np.asarray(img)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise RamkitError(f"{mode} image with values outside 0..65535 is not a grey radiograph", path)
        if mode == "F" and arr.size and not np.all(arr == np.round(arr)):
            raise RamkitError("floating-point image with fractional values is not supported", path)
        return arr.astype(np.uint16)
    if mode in ("P", "PA"):
        img = img.convert("RGBA" if "transparency" in img.info or mode == "PA" else "RGB")
        mode = img.mode
    if mode in ("LA", "La"):
        warn("grey image with an alpha channel; alpha ignored", path)
        return np.asarray(img.getchannel(0), dtype=np.uint8).copy()
    if mode in ("RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"):
        rgb = np.asarray(img.convert("RGB"), dtype=np.uint8)
        r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
        if np.array_equal(r, g) and np.array_equal(g, b):
            warn(f"{mode} image with equal channels; read as grey", path)
            return r.copy()
        warn(f"{mode} image with different channels; converted to grey luminance (ITU-R 601)", path)
        return np.asarray(img.convert("RGB").convert("L"), dtype=np.uint8).copy()
    raise RamkitError(f"unsupported image mode {mode!r}", path)


def read_gray(path: str | os.PathLike) -> np.ndarray:
    """Read a BMP/PNG/TIFF image as its stored grey values: uint8 (8-bit) or uint16 (16-bit) H×W.

    RGB images with equal channels are read as grey with a warning; RGB images with different channels are
    converted to luminance with a warning. A missing, truncated or corrupt file raises :class:`RamkitError`.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise RamkitError("image file not found", path)
    try:
        with Image.open(path) as img:
            img.load()
            return _pil_to_array(img, path)
    except RamkitError:
        raise
    except UnidentifiedImageError:
        raise RamkitError("not a readable image (unknown or corrupt format)", path) from None
    except (OSError, ValueError, SyntaxError) as exc:
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise RamkitError(f"corrupt or truncated image ({msg})", path) from None


def read_gray8(path: str | os.PathLike) -> np.ndarray:
    """:func:`read_gray`, with 16-bit images scaled to uint8 (dataset images and ROI crops)."""
    img = read_gray(path)
    if img.dtype != np.uint8:
        img = (img.astype(np.float32) / 65535.0 * 255.0 + 0.5).astype(np.uint8)
    return img


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """(height, width) of an image from its header only (no pixel decode); RamkitError if unreadable."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise RamkitError("image file not found", path)
    try:
        with Image.open(path) as img:
            w, h = img.size
    except UnidentifiedImageError:
        raise RamkitError("not a readable image (unknown or corrupt format)", path) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise RamkitError(f"corrupt image header ({exc})", path) from None
    return int(h), int(w)


def write_gray(path: str | os.PathLike, arr: np.ndarray) -> None:
    """Write a grey H×W image atomically; format from the suffix (``.bmp``, ``.png``, ``.tif``).

    ``uint8`` and ``bool`` (0/255) go to any format; ``uint16`` needs PNG or TIFF. Float arrays must lie in
    [0, 1] and are written as 8-bit.
    """
    from PIL import Image

    from ramkit.io.atomic import atomic_path

    path = Path(path)
    arr = np.asarray(arr)
    if arr.ndim != 2:
        raise RamkitError(f"write_gray needs an H×W array, got shape {arr.shape}", path)
    fmt = {".bmp": "BMP", ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF"}.get(path.suffix.lower())
    if fmt is None:
        raise RamkitError("unsupported output suffix (use .bmp, .png or .tif)", path)
    if arr.dtype == bool:
        arr = arr.astype(np.uint8) * np.uint8(255)
    elif np.issubdtype(arr.dtype, np.floating):
        if arr.size and (np.nanmin(arr) < 0 or np.nanmax(arr) > 1):
            raise RamkitError("float image must lie in [0, 1]", path)
        arr = np.round(np.nan_to_num(arr) * 255).astype(np.uint8)
    if arr.dtype == np.uint8:
        img = Image.fromarray(np.ascontiguousarray(arr))
    elif arr.dtype == np.uint16:
        if fmt == "BMP":
            raise RamkitError("BMP cannot hold 16-bit pixels; use .png or .tif", path)
        img = Image.fromarray(np.ascontiguousarray(arr).astype("<u2"))
    else:
        raise RamkitError(f"unsupported pixel type {arr.dtype} (use uint8, uint16, bool or float)", path)
    with atomic_path(path) as tmp:
        img.save(tmp, format=fmt)


# --------------------------------------------------------------------------------------------------
# New radiographs
# --------------------------------------------------------------------------------------------------
@dataclass
class Radiograph:
    """A radiograph prepared for a model.

    ``pixels`` float32 H×W in [0, 1] (after flip and resampling); ``spacing_mm`` the pixel spacing of
    ``pixels`` (None when unknown); ``source_spacing_mm`` (row, col) spacing of the file (None when absent);
    ``side`` "L" | "R" | None; ``flipped`` True when a left hand was mirrored; ``bit_depth`` of the stored
    values; ``source_shape`` H×W of the file.
    """

    pixels: np.ndarray
    spacing_mm: float | None
    source_spacing_mm: tuple[float, float] | None
    side: str | None
    flipped: bool
    path: Path
    bit_depth: int
    source_shape: tuple[int, int]

    @property
    def resampled(self) -> bool:
        """Whether ``pixels`` differ in size from the file."""
        return tuple(self.pixels.shape) != tuple(self.source_shape)

    def to_source(self, arr: np.ndarray) -> np.ndarray:
        """Map an array on the ``pixels`` grid (H×W or C×H×W) back to the file's grid and orientation.

        Integer/bool arrays (masks, labels) are resized with nearest neighbour, floats bilinearly.
        """
        arr = np.asarray(arr)
        if arr.shape[-2:] != self.pixels.shape:
            raise RamkitError(
                f"array of shape {arr.shape} does not match the radiograph grid {self.pixels.shape}", self.path
            )
        out = arr[..., ::-1] if self.flipped else arr
        if self.resampled:
            out = _resize(out, self.source_shape)
        return np.ascontiguousarray(out)


def _resize(arr: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize the last two axes to ``shape`` (nearest for integer/bool, anti-aliased linear for float)."""
    from skimage.transform import resize

    is_int = arr.dtype == bool or np.issubdtype(arr.dtype, np.integer)
    out_shape = tuple(arr.shape[:-2]) + tuple(shape)
    downsample = shape[0] < arr.shape[-2] or shape[1] < arr.shape[-1]
    res = resize(
        arr,
        out_shape,
        order=0 if is_int else 1,
        mode="edge",
        anti_aliasing=(not is_int) and downsample,
        preserve_range=True,
    )
    return res.astype(arr.dtype)


def side_from_name(path: str | os.PathLike) -> str | None:
    """Side from a file name: stem ending in ``_L``/``_R`` or containing the word left/right; else None."""
    stem = Path(path).stem
    m = re.search(r"[_\-. ]([LR])$", stem)
    if m:
        return m.group(1)
    tokens = [t.lower() for t in re.split(r"[_\-. ]+", stem) if t]
    for t in reversed(tokens):
        if t in ("left", "right"):
            return _SIDE_WORDS[t]
    return None


def _is_dicom(path: Path) -> bool:
    if path.suffix.lower() in DICOM_SUFFIXES:
        return True
    if path.suffix.lower() in PIL_SUFFIXES:
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
        return len(head) == 132 and head[128:132] == b"DICM"
    except OSError:
        return False


def _lut_range(item) -> tuple[float, float]:
    """Output range of a Modality/VOI LUT Sequence item: 0 .. 2**bits - 1 from its LUTDescriptor."""
    desc = list(item.LUTDescriptor)
    nbits = int(desc[2]) if len(desc) > 2 and int(desc[2]) > 0 else 16
    return 0.0, float(2**nbits - 1)


def _dicom_luts(ds, raw: np.ndarray, bits: int, path: Path) -> np.ndarray:
    """Stored values -> float32 [0, 1] through pydicom's own Modality LUT and VOI LUT (first window/LUT).

    ``apply_modality_lut`` applies a Modality LUT Sequence or RescaleSlope/Intercept; ``apply_voi_lut`` a VOI
    LUT Sequence or WindowCenter/WindowWidth (with its VOI LUT Function). The result is normalised by the
    range the last transform can produce (the LUT's output bits, else the rescaled stored-bit range), so
    a windowed image spans [0, 1] as its display would.
    """
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    signed = int(getattr(ds, "PixelRepresentation", 0) or 0) == 1
    lo_raw, hi_raw = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    try:
        values = apply_modality_lut(raw, ds)  # keeps integers when no rescale (a VOI LUT indexes by them)
        if "ModalityLUTSequence" in ds:
            ends = _lut_range(ds.ModalityLUTSequence[0])
        else:
            slope = float(getattr(ds, "RescaleSlope", 1) or 1)
            intercept = float(getattr(ds, "RescaleIntercept", 0) or 0)
            lo, hi = sorted((lo_raw * slope + intercept, hi_raw * slope + intercept))
            ends = (lo, hi)
        if "VOILUTSequence" in ds:
            if np.issubdtype(values.dtype, np.floating):
                values = np.round(values).astype(np.int64)
            values = apply_voi_lut(values, ds, index=0)
            ends = _lut_range(ds.VOILUTSequence[0])
        elif "WindowCenter" in ds and "WindowWidth" in ds:
            # windowing maps into the same output range as its input (pydicom's convention)
            values = apply_voi_lut(values, ds, index=0)
    except Exception as exc:  # malformed LUT descriptors and the like
        raise RamkitError(f"cannot apply the DICOM modality/VOI LUT ({type(exc).__name__}: {exc})", path) from None
    values = np.asarray(values, np.float64)
    return np.clip((values - ends[0]) / max(ends[1] - ends[0], 1e-12), 0.0, 1.0)


def is_dicom(path: str | os.PathLike) -> bool:
    """Whether ``path`` is read as DICOM (by suffix, or the ``DICM`` preamble for files without one)."""
    return _is_dicom(Path(path))


def _read_dicom(path: Path) -> tuple[np.ndarray, int, tuple[float, float] | None, str | None]:
    """(pixels float32 [0,1], bits stored, (row, col) spacing or None, laterality or None) of a DICOM file."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(path)
    except InvalidDicomError as exc:
        raise RamkitError(f"not a valid DICOM file ({exc})", path) from None
    except Exception as exc:  # pydicom raises assorted errors on truncated files
        raise RamkitError(f"cannot read DICOM file ({type(exc).__name__}: {exc})", path) from None
    if "PixelData" not in ds:
        raise RamkitError("DICOM file has no pixel data", path)
    try:
        raw = ds.pixel_array
    except Exception as exc:
        tsuid = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", "unknown")
        raise RamkitError(f"cannot decode DICOM pixels (transfer syntax {tsuid}: {exc})", path) from None
    if raw.ndim == 3 and raw.shape[-1] in (3, 4) and int(getattr(ds, "SamplesPerPixel", 1)) > 1:
        warn("colour DICOM; converted to grey luminance", path)
        raw = raw[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    elif raw.ndim == 3:
        warn(f"multi-frame DICOM with {raw.shape[0]} frames; using the first", path)
        raw = raw[0]
    if raw.ndim != 2:
        raise RamkitError(f"DICOM pixel array has unsupported shape {raw.shape}", path)
    bits = int(getattr(ds, "BitsStored", 0) or getattr(ds, "BitsAllocated", 0) or (8 if raw.dtype == np.uint8 else 16))
    pixels = _dicom_luts(ds, raw, bits, path)
    photometric = str(getattr(ds, "PhotometricInterpretation", "MONOCHROME2")).upper()
    if photometric == "MONOCHROME1":
        pixels = 1.0 - pixels
    spacing = None
    for tag in ("PixelSpacing", "ImagerPixelSpacing"):
        val = getattr(ds, tag, None)
        if val is not None:
            try:
                sy, sx = (float(v) for v in list(val)[:2])
            except (TypeError, ValueError):
                warn(f"unreadable {tag} {val!r}; ignored", path)
                continue
            if sy > 0 and sx > 0:
                spacing = (sy, sx)
                break
            warn(f"non-positive {tag} {val!r}; ignored", path)
    laterality = None
    for tag in ("ImageLaterality", "Laterality"):
        val = str(getattr(ds, tag, "") or "").strip().upper()
        if val in ("L", "R"):
            laterality = val
            break
    return pixels.astype(np.float32), bits, spacing, laterality


def read_radiograph(
    path: str | os.PathLike,
    target_spacing_mm: float | None = 0.175,
    side: str | None = None,
    flip_left: bool = True,
    source_spacing_mm: float | tuple[float, float] | None = None,
) -> Radiograph:
    """Read a new radiograph (BMP/PNG/TIFF or DICOM) as float32 [0, 1], resampled and oriented.

    * Normalisation uses the real bit depth (``BitsStored`` and rescale slope/intercept for DICOM, the stored
      8/16 bits otherwise); DICOM ``MONOCHROME1`` is inverted so bone is bright.
    * Spacing: ``source_spacing_mm`` if given, else DICOM ``PixelSpacing``/``ImagerPixelSpacing``; the image is
      resampled to ``target_spacing_mm`` (None = never resample). A DICOM without spacing warns and is not
      resampled; other formats carry no trusted spacing and are taken as they are.
    * Side: ``side`` if given, else DICOM ``ImageLaterality``/``Laterality``, else the file name
      (``_L``/``_R`` suffix, or the words left/right). Left hands are mirrored when ``flip_left``.
    """
    path = Path(path)
    if not path.is_file():
        raise RamkitError("image file not found", path)
    spacing: tuple[float, float] | None = None
    laterality = None
    if _is_dicom(path):
        pixels, bit_depth, spacing, laterality = _read_dicom(path)
        if spacing is None and source_spacing_mm is None and target_spacing_mm is not None:
            warn("DICOM has no PixelSpacing or ImagerPixelSpacing; image not resampled (spacing unknown)", path)
    else:
        stored = read_gray(path)
        bit_depth = 8 if stored.dtype == np.uint8 else 16
        pixels = stored.astype(np.float32) / float(2**bit_depth - 1)
    if source_spacing_mm is not None:
        s = source_spacing_mm
        spacing = (float(s), float(s)) if np.isscalar(s) else (float(s[0]), float(s[1]))  # type: ignore[index]
    source_shape = (int(pixels.shape[0]), int(pixels.shape[1]))

    if side is not None:
        side = str(side).upper()[:1]
        if side not in ("L", "R"):
            raise RamkitError(f"side must be 'L' or 'R', got {side!r}", path)
    else:
        side = laterality or side_from_name(path)
        if side is None and flip_left:
            warn("hand side unknown (no DICOM laterality, no _L/_R or left/right in the name); not flipped", path)

    out_spacing: float | None = None
    if spacing is not None and target_spacing_mm is not None:
        new_shape = (
            max(1, int(round(source_shape[0] * spacing[0] / target_spacing_mm))),
            max(1, int(round(source_shape[1] * spacing[1] / target_spacing_mm))),
        )
        if new_shape != source_shape:
            pixels = np.clip(_resize(pixels, new_shape), 0.0, 1.0).astype(np.float32)
        out_spacing = float(target_spacing_mm)
    elif spacing is not None and abs(spacing[0] - spacing[1]) < 1e-9:
        out_spacing = spacing[0]

    flipped = bool(flip_left and side == "L")
    if flipped:
        pixels = pixels[:, ::-1]
    return Radiograph(
        pixels=np.ascontiguousarray(pixels, dtype=np.float32),
        spacing_mm=out_spacing,
        source_spacing_mm=spacing,
        side=side,
        flipped=flipped,
        path=path,
        bit_depth=int(bit_depth),
        source_shape=source_shape,
    )
