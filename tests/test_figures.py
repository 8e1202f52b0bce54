"""Every figure the library draws reads at a glance: rendered on realistic inputs (long names, many
variants and estimators, tiny and wild values), no text leaves the canvas or overlaps another text, every
axes is labelled, and each figure's own fault from issue 17 is gone."""

from __future__ import annotations

import random
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from figure_checks import assert_figure_reads, drawn_texts, text_faults
from sdscm.audit import audit
from sdscm.audit.report import forest_figure, histogram_figure
from sdscm.benchmark.dataset import CausalDataset
from sdscm.benchmark.describe import (
    _pool,
    describe,
    health_figure,
    ite_figure,
    outcomes_figure,
    propensity_figure,
    sate_vs_naive_figure,
)
from sdscm.benchmark.views import open_datasets
from sdscm.evaluation import cate_table
from sdscm.evaluation.report import ate_figure, cate_r2_figure, coverage_figure, write_report
from sdscm.graph.dag import build_graph
from sdscm.graph.draw import ROLE_COLORS, crossings, dag_figure, draw_dag, fold, node_roles, ordered_layers
from sdscm.spec import load_spec
from sdscm.spec.schema import ModelFile
from test_audit_models import planted_dict

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ["breast_cancer.yaml", "statin_heart.yaml", "toy_confounder.yaml", "toy_collider.yaml"]


# ----------------------------------------------------------------------------- realistic inputs
def benchmark_datasets(variants: int = 4, per_variant: int = 6, n: int = 400, scale: float = 1e-4) -> list[CausalDataset]:
    """Datasets named like `sdscm benchmark generate` writes them, with log-score-sized effects (~1e-4)."""
    rng = np.random.default_rng(0)
    out = []
    for v in range(variants):
        for d in range(per_variant):
            x = rng.normal(size=(n, 3))
            e = 1 / (1 + np.exp(-x[:, 0]))
            t = (rng.random(n) < e).astype(np.int64)
            mu0 = -2.5 + scale * (x[:, 1] + 0.3 * x[:, 0])
            mu1 = mu0 + scale * (1.5 + v + 0.4 * x[:, 2])
            y = np.where(t == 1, mu1, mu0)
            out.append(CausalDataset(name=f"variant{v:03d}_dataset{d:04d}", view="all",
                                     covariates=["age group", "tumour size", "PD-L1 level"], X=x, t=t, y=y,
                                     mu0=mu0, mu1=mu1, categories=[0, 0, 0], e=e, metadata={"variant": v}))
    return out


ESTIMATORS = ["T-only OLS", "LinReg", "CausalForest (econml, 200 trees)", "Conformal", "BART", "X-learner (GBM)",
              "DR-learner (random forest)", "TARNet neural network", "S-learner (HistGradientBoosting)"]


def evaluation_results(datasets: int = 12) -> pd.DataFrame:
    """Results as `benchmark evaluate` writes them: two groups, both views, nine estimators, small SATEs, one
    estimator with wild ATEs, CATE R^2 far below -1 for some, infinite ITE widths for one."""
    rng = np.random.default_rng(1)
    rows = []
    for group in ("gpt2", "SmolLM2-135M"):
        for view in ("all", "hidden"):
            for d in range(datasets):
                sate = 3e-4 + 2e-4 * rng.random()
                for k, est in enumerate(ESTIMATORS):
                    ate = sate + 5e-5 * rng.normal() * (1 + k)
                    if est == "BART" and d in (0, 7):
                        ate = 0.8 * (-1) ** d  # wild: three orders of magnitude off
                    r2 = 1 - rng.gamma(1.0 + k, 0.3) * (40 if est.startswith("T-only") else 1)
                    rows.append({"group": group, "setting": view, "dataset": f"{group}-{d}", "estimator": est,
                                 "status": "ok", "sate": sate, "ate": np.nan if est == "Conformal" else ate,
                                 "ate_abs_error": abs(ate - sate), "cate_r2": r2, "std_pehe": rng.random(),
                                 "cate_coverage": rng.uniform(0.5, 1) if k % 3 == 0 else np.nan,
                                 "cate_width_sd": rng.uniform(0.05, 2) if k % 3 == 0 else np.nan,
                                 "ite_coverage": rng.uniform(0.7, 1) if k % 2 == 0 else np.nan,
                                 "ite_width_sd": (np.inf if k == 2 and d == 0 else rng.uniform(0.5, 4))
                                 if k % 2 == 0 else np.nan,
                                 "seconds": rng.random()})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def audit_result():
    """An audit with four variants, several outcome values, a placebo and a long cause value."""
    data = planted_dict()
    return audit(ModelFile.model_validate(data), cause="race", values=("white", "black"), outcome="pain",
                 variants=3, n=80, margin=0.05, n_boot=100, n_perm=100)


