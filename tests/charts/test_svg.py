"""pipelines.charts.svg: the Overview and Attrition-risk figures drawn as static SVG on the server.

Real released rows from a warehouse built on the sample (the same builders the pages call), plus
hand-made figures for escaping and for what the renderer must refuse. The SVG is parsed as XML, so
the tests read what a browser would draw: marks, their positions, labels and tooltips."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import duckdb
import pandas as pd
import plotly.graph_objects as go
import pytest

from pipelines import charts
from pipelines.charts.svg import to_svg
from pipelines.ingest.first_run import load_sample

NS = "{http://www.w3.org/2000/svg}"
K = 5


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    db = tmp_path_factory.mktemp("svg") / "warehouse.duckdb"
    load_sample(db)
    with duckdb.connect(str(db), read_only=True) as con:
        return {
            table: con.execute(f"select * from {table}").df()
            for table in ("rel_metrics", "rel_unit_risk", "ref_benchmarks", "model_diagnostics")
        }


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)  # well-formed XML, or this raises
    assert root.tag == f"{NS}svg"
    return root


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{NS}text")]


def tooltips(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{NS}title")]


def bars(root: ET.Element) -> list[ET.Element]:
    """Rectangles that are marks, not the chart's background."""
    return [r for r in root.iter(f"{NS}rect") if r.get("width") != "100%"]


def tags(root: ET.Element) -> set[str]:
    return {el.tag.removeprefix(NS) for el in root.iter()}


SAFE_TAGS = {"svg", "g", "rect", "circle", "path", "line", "text", "title", "defs", "linearGradient", "stop"}


def site_rows(frame: pd.DataFrame, level: str = "site") -> pd.DataFrame:
    return frame[(frame["wave"] == "2026") & (frame["level"] == level)]


def test_heatmap_draws_every_released_cell_with_its_value_and_tooltip(released):
    units = site_rows(released["rel_metrics"])
    units = units[units["metric"].isin(charts.KEY_METRICS)]
    fig = charts.heatmap_figure(units, K)
    root = parse(to_svg(fig))
    assert tags(root) <= SAFE_TAGS
    shown = texts(root)
    assert fig.layout.title.text in " ".join(shown)
    # every cell text Plotly would print is printed, in the same place in the grid
    plotly_cells = [t for row in fig.data[1].text for t in row if t]
    assert plotly_cells and all(cell in shown for cell in plotly_cells)
    assert sum(1 for t in shown if re.fullmatch(r"\d+\.\d%|\d+\.\d", t)) == len(plotly_cells)
    hover = tooltips(root)
    assert len(hover) == len(plotly_cells)
    assert all("n = " in h for h in hover)
    # its own background and text colours: it reads the same on a light or a dark page
    assert root.get("fill") == "#31333F"
    assert root.find(f"{NS}rect").get("fill") == "#FFFFFF" and root.find(f"{NS}rect").get("width") == "100%"
    other = parse(to_svg(fig, text_colour="#1F2933", background="#F3F5F8"))
    assert other.get("fill") == "#1F2933" and other.find(f"{NS}rect").get("fill") == "#F3F5F8"
    assert parse(to_svg(fig, text_colour='red" onload="x')).get("fill") == "#31333F"


def test_heatmap_hidden_cells_are_grey_and_say_fewer_than_k_never_a_number(released):
    m = released["rel_metrics"]
    units = m[(m["level"] == "department_role") & (m["wave"] == "2026") & (m["site"] == "Eastgate Clinics")]
    units = units[units["metric"].isin(charts.KEY_METRICS)]
    assert units["suppressed"].any()
    fig = charts.heatmap_figure(units, K)
    root = parse(to_svg(fig))
    shown = texts(root)
    hidden = units[units["suppressed"].astype(bool)]
    assert shown.count(f"fewer than {K}") == len(hidden)
    assert hidden["value"].isna().all()  # the pipeline nulled them: nothing to draw
    # grey wherever Plotly's grey layer is (hidden cells, and banded ones that show words not a value)
    greys = [r for r in root.iter(f"{NS}rect") if r.get("fill", "").lower() == charts.SUPPRESSED_GREY.lower()]
    assert len(greys) == sum(1 for row in fig.data[0].z for z in row if z is not None) >= len(hidden)


def test_ranking_puts_the_highest_unit_first_and_right_with_its_interval(released):
    units = site_rows(released["rel_unit_risk"])
    fig = charts.risk_ranking_figure(units, K)
    root = parse(to_svg(fig))
    dots = [(float(c.get("cx")), float(c.get("cy"))) for c in root.iter(f"{NS}circle")]
    shown = units[~units["suppressed"].astype(bool)]
    assert len(dots) == len(shown)
    by_row = sorted(dots, key=lambda d: d[1])  # top to bottom
    assert [d[0] for d in by_row] == sorted((d[0] for d in by_row), reverse=True)
    top_unit = shown.sort_values("predicted_itl_rate", ascending=False)["site"].iloc[0]
    labels = [t for t in texts(root) if t in set(shown["site"])]
    assert labels[0] == top_unit  # the first category label is the top row
    assert len(list(root.iter(f"{NS}path"))) >= len(shown)  # an interval per dot
    assert any("95% interval" in h for h in tooltips(root))


