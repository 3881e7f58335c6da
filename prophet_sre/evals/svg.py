"""Two small inline SVG charts for the HTML report: horizontal bars and a histogram.

Hand-written SVG rather than a plotting library: the report must be one self-contained file with no
external assets and no script, and these two shapes are all it needs. Every label is escaped.
"""

from __future__ import annotations

from html import escape


def bars(rows: list[tuple[str, float, str]], *, width: int = 640, bar_h: int = 18, label_w: int = 200) -> str:
    """One horizontal bar per row: (label, value in 0..1, text shown after the bar)."""
    gap = 6
    h = max(1, len(rows)) * (bar_h + gap) + gap
    scale = width - label_w - 70
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{h}" role="img" '
             f'viewBox="0 0 {width} {h}" font-family="sans-serif" font-size="12">']
    for i, (label, value, text) in enumerate(rows):
        y = gap + i * (bar_h + gap)
        v = max(0.0, min(1.0, value))
        color = "#2e7d32" if v >= 0.95 else "#f9a825" if v >= 0.7 else "#c62828"
        parts.append(f'<text x="{label_w - 6}" y="{y + bar_h - 5}" text-anchor="end">{escape(label)}</text>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{scale}" height="{bar_h}" fill="#eee"/>')
        parts.append(f'<rect x="{label_w}" y="{y}" width="{v * scale:.1f}" height="{bar_h}" fill="{color}">'
                     f'<title>{escape(label)}: {escape(text)}</title></rect>')
        parts.append(f'<text x="{label_w + scale + 6}" y="{y + bar_h - 5}">{escape(text)}</text>')
    parts.append("</svg>")
    return "".join(parts)


def histogram(values: list[float], *, bins: int = 10, width: int = 640, height: int = 200, unit: str = "s") -> str:
    """A histogram of `values` (e.g. MTTR in sim seconds), with the bin edges under the axis."""
    if not values:
        return '<p class="muted">no recovered runs: no MTTR to show</p>'
    lo, hi = min(values), max(values)
    if hi - lo < 1e-9:
        hi = lo + 1.0
    step = (hi - lo) / bins
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, int((v - lo) / step))] += 1
    top = max(counts)
    pad_l, pad_b, pad_t = 30, 30, 10
    plot_w, plot_h = width - pad_l - 10, height - pad_b - pad_t
    bw = plot_w / bins
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" '
             f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="11">',
             f'<line x1="{pad_l}" y1="{pad_t + plot_h}" x2="{pad_l + plot_w}" y2="{pad_t + plot_h}" stroke="#555"/>',
             f'<text x="4" y="{pad_t + 10}">{top}</text>']
    for i, c in enumerate(counts):
        bh = plot_h * c / top if top else 0
        x = pad_l + i * bw
        edge = lo + i * step
        parts.append(f'<rect x="{x + 1:.1f}" y="{pad_t + plot_h - bh:.1f}" width="{bw - 2:.1f}" height="{bh:.1f}" '
                     f'fill="#1565c0"><title>{edge:.0f}-{edge + step:.0f}{unit}: {c} run(s)</title></rect>')
        if i % 2 == 0:
            parts.append(f'<text x="{x:.1f}" y="{height - 12}">{edge:.0f}{unit}</text>')
    parts.append(f'<text x="{pad_l + plot_w - 40}" y="{height - 12}">{hi:.0f}{unit}</text>')
    parts.append("</svg>")
    return "".join(parts)


__all__ = ["bars", "histogram"]
