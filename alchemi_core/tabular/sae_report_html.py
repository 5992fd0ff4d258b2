"""report.html: one self-contained page (inline CSS and SVG, nothing fetched), one card per
latent sorted by frequency: a histogram of its activations, its enriched values, its top rows."""

from __future__ import annotations

import html
import math

import numpy as np
import pandas as pd

from alchemi_core.tabular.sae_latents import Latent

MAX_COLUMNS = 12  # columns shown in a latent's top-rows table
STYLE = """
body{font:14px system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}
h1{font-size:20px;margin:0 0 4px} .meta{color:#666;margin-bottom:16px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:12px}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px}
.card h2{font-size:15px;margin:0 0 6px} .dead{color:#999}
.top{display:flex;gap:10px;align-items:flex-start} .top svg{flex:none}
ul{margin:0;padding-left:16px}
table{border-collapse:collapse;font-size:12px;margin-top:6px;display:block;overflow-x:auto}
td,th{border-bottom:1px solid #eee;padding:2px 6px;text-align:right;white-space:nowrap}
th{background:#f3f3f3} .up{color:#1a7f37} .down{color:#b3261e}
"""


def histogram_svg(values: np.ndarray | None, width: int = 160, height: int = 60) -> str:
    """A small histogram of a latent's activations where it fires (20 bins from 0 to max)."""
    if values is None or len(values) == 0:
        return f'<svg width="{width}" height="{height}"></svg>'
    top = float(values.max()) or 1.0
    counts, _ = np.histogram(values, bins=20, range=(0.0, top))
    peak, bw = max(int(counts.max()), 1), width / 20
    bars = "".join(
        f'<rect x="{i * bw:.1f}" y="{height - 12 - (c / peak) * (height - 14):.1f}" '
        f'width="{bw - 1:.1f}" height="{(c / peak) * (height - 14):.1f}" fill="#4a78b5"/>'
        for i, c in enumerate(counts)
    )
    axis = (
        f'<line x1="0" y1="{height - 12}" x2="{width}" y2="{height - 12}" stroke="#999"/>'
        f'<text x="0" y="{height - 1}" font-size="9">0</text>'
        f'<text x="{width}" y="{height - 1}" font-size="9" text-anchor="end">{top:.3g}</text>'
    )
    return (
        f'<svg width="{width}" height="{height}" role="img" '
        f'aria-label="activation histogram">{bars}{axis}</svg>'
    )


def _enriched(lat: Latent) -> str:
    items = [
        f"<li><b>{html.escape(c)}</b> = {html.escape(v)}: lift {lift:.2f}, "
        f"{share:.0%} of its rows</li>"
        for c, v, lift, share in lat.categorical[:3]
    ]
    items += [
        f'<li><b>{html.escape(c)}</b>: <span class="{"up" if s > 0 else "down"}">'
        f"{s:+.2f} sd</span></li>"
        for c, s in lat.numerical[:3]
    ]
    return f"<ul>{''.join(items) or '<li>nothing enriched</li>'}</ul>"


def _fmt(v) -> str:
    if isinstance(v, float):
        return "" if math.isnan(v) else f"{v:.4g}"
    return html.escape(str(v))


def _rows(lat: Latent, frame: pd.DataFrame) -> str:
    if not lat.top_rows:
        return ""
    cols = list(frame.columns[:MAX_COLUMNS])
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in ["row", "activation", *cols])
    body = "".join(
        f"<tr><td>{i}</td><td>{a:.3g}</td>"
        + "".join(f"<td>{_fmt(frame.iloc[i][c])}</td>" for c in cols)
        + "</tr>"
        for i, a in zip(lat.top_rows, lat.top_values, strict=True)
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def card(lat: Latent, frame: pd.DataFrame) -> str:
    if lat.fires == 0:
        return f'<div class="card dead"><h2>latent {lat.latent}: never fires</h2></div>'
    title = (
        f"latent {lat.latent}: fires on {lat.frequency:.1%} of rows ({lat.fires}), "
        f"mean activation {lat.mean_activation:.3g}"
    )
    return (
        f'<div class="card"><h2>{title}</h2><div class="top">{histogram_svg(lat.activations)}'
        f"{_enriched(lat)}</div>{_rows(lat, frame)}</div>"
    )


def render(latents: list[Latent], frame: pd.DataFrame, meta: dict[str, str]) -> str:
    info = " · ".join(f"{html.escape(k)}: {html.escape(str(v))}" for k, v in meta.items())
    live = sum(lat.fires > 0 for lat in latents)
    cards = "\n".join(card(lat, frame) for lat in latents)
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>SAE latents</title>"
        f"<style>{STYLE}</style></head><body><h1>SAE latents</h1>"
        f'<div class="meta">{info} · {live} of {len(latents)} latents fire · '
        f"sorted by firing frequency · histogram: activations where a latent fires · "
        f"enriched: lift of a value among its rows, mean shift of a number in sd · "
        f"row: position in the table (from 0)</div><div class='grid'>{cards}</div></body></html>\n"
    )
