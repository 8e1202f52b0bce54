"""Audit outputs: results.json, per-unit Parquet, figures (PNG), report.md and a self-contained report.html.

report.html has no scripts and no external resources: figures are embedded as base64 PNG data URIs,
and every piece of model or user text (variable names, values, phrasings, notes) is HTML-escaped, so a
phrasing such as ``<script>...`` shows as text. report.md escapes the same characters.
"""

from __future__ import annotations

import base64
import io
import shlex
import textwrap
from pathlib import Path
from typing import Any, Protocol, Sequence

import numpy as np
import pandas as pd

from sdscm.audit.arms import VariantArm
from sdscm.audit.formatting import esc, fmt_ci, fmt_num, fmt_p, md_esc
from sdscm.audit.setup import AuditSetup
from sdscm.results.figures import DPI, new_figure, plain_ticks, shorten
from sdscm.results.io import write_bytes, write_frame, write_text


class AuditReportInput(Protocol):
    """What the report reads from an audit's result (:class:`sdscm.audit.summary.AuditResult`)."""

    setup: AuditSetup
    arms: list[VariantArm]
    contrasts: list[dict[str, Any]]
    runtime: dict[str, Any]
    notes: list[str]

    @property
    def units(self) -> pd.DataFrame: ...

    def to_json(self, indent: int | None = 2) -> str: ...

FILES = ("results.json", "units.parquet", "report.md", "report.html", "forest.png", "histogram.png")

EFFECT_COLOR = "#1f5fa8"
PLACEBO_COLOR = "#9a9a9a"


def command_line(result: AuditReportInput) -> str:
    """The `sdscm audit` command that reproduces this run (when it came from a model file)."""
    s = result.setup
    if s.source is None:
        return ""
    parts = ["sdscm", "audit", s.source, "--cause", s.cause, "--values", ",".join(s.values),
             "--outcome", s.outcome]
    for v in s.outcome_values:
        parts += ["--outcome-value", v]
    if s.variants == [None]:
        parts += ["--variants", "first"]
    elif s.variants == list(range(len(s.variants))):
        parts += ["--variants", str(len(s.variants))]
    else:
        parts += ["--variants", ",".join(str(v) for v in s.variants) + ("," if len(s.variants) == 1 else "")]
    parts += ["-n", str(s.n), "--seed", str(s.seed)]
    if not s.placebo:
        parts.append("--no-placebo")
    elif s.placebo_phrasing is not None:
        parts += ["--placebo-phrasing", s.placebo_phrasing]
    if s.margin is not None:
        parts += ["--margin", f"{s.margin:g}"]
    if s.alpha != 0.05:
        parts += ["--alpha", f"{s.alpha:g}"]
    model = s.spec.model
    if model.name is not None:
        parts += ["--model", model.name]
    if model.dtype != "float32":
        parts += ["--dtype", model.dtype]
    if model.length_normalize:
        parts.append("--length-normalize")
    parts += ["--out", "OUT"]
    return " ".join(shlex.quote(p) for p in parts)


def _variant_label(variant: int | None) -> str:
    return "model's own" if variant is None else f"variant {variant}"


# ----------------------------------------------------------------------------- figures
def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def contrast_label(result: AuditReportInput) -> str:
    """The contrast with its actual values, e.g. ``do(race = black) − do(race = white)``."""
    s = result.setup
    return f"do({shorten(s.cause, 40)} = {shorten(s.values[1], 80)}) − do({shorten(s.cause, 40)} = {shorten(s.values[0], 80)})"


def _axis_label(what: str, result: AuditReportInput, width: int = 80) -> str:
    """`what: contrast` on one line when it fits, else the contrast on a line (or lines) of its own."""
    contrast = contrast_label(result)
    if len(what) + 2 + len(contrast) <= width:
        return f"{what}: {contrast}"
    return what + ":\n" + "\n".join(textwrap.wrap(contrast, width))