def test_departure_bars_scale_with_expected_departures_and_carry_cost_labels(released):
    units = site_rows(released["rel_unit_risk"])
    fig = charts.departures_by_unit_figure(units, K)
    root = parse(to_svg(fig))
    marks = bars(root)
    widths = [float(r.get("width")) for r in marks]
    values = list(fig.data[0].x)
    assert len(marks) == len(values)
    ratios = [w / v for w, v in zip(widths, values, strict=True)]
    assert max(ratios) - min(ratios) < 1e-3 * max(ratios) + 0.05  # one linear scale
    labels = [str(t).strip() for t in fig.data[1].text]
    drawn = {"".join(t.itertext()).strip(): t for t in root.iter(f"{NS}text")}
    assert labels and all(label in drawn for label in labels)
    # each cost label is solid text placed past the end of its bar's 95% whisker (no overlap, not faded)
    paths = [p for p in root.iter(f"{NS}path") if p.get("stroke") == "#555555"]
    whisker_ends = [max(float(v) for v in re.findall(r"H([0-9.]+)", p.get("d"))) for p in paths]
    assert len(whisker_ends) == len(labels)
    for label, end in zip(labels, whisker_ends, strict=True):
        node = drawn[label]
        assert node.get("opacity") is None and node.get("fill")
        assert float(node.get("x")) >= end


def test_role_bars_and_calibration_render(released):
    roles = released["rel_unit_risk"]
    roles = roles[(roles["wave"] == "2026") & (roles["level"] == "role")]
    root = parse(to_svg(charts.departures_by_role_figure(roles, K)))
    assert len(bars(root)) == int((~roles["suppressed"].astype(bool)).sum())
    diag = released["model_diagnostics"]
    curve = diag[diag["wave"] == "2026"]["calibration_curve"].iloc[0]
    root = parse(to_svg(charts.calibration_figure(curve)))
    assert "Perfect calibration" in texts(root)  # legend
    assert len(list(root.iter(f"{NS}circle"))) >= 5


def test_benchmark_dots_have_a_legend_and_sources_in_tooltips(released):
    m = released["rel_metrics"]
    selection = m[(m["level"] == "organisation") & (m["wave"] == "2026")]
    table = charts.benchmark_table(selection, released["ref_benchmarks"])
    root = parse(to_svg(charts.benchmark_figure(table, "The whole organisation")))
    assert "The whole organisation" in texts(root)
    assert any("95% interval" in h for h in tooltips(root))


@pytest.mark.parametrize("escaped", [True, False])
def test_unit_names_from_uploads_cannot_become_markup(escaped):
    evil = '<script>alert(1)</script>"><foreignObject>&amp;'
    # the builders escape unit names for Plotly's HTML subset (charts.formats.plot_text); a raw one
    # must not become markup either
    name = charts.formats.plot_text(evil) if escaped else evil
    fig = go.Figure(go.Bar(x=[3.0], y=[name], orientation="h", text=[name], hovertemplate="%{y}<extra></extra>"))
    fig.update_layout(title=name)
    svg = to_svg(fig)
    root = parse(svg)
    assert tags(root) <= SAFE_TAGS
    assert "<script" not in svg and "<foreignObject" not in svg
    if escaped:  # shown literally, as text
        assert any("<script>alert(1)</script>" in t for t in texts(root))
        assert "<script>alert(1)</script>" in tooltips(root)[0]


def test_figures_outside_the_subset_are_left_to_plotly():
    with_shape = go.Figure(go.Scatter(x=[1, 2], y=[1, 2]))
    with_shape.add_shape(type="line", x0=0, x1=1, y0=0, y1=1)
    assert to_svg(with_shape) is None
    assert to_svg(go.Figure(go.Pie(values=[1, 2]))) is None
    grouped = go.Figure([go.Bar(x=["a"], y=[1]), go.Bar(x=["a"], y=[2])])
    assert to_svg(grouped) is None
    ringed = go.Figure(go.Scatter(x=[1], y=[1], marker={"line": {"width": 2, "color": "black"}}))
    assert to_svg(ringed) is None
    arrow = go.Figure(go.Scatter(x=[1], y=[1]))
    arrow.add_annotation(x=1, y=1, text="note", showarrow=True)
    assert to_svg(arrow) is None


def test_colours_reach_the_svg_only_as_colours():
    from pipelines.charts import svg

    assert svg._colour("#0072B2") == "#0072B2"
    assert svg._colour("rgba(0, 0, 0, 0.5)") == "rgba(0, 0, 0, 0.5)"
    assert svg._colour('red" onload="alert(1)') == "#0072B2"
    assert svg._colour(None, "#555555") == "#555555"


def test_long_unit_names_are_shortened_with_the_full_name_on_hover():
    name = "Lakeview Community Hospital · Obstetrics & Gynecology · Advanced practice provider " * 2
    fig = go.Figure(go.Scatter(x=[30.0, 20.0], y=[name, "Short"], mode="markers"))
    root = parse(to_svg(fig))
    labels = [t for t in root.iter(f"{NS}text") if "Lakeview" in "".join(t.itertext())]
    assert len(labels) == 1
    label = labels[0]
    assert label.text is None  # the tooltip comes first, then the shortened name
    shown = label.find(f"{NS}title").tail
    assert shown.endswith("…") and len(shown) < len(name) / 2
    assert label.find(f"{NS}title").text == name
    circles = [float(c.get("cx")) for c in root.iter(f"{NS}circle")]
    assert min(circles) > 0.42 * 860  # the plot keeps over half the width
