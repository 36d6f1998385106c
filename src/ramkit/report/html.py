"""Self-contained HTML of a report: inline CSS, PNG figures as base64 data URIs, no script, no network."""

from __future__ import annotations

import base64
import html
import time
from pathlib import Path

from ramkit.report.tables import NA_REASONS, PUBLISHED, Table, TestResult

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1400px;
color:#1b1f24;line-height:1.4;padding:0 16px}
h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #d0d7de;padding-bottom:.2em;margin-top:1.8em}
h3{margin:1.2em 0 .4em}
table{border-collapse:collapse;margin:.4em 0 .6em;font-size:13px}
th,td{border:1px solid #d0d7de;padding:3px 6px;text-align:right;white-space:nowrap}
.scroll{overflow-x:auto;max-width:100%}
th{background:#f6f8fa}td.text{text-align:left}
tr.published td{color:#57606a;background:#fbfbfc}tr.ramkit td{background:#eef6ff;font-weight:500}
td.na{color:#8c959f;font-style:italic}
.note{font-size:12px;color:#57606a;margin:.2em 0;max-width:1100px}.na-note{color:#9a6700}
.tag{display:inline-block;padding:0 6px;border-radius:8px;font-size:11px}
.tag.pub{background:#eaeef2}.tag.ours{background:#ddf4ff}
img{max-width:420px;border:1px solid #d0d7de;margin:4px 0}
nav a{margin-right:12px}.meta td,.meta th{text-align:left}
"""


def _e(s) -> str:
    return html.escape(str(s))


def table_html(t: Table) -> str:
    best = t.best()
    head = [*t.text_columns, *[c.label for c in t.columns]]
    rows = []
    for i, r in enumerate(t.rows):
        group = "published" if r.get("Source") == PUBLISHED else "ramkit"
        cells = []
        for tc in t.text_columns:
            v = r.get(tc, "")
            if tc == "Source":
                cls = "pub" if v == PUBLISHED else "ours"
                cells.append(f'<td class="text"><span class="tag {cls}">{_e(v)}</span></td>')
            else:
                cells.append(f'<td class="text">{_e(v)}</td>')
        for c in t.columns:
            s = t.cell(r, c)
            if s == "n/a":
                cells.append('<td class="na">n/a</td>')
            elif i in best.get(c.key, ()):
                cells.append(f"<td><b>{_e(s)}</b></td>")
            else:
                cells.append(f"<td>{_e(s)}</td>")
        rows.append(f'<tr class="{group}">' + "".join(cells) + "</tr>")
    parts = [
        f'<section class="table" id="{_e(t.id)}"><h3>{_e(t.title)}</h3>',
        f'<div class="scroll"><table data-table="{_e(t.id)}"><thead><tr>'
        + "".join(f"<th>{_e(h)}</th>" for h in head)
        + "</tr></thead>",
        "<tbody>" + "".join(rows) + "</tbody></table></div>",
    ]
    parts += [f'<p class="note">{_e(n)}</p>' for n in t.notes]
    if t.has_na():
        parts += [f'<p class="note na-note">{_e(NA_REASONS[k])}</p>' for k in sorted(t.na)]
    for caption, png in t.images.items():
        data = base64.b64encode(Path(png).read_bytes()).decode("ascii")
        parts.append(
            f'<figure><img alt="{_e(caption)}" src="data:image/png;base64,{data}"><figcaption class="note">'
            f"{_e(caption)}</figcaption></figure>"
        )
    parts.append(f'<p class="note">Files: <code>tables/{_e(t.id)}.md</code>, <code>tables/{_e(t.id)}.csv</code></p>')
    return "\n".join(parts) + "</section>"


def _budget(cfg: dict) -> str:
    """Training budget of a run's config, e.g. ``40 ep · 160² · scale 0.25 · batch 8 · LR 0.003``."""
    if not cfg:
        return "—"
    parts = [f"{cfg.get('epochs')} ep", f"{cfg.get('patch_size')}²"]
    if cfg.get("input_scale", 1.0) != 1.0:
        parts.append(f"scale {cfg['input_scale']}")
    parts += [f"batch {cfg.get('batch_size')}", f"LR {cfg.get('lr'):g}" if cfg.get("lr") else "LR ?"]
    return " · ".join(parts)


def _run_meta(results: list[TestResult]) -> str:
    head = [
        "task",
        "model",
        "data",
        "split",
        "n cases",
        "budget",
        "best epoch",
        "#params",
        "train s",
        "test ms/item",
        "device",
    ]
    rows = []
    for r in results:
        s, cfg = r.summary, r.extra.get("cfg", {})
        bench = r.extra.get("bench", {})
        t = s.get("timing", {})
        cells = [
            s.get("task"),
            s.get("model"),
            r.label,
            s.get("split"),
            s.get("n_cases"),
            _budget(cfg),
            s.get("best_epoch"),
            f"{s['params'] / 1e6:.2f} M" if s.get("params") else "—",
            f"{bench['train_s']:.0f}" if "train_s" in bench else "—",
            f"{t.get('median_ms', float('nan')):.2f} ({t.get('unit', '')})",
            r.device,
        ]
        rows.append("<tr>" + "".join(f"<td>{_e(c)}</td>" for c in cells) + "</tr>")
    return (
        '<div class="scroll"><table class="meta"><thead><tr>'
        + "".join(f"<th>{h}</th>" for h in head)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></div>"
    )


def render(results: list[TestResult], tables: list[Table], out: Path) -> str:
    """The whole report page."""
    synthetic = any("synthetic" in r.label for r in results)
    nav = " ".join(f'<a href="#{_e(t.id)}">{_e(t.id)}</a>' for t in tables)
    intro = (
        "Every table puts ramkit's rows (blue, tagged with the data they came from) next to the papers' rows "
        f"(grey, tagged “{PUBLISHED}”, from <code>ramkit/data/*.csv</code>). "
    )
    if synthetic:
        intro += (
            "<b>ramkit's rows here come from models trained and tested on ramkit's synthetic phantoms</b>: they show "
            "that the pipeline runs end to end and computes every number of the papers; they are not comparable "
            "with the published rows, which come from real radiographs and GPU-scale training."
        )
    body = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>ramkit report</title>',
        f"<style>{CSS}</style></head><body>",
        "<h1>ramkit report</h1>",
        f'<p class="note">{_e(out)} · written {time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())}</p>',
        f"<p>{intro}</p>",
        "<h2>Runs</h2>",
        _run_meta(results),
        f"<nav>{nav}</nav>",
        "<h2>Tables</h2>",
    ]
    body += [table_html(t) for t in tables]
    body.append("</body></html>")
    return "\n".join(body) + "\n"


__all__ = ["render", "table_html", "CSS"]
