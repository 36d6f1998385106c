"""One self-contained ``report.html`` for a ``ramkit analyze`` batch: opens offline (inline base64 images, no CDN).

Sections: a banner when any model was trained on synthetic data; a summary table (one row per radiograph:
anatomy, side, totals, status); per radiograph a thumbnail of its overlay and a per-joint table (box, BE/JSN
score, class probabilities, expected score ± SD, erosion probability, lesion area); a progression section
(per-patient totals over visits, ΔBE/ΔJSN/ΔSvdH between consecutive visits) when a patient has several visits.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from ramkit import anatomy
from ramkit.io.atomic import write_text

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222;max-width:1300px}
h1{font-size:1.6em}h2{margin-top:2em;border-bottom:1px solid #ccc}
table{border-collapse:collapse;margin:8px 0;font-size:0.86em}
td,th{border:1px solid #ccc;padding:3px 7px;text-align:right}th{background:#f3f3f3}
td.l,th.l{text-align:left}.banner{background:#fff3cd;border:1px solid #e0b000;padding:10px 14px;margin:12px 0}
.fail{color:#b00020;font-weight:bold}.case{display:flex;gap:18px;align-items:flex-start;flex-wrap:wrap}
.case img{max-width:460px;border:1px solid #999}.muted{color:#666}
"""


def _img_tag(data: bytes, alt: str, mime: str = "image/png", width: int | None = None) -> str:
    w = f' width="{width}"' if width else ""
    b64 = base64.b64encode(data).decode("ascii")
    return f'<img alt="{html.escape(alt)}" src="data:{mime};base64,{b64}"{w}>'


def _thumbnail(path: Path, max_side: int = 460) -> bytes | None:
    from PIL import Image

    try:
        with Image.open(path) as im:
            rgb = im.convert("RGB")
            rgb.thumbnail((max_side, max_side))
            buf = io.BytesIO()
            rgb.save(buf, format="PNG", optimize=True)
            return buf.getvalue()
    except OSError:
        return None


def _th(*names: str) -> str:
    """A header row; a name starting with ``<`` is left-aligned (``"<joint"``)."""
    cells = "".join(f"<th class=l>{n[1:]}</th>" if n.startswith("<") else f"<th>{n}</th>" for n in names)
    return f"<tr>{cells}</tr>"


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return f"{v:.2f}"
    return html.escape(str(v))


def _summary(results: list[dict]) -> str:
    head = _th(
        "<radiograph", "<anatomy", "side", "BE", "JSN", "SvdH", "MIL total", "eroded joints", "lesion mm²", "<status"
    )
    rows = [f"<table id='summary'>{head}"]
    for r in results:
        t = r.get("totals") or {}
        ok = r.get("status") == "ok"
        status = "ok" if ok else f"<span class=fail>failed: {html.escape(r.get('error', ''))}</span>"
        rows.append(
            f"<tr class='case-row'><td class=l><a href='#{html.escape(r['name'])}'>{html.escape(r['name'])}</a></td>"
            f"<td class=l>{_fmt(r.get('anatomy'))}</td><td>{_fmt(r.get('side'))}</td><td>{_fmt(t.get('BE'))}</td>"
            f"<td>{_fmt(t.get('JSN'))}</td><td>{_fmt(t.get('SvdH'))}</td><td>{_fmt(_mil_total(r))}</td>"
            f"<td>{_fmt(t.get('eroded_joints'))}</td>"
            f"<td>{_fmt(t.get('lesion_area_mm2'))}</td><td class=l>{status}</td></tr>"
        )
    rows.append("</table>")
    return "\n".join(rows)


def _mil_total(r: dict):
    """``"<total> (<key>)"`` of the MIL run, when one was among the models."""
    m = r.get("mil")
    return f"{m['total']:.1f} ({m['key']})" if m else None


def _case(r: dict, out: Path) -> str:
    name = html.escape(r["name"])
    parts = [f"<h2 id='{name}'>{name}</h2>"]
    if r.get("status") != "ok":
        parts.append(f"<p class=fail>{html.escape(r.get('error', 'failed'))}</p>")
        return "\n".join(parts)
    inp = r.get("input", {})
    sp = r.get("spacing_mm")
    parts.append(
        f"<p class=muted>{html.escape(str(inp.get('file')))} · "
        f"sha256 {html.escape(str(inp.get('sha256', ''))[:16])}… · "
        f"{inp.get('width')}×{inp.get('height')} px · spacing {sp[0] if sp else '?'} mm"
        f"{' (assumed: release spacing)' if r.get('spacing_assumed') else ''} · side {r.get('side')} · "
        f"{r.get('anatomy')}</p>"
    )
    thumb = _thumbnail(out / r["name"] / "overlay.png")
    img = _img_tag(thumb, f"overlay {r['name']}") if thumb else "<p class=fail>overlay missing</p>"
    mil = r.get("mil")
    if mil:
        att = _thumbnail(out / r["name"] / "attention.png")
        if att:
            img += _img_tag(att, f"MIL attention {r['name']}")
    head = _th(
        "<joint",
        "<kind",
        "score",
        "expected ± SD",
        "<P(score)",
        "P(erosion)",
        "lesion mm²",
        "attention",
        "<box (x,y,w,h)",
    )
    rows = [f"<table class='joints'>{head}"]
    for e in r.get("joints", []):
        probs = e.get("probabilities")
        ptxt = " ".join(f"{k}:{v:.2f}" for k, v in probs.items()) if probs else ""
        exp = f"{e['expected']:.2f} ± {e['sd']:.2f}" if "expected" in e else ""
        box = ", ".join(f"{v:.0f}" for v in e["box"]) if e.get("box") else "not located"
        rows.append(
            f"<tr><td class=l>{_fmt(e.get('display'))}</td><td class=l>{e['kind'].upper()}</td>"
            f"<td>{_fmt(e.get('score'))}</td><td>{exp}</td><td class=l>{ptxt}</td><td>{_fmt(e.get('p_erosion'))}</td>"
            f"<td>{_fmt(e.get('lesion_area_mm2'))}</td><td>{_fmt(e.get('attention'))}</td><td class=l>{box}</td></tr>"
        )
    rows.append("</table>")
    t = r.get("totals") or {}
    tot = " · ".join(f"{k} {_fmt(v)}" for k, v in t.items())
    warn = "".join(f"<li>{html.escape(w)}</li>" for w in r.get("warnings", []))
    stages = ", ".join(f"{k}: {v}" for k, v in (r.get("stages") or {}).items())
    parts.append(
        f"<div class=case><div>{img}</div><div><p><b>Totals</b>: {tot}</p>{''.join(rows)}"
        f"<p class=muted>stages: {html.escape(stages)}</p>{f'<ul>{warn}</ul>' if warn else ''}</div></div>"
    )
    return "\n".join(parts)


