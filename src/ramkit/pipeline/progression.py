"""Progression: several visits of one patient -> ΔBE, ΔJSN, ΔSvdH per joint and per hand between visits.

Visits are recognised from the release file names (RAM-H1200 ``JP_<Center>_P<Patient>_<StudyDate>_<Image>_<L|R>``,
RAM-W600 ``<Patient>_<Study>_<L|R>``; ``anatomy.H1200_STEM_PATTERN`` / ``W600_STEM_PATTERN``) or from DICOM
``PatientID`` + ``StudyDate``. Radiographs of one patient, side and anatomy are ordered by date (or study
number) and consecutive visits are compared.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from ramkit import anatomy


def visit_key(path: str | os.PathLike) -> dict | None:
    """``{"patient", "order", "source"}`` of a radiograph, or None when neither the name nor DICOM tells."""
    p = Path(path)
    m = re.match(anatomy.H1200_STEM_PATTERN, p.stem)
    if m:
        return {"patient": f"{m['center']}_P{m['patient']}", "order": m["date"], "source": "file name"}
    m = re.match(anatomy.W600_STEM_PATTERN, p.stem)
    if m:
        return {"patient": m["patient"], "order": f"{int(m['study']):04d}", "source": "file name"}
    from ramkit.io.images import is_dicom

    if is_dicom(p):
        try:
            import pydicom

            ds = pydicom.dcmread(p, stop_before_pixels=True)
        except Exception:  # noqa: BLE001 - unreadable headers: no visit information
            return None
        pid, date = str(getattr(ds, "PatientID", "") or ""), str(getattr(ds, "StudyDate", "") or "")
        if pid and date:
            return {"patient": pid, "order": date, "source": "DICOM PatientID+StudyDate"}
    return None


def _scores(r: dict) -> dict[str, int]:
    return {f"{e['kind'].upper()}:{e['joint']}": e["score"] for e in r.get("joints", []) if "score" in e}


def progression(results: list[dict]) -> list[dict]:
    """Per patient (and side, anatomy) with ≥ 2 successful visits: the visits and the consecutive deltas."""
    groups: dict[tuple, list[dict]] = {}
    for r in results:
        v = r.get("visit")
        if r.get("status") != "ok" or not v:
            continue
        groups.setdefault((v["patient"], r.get("side"), r.get("anatomy")), []).append(r)
    out = []
    for (patient, side, which), rs in sorted(groups.items(), key=lambda kv: tuple(str(x) for x in kv[0])):
        if len(rs) < 2:
            continue
        rs = sorted(rs, key=lambda r: r["visit"]["order"])
        visits = [{"name": r["name"], "order": r["visit"]["order"], "totals": r.get("totals", {})} for r in rs]
        deltas = []
        for a, b in zip(rs, rs[1:], strict=False):
            sa, sb = _scores(a), _scores(b)
            per_joint = {k: sb[k] - sa[k] for k in sa if k in sb}
            ta, tb = a.get("totals", {}), b.get("totals", {})
            d = {"from": a["name"], "to": b["name"], "from_order": a["visit"]["order"], "to_order": b["visit"]["order"],
                 "per_joint": per_joint}  # fmt: skip
            for t in ("BE", "JSN", "SvdH", "eroded_joints"):
                if t in ta and t in tb:
                    d[f"d{t}"] = tb[t] - ta[t]
            deltas.append(d)
        out.append({"patient": patient, "side": side, "anatomy": which, "visits": visits, "deltas": deltas})
    return out


def progression_table(prog: list[dict]):
    """One row per consecutive pair of visits: patient, side, from/to, ΔBE, ΔJSN, ΔSvdH and per-joint deltas."""
    import pandas as pd

    rows = []
    for p in prog:
        for d in p["deltas"]:
            row = {"patient": p["patient"], "side": p["side"], "anatomy": p["anatomy"], "from": d["from"],
                   "to": d["to"], "from_visit": d["from_order"], "to_visit": d["to_order"]}  # fmt: skip
            for t in ("dBE", "dJSN", "dSvdH", "deroded_joints"):
                row[t] = d.get(t)
            row.update({f"d_{k.replace(':', '_')}": v for k, v in d["per_joint"].items()})
            rows.append(row)
    cols = [
        "patient",
        "side",
        "anatomy",
        "from",
        "to",
        "from_visit",
        "to_visit",
        "dBE",
        "dJSN",
        "dSvdH",
        "deroded_joints",
    ]
    return pd.DataFrame(rows) if rows else pd.DataFrame(columns=cols)
