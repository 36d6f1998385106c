"""The one set of dataset validation rules, shared by ``ramkit check``, the readers ``train``/``test`` use
(:mod:`ramkit.io.h1200`, :mod:`ramkit.io.w600`) and ``ramkit evaluate``.

Each rule is a small function returning ``None`` when the value is fine, else the problem as text (no path;
the caller names the file). ``check`` collects every problem; the readers raise :class:`RamkitError` on the
first one. :func:`require_valid` is what ``train`` and ``test`` call before any work: it runs ``check`` in its
quick mode and refuses a dataset with errors unless the user passes ``--allow-invalid-data``.

Rules (see docs/validation.md for where each one runs):

- scores: an integer (``bool``, NaN, infinities and fractions are not) in ``anatomy.SCORE_VALUES[kind]``;
- images and ROI crops of both layouts: 8-bit grey, as released;
- W600 masks: values 0/1 (0/255 is a warning: readers binarise ``> 0``), other values are errors;
- joint boxes: finite, positive width and height, inside the image;
- splits: a patient appears in one split only; identifiers and COCO image ids / file names are unique;
- filesystem: every path is a regular file (or folder) that can be read: FIFOs, sockets, symlink loops,
  dangling links and permission errors are reported as one line naming the path.
"""

from __future__ import annotations

import errno
import math
import os
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from ramkit.errors import RamkitError

#: image modes of 8-bit grey data (PIL mode names); anything else is not what the releases contain
EIGHT_BIT_MODES = ("L", "P", "1")


def score_problem(value: object, allowed: Iterable[int]) -> str | None:
    """None when ``value`` is an integer score in ``allowed`` (``3.0`` counts as 3), else the problem."""
    allowed = list(allowed)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return f"score {value!r} is not an integer in {allowed}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"score {value!r} is not a number in {allowed}"
    if int(value) != value:
        return f"score {value!r} is not an integer in {allowed}"
    if int(value) not in allowed:
        return f"score {int(value)} not in {allowed}"
    return None


def valid_score(value: object, allowed: Iterable[int]) -> int | None:
    """The score as ``int`` when :func:`score_problem` finds nothing, else None."""
    return int(value) if score_problem(value, allowed) is None else None  # type: ignore[call-overload]


def image_dtype_problem(dtype: object) -> str | None:
    """Dataset images and ROI crops (both layouts) are 8-bit grey; a numpy dtype other than uint8 is a problem."""
    return None if str(dtype) == "uint8" else f"{dtype} image, expected 8-bit grey (as released)"


def image_mode_problem(mode: str) -> str | None:
    """The same rule on a PIL image mode read from the header only (no pixel decode)."""
    if mode in EIGHT_BIT_MODES or mode in ("RGB", "RGBA", "LA"):  # colour: converted with a warning on read
        return None
    return f"{mode} image, expected 8-bit grey (as released)"


def mask_values_problem(values: Iterable[int]) -> tuple[str, str] | None:
    """``("ERROR"|"WARN", message)`` for W600 mask values other than 0/1, else None."""
    extra = sorted(set(int(v) for v in values) - {0, 1})
    if not extra:
        return None
    if extra == [255]:
        return "WARN", "mask values are 0/255 (readers binarise >0)"
    return "ERROR", f"mask values {extra[:5]} are not 0/1"


def box_problem(box: Iterable[float], height: int, width: int) -> str | None:
    """None when ``box`` = ``[x, y, w, h]`` is finite, has w, h > 0 and lies inside an ``height``×``width`` image."""
    try:
        x, y, w, h = (float(v) for v in box)
    except (TypeError, ValueError):
        return f"bbox {box!r} is not [x, y, w, h]"
    if not all(math.isfinite(v) for v in (x, y, w, h)):
        return f"bbox {[x, y, w, h]} is not finite"
    if w <= 0 or h <= 0:
        return f"bbox {[x, y, w, h]} has no area"
    tol = 1.0  # COCO boxes may round up to the next pixel
    if x < -tol or y < -tol or x + w > width + tol or y + h > height + tol:
        return f"bbox {[x, y, w, h]} lies outside the {height}x{width} image"
    return None