def forest_figure(result: AuditReportInput) -> Any:
    """Forest plot: per-variant mean effect with its bootstrap CI (and the placebo's, grey), pooled at the
    bottom; one panel per outcome value, the contrast's values in the x label."""
    contrasts = result.contrasts
    k = len(contrasts[0]["variants"])
    with _rc():
        fig = new_figure(figsize=(8.5, 0.9 + (1.1 + 0.36 * (k + 1)) * len(contrasts)))
        axes = fig.subplots(len(contrasts), 1, squeeze=False)
        for ax, c in zip(axes[:, 0], contrasts):
            rows = c["variants"]
            ys = list(range(len(rows), 0, -1))
            has_placebo = c["placebo_effect"] is not None
            off = 0.17 if has_placebo else 0.0
            for y, r in zip(ys, rows):
                ax.plot([r["ci_low"], r["ci_high"]], [y + off, y + off], color=EFFECT_COLOR, lw=1.6)
                ax.plot(r["effect"], y + off, "s", color=EFFECT_COLOR, ms=5)
                if has_placebo:
                    ax.plot([r["placebo_ci_low"], r["placebo_ci_high"]], [y - off, y - off], color=PLACEBO_COLOR, lw=1.4)
                    ax.plot(r["placebo_effect"], y - off, "o", color=PLACEBO_COLOR, ms=4)
            est, lo, hi = c["effect"], c["ci_low"], c["ci_high"]
            ax.fill([lo, est, hi, est, lo], [off, off + 0.15, off, off - 0.15, off], color=EFFECT_COLOR,
                    alpha=0.9, label="effect (pooled: diamond)")
            if has_placebo:
                plo, phi, pe = c["placebo_ci_low"], c["placebo_ci_high"], c["placebo_effect"]
                ax.fill([plo, pe, phi, pe, plo], [-off, -off + 0.13, -off, -off - 0.13, -off], color=PLACEBO_COLOR,
                        alpha=0.9, label="placebo: same value, re-worded")
            ax.axvline(0.0, color="black", lw=0.8)
            eq = c.get("equivalence")
            if eq is not None:
                for x, label in ((-eq["margin"], "equivalence margin"), (eq["margin"], None)):
                    ax.axvline(x, color="#c0392b", lw=0.8, ls="--", label=label)
            plain_ticks(ax, "x", nbins=5)
            ax.set_yticks([0] + ys)
            ax.set_yticklabels(["pooled (random effects)"] + [_variant_label(r["variant"]) for r in rows])
            ax.set_ylim(-0.6, len(rows) + 0.6)
            ax.set_ylabel("variant")
            ax.set_title(shorten(f"{result.setup.outcome} = {c['outcome_value']}", 90), loc="left")
            ax.set_xlabel(_axis_label("change in the probability of the title's value", result))
            ax.grid(axis="x", color="#e5e5e5")
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    return fig


def forest_png(result: AuditReportInput) -> bytes:
    """:func:`forest_figure` as PNG bytes."""
    return _png(forest_figure(result))


def _rc() -> Any:
    """Report figures: 9 pt text, and no mathtext (a `$` in a value or phrasing is shown as written)."""
    import matplotlib

    return matplotlib.rc_context({"text.parse_math": False, "font.size": 9})


def histogram_figure(result: AuditReportInput) -> Any:
    """Histogram of per-unit effects against the placebo's per-unit changes, one panel per outcome value."""
    units = result.units
    contrasts = result.contrasts
    with _rc():
        fig = new_figure(figsize=(8.5, 0.4 + 2.6 * len(contrasts)))
        axes = fig.subplots(len(contrasts), 1, squeeze=False)
        for ax, c in zip(axes[:, 0], contrasts):
            rows = units[units["outcome_value"] == c["outcome_value"]]
            effect = rows["effect"].to_numpy(dtype=float)
            series = [effect]
            placebo = None
            if "placebo_change" in rows.columns and rows["placebo_change"].notna().all():
                placebo = rows["placebo_change"].to_numpy(dtype=float)
                series.append(placebo)
            lo = min(float(np.min(s)) for s in series)
            hi = max(float(np.max(s)) for s in series)
            if hi - lo < 1e-9:
                lo, hi = lo - 0.01, hi + 0.01
            bins = np.linspace(lo, hi, 41)
            ax.hist(effect, bins=bins, color=EFFECT_COLOR, alpha=0.65, histtype="stepfilled",
                    label=f"effect  (mean {np.mean(effect):+.4f})")
            if placebo is not None:
                ax.hist(placebo, bins=bins, color=PLACEBO_COLOR, alpha=0.65, histtype="stepfilled",
                        label=f"placebo: A re-worded − A  (mean {np.mean(placebo):+.4f})")
            ax.axvline(0.0, color="black", lw=0.8)
            plain_ticks(ax, "x", nbins=6)
            ax.set_title(shorten(f"{result.setup.outcome} = {c['outcome_value']}", 90), loc="left")
            ax.set_xlabel(_axis_label("per-unit change in the probability of the title's value", result))
            ax.set_ylabel("units")
            ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=7, frameon=False)
    return fig