def star_spec(n: int = 20) -> ModelFile:
    """n exogenous causes of one outcome: one layer far wider than a row."""
    names = [f"risk factor number {i}" for i in range(n)]
    variables = [{"name": v, "values": ["no", "yes"], "phrasings": [f"{v}: {{value}}."], "mechanism": "uniform",
                  "exogenous": True} for v in names]
    variables.append({"name": "outcome of interest", "values": ["no", "yes"], "phrasings": ["Outcome: {value}."],
                      "mechanism": "lm", "parents": names})
    return ModelFile.model_validate({"name": f"{n} causes of one outcome", "variables": variables})


def spec_named(name: str) -> ModelFile:
    """An example model file, the random 30-variable DAG, or the 20-cause star."""
    if name == "random30":
        return random_dag_spec()
    if name == "star20":
        return star_spec()
    return load_spec(ROOT / "examples" / name)


def random_dag_spec(n: int = 30, seed: int = 3) -> ModelFile:
    """A random 30-variable DAG with realistic long variable names, as a model file."""
    rng = random.Random(seed)
    words = ["systolic blood pressure", "LDL cholesterol", "smoking status", "age at diagnosis", "BMI",
             "statin prescription", "family history of CVD", "HbA1c", "exercise frequency", "eGFR",
             "hospital region", "income bracket"]
    names = [f"{words[i % len(words)]} {i}" if i >= len(words) else words[i] for i in range(n)]
    variables = []
    for i, name in enumerate(names):
        parents = sorted(rng.sample(names[:i], k=min(i, rng.choice([0, 1, 2, 2, 3])))) if i else []
        variables.append({"name": name, "values": ["low", "high"], "phrasings": [f"{name}: {{value}}."],
                          "mechanism": "uniform" if not parents else "lm", "parents": parents})
    return ModelFile.model_validate({"name": "random 30-variable DAG", "variables": variables})


# ----------------------------------------------------------------------------- the checks themselves
def test_checker_catches_overlap_clipping_and_missing_labels() -> None:
    """The shared checker can fail: it reports overlapping texts, a text off the canvas and a missing label."""
    from sdscm.results.figures import new_figure

    fig = new_figure(layout=None, figsize=(3, 2))
    ax = fig.subplots()
    ax.set_xlabel("x")
    ax.text(0.5, 0.5, "one text")
    ax.text(0.5, 0.5, "another text")
    fig.text(0.95, 0.5, "far past the right edge")
    ax.text(0.9, 0.1, "cut by the axes", clip_on=True)
    faults = text_faults(fig)
    assert any("overlaps" in f for f in faults) and any("leaves" in f for f in faults)
    assert any("'cut by the axes'" in f and "clip box" in f for f in faults)
    with pytest.raises(AssertionError, match="no y label"):
        assert_figure_reads(fig)