def _progress_plot(p: dict) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3), dpi=90)
    xs = list(range(1, len(p["visits"]) + 1))
    for key in ("BE", "JSN", "SvdH", "eroded_joints"):
        ys = [v["totals"].get(key) for v in p["visits"]]
        if all(y is not None for y in ys):
            ax.plot(xs, ys, marker="o", label=key)
    ax.set_xticks(xs, [v["order"] for v in p["visits"]], rotation=20, fontsize=7)
    ax.set_xlabel("visit")
    ax.set_ylabel("total score")
    ax.set_title(f"patient {p['patient']} ({p['side']}, {p['anatomy']})", fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def _progression(prog: list[dict]) -> str:
    if not prog:
        return ""
    parts = [
        "<h2 id='progression'>Progression</h2>",
        "<p class=muted>Consecutive visits of one patient (same side and anatomy); Δ = later − earlier.</p>",
    ]
    for p in prog:
        head = _th("<from", "<to", "ΔBE", "ΔJSN", "ΔSvdH", "Δ eroded joints", "<joints that changed")
        rows = [f"<table class='progression'>{head}"]
        for d in p["deltas"]:
            changed = ", ".join(f"{k} {v:+d}" for k, v in d["per_joint"].items() if v)
            rows.append(
                f"<tr><td class=l>{html.escape(d['from'])}</td><td class=l>{html.escape(d['to'])}</td>"
                + "".join(f"<td>{_fmt(d.get(k))}</td>" for k in ("dBE", "dJSN", "dSvdH", "deroded_joints"))
                + f"<td class=l>{html.escape(changed) or 'none'}</td></tr>"
            )
        rows.append("</table>")
        plot = _img_tag(_progress_plot(p), f"totals over time, patient {p['patient']}")
        parts.append(f"<h3>Patient {html.escape(str(p['patient']))} ({p['side']}, {p['anatomy']})</h3>"
                     f"<div class=case><div>{plot}</div><div>{''.join(rows)}</div></div>")  # fmt: skip
    return "\n".join(parts)


def write_report(path: Path, results: list[dict], prog: list[dict], out: Path) -> None:
    """Write the batch report (atomically)."""
    import ramkit

    runs: dict = {}
    for r in results:
        runs.update(r.get("runs") or {})
    synthetic = sorted(t for t, d in runs.items() if d.get("synthetic"))
    banner = ""
    if synthetic:
        banner = (
            "<div class=banner id='synthetic-banner'><b>Models trained on synthetic data.</b> "
            f"The runs of {', '.join(synthetic)} were trained on a ramkit synthetic cohort (phantoms), not on "
            "annotated patient radiographs: scores, boxes and areas below are a demonstration of the pipeline, "
            "not a clinical reading.</div>"
        )
    n_fail = sum(r.get("status") != "ok" for r in results)
    m = anatomy.MAX_TOTAL
    maxima = f"SvdH maxima: hand BE {m['be']}, JSN {m['jsn']}; wrist BE {m['w600']}"
    run_rows = "".join(
        f"<tr><td class=l>{html.escape(t)}</td><td class=l>{html.escape(str(d.get('run')))}</td>"
        f"<td class=l>{html.escape(str(d.get('model')))}</td>"
        f"<td class=l>{html.escape(str(d.get('weights_sha256', ''))[:16])}…</td></tr>"
        for t, d in sorted(runs.items())
    )
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ramkit analyze report</title><style>{_CSS}</style></head>
<body>
<h1>ramkit analyze — {len(results)} radiograph(s)</h1>
{banner}
<p>{len(results) - n_fail} analysed, {n_fail} failed · ramkit {ramkit.__version__} · {maxima}</p>
{_summary(results)}
<table>{_th("<task", "<run", "<model", "<weights sha256")}{run_rows}</table>
{_progression(prog)}
{"".join(_case(r, out) for r in results)}
<script>
// self-check for people and tests: how many inline images decoded (no network is ever used)
window.addEventListener("load", () => {{
  const imgs = [...document.images];
  const ok = imgs.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.dataset.imagesLoaded = ok + "/" + imgs.length;
}});
</script>
</body></html>
"""
    write_text(path, doc)