def histogram_png(result: AuditReportInput) -> bytes:
    """:func:`histogram_figure` as PNG bytes."""
    return _png(histogram_figure(result))


# ----------------------------------------------------------------------------- tables
HEADLINE_ROWS: tuple[tuple[str, str], ...] = (
    ("effect (pooled, random effects)", "effect"),
    ("confidence interval", "ci"),
    ("p-value", "p_value"),
    ("p-value, Holm", "p_holm"),
    ("p-value, Benjamini-Hochberg", "p_bh"),
    ("mean |per-unit effect|", "mean_abs_effect"),
    ("placebo change (pooled)", "placebo_effect"),
    ("placebo confidence interval", "placebo_ci"),
    ("mean |per-unit placebo change|", "mean_abs_placebo"),
    ("|effect| / |placebo|", "abs_effect_to_placebo_ratio"),
    ("excess |effect| − |placebo| (pooled)", "excess_abs_effect"),
    ("p-value, effect vs placebo", "p_value_vs_placebo"),
    ("p-value vs placebo, Holm", "p_vs_placebo_holm"),
    ("flip rate (decision changes)", "flip_rate"),
    ("placebo flip rate", "placebo_flip_rate"),
    ("flips vs placebo flips: Fisher p", "p_flip_vs_placebo"),
    ("flips vs placebo flips: McNemar p (paired)", "p_flip_mcnemar"),
    ("pooled over variants by", "pooling"),
    ("heterogeneity: tau²", "tau2"),
    ("heterogeneity: I²", "i2"),
    ("heterogeneity: Q (df), p", "q"),
    ("equivalence (TOST)", "equivalence"),
)


def _cell(c: dict[str, Any], key: str, level: float) -> str:
    """Plain text of one headline cell (escape before putting it in HTML/Markdown)."""
    h = c["heterogeneity"]
    if key == "ci":
        return fmt_ci(c["ci_low"], c["ci_high"]) + f" ({level:.0%})"
    if key == "placebo_ci":
        return fmt_ci(c["placebo_ci_low"], c["placebo_ci_high"])
    if key.startswith("p_"):
        return fmt_p(c.get(key))
    if key in ("flip_rate", "placebo_flip_rate"):
        rate = c.get(key)
        count = c["flips"] if key == "flip_rate" else c["placebo_flips"]
        return "–" if rate is None else f"{rate:.3f} ({count}/{c['n_units']})"
    if key == "abs_effect_to_placebo_ratio":
        r = c.get(key)
        return "–" if r is None else f"{r:.2f}×"
    if key == "pooling":
        pool = c["pooling"]
        return pool["method"] + (f" ({pool['df']} df)" if pool["df"] is not None else "")
    if key == "tau2":
        return f"{h['tau2']:.3g}"
    if key == "i2":
        return "–" if h["i2"] is None else f"{h['i2']:.0%}"
    if key == "q":
        return f"{h['q']:.3g} ({h['q_df']}), p = {fmt_p(h['q_p_value'])}"
    if key == "equivalence":
        eq = c.get("equivalence")
        if eq is None:
            return "not tested (no margin)"
        return (f"{'equivalent' if eq['equivalent'] else 'not shown'} within ±{eq['margin']:g}: "
                f"p = {fmt_p(eq['p_value'])}, {1 - 2 * eq['alpha']:.0%} CI {fmt_ci(eq['ci_low'], eq['ci_high'])}")
    value = c.get(key)
    signed = key not in ("mean_abs_effect", "mean_abs_placebo")
    return fmt_num(value, signed=signed)


