"""ramkit.io.images: read_gray / write_gray / read_radiograph (incl. DICOM written with pydicom)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from conftest_data import write_dicom
from PIL import Image

from ramkit.errors import RamkitError, RamkitWarning
from ramkit.io.images import image_size, read_gray, read_radiograph, side_from_name, write_gray


def test_write_read_roundtrip_8_and_16_bit(tmp_path):
    a8 = np.arange(12 * 10, dtype=np.uint8).reshape(12, 10)
    a16 = (np.arange(12 * 10, dtype=np.uint16) * 500).reshape(12, 10)
    for suffix in (".bmp", ".png", ".tif"):
        write_gray(tmp_path / f"a{suffix}", a8)
        out = read_gray(tmp_path / f"a{suffix}")
        assert out.dtype == np.uint8 and np.array_equal(out, a8)
    for suffix in (".png", ".tif"):
        write_gray(tmp_path / f"b{suffix}", a16)
        out = read_gray(tmp_path / f"b{suffix}")
        assert out.dtype == np.uint16 and np.array_equal(out, a16)
    assert image_size(tmp_path / "a.png") == (12, 10)
    with pytest.raises(RamkitError, match="16-bit"):
        write_gray(tmp_path / "c.bmp", a16)
    assert not list(tmp_path.glob(".*tmp*"))  # atomic: no temp file left behind


def test_rgb_equal_and_different_channels_warn(tmp_path):
    g = np.random.default_rng(0).integers(0, 256, (8, 9), dtype=np.uint8)
    Image.fromarray(np.stack([g, g, g], -1)).save(tmp_path / "eq.png")
    with pytest.warns(RamkitWarning, match="eq.png: RGB image with equal channels"):
        out = read_gray(tmp_path / "eq.png")
    assert np.array_equal(out, g)
    rgb = np.stack([g, 255 - g, g // 2], -1).astype(np.uint8)
    Image.fromarray(rgb).save(tmp_path / "col.png")
    with pytest.warns(RamkitWarning, match="col.png: RGB image with different channels"):
        out = read_gray(tmp_path / "col.png")
    expected = np.asarray(Image.fromarray(rgb).convert("L"))
    assert out.dtype == np.uint8 and np.array_equal(out, expected)


def test_read_radiograph_png_normalises_and_flips_left(tmp_path):
    a16 = np.zeros((6, 8), np.uint16)
    a16[:, 0] = 65535
    write_gray(tmp_path / "hand_L.png", a16)
    r = read_radiograph(tmp_path / "hand_L.png")
    assert r.pixels.dtype == np.float32 and r.bit_depth == 16 and r.side == "L" and r.flipped
    assert r.pixels[:, -1].min() == 1.0 and r.pixels[:, :-1].max() == 0.0  # column 0 moved to the right
    assert r.spacing_mm is None and not r.resampled
    back = r.to_source(r.pixels)
    assert np.array_equal(back, a16.astype(np.float32) / 65535)
    r2 = read_radiograph(tmp_path / "hand_L.png", flip_left=False)
    assert not r2.flipped and r2.pixels[0, 0] == 1.0


def test_side_from_name():
    assert side_from_name("JP_HU1_P1_20200101_1_L.bmp") == "L"
    assert side_from_name("0016_0001_R.png") == "R"
    assert side_from_name("patient7-left-hand.dcm") == "L"
    assert side_from_name("scan_right.dcm") == "R"
    assert side_from_name("scan.dcm") is None


def test_dicom_monochrome1_rescale_resample_and_laterality(tmp_path):
    px = np.zeros((40, 20), np.uint16)
    px[:, :10] = 4095  # 12-bit maximum on the left half
    p = write_dicom(tmp_path / "x.dcm", px, bits_stored=12, spacing=0.35, photometric="MONOCHROME1", laterality="L")
    r = read_radiograph(p)
    assert r.bit_depth == 12 and r.side == "L" and r.flipped
    assert r.source_spacing_mm == (0.35, 0.35) and r.spacing_mm == pytest.approx(0.175)
    assert r.pixels.shape == (80, 40) and r.source_shape == (40, 20)
    # MONOCHROME1: stored max -> 0 after inversion; left half (after flip: right half) is dark
    assert r.pixels[:, 25:].max() < 0.05 and r.pixels[:, :15].min() > 0.95
    back = r.to_source(r.pixels)
    assert back.shape == (40, 20) and back[:, :9].max() < 0.05
    mask = (r.pixels > 0.5).astype(np.uint8)
    assert set(np.unique(r.to_source(mask)).tolist()) <= {0, 1}


def test_dicom_imager_spacing_and_rescale(tmp_path):
    px = np.full((10, 10), 1000, np.uint16)
    p = write_dicom(tmp_path / "scan_right.dcm", px, bits_stored=12, imager_spacing=0.175, slope=2.0, intercept=-100)
    r = read_radiograph(p)
    assert r.side == "R" and not r.flipped and r.pixels.shape == (10, 10)
    expected = (1000 * 2.0 - 100 - (-100)) / (4095 * 2.0)
    assert r.pixels[0, 0] == pytest.approx(expected, rel=1e-5)


def test_dicom_without_spacing_warns_and_keeps_size(tmp_path):
    px = np.arange(30 * 20, dtype=np.uint16).reshape(30, 20)
    p = write_dicom(tmp_path / "nospacing_R.dcm", px, bits_stored=10)
    with pytest.warns(RamkitWarning, match="nospacing_R.dcm: DICOM has no PixelSpacing"):
        r = read_radiograph(p)
    assert r.pixels.shape == (30, 20) and r.spacing_mm is None and r.source_spacing_mm is None
    assert r.pixels.max() == pytest.approx(599 / 1023)


def test_unknown_side_warns(tmp_path):
    write_gray(tmp_path / "scan.png", np.zeros((4, 4), np.uint8))
    with pytest.warns(RamkitWarning, match="side unknown"):
        r = read_radiograph(tmp_path / "scan.png")
    assert r.side is None and not r.flipped
    with warnings.catch_warnings():
        warnings.simplefilter("error", RamkitWarning)
        assert read_radiograph(tmp_path / "scan.png", side="R").side == "R"