def test_checker_sees_only_drawn_tick_labels() -> None:
    """Tick labels outside the view are not drawn and not counted; hidden axes are not counted."""
    from sdscm.results.figures import new_figure

    fig = new_figure(figsize=(4, 3))
    ax, hidden = fig.subplots(1, 2)
    ax.set_xticks([0, 1, 2, 50])
    ax.set_xlim(0, 2)
    hidden.set_title("hidden title")
    hidden.set_visible(False)
    texts = [t.get_text() for t, _ in drawn_texts(fig)]
    assert "50" not in texts and "hidden title" not in texts and "2" in texts


# ----------------------------------------------------------------------------- benchmark describe
@pytest.fixture(scope="module")
def pooled():
    datasets = benchmark_datasets()
    return _pool(datasets), pd.DataFrame(_pool(datasets).rows)


@pytest.mark.parametrize("kind", ["sate_vs_naive", "propensity", "ite", "outcomes", "health"])
def test_describe_figures_read(pooled, kind: str) -> None:
    """Each `benchmark describe` figure, on 24 datasets of 4 variants with effects of order 1e-4."""
    p, table = pooled
    fig = {"sate_vs_naive": lambda: sate_vs_naive_figure(table), "propensity": lambda: propensity_figure(p),
           "ite": lambda: ite_figure(p), "outcomes": lambda: outcomes_figure(p),
           "health": lambda: health_figure(table)}[kind]()
    assert_figure_reads(fig)


@pytest.mark.parametrize("family", ["breast_cancer_family", "benchmark_family"])
def test_describe_figures_read_on_the_committed_families(family: str) -> None:
    """The same figures on the committed example families (real generated datasets)."""
    p = _pool(open_datasets(ROOT / "examples" / family, "all"))
    table = pd.DataFrame(p.rows)
    for fig in (sate_vs_naive_figure(table), propensity_figure(p), ite_figure(p), outcomes_figure(p),
                health_figure(table)):
        if fig is not None:
            assert_figure_reads(fig)


def test_small_effects_get_a_scale_in_the_label_not_an_offset_text(pooled) -> None:
    """Values of order 1e-4 are shown as multiples of 1e-4 named in the axis label; no offset text (which
    collided with titles) is drawn."""
    p, table = pooled
    for fig in (sate_vs_naive_figure(table), ite_figure(p), ate_figure(evaluation_results())):
        texts = [t.get_text() for t, _ in drawn_texts(fig)]
        assert any("×1e-4" in t for t in texts), texts
        for ax in fig.get_axes():
            assert not ax.xaxis.get_offset_text().get_text() and not ax.yaxis.get_offset_text().get_text()


def test_ite_suptitle_above_panel_titles(pooled) -> None:
    """The suptitle sits wholly above every panel title."""
    p, _ = pooled
    fig = ite_figure(p)
    boxes = {t.get_text(): b for t, b in drawn_texts(fig)}
    sup = boxes[fig.get_suptitle()]
    panel = [boxes[ax.get_title()] for ax in fig.get_axes() if ax.get_visible()]
    assert all(sup.y0 >= b.y1 for b in panel)


def test_describe_writes_pngs_at_the_figure_size(tmp_path: Path) -> None:
    """describe writes each PNG at figure size x dpi (no tight cropping that would hide a layout fault)."""
    result = describe(benchmark_datasets(variants=2, per_variant=3, n=200), tmp_path)
    for path in result.figures.values():
        with Image.open(path) as image:
            assert image.size[0] >= 500 and image.size[1] >= 350, (path.name, image.size)


# ----------------------------------------------------------------------------- evaluation report
@pytest.fixture(scope="module")
def results() -> pd.DataFrame:
    return evaluation_results()


@pytest.mark.parametrize("kind", ["ate", "cate_r2", "coverage"])
def test_evaluation_figures_read(results, kind: str) -> None:
    """Each evaluation figure with nine estimators (long names), two groups and both views."""
    fig = {"ate": lambda: ate_figure(results), "cate_r2": lambda: cate_r2_figure(results),
           "coverage": lambda: coverage_figure(cate_table(results))}[kind]()
    assert_figure_reads(fig)