VARIANT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("variant", "variant"), ("n", "n"), ("effect", "effect"), ("bootstrap CI", "ci"),
    ("Wilcoxon p", "p_wilcoxon"), ("sign-flip p", "p_sign_flip"), ("flip rate", "flip_rate"),
)
PLACEBO_COLUMNS: tuple[tuple[str, str], ...] = (
    ("variant", "variant"), ("placebo", "placebo_effect"), ("placebo CI", "placebo_ci"),
    ("|effect| − |placebo|", "excess_abs_effect"), ("vs placebo p (Wilcoxon)", "p_vs_placebo_wilcoxon"),
    ("vs placebo p (sign-flip)", "p_vs_placebo_sign_flip"), ("placebo flip rate", "placebo_flip_rate"),
    ("flips vs placebo: Fisher p", "p_flip_fisher"),
)


SUMMARY_COLUMNS: tuple[tuple[str, str], ...] = (
    ("outcome value", "outcome_value"), ("effect", "effect"), ("CI", "ci_plain"), ("p", "p_value"),
    ("Holm p", "p_holm"), ("BH p", "p_bh"), ("placebo", "placebo_effect"),
    ("|effect| / |placebo|", "abs_effect_to_placebo_ratio"), ("vs placebo p", "p_value_vs_placebo"),
    ("flip rate", "flip_rate_plain"), ("placebo flip rate", "placebo_flip_rate_plain"), ("I²", "i2"),
)


def _summary_cell(c: dict[str, Any], key: str, level: float) -> str:
    if key == "outcome_value":
        return str(c["outcome_value"])
    if key == "ci_plain":
        return fmt_ci(c["ci_low"], c["ci_high"])
    if key.endswith("_plain"):
        rate = c.get(key[: -len("_plain")])
        return "–" if rate is None else f"{rate:.3f}"
    return _cell(c, key, level)


def _variant_tables(c: dict[str, Any]) -> list[tuple[tuple[str, str], ...]]:
    """The per-variant tables of a contrast: effects, and the placebo comparison when there is one."""
    return [VARIANT_COLUMNS] + ([PLACEBO_COLUMNS] if c["placebo_effect"] is not None else [])


def _variant_cell(r: dict[str, Any], key: str) -> str:
    if key == "variant":
        return _variant_label(r["variant"])
    if key == "n":
        return str(r["n"])
    if key == "ci":
        return fmt_ci(r["ci_low"], r["ci_high"])
    if key == "placebo_ci":
        return fmt_ci(r.get("placebo_ci_low"), r.get("placebo_ci_high"))
    if key.startswith("p_"):
        return fmt_p(r.get(key))
    if key in ("flip_rate", "placebo_flip_rate"):
        return "–" if r.get(key) is None else f"{r[key]:.3f}"
    return fmt_num(r.get(key))


def _inputs_rows(result: AuditReportInput) -> list[tuple[str, str]]:
    s = result.setup
    rt = result.runtime
    rows = [
        ("model", f"{s.spec.name}" + (f" ({s.source})" if s.source else "")),
        ("language model", s.spec.model.name or "packaged SmolLM2-135M-Instruct (default)"),
        ("scoring backend", str(rt.get("backend") or "none needed (no lm mechanism was scored)")),
        ("candidate score", ("mean" if s.spec.model.length_normalize else "sum") + " of the value's token "
         "log-probabilities" + (" (with the text after the slot)" if s.spec.model.score_suffix else "")
         + f", {s.spec.model.dtype}"),
        ("cause", f"{s.cause}: A = {s.values[0]}, B = {s.values[1]}"),
        ("outcome", f"{s.outcome}: " + "; ".join(s.outcome_values)),
        ("variants", ", ".join(_variant_label(v) for v in s.variants)),
        ("units per variant", str(s.n)),
        ("seed", str(s.seed)),
        ("placebo", ("off" if not s.placebo else
                     ("user phrasing: " + s.placebo_phrasing) if s.placebo_phrasing else
                     "next phrasing of the cause in the model file")),
        ("alpha, CI level", f"{s.alpha:g}, {s.level:.0%}"),
        ("bootstrap resamples, permutations", f"{s.n_boot}, {s.n_perm}"),
        ("run time", f"{rt.get('seconds', 0.0):.1f} s, {rt.get('contexts_scored', 0)} distinct contexts scored"),
    ]
    cmd = command_line(result)
    if cmd:
        rows.append(("reproduce with", cmd))
    return rows