def patient_split_problems(patient_splits: Mapping[str, Iterable[str]], order: Iterable[str]) -> list[str]:
    """One message per patient whose images fall into more than one split (splits are patient-level)."""
    order = list(order)
    out = []
    for pid, splits in sorted(patient_splits.items()):
        splits = set(splits)
        if len(splits) > 1:
            out.append(f"patient {pid} appears in several splits: {', '.join(s for s in order if s in splits)}")
    return out


def duplicates(items: Iterable[object]) -> list[object]:
    """Items that occur more than once (first-seen order)."""
    seen: set = set()
    dup: list = []
    for x in items:
        if x in seen and x not in dup:
            dup.append(x)
        seen.add(x)
    return dup


# --------------------------------------------------------------------------------------------------
# filesystem
# --------------------------------------------------------------------------------------------------
def _os_problem(exc: OSError) -> str:
    if exc.errno == errno.ELOOP:
        return "symlink loop"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if exc.errno == errno.ENOENT:
        return "missing file"
    return exc.strerror or str(exc)


def path_problem(path: str | os.PathLike, want: str = "file") -> str | None:
    """None when ``path`` is a readable regular file (``want='file'``) or listable folder (``'dir'``).

    Otherwise the problem in words: missing file, symlink loop, dangling symlink, permission denied, a FIFO /
    socket / device, a folder where a file is wanted (or the reverse). Never opens (so a FIFO never blocks).
    """
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT and os.path.islink(path):
            return "dangling symlink"
        return _os_problem(exc)
    mode = st.st_mode
    if want == "dir":
        if not stat.S_ISDIR(mode):
            return "not a folder"
        return None if os.access(path, os.R_OK | os.X_OK) else "permission denied"
    if stat.S_ISDIR(mode):
        return "is a folder, expected a file"
    if stat.S_ISFIFO(mode):
        return "is a FIFO (named pipe), not a regular file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a regular file"
    if not stat.S_ISREG(mode):
        return "is a device, not a regular file"
    return None if os.access(path, os.R_OK) else "permission denied"


def require_file(path: str | os.PathLike, what: str = "file") -> Path:
    """``path`` when :func:`path_problem` finds nothing, else :class:`RamkitError` naming it."""
    problem = path_problem(path, "file")
    if problem is not None:
        raise RamkitError(f"{what} not found" if problem == "missing file" else problem, path)
    return Path(path)


def list_dir(path: str | os.PathLike) -> list[Path]:
    """Sorted entries of a folder; RamkitError naming it when it cannot be listed (permission, loop, ...)."""
    problem = path_problem(path, "dir")
    if problem is not None:
        raise RamkitError(f"cannot list folder: {problem}", path)
    try:
        return sorted(Path(path).iterdir())
    except OSError as exc:
        raise RamkitError(f"cannot list folder: {_os_problem(exc)}", path) from None


def read_bytes(path: str | os.PathLike, what: str = "file") -> bytes:
    """The bytes of a regular file; RamkitError naming it on any filesystem problem."""
    require_file(path, what)
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise RamkitError(f"cannot read ({_os_problem(exc)})", path) from None


# --------------------------------------------------------------------------------------------------
# the gate of train / test
# --------------------------------------------------------------------------------------------------
def require_valid(root: str | os.PathLike, layout: str | None = None, allow_invalid: bool = False) -> list[str]:
    """Run ``ramkit check``'s rules (quick mode) on ``root`` before training or testing.

    Errors raise one :class:`RamkitError` naming the first few and pointing to ``ramkit check``, unless
    ``allow_invalid`` (``--allow-invalid-data``): then one warning is printed and the error lines are returned so
    the caller records them in the run. Returns ``[]`` for a clean dataset. ``layout`` ('h1200' | 'w600') is
    checked against the folder's layout first.
    """
    from ramkit.check import check
    from ramkit.errors import warn

    report = check(root, quick=True)
    if layout is not None and report.layout != layout:
        return []  # the caller's reader names the layout mismatch
    errors = [p.message if p.path == "." else f"{p.path}: {p.message}" for p in report.errors]
    if not errors:
        return []
    head = "; ".join(errors[:3])
    more = f" (+{len(errors) - 3} more)" if len(errors) > 3 else ""
    if not allow_invalid:
        raise RamkitError(
            f"{len(errors)} error(s) in the dataset: {head}{more}; run `ramkit check {root}` for all of them, "
            "or pass --allow-invalid-data to use it anyway",
            root,
        )
    warn(f"{len(errors)} error(s) in the dataset ignored (--allow-invalid-data): {head}{more}", root)
    return errors[:50]