def test_ate_scatter_marks_wild_estimates_instead_of_pinning(results) -> None:
    """BART's estimates of +-0.8 (SATE ~4e-4) are drawn as red edge triangles and counted in its title; the
    other panels show every estimate inside their axes."""
    fig = ate_figure(results)
    titles = {ax.get_title(): ax for ax in fig.get_axes() if ax.get_visible()}
    bart = next(ax for t, ax in titles.items() if t.startswith("BART"))
    wild = int(((results["estimator"] == "BART") & (results["ate"].abs() > 0.1)).sum())
    assert f"({wild} off scale)" in bart.get_title()
    for title, ax in titles.items():
        if title.startswith("BART"):
            continue
        assert "off scale" not in title
        lo, hi = ax.get_ylim()
        name = title.split("\n")[0]
        est = results.loc[results["estimator"] == name, "ate"].dropna().to_numpy() * 1e4
        assert len(est) == 0 or (est.min() >= lo and est.max() <= hi), title


def test_cate_r2_shows_values_below_minus_one(results) -> None:
    """R^2 values far below -1 are not clipped: the axis reaches the lowest value (symlog below -1)."""
    fig = cate_r2_figure(results)
    ax = fig.get_axes()[0]
    assert ax.get_xscale() == "symlog"
    assert ax.get_xlim()[0] <= results["cate_r2"].min() < -10


def test_coverage_widths_on_a_linear_scale_from_zero(results) -> None:
    """The width panel is linear from 0, and an infinite mean width is written out."""
    fig = coverage_figure(cate_table(results))
    width_ax = fig.get_axes()[1]
    assert width_ax.get_xscale() == "linear" and width_ax.get_xlim()[0] == 0
    assert any(t.get_text().strip() == "infinite" for t, _ in drawn_texts(fig))


def test_write_report_pngs_have_their_figure_size(results, tmp_path: Path) -> None:
    """The report's PNGs are written at figure size x 110 dpi."""
    paths = write_report(results, tmp_path)
    for key in ("ate_scatter", "cate_r2", "coverage_width"):
        with Image.open(paths[key]) as image:
            assert image.size[0] >= 700, (key, image.size)


# ----------------------------------------------------------------------------- audit report
@pytest.mark.parametrize("kind", ["forest", "histogram"])
def test_audit_figures_read(audit_result, kind: str) -> None:
    """The audit forest plot and histogram, three variants, every outcome value, with a placebo."""
    fig = forest_figure(audit_result) if kind == "forest" else histogram_figure(audit_result)
    assert_figure_reads(fig)


@pytest.mark.parametrize("example", ["breast_cancer_pdl1", "misinformation", "triage"])
def test_audit_figures_read_on_the_committed_audits(example: str) -> None:
    """Forest plot and histogram from the committed audit results (SmolLM2 runs: 4 outcome values x 5
    variants with long therapy names; 10 variants), rebuilt from results.json and units.parquet."""
    import json
    from types import SimpleNamespace

    folder = ROOT / "examples" / "audits" / example
    r = json.loads((folder / "results.json").read_text())
    result = SimpleNamespace(setup=SimpleNamespace(cause=r["cause"], values=r["values"], outcome=r["outcome"]),
                             contrasts=r["contrasts"], units=pd.read_parquet(folder / "units.parquet"))
    assert_figure_reads(forest_figure(result))
    assert_figure_reads(histogram_figure(result))


def test_forest_names_the_contrast_values(audit_result) -> None:
    """The x label names the contrast with its values, not "do(race = B) - do(A)"."""
    fig = forest_figure(audit_result)
    label = fig.get_axes()[0].get_xlabel()
    assert "do(race = black) − do(race = white)" in label.replace("\n", " ")
    assert "= B)" not in label