# ----------------------------------------------------------------------------- markdown
def render_markdown(result: AuditReportInput) -> str:
    """report.md: verdict, headline table per outcome value, per-variant tables, phrasings, inputs."""
    s = result.setup
    lines = [f"# Audit: effect of {md_esc(s.cause)} on {md_esc(s.outcome)}", ""]
    lines.append(f"Contrast: do({md_esc(s.cause)} = **{md_esc(s.values[1])}**) versus "
                 f"do({md_esc(s.cause)} = **{md_esc(s.values[0])}**), shared-noise counterfactual worlds of the "
                 f"same units; {len(s.variants)} variant(s) × {s.n} units.")
    lines.append("")
    for note in result.notes:
        lines += [f"> **Note:** {md_esc(note)}", ""]
    lines += ["## Summary", "", "| " + " | ".join(md_esc(h) for h, _ in SUMMARY_COLUMNS) + " |",
              "|" + " --- |" * len(SUMMARY_COLUMNS)]
    lines += ["| " + " | ".join(md_esc(_summary_cell(c, key, s.level)) for _, key in SUMMARY_COLUMNS) + " |"
              for c in result.contrasts]
    lines.append("")
    lines += [f"- {md_esc(c['verdict'])}" for c in result.contrasts]
    lines += ["", "![Forest plot of per-variant effects](forest.png)", "",
              "![Per-unit effects against placebo changes](histogram.png)", ""]
    for c in result.contrasts:
        lines += [f"## {md_esc(s.outcome)} = {md_esc(c['outcome_value'])}", "", f"**{md_esc(c['verdict'])}**", ""]
        lines += ["| quantity | value |", "| --- | --- |"]
        lines += [f"| {md_esc(label)} | {md_esc(_cell(c, key, s.level))} |" for label, key in HEADLINE_ROWS]
        for columns in _variant_tables(c):
            lines += ["", "| " + " | ".join(md_esc(h) for h, _ in columns) + " |", "|" + " --- |" * len(columns)]
            lines += ["| " + " | ".join(md_esc(_variant_cell(r, key)) for _, key in columns) + " |"
                      for r in c["variants"]]
        lines.append("")
    lines += ["## Phrasings of the cause", "", "| variant | phrasing | placebo phrasing |", "| --- | --- | --- |"]
    for arm in result.arms:
        lines.append(f"| {md_esc(_variant_label(arm.variant))} | {md_esc(arm.cause_phrasing)} | "
                     f"{md_esc(arm.placebo_phrasing or '–')} |")
    lines += ["", "## Inputs", "", "| | |", "| --- | --- |"]
    lines += [f"| {md_esc(k)} | {md_esc(v)} |" for k, v in _inputs_rows(result)]
    lines += ["", "Per-unit results: `units.parquet`; every number above: `results.json`.", ""]
    return "\n".join(lines)


# ----------------------------------------------------------------------------- html
CSS = """
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 1.6em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.8em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f4f6f8; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.verdict { background: #eef6f1; border-left: 4px solid #2a7f62; padding: 0.6em 1em; margin: 0.8em 0; }
.note { background: #fff6e0; border-left: 4px solid #e0a000; padding: 0.6em 1em; margin: 0.8em 0; }
figure { margin: 1em 0; } figure img { max-width: 100%; border: 1px solid #eee; }
code { background: #f4f4f4; padding: 0.1em 0.3em; word-break: break-all; }
"""


def _img(data: bytes, alt: str, ident: str) -> str:
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return f'<figure><img id="{esc(ident)}" alt="{esc(alt)}" src="{uri}"><figcaption>{esc(alt)}</figcaption></figure>'


