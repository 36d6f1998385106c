"""DICOM modality and VOI LUTs are applied with pydicom's own functions (windowing, LUT sequences)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pydicom

sys.path.insert(0, str(Path(__file__).parent))
from conftest_data import write_dicom  # noqa: E402

from ramkit.io.images import read_radiograph  # noqa: E402


def _ramp(tmp_path, **kw) -> Path:
    px = np.tile(np.arange(0, 4096, 16, dtype=np.uint16), (8, 1))  # 8×256, 12-bit ramp
    return write_dicom(tmp_path / "ramp_R.dcm", px, bits_stored=12, spacing=0.175, **kw)


def test_window_center_width_is_applied(tmp_path):
    p = _ramp(tmp_path)
    ds = pydicom.dcmread(p)
    ds.WindowCenter, ds.WindowWidth = 1024, 512  # only stored values 768..1280 are shown
    ds.save_as(p)
    r = read_radiograph(p, target_spacing_mm=None)
    row = r.pixels[0]
    stored = np.arange(0, 4096, 16)
    assert np.all(row[stored <= 760] == 0.0) and np.all(row[stored >= 1290] == 1.0)
    mid = row[(stored > 800) & (stored < 1250)]
    assert np.all(np.diff(mid) > 0) and 0.05 < mid.min() < mid.max() < 0.95


def test_voi_lut_sequence_is_applied(tmp_path):
    from pydicom.dataset import Dataset

    p = _ramp(tmp_path)
    ds = pydicom.dcmread(p)
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 16]  # 4096 entries from stored value 0, 16-bit output
    lut = (np.arange(4096) >= 2048).astype(np.uint16) * 65535  # a step: dark below 2048, white above
    item.add_new(0x00283006, "US", lut.tolist())  # LUTData
    ds.VOILUTSequence = [item]
    ds.save_as(p)
    row = read_radiograph(p, target_spacing_mm=None).pixels[0]
    stored = np.arange(0, 4096, 16)
    assert np.all(row[stored < 2048] == 0.0) and np.all(row[stored >= 2048] == 1.0)


def test_no_luts_keeps_the_stored_range(tmp_path):
    row = read_radiograph(_ramp(tmp_path), target_spacing_mm=None).pixels[0]
    assert abs(row[0]) < 1e-6 and abs(row[-1] - 4080 / 4095) < 1e-4
