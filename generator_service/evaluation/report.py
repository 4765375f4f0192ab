"""The evaluation report: REPORT_DIR/report.html (self-contained) next to REPORT_DIR/report.json.

The HTML has no external references: styles are inline, plots are inline SVG drawn with
matplotlib's Agg/SVG backend (no scripts, no fonts, no URLs fetched). The JSON holds every number
(`EvalReport.to_dict()`). matplotlib is imported inside the plotting functions.
"""

from __future__ import annotations

import html
import io
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from . import metrics as m
from .inputs import GROUND_TRUTH
from .results import ClipResult, EvalReport, clip_metrics

logger = logging.getLogger(__name__)

#: Per-clip figures are drawn for at most this many clips (the table lists all of them).
MAX_CLIP_PLOTS = 24
_COLORS = {
    "expotion": "#d95f02",
    "text-only": "#1b9e77",
    GROUND_TRUTH: "#7570b3",
    "beat-locked": "#e7298a",
    "beat-locked+schedule": "#66a61e",
    "text-only+schedule": "#e6ab02",
}
_FALLBACK_COLORS = ("#e7298a", "#66a61e", "#e6ab02", "#a6761d")

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px auto;max-width:1180px;
color:#222;padding:0 16px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
h3{font-size:15px;margin:18px 0 4px}
table{border-collapse:collapse;margin:6px 0 12px;font-variant-numeric:tabular-nums}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f4f4f4}
td.l,th.l{text-align:left}.muted{color:#777}.note{background:#fff6e0;padding:6px 10px;margin:4px 0}
.good{color:#1a7f37;font-weight:600}.bad{color:#b42318}
.figs{display:flex;flex-wrap:wrap;gap:12px}.figs svg{max-width:100%;height:auto}
.clip{border-top:1px solid #eee;padding-top:6px}dl{margin:0}dt{font-weight:600}dd{margin:0 0 6px 16px}
"""


def _color(name: str, i: int) -> str:
    return _COLORS.get(name, _FALLBACK_COLORS[i % len(_FALLBACK_COLORS)])


def _fmt(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return "–" if not np.isfinite(value) else f"{value:.{digits}f}"
    return html.escape(str(value))


# ---------------------------------------------------------------------------------------------
# figures


def figure_svg(fig: Any) -> str:
    """An inline `<svg>` element of a matplotlib figure (XML header and DOCTYPE stripped); closes it."""
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg") :]


def _rc() -> dict[str, Any]:
    return {"svg.fonttype": "none", "font.size": 9, "axes.spines.top": False, "axes.spines.right": False}


def _unit(x: np.ndarray) -> np.ndarray:
    """Scale a curve to 0..1 for overlaying (zeros when flat)."""
    lo, hi = float(np.min(x)) if x.size else 0.0, float(np.max(x)) if x.size else 0.0
    return np.zeros_like(x, dtype=float) if hi - lo <= 1e-12 else (x - lo) / (hi - lo)


def clip_figure(clip: ClipResult, names: list[str], smoothing_s: float = 1.0) -> str:
    """Per clip: one row per system (motion energy and motion beats vs music onset strength and
    beats), and a last row of expression intensity vs music loudness."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    present = [n for n in names if n in clip.music]
    fps = clip.motion.fps
    t_motion = np.arange(clip.motion_energy.size) / fps
    with plt.rc_context(_rc()):
        fig, axes = plt.subplots(len(present) + 1, 1, figsize=(9.5, 1.35 * (len(present) + 1) + 0.4), sharex=True)
        for i, (ax, name) in enumerate(zip(axes, present)):
            music = clip.music[name]
            t_music = np.arange(music.onset_envelope.size) / music.frame_rate
            ax.fill_between(t_motion, _unit(clip.motion_energy), color="#bbb", alpha=0.6, lw=0, label="motion energy")
            ax.plot(t_music, _unit(music.onset_envelope), color=_color(name, i), lw=0.8, label=f"{name} onset strength")
            ax.vlines(clip.motion.times, 0, 1.12, color="#333", lw=0.7, ls=(0, (2, 2)), label="motion beats")
            ax.plot(music.beats, np.full(music.beats.size, 1.04), "v", color=_color(name, i), ms=4, label="music beats")
            s = clip.scores[name]
            ax.set_title(
                f"{name}: beat F {s.beats.f_measure:.2f} (chance {s.beats.chance_f_measure:.2f}), "
                f"onset hits {s.onsets.hit_rate:.2f}",
                fontsize=8,
                loc="left",
            )
            ax.set_ylim(0, 1.12)
            ax.set_yticks([])
            ax.legend(
                loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=7, ncol=3, frameon=False, borderaxespad=0.1
            )
        _expression_axis(axes[-1], clip, present, t_motion, smoothing_s)
        axes[-1].set_xlabel("time (s)")
        fig.tight_layout()
    return figure_svg(fig)


def _expression_axis(ax: Any, clip: ClipResult, present: list[str], t_motion: np.ndarray, smoothing_s: float) -> None:
    """Expression intensity vs each system's loudness, smoothed as the correlation sees them."""
    fps = clip.motion.fps
    width = max(1, int(round(smoothing_s * fps)))
    n = clip.expression_intensity.size
    expr = _unit(m.smooth(clip.expression_intensity, width))
    ax.plot(t_motion, expr, color="#222", lw=1.6, label="expression intensity")
    for i, name in enumerate(present):
        music = clip.music[name]
        loud = m.smooth(m.to_feature_rate(music.rms_db, music.frame_rate, fps, n), width)
        r = clip.scores[name].expression.energy_r
        ax.plot(t_motion, _unit(loud), color=_color(name, i), lw=1.0, label=f"{name} loudness r={r:.2f}")
    ax.set_ylabel(f"smoothed {smoothing_s:g} s\nscaled 0..1", fontsize=7)
    ax.set_yticks([])
    ax.set_ylim(0, 1.12)
    ax.legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=7, ncol=4, frameon=False, borderaxespad=0.1)


def tempo_figure(report: EvalReport) -> str:
    """Scatter of music tempo vs motion tempo per clip and system, with 1x, 2x and 1/2x lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with plt.rc_context(_rc()):
        fig, ax = plt.subplots(figsize=(4.6, 4.2))
        grid = np.array([30.0, 300.0])
        for factor, style in ((1.0, "-"), (2.0, "--"), (0.5, "--")):
            ax.plot(grid, grid * factor, color="#999", lw=0.8, ls=style)
        ax.fill_between(
            grid,
            grid * (1 - report.config.tempo_tolerance),
            grid * (1 + report.config.tempo_tolerance),
            color="#ccc",
            alpha=0.5,
            lw=0,
        )
        for i, name in enumerate(report.system_names):
            pts = [(c.motion.tempo_bpm, c.music[name].tempo_bpm) for c in report.clips if name in c.music]
            pts = [(x, y) for x, y in pts if x and y]
            if pts:
                xs, ys = zip(*pts)
                ax.scatter(xs, ys, s=22, color=_color(name, i), label=name, alpha=0.85, edgecolors="none")
        ticks = [40, 60, 90, 120, 180, 240]
        ax.set(
            xscale="log",
            yscale="log",
            xlim=(30, 300),
            ylim=(30, 300),
            xlabel="motion tempo (BPM)",
            ylabel="music tempo (BPM)",
            title="Tempo: music vs motion (lines 1x, 2x, ½x)",
        )
        ax.set_xticks(ticks, [str(t) for t in ticks])
        ax.set_yticks(ticks, [str(t) for t in ticks])
        ax.minorticks_off()
        ax.legend(fontsize=8, frameon=False)
        fig.tight_layout()
    return figure_svg(fig)


def summary_figure(report: EvalReport) -> str:
    """Bars per system: beat F (with chance level), onset hit rate, expression correlations."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = [
        ("beat_f", "beat F"),
        ("onset_hit_rate", "onset hits"),
        ("tempo_match", "tempo match"),
        ("expression_energy_r", "expr.↔loudness r"),
        ("expression_brightness_r", "expr.↔brightness r"),
    ]
    names = report.system_names
    width = 0.8 / max(1, len(names))
    with plt.rc_context(_rc()):
        fig, ax = plt.subplots(figsize=(6.4, 4.2))
        x = np.arange(len(keys))
        for i, name in enumerate(names):
            vals = [report.aggregate[name].get(k) for k, _ in keys]
            ax.bar(x + i * width, [v if v is not None else 0.0 for v in vals], width, color=_color(name, i), label=name)
            chance = report.aggregate[name].get("beat_chance_f")
            if chance is not None:
                centre = x[0] + i * width
                ax.plot([centre - width / 2, centre + width / 2], [chance, chance], color="k", lw=1.2)
        ax.axhline(0, color="#666", lw=0.6)
        ax.set_xticks(x + width * (len(names) - 1) / 2, [label for _, label in keys], fontsize=8)
        ax.set(ylim=(-1, 1), title="Mean over clips (black tick: beat F by chance)")
        ax.legend(fontsize=8, frameon=False, loc="lower left")
        fig.tight_layout()
    return figure_svg(fig)


# ---------------------------------------------------------------------------------------------
# tables


_SUMMARY_ROWS = (
    ("beat_f", "Beat alignment F (motion beats vs music beats)"),
    ("beat_chance_f", "  … same, motion shifted at random (chance)"),
    ("onset_hit_rate", "Motion beats hit by a music onset"),
    ("onset_chance_f", "  onset F by chance"),
    ("tempo_match", "Tempo = motion tempo (±tol)"),
    ("tempo_match_any_octave", "Tempo = motion tempo, any octave"),
    ("octave_errors", "Octave errors (count)"),
    ("tempo_undefined", "Tempo undefined (count)"),
    ("tempo_match_reference", "Tempo = ground-truth tempo"),
    ("beats_vs_reference_f", "Beats vs ground-truth beats F"),
    ("expression_energy_r", "Expression ↔ loudness r"),
    ("expression_brightness_r", "Expression ↔ brightness r"),
    ("text_score", "Text adherence (CLAP)"),
    ("hit_rate", "Hits (cuts, markers) with a music onset (±hit tol)"),
    ("n_clips", "Clips"),
)


def _table(header: list[str], rows: list[list[str]], left_cols: int = 1) -> str:
    th = "".join(f'<th class="l">{h}</th>' if i < left_cols else f"<th>{h}</th>" for i, h in enumerate(header))

    def cells(row: list[str]) -> str:
        return "".join(f'<td class="l">{c}</td>' if i < left_cols else f"<td>{c}</td>" for i, c in enumerate(row))

    body = "".join(f"<tr>{cells(r)}</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def summary_table(report: EvalReport) -> str:
    names = report.system_names
    rows = [[html.escape(label)] + [_fmt(report.aggregate[n].get(key)) for n in names] for key, label in _SUMMARY_ROWS]
    return _table(["metric"] + [html.escape(n) for n in names], rows)


def paired_table(report: EvalReport) -> str:
    rows = []
    for pair, table in report.paired.items():
        for key, st in table.items():
            diff = st["mean_diff"]
            cls = "good" if diff is not None and diff > 0 else "bad" if diff is not None and diff < 0 else ""
            rows.append(
                [
                    html.escape(pair),
                    key,
                    f'<span class="{cls}">{_fmt(diff, 3)}</span>',
                    str(st["wins"]),
                    str(st["losses"]),
                    str(st["ties"]),
                    str(st["n"]),
                ]
            )
    return _table(["comparison", "metric", "mean diff", "wins", "losses", "ties", "n"], rows, left_cols=2)


def lock_table(report: EvalReport) -> str:
    """The beat-locked systems: beat F and hits before (their base system's music) and after the lock,
    over all clips, then clip by clip with the lock's reason."""
    if not report.locks:
        return ""
    rows = [
        [
            html.escape(name),
            html.escape(str(st["base"])),
            f"{st['locked']} of {st['n_clips']}",
            f"{_fmt(st['beat_f_before'])} → {_fmt(st['beat_f_after'])}",
            f"{_fmt(st['hit_rate_before'])} → {_fmt(st['hit_rate_after'])}",
        ]
        for name, st in report.locks.items()
    ]
    overall = _table(
        ["system", "locks the music of", "clips locked", "beat F before → after", "hits landed before → after"],
        rows,
        left_cols=2,
    )
    per_clip = []
    for c in report.clips:
        for name, lock in c.locks.items():
            after, before = clip_metrics(c.scores[name]), clip_metrics(lock.before)
            lo, hi = lock.stretch_range
            per_clip.append(
                [
                    html.escape(c.clip_id),
                    html.escape(name),
                    "yes" if lock.locked else "no",
                    f"{_fmt(before['beat_f'])} → {_fmt(after['beat_f'])}",
                    f"{_fmt(before['hit_rate'])} → {_fmt(after['hit_rate'])}",
                    f"{lo:.3f}–{hi:.3f}",
                    html.escape(lock.reason),
                ]
            )
    detail = _table(["clip", "system", "locked", "beat F", "hits", "stretch", "reason"], per_clip, left_cols=2)
    return f"<h2>Beat lock: before → after</h2>{overall}{detail}"


def clip_table(report: EvalReport) -> str:
    names = report.system_names
    header = ["clip", "motion", "motion BPM"]
    for n in names:
        header += [f"{html.escape(n)} beat F", "onset hits", "BPM (rel.)", "expr r"]
    rows = []
    for c in report.clips:
        row = [html.escape(c.clip_id), c.motion.source.replace("_", " "), _fmt(c.motion.tempo_bpm, 1)]
        for n in names:
            if n not in c.scores:
                row += ["–"] * 4
                continue
            s, flat = c.scores[n], clip_metrics(c.scores[n])
            row += [
                _fmt(flat["beat_f"]),
                _fmt(flat["onset_hit_rate"]),
                f"{_fmt(s.tempo.music_bpm, 1)} ({s.tempo.music_vs_motion})",
                _fmt(flat["expression_energy_r"]),
            ]
        rows.append(row)
    return _table(header, rows, left_cols=2)


def _definitions(report: EvalReport) -> str:
    c = report.config
    items = [
        (
            "Motion beats",
            "bottom of each vertical bob: down→up zero crossing of the body-centre vertical velocity "
            "(sub-frame, with hysteresis); without vertical motion, prominent minima of motion energy (pauses/"
            f"reversals). Prominence/hysteresis {c.min_excursion:g} × amplitude.",
        ),
        (
            "Beat alignment F",
            f"one-to-one matches within ±{c.tolerance_s * 1000:.0f} ms between motion beats and "
            "music beats (librosa 0.11's beat tracker); F = 2·matches/(motion+music events). Chance: mean F over 64 circular shifts of the motion "
            "beats. Silence or no motion → 0.",
        ),
        ("Onset hits", f"fraction of motion beats with a music onset within ±{c.tolerance_s * 1000:.0f} ms."),
        (
            "Hits landed",
            f"fraction of the clip's hit points (cuts, markers) with a music onset within "
            f"±{c.hit_tolerance_s * 1000:.0f} ms.",
        ),
        (
            "Beat-locked systems",
            "their base system's music time-warped with Rubber Band (local stretch within "
            f"±{c.max_stretch:.0%}) so music beats land on the motion beats and strong onsets on the hits; "
            '"before" scores the base music. Music that cannot be locked honestly is left as it was.',
        ),
        (
            "Tempo",
            f"BPM from the mean regular inter-event interval (music beats, motion beats); relations "
            f"same/double/half/triple/third within ±{c.tempo_tolerance * 100:.0f} %; double/half are octave errors.",
        ),
        (
            "Expression following",
            "Pearson r of expression intensity with music loudness (RMS dB) and brightness "
            f"(spectral centroid) at the feature rate, both smoothed over {c.expression_smoothing_s:g} s; zero lag "
            f"(JSON also has the best r within ±{c.expression_max_lag_s:g} s).",
        ),
        ("FAD / CLAP", "only when a local reference model was given; never downloaded."),
    ]
    return "<dl>" + "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in items) + "</dl>"


# ---------------------------------------------------------------------------------------------
# document


def render_html(report: EvalReport, *, max_clip_plots: int = MAX_CLIP_PLOTS) -> str:
    """The complete self-contained HTML document."""
    meta = " · ".join(f"{html.escape(str(k))}: {html.escape(str(v))}" for k, v in report.meta.items())
    notes = "".join(f'<div class="note">{html.escape(n)}</div>' for n in report.notes)
    fad = ""
    if report.fad:
        rows = [[html.escape(k), _fmt(v, 3)] for k, v in report.fad.items()]
        fad = "<h2>FAD</h2>" + _table(["system", "FAD vs ground truth"], rows)
    shown = report.clips[:max_clip_plots]
    clips = "".join(
        f'<div class="clip"><h3>{html.escape(c.clip_id)}</h3><div class="muted">{html.escape(c.prompt)}'
        f" · {c.duration_s:.1f} s · motion: {c.motion.source.replace('_', ' ')}, {c.motion.times.size} beats</div>"
        f"{clip_figure(c, report.system_names, report.config.expression_smoothing_s)}</div>"
        for c in shown
    )
    more = ""
    if len(report.clips) > max_clip_plots:
        more = (
            f'<p class="muted">Figures for the first {max_clip_plots} of {len(report.clips)} clips; '
            "all are in the table.</p>"
        )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Expotion evaluation</title><style>{_CSS}</style></head><body>"
        f'<h1>Expotion evaluation</h1><div class="muted">{meta}</div>{notes}'
        f"<h2>Summary</h2>{summary_table(report)}"
        f'<div class="figs">{summary_figure(report)}{tempo_figure(report)}</div>'
        f"<h2>Paired comparison (per clip)</h2>{paired_table(report)}{lock_table(report)}{fad}"
        f"<h2>Per clip</h2>{clip_table(report)}{more}{clips}"
        f"<h2>Definitions</h2>{_definitions(report)}</body></html>"
    )


def write_report(report: EvalReport, out_dir: Path, *, max_clip_plots: int = MAX_CLIP_PLOTS) -> tuple[Path, Path]:
    """Write `out_dir/report.html` and `out_dir/report.json`; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "report.json"
    html_path = out_dir / "report.html"
    json_path.write_text(json.dumps(report.to_dict(), indent=1, allow_nan=False), encoding="utf-8")
    html_path.write_text(render_html(report, max_clip_plots=max_clip_plots), encoding="utf-8")
    logger.info("evaluation report written to %s", html_path)
    return html_path, json_path