NUM_TD = '<td class="num">'


def _table(head: Sequence[str], rows: Sequence[Sequence[str]], numeric_from: int = 1) -> str:
    out = ["<table>", "<tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + "</tr>"]
    for row in rows:
        cells = "".join((NUM_TD if i >= numeric_from else "<td>") + f"{esc(v)}</td>" for i, v in enumerate(row))
        out.append(f"<tr>{cells}</tr>")
    out.append("</table>")
    return "\n".join(out)


def render_html(result: AuditReportInput, forest: bytes, histogram: bytes) -> str:
    """report.html: one self-contained page (no scripts, no external resources), all text escaped."""
    s = result.setup
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             '<meta name="viewport" content="width=device-width, initial-scale=1">',
             f"<title>{esc(f'Audit: {s.cause} -> {s.outcome}')}</title>", f"<style>{CSS}</style></head><body>",
             f"<h1>Audit: effect of <em>{esc(s.cause)}</em> on <em>{esc(s.outcome)}</em></h1>",
             f"<p>Contrast: do({esc(s.cause)} = <strong>{esc(s.values[1])}</strong>) versus do({esc(s.cause)} = "
             f"<strong>{esc(s.values[0])}</strong>) in shared-noise counterfactual worlds of the same units; "
             f"{len(s.variants)} variant(s) × {s.n} units. Placebo: the same units at "
             f"{esc(s.cause)} = {esc(s.values[0])}, with only the wording of that sentence changed.</p>"]
    for note in result.notes:
        parts.append(f'<div class="note"><strong>Note:</strong> {esc(note)}</div>')
    parts.append("<h2>Summary</h2>")
    parts.append(_table([h for h, _ in SUMMARY_COLUMNS],
                        [[_summary_cell(c, key, s.level) for _, key in SUMMARY_COLUMNS] for c in result.contrasts]))
    parts += [f'<div class="verdict">{esc(c["verdict"])}</div>' for c in result.contrasts]
    parts.append(_img(forest, "Forest plot: per-variant mean effect with bootstrap CI (blue), placebo (grey), "
                              "pooled random-effects estimates (diamonds)", "forest"))
    parts.append(_img(histogram, "Per-unit effects (blue) against per-unit placebo changes (grey)", "histogram"))
    for c in result.contrasts:
        parts.append(f"<h2>{esc(s.outcome)} = {esc(c['outcome_value'])}</h2>")
        parts.append(f'<div class="verdict">{esc(c["verdict"])}</div>')
        parts.append(_table(["quantity", "value"], [(label, _cell(c, key, s.level)) for label, key in HEADLINE_ROWS]))
        for columns in _variant_tables(c):
            parts.append(_table([h for h, _ in columns],
                                [[_variant_cell(r, key) for _, key in columns] for r in c["variants"]]))
    parts.append("<h2>Phrasings of the cause</h2>")
    parts.append(_table(["variant", "phrasing", "placebo phrasing"],
                        [(_variant_label(a.variant), a.cause_phrasing, a.placebo_phrasing or "–") for a in result.arms],
                        numeric_from=99))
    parts.append("<h2>Inputs</h2>")
    parts.append(_table(["", ""], _inputs_rows(result), numeric_from=99))
    parts.append("<p>Per-unit results: <code>units.parquet</code>; every number on this page: "
                 "<code>results.json</code>.</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


# ----------------------------------------------------------------------------- writing
def write_reports(result: AuditReportInput, out_dir: Path) -> dict[str, Path]:
    """Write every output file into `out_dir` (created if needed), each atomically; returns their paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    forest, histogram = forest_png(result), histogram_png(result)
    paths = {
        "results.json": write_text(out_dir / "results.json", result.to_json() + "\n"),
        "units.parquet": write_frame(result.units, out_dir / "units.parquet"),
        "forest.png": write_bytes(out_dir / "forest.png", forest),
        "histogram.png": write_bytes(out_dir / "histogram.png", histogram),
        "report.md": write_text(out_dir / "report.md", render_markdown(result)),
        "report.html": write_text(out_dir / "report.html", render_html(result, forest, histogram)),
    }
    return paths