# ----------------------------------------------------------------------------- the DAG
def _dag_geometry(fig) -> tuple[dict, list]:
    """Node boxes (pixels) by label and the edge arrows of a DAG figure, after drawing."""
    from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

    fig.canvas.draw()
    ax = fig.get_axes()[0]
    boxes = [p for p in ax.patches if isinstance(p, FancyBboxPatch)]
    arrows = [p for p in ax.patches if isinstance(p, FancyArrowPatch)]
    return {id(b): b.get_window_extent() for b in boxes}, arrows


@pytest.mark.parametrize("name", EXAMPLES + ["random30", "star20"])
def test_dag_reads(name: str) -> None:
    """Layered DAG: every label whole and inside the canvas, texts apart, node boxes disjoint and inside the
    canvas, each label inside its box, one arrow per edge drawn behind the boxes, and a legend."""
    spec = spec_named(name)
    graph = build_graph(spec)
    fig = dag_figure(spec)
    assert_figure_reads(fig)
    ax = fig.get_axes()[0]
    joined = {t.get_text().replace("\n", ""): t for t in ax.texts}
    for node in graph.nodes:  # whole: the wrapped label joins back to the name (wrapping only adds breaks)
        assert node.replace(" ", "") in {k.replace(" ", "") for k in joined}, node
    boxes, arrows = _dag_geometry(fig)
    assert len(arrows) == graph.number_of_edges()
    canvas = fig.bbox
    box_list = list(boxes.values())
    for i, a in enumerate(box_list):
        assert a.x0 >= 0 and a.y0 >= 0 and a.x1 <= canvas.width and a.y1 <= canvas.height
        for b in box_list[i + 1:]:
            assert not a.overlaps(b)
    renderer = fig.canvas.get_renderer()
    for t in ax.texts[: graph.number_of_nodes()]:
        tb = t.get_window_extent(renderer)
        assert any(b.x0 <= tb.x0 and tb.x1 <= b.x1 and b.y0 <= tb.y0 and tb.y1 <= b.y1 for b in box_list), t.get_text()
    assert all(a.get_zorder() < 2 for a in arrows)
    legend = ax.get_legend()
    shown = {t.get_text() for t in legend.get_texts()}
    assert {ROLE_COLORS[r][1] for r in node_roles(spec, graph).values()} | {"causes (parent → child)"} == shown


@pytest.mark.parametrize("name", ["breast_cancer.yaml", "random30", "star20"])
def test_dag_arrows_end_at_box_borders(name: str) -> None:
    """Each arrow's head touches its child's box from outside: visible, not hidden under the box."""
    spec = spec_named(name)
    fig = dag_figure(spec)
    fig.canvas.draw()
    ax = fig.get_axes()[0]
    from matplotlib.patches import FancyBboxPatch

    box_of = {p.get_gid()[5:]: p for p in ax.patches if isinstance(p, FancyBboxPatch)}
    arrow_of = {p.get_gid()[5:]: p for p in ax.patches if not isinstance(p, FancyBboxPatch)}
    graph = build_graph(spec)
    assert set(box_of) == set(graph.nodes) and set(arrow_of) == {f"{u}->{v}" for u, v in graph.edges}
    for u, v in graph.edges:
        arrow = arrow_of[f"{u}->{v}"]
        target = box_of[v].get_window_extent()
        tip = arrow.get_path().transformed(arrow.get_transform()).vertices
        # the arrow head's tip is the path vertex nearest the child's box; it lies within 3 px of its border
        dist = [max(target.x0 - x, x - target.x1, target.y0 - y, y - target.y1) for x, y in tip]
        assert -1.5 <= min(dist, key=abs) <= 3.0, (u, v, min(dist, key=abs))