# --------------------------------------------------------------------------------------------------
# options (checked before any work)
# --------------------------------------------------------------------------------------------------
#: (config key, lowest allowed value, whether the bound is inclusive); None values mean "task default"
_NUMERIC_OPTIONS = (
    ("epochs", 1, True),
    ("batch_size", 1, True),
    ("patch_size", 1, True),
    ("patches_per_image", 1, True),
    ("lr", 0.0, False),
    ("weight_decay", 0.0, True),
    ("patience", 0, True),
    ("warmup_epochs", 0, True),
    ("num_workers", 0, True),
    ("threads", 1, True),
    ("max_minutes", 0.0, False),
    ("max_val_cases", 1, True),
    ("fg_class_weight", 0.0, False),
    ("mil_tiles", 1, True),
    ("mil_feature_epochs", 0, True),
)
_FRACTIONS = ("fg_ratio", "pos_image_ratio")
_CHOICES = {
    "model_size": ("base", "tiny"),
    "ordinal": ("independent", "coral"),
    "target": ("be", "jsn", "total"),
    "mil_scheme": (1, 2),
}
_PATHS = ("data", "out", "weights", "model")


def _option(key: str) -> str:
    return "--" + key.replace("_", "-")


def check_train_options(d: Mapping[str, object]) -> None:
    """One :class:`RamkitError` naming the option for a training value out of range (before any work)."""
    for key, low, inclusive in _NUMERIC_OPTIONS:
        v = d.get(key)
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(float(v)):
            raise RamkitError(f"must be a number, got {v!r}", _option(key))
        if (v < low) if inclusive else (v <= low):
            raise RamkitError(f"must be {'>=' if inclusive else '>'} {low}, got {v}", _option(key))
    for key in _FRACTIONS:
        v = d.get(key)
        if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0):
            raise RamkitError(f"must be a fraction in [0, 1], got {v!r}", _option(key))
    from ramkit.anatomy import BE_PROTOCOL_CLASSES

    for key, choices in {**_CHOICES, "be_protocol": tuple(BE_PROTOCOL_CLASSES)}.items():
        v = d.get(key)
        if v is not None and v not in choices:
            raise RamkitError(f"must be one of {', '.join(map(str, choices))}, got {v!r}", _option(key))
    for key in _PATHS:
        v = d.get(key)
        if v is not None and not isinstance(v, str):
            raise RamkitError(f"must be a name or path, got {v!r}", _option(key))


def check_threads(threads: int | None) -> None:
    """``--threads`` is a positive integer when given."""
    if threads is not None and threads < 1:
        raise RamkitError(f"must be >= 1, got {threads}", "--threads")


def check_device(device: str) -> None:
    """``--device`` is cpu, cuda or auto."""
    if device not in ("auto", "cpu", "cuda"):
        raise RamkitError(f"unknown device {device!r}; expected cpu, cuda or auto", "--device")


def check_model_input(model, size: int, device, seg: bool) -> None:
    """Run the network once on a zero ``size``×``size`` grey input, so a size it cannot take (``--patch-size 5``)
    is one line naming the option before training starts, not a crash inside the network."""
    import torch

    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            y = model(torch.zeros(1, 1, size, size, device=device))
    except torch.cuda.OutOfMemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - any failure of the forward pass means: this size does not fit
        text = str(exc).strip().splitlines()
        raise RamkitError(
            f"the model cannot take {size}x{size} inputs ({type(exc).__name__}: {text[0][:160] if text else ''}); "
            "choose another size (a multiple of 32 fits every model)",
            "--patch-size",
        ) from None
    finally:
        model.train(was)
    if seg:
        y = y[0] if isinstance(y, (tuple, list)) else y
        if tuple(y.shape[-2:]) != (size, size):
            raise RamkitError(
                f"the model turns {size}x{size} inputs into {y.shape[-2]}x{y.shape[-1]} masks; choose a multiple of 32",
                "--patch-size",
            )