@pytest.mark.parametrize("name", ["statin_heart.yaml", "toy_confounder.yaml", "random30", "star20"])
def test_arrowheads_into_a_node_are_spread(name: str) -> None:
    """Edges into one node end at distinct points of its top border (at least 6 px apart), so every
    arrowhead stays visible, and they leave their parent's bottom border at distinct points too."""
    from matplotlib.patches import FancyBboxPatch

    spec = spec_named(name)
    fig = dag_figure(spec)
    fig.canvas.draw()
    ax = fig.get_axes()[0]
    ends: dict[str, list] = {}
    starts: dict[str, list] = {}
    for arrow in (p for p in ax.patches if not isinstance(p, FancyBboxPatch)):
        u, v = arrow.get_gid()[5:].split("->")
        line = arrow.get_path().transformed(arrow.get_transform()).to_polygons(closed_only=False)[0]
        starts.setdefault(u, []).append(line[0])
        ends.setdefault(v, []).append(line[-1])
    for points in list(ends.values()) + list(starts.values()):
        for i, a in enumerate(points):
            for b in points[i + 1:]:
                assert np.hypot(*(np.asarray(a) - np.asarray(b))) >= 6


@pytest.mark.parametrize("name", EXAMPLES + ["random30", "star20"])
def test_no_edge_runs_through_another_box(name: str) -> None:
    """No drawn edge passes behind a box other than its two ends (which would read as a path through that
    node): edges that skip layers go through waypoint slots, or curve around boxes in dense graphs."""
    from matplotlib.patches import FancyBboxPatch

    spec = spec_named(name)
    fig = dag_figure(spec)
    fig.canvas.draw()
    ax = fig.get_axes()[0]
    box_of = {p.get_gid()[5:]: p.get_window_extent() for p in ax.patches if isinstance(p, FancyBboxPatch)}
    through = []
    for arrow in (p for p in ax.patches if not isinstance(p, FancyBboxPatch)):
        u, v = arrow.get_gid()[5:].split("->")
        path = arrow.get_path().transformed(arrow.get_transform())
        points = np.concatenate([poly for poly in path.to_polygons(closed_only=False)])
        dense = np.concatenate([np.linspace(a, b, 12) for a, b in zip(points, points[1:])])
        for node, box in box_of.items():
            inner = box.expanded(1, 1).padded(-2)  # 2 px inside the border
            if node not in (u, v) and any(inner.contains(x, y) for x, y in dense):
                through.append(f"{u} -> {v} through {node}")
    assert not through, through


def test_layout_reduces_crossings_and_folds_wide_layers() -> None:
    """Barycenter ordering never has more crossings than the file order; a layer of 12 folds into two
    sub-rows that keep the order; the breast-cancer DAG needs more than one row."""
    spec = random_dag_spec()
    graph = build_graph(spec)
    rows = ordered_layers(graph)
    order = {n: i for i, n in enumerate(graph.nodes)}
    plain = [sorted(g, key=order.__getitem__) for g in nx.topological_generations(graph)]
    assert crossings(graph, rows) <= crossings(graph, plain)
    assert sorted(n for r in rows for n in r) == sorted(graph.nodes)
    assert fold([str(i) for i in range(12)]) == [[str(i) for i in range(0, 12, 2)], [str(i) for i in range(1, 12, 2)]]
    assert len(ordered_layers(build_graph(load_spec(ROOT / "examples" / "breast_cancer.yaml")))) > 2


def test_draw_dag_writes_a_png_sized_from_the_layout(tmp_path: Path) -> None:
    """The 14-variable breast-cancer DAG is wider than one column of nodes, and the 30-variable DAG's image
    is larger than the 4-variable toy's."""
    small = draw_dag(load_spec(ROOT / "examples" / "toy_confounder.yaml"), tmp_path / "toy.png")
    big = draw_dag(random_dag_spec(), tmp_path / "big.png")
    bc = draw_dag(load_spec(ROOT / "examples" / "breast_cancer.yaml"), tmp_path / "bc.png")
    with Image.open(small) as s, Image.open(big) as b, Image.open(bc) as c:
        assert b.size[0] * b.size[1] > 2 * s.size[0] * s.size[1]
        assert c.size[0] > 800
