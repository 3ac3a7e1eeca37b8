"""Tests of the HTML reports (ketameta.report): escaping, self-containment, determinism,
strictness of the templates, and the numbers the pages show.

The inputs are tests/fixtures/report/: a mini project (config.yaml, raw/*.csv with
synthetic trials) and its outputs processed/{analysis}/{summary.json,effects.csv} written
by the ketameta pipeline itself (make_fixtures.py), so every number on the test pages is a
real result. (When generated, they agreed with metafor 3.8.1 to 1e-6 relative for the
estimate, CI, τ², I² CI, prediction interval, Egger, Begg and trim-and-fill.)
"""

from __future__ import annotations

import base64
import csv
import json
import math
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import jinja2
import markupsafe
import pytest
import yaml

from ketameta.absolute import absolute_effects as _absolute
from ketameta.absolute import family_of
from ketameta.report import formatting as fmt
from ketameta.report import render_condition, render_index
from ketameta.report.methods import methods_section
from ketameta.report.plots import axis_limits
from ketameta.report.render import (
    absolute_display,
    condition_context,
    environment,
    write_page,
)

FIXTURES = Path(__file__).parent / "fixtures" / "report"


def load_config() -> dict:
    return yaml.safe_load((FIXTURES / "config.yaml").read_text(encoding="utf-8"))


def analysis_files(root: Path, ids: list[str]) -> tuple[list[Path], list[Path]]:
    return ([root / a / "summary.json" for a in ids], [root / a / "effects.csv" for a in ids])


def render_all(config: dict, processed: Path, out: Path) -> dict[str, Path]:
    """Render every condition page and the index, as the workflow does."""
    pages = {}
    for condition in config["conditions"]:
        ids = [a for a, e in config["analyses"].items() if e["condition"] == condition]
        summaries, effects = analysis_files(processed, ids)
        pages[condition] = out / f"{condition}.html"
        render_condition(condition, config, summaries, effects, pages[condition])
    summaries, effects = analysis_files(processed, list(config["analyses"]))
    pages["index"] = out / "index.html"
    render_index(config, summaries, effects, pages["index"])
    return pages


@pytest.fixture(scope="module")
def pages(tmp_path_factory) -> dict[str, Path]:
    return render_all(load_config(), FIXTURES / "processed", tmp_path_factory.mktemp("reports"))


class Elements(HTMLParser):
    """Collects start tags with their attributes and the text inside <script> elements."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        self._in_script = tag == "script"
        if self._in_script:
            self.scripts.append("")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        if self._in_script:
            self.scripts[-1] += data


def parse(html: str) -> Elements:
    parser = Elements()
    parser.feed(html)
    return parser


def svg_blocks(html: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", html, flags=re.S)


# ----------------------------------------------------------------------------- escaping

HOSTILE_STUDY = '<script>alert("x")</script> 2019'
HOSTILE_ATTR = '" onmouseover="alert(1)'
HOSTILE_DRUG = "<img src=x onerror=alert(2)>"
HOSTILE_CONDITION = "<b onclick=alert(3)>PTSD</b>"
MATHTEXT = r"$\alpha$ & co 2020"


@pytest.fixture(scope="module")
def hostile_page(tmp_path_factory) -> str:
    """The suicidality page with hostile study labels, drug names and condition label."""
    tmp = tmp_path_factory.mktemp("hostile")
    src = FIXTURES / "processed" / "suicidality_ideation_24h"
    dst = tmp / "processed" / "suicidality_ideation_24h"
    dst.mkdir(parents=True)
    labels = {"Ivy 2015": HOSTILE_STUDY, "Juniper 2018": HOSTILE_ATTR, "Kapok 2021": MATHTEXT}
    with open(src / "effects.csv", encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        fields, rows = reader.fieldnames, list(reader)
    for row in rows:
        row["study"] = labels.get(row["study"], row["study"])
        row["drug"] = HOSTILE_DRUG if row["drug"] == "ketamine" else row["drug"]
    with open(dst / "effects.csv", "w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
    summary = json.loads((src / "summary.json").read_text(encoding="utf-8"))
    summary["studies"] = [labels.get(x, x) for x in summary["studies"]]
    for item in summary["leave1out"] + summary["influence"]:
        item["study"] = labels.get(item["study"], item["study"])
    summary["excluded"] = [
        {"study": "Larch 2019", "source": "data/raw/suicidality.csv", "line": 9,
         "reason": f"excluded by the configuration: {HOSTILE_ATTR}"}
    ]
    (dst / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    config = load_config()
    config["conditions"]["suicidality"]["label"] = HOSTILE_CONDITION
    out = tmp / "suicidality.html"
    render_condition("suicidality", config, [dst / "summary.json"], [dst / "effects.csv"], out)
    return out.read_text(encoding="utf-8")


def test_hostile_fixture_really_contains_the_labels():
    # guards the fixture above: the replaced labels must exist in the source files
    path = FIXTURES / "processed" / "suicidality_ideation_24h" / "effects.csv"
    with open(path, encoding="utf-8", newline="") as handle:
        studies = [row["study"] for row in csv.DictReader(handle)]
    assert {"Ivy 2015", "Juniper 2018", "Kapok 2021"} <= set(studies)


def test_hostile_labels_are_escaped_in_html_and_svg(hostile_page):
    html = hostile_page
    doc = parse(html)
    # only our own script is on the page, and no element carries an event handler
    assert len(doc.scripts) == 1 and "alert" not in doc.scripts[0]
    for tag, attrs in doc.tags:
        assert not any(name.startswith("on") for name in attrs), (tag, attrs)
        assert tag not in ("img", "b", "iframe", "object", "embed"), tag
    assert '<script>alert("x")' not in html
    assert "&lt;script&gt;alert(" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html
    assert "&lt;b onclick=alert(3)&gt;PTSD&lt;/b&gt;" in html
    # inside the SVG figures the labels are text, escaped too
    svgs = svg_blocks(html)
    assert svgs
    forest = next(s for s in svgs if 'id="forest-' in s)
    assert "&lt;script&gt;alert(" in forest
    # the attribute-breaking label is character data of a <text> element, never inside a tag
    assert re.search(r'>[^<>]*" onmouseover="alert\(1\)[^<>]*<', forest)
    # mathtext is off: a label with $...$ is printed as typed
    assert "$\\alpha$ &amp; co 2020" in html
    assert "$\\alpha$ &amp; co 2020" in forest


def test_excluded_studies_are_listed_with_their_reason(hostile_page):
    listing = hostile_page.split('<ul class="excluded">', 1)[1].split("</ul>", 1)[0]
    assert "Larch 2019 (data/raw/suicidality.csv, line 9): excluded by the configuration:" in (
        listing
    )
    assert HOSTILE_ATTR not in listing  # the configured reason is escaped too
    assert str(markupsafe.escape(HOSTILE_ATTR)) in listing


def test_svg_has_no_script_even_with_hostile_input(hostile_page):
    for svg in svg_blocks(hostile_page):
        assert "<script" not in svg
        assert "javascript:" not in svg
        assert not re.search(r"\son[a-z]+=", svg.split(">", 1)[0])


# ----------------------------------------------------------------------------- self-contained


def test_pages_fetch_nothing(pages):
    for name, path in pages.items():
        html = path.read_text(encoding="utf-8")
        doc = parse(html)
        for tag, attrs in doc.tags:
            assert tag not in ("link", "img", "iframe", "object", "embed"), (name, tag)
            if tag == "script":
                assert "src" not in attrs, name
            for attr in ("src", "href", "xlink:href", "action", "data", "poster"):
                value = attrs.get(attr)
                if value is None:
                    continue
                ok = (value.startswith("#") or value.startswith("data:")
                      or re.fullmatch(r"[A-Za-z0-9_-]+\.html(#[a-z0-9_-]+)?", value))
                assert ok, (name, tag, attr, value)
        # no URL in CSS or SVG styles either
        assert "@import" not in html
        assert not re.search(r"url\((?!#)", html), name
        assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "").replace(
            'xmlns:xlink="http://www.w3.org/1999/xlink"', ""), name
        assert "https://" not in html, name


def test_ids_are_unique_on_every_page(pages):
    for name, path in pages.items():
        ids = re.findall(r'\sid="([^"]+)"', path.read_text(encoding="utf-8"))
        duplicates = {i for i in ids if ids.count(i) > 1}
        assert not duplicates, (name, sorted(duplicates)[:5])


def test_download_link_holds_the_effects_csv(pages):
    html = pages["TRD"].read_text(encoding="utf-8")
    for aid in ("trd_severity_24h", "trd_response_24h", "trd_severity_7d"):
        match = re.search(rf'href="data:text/csv;charset=utf-8;base64,([A-Za-z0-9+/=]+)" '
                          rf'download="{aid}_effects.csv"', html)
        assert match, aid
        data = base64.b64decode(match.group(1))
        assert data == (FIXTURES / "processed" / aid / "effects.csv").read_bytes()


# ----------------------------------------------------------------------------- determinism


def test_second_render_is_byte_identical(pages, tmp_path):
    again = render_all(load_config(), FIXTURES / "processed", tmp_path)
    for name, path in pages.items():
        assert again[name].read_bytes() == path.read_bytes(), name


def test_render_is_identical_across_processes_and_hash_seeds(pages, tmp_path):
    # set and dict ordering must not leak into the output: render in a fresh interpreter
    # with a different hash seed and compare with the in-process render
    code = (
        "import sys, yaml; from pathlib import Path; from ketameta.report import render_condition;"
        "root = Path(sys.argv[1]); cfg = yaml.safe_load((root / 'config.yaml').read_text());"
        "ids = ['suicidality_ideation_24h'];"
        "render_condition('suicidality', cfg, [root / 'processed' / a / 'summary.json' for a in ids],"
        "[root / 'processed' / a / 'effects.csv' for a in ids], sys.argv[2])"
    )
    out = tmp_path / "suicidality.html"
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run([sys.executable, "-c", code, str(FIXTURES), str(out)], check=True, env=env,
                   cwd=tmp_path)
    assert out.read_bytes() == pages["suicidality"].read_bytes()


def test_no_timestamp_or_date_in_pages(pages):
    for path in pages.values():
        html = path.read_text(encoding="utf-8")
        assert "<dc:date>" not in html
        assert not re.search(r"20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:", html)


# ----------------------------------------------------------------------------- strictness


def test_environment_escapes_everything_and_is_strict():
    env = environment()
    assert env.autoescape is True
    assert env.undefined is jinja2.StrictUndefined
    # a template with any other extension is escaped as well (select_autoescape would not)
    assert env.from_string("{{ x }}").render(x="<i>") == "&lt;i&gt;"


def test_missing_template_variable_fails_loudly(tmp_path):
    config = load_config()
    ids = ["ptsd_severity_2w"]
    summaries, effects = analysis_files(FIXTURES / "processed", ids)
    context = condition_context("PTSD", config, summaries, effects)
    del context["analyses"][0]["question"]["comparator"]
    with pytest.raises(jinja2.UndefinedError, match="comparator"):
        write_page("condition.html", context, tmp_path / "PTSD.html")
    assert not (tmp_path / "PTSD.html").exists()


def test_mismatched_files_are_refused(tmp_path):
    config = load_config()
    root = FIXTURES / "processed"
    with pytest.raises(ValueError, match="same analysis folder"):
        render_condition("TRD", config, [root / "trd_severity_24h" / "summary.json"],
                         [root / "trd_response_24h" / "effects.csv"], tmp_path / "x.html")


# ----------------------------------------------------------------------------- content


def section(html: str, aid: str) -> str:
    start = html.index(f'<section class="analysis" id="{aid}"')
    return html[start:html.index("</section>", start)]


def test_sections_follow_config_order_and_k1_is_shown(pages):
    html = pages["TRD"].read_text(encoding="utf-8")
    positions = [html.index(f'id="{aid}"') for aid in
                 ("trd_severity_24h", "trd_response_24h", "trd_severity_7d")]
    assert positions == sorted(positions)
    ptsd = section(pages["PTSD"].read_text(encoding="utf-8"), "ptsd_severity_2w")
    assert "Not pooled" in ptsd
    assert "Maple 2014" in ptsd  # the single trial, in the plot and the table
    assert 'id="forest-ptsd_severity_2w"' in ptsd
    index = pages["index"].read_text(encoding="utf-8")
    assert "not pooled (1 trial)" in index and "PTSD symptom severity" in index


def test_pooled_numbers_on_the_page_are_the_summary_numbers(pages):
    summary = json.loads((FIXTURES / "processed" / "trd_response_24h" / "summary.json").read_text())
    html = section(pages["TRD"].read_text(encoding="utf-8"), "trd_response_24h")
    # RR is pooled on the log scale and shown back-transformed
    shown = fmt.estimate_ci(math.exp(summary["estimate"]), math.exp(summary["ci_low"]),
                            math.exp(summary["ci_high"]))
    assert shown == "1.57 [1.08, 2.28]"  # metafor: exp(rma(...)$beta) etc., make_fixtures.R
    forest = next(s for s in svg_blocks(html) if 'id="forest-' in s)
    assert shown in forest  # in the figure
    assert f"RR {fmt.num(math.exp(summary['estimate']))}" in html  # in the key result
    assert f"I² = {fmt.percent(summary['I2'])}" in forest
    assert f"Q = {fmt.num(summary['Q'])}, df = 5, p = {fmt.pvalue(summary['Q_p'])}" in forest
    assert f"t = {fmt.num(summary['statistic'])} (df = 5)" in forest
    assert "Risk ratio (log scale)" in forest


def test_favours_labels_follow_the_outcome_direction(pages):
    def favours_order(html: str, aid: str) -> list[str]:
        forest = next(s for s in svg_blocks(section(html, aid)) if 'id="forest-' in s)
        labels = re.findall(r"(?:← Favours [^<]+|Favours [^<]+ →)", forest)
        return labels

    html = pages["TRD"].read_text(encoding="utf-8")
    # severity: lower is better, so the left side favours the drug
    assert favours_order(html, "trd_severity_24h") == ["← Favours (es)ketamine",
                                                       "Favours control →"]
    # response: higher is better, so the right side favours the drug
    assert favours_order(html, "trd_response_24h") == ["← Favours control",
                                                       "Favours (es)ketamine →"]


def test_small_study_tests_need_ten_trials(pages):
    """Cochrane Handbook ch. 13: below 10 trials, funnel, tests and flags are not assessed."""
    html = section(pages["TRD"].read_text(encoding="utf-8"), "trd_severity_24h")  # k = 8
    assert "Not assessed: fewer than 10 trials (k = 8)" in html
    assert "Egger's regression test" not in html and 'id="funnel-' not in html
    assert "Trim-and-fill adjusted" not in html  # nor in the sensitivity table
    assert "Influence diagnostics: not assessed, fewer than 10 trials." in html
    assert "from 10 trials on, influential trials are flagged" in pages["TRD"].read_text(
        encoding="utf-8")


def test_no_prediction_interval_below_three_trials(tmp_path):
    config = load_config()
    src = FIXTURES / "processed" / "trd_severity_7d"
    summary = json.loads((src / "summary.json").read_text())
    assert summary["k"] == 3 and summary["pi_low"] is not None
    two = tmp_path / "trd_severity_7d"
    two.mkdir()
    (two / "summary.json").write_text(json.dumps({**summary, "k": 2}))
    (two / "effects.csv").write_bytes((src / "effects.csv").read_bytes())
    context = condition_context("TRD", config, [two / "summary.json"], [two / "effects.csv"])
    assert context["analyses"][0]["pi_low"] is None
    assert "prediction interval" not in str(context["analyses"][0]["forest"])


def test_heterogeneity_and_tests_are_reported(tmp_path):
    config = load_config()
    config["few_trials"] = {"small_study_min_k": 3}  # show the tests on the k = 8 fixture
    pages = render_all(config, FIXTURES / "processed", tmp_path)
    html = section(pages["TRD"].read_text(encoding="utf-8"), "trd_severity_24h")
    s = json.loads((FIXTURES / "processed" / "trd_severity_24h" / "summary.json").read_text())
    assert f"τ² = {fmt.tau2(s['tau2'])} [{fmt.tau2(s['tau2_ci_low'])}" in html
    assert f"Egger's regression test: t = {fmt.num(s['egger_statistic'])}" in html
    assert f"{s['trimfill_k0']} trials imputed on the {s['trimfill_side']} side" in html
    assert "Equal-effects model (inverse variance)" in html
    # the data table groups the arm columns under the arm names (two header rows)
    assert '<th scope="colgroup" colspan="3" class="group">(Es)ketamine</th>' in html
    assert '<th scope="colgroup" colspan="3" class="group">Control</th>' in html
    assert 'id="loo-trd_severity_24h"' in html
    assert 'id="funnel-trd_severity_24h"' in html


def test_methods_follow_the_configuration(pages):
    trd = pages["TRD"].read_text(encoding="utf-8")
    suicidality = pages["suicidality"].read_text(encoding="utf-8")
    assert "restricted maximum likelihood" in trd and "DerSimonian" not in trd
    assert "Hartung–Knapp–Sidik–Jonkman" in trd
    # the suicidality analysis overrides the profile with DL and z (config.yaml)
    assert "DerSimonian–Laird" in suicidality and "DerSimonian R, Laird N (1986)" in suicidality
    assert "Zero cells: 0.5 is added" in suicidality
    assert "Hedges LV (1981)" in trd and "Hedges LV (1981)" not in suicidality
    assert "Study selection" not in trd  # the fixture configuration excludes nothing


def test_methods_formulas_cite_only_listed_references():
    from ketameta.report import methods

    tables = (methods._MEASURE_FORMULAS, methods._SMD_VTYPES, methods._ESTIMATORS,
              methods._TESTS)
    cited = {ref for table in tables for _, refs in table.values() for ref in refs}
    assert cited <= set(methods.REFERENCES)
    # metafor escalc(measure="PFT"): vi = 1/(4n + 2)
    assert "1/(4n + 2)" in methods._MEASURE_FORMULAS["PFT"][0]
    # only the SMD variances the configuration schema allows are described
    assert set(methods._SMD_VTYPES) == {"LS", "RevMan"}


def test_methods_state_configured_exclusions():
    config = load_config()
    aid = next(a for a, e in config["analyses"].items() if e["condition"] == "TRD")
    config["analyses"][aid]["exclude"] = {"Some 2001": "reports a different scale"}
    section = methods_section(config, [{"analysis": aid}])
    assert any(
        p.startswith("Study selection") and f"1 trial of {aid}" in p
        for p in section["paragraphs"]
    )


@pytest.mark.parametrize("block", ["proportions", "subgroups", "ketamine_vs_esketamine",
                                   "time_course", "generated", "warnings"])
def test_the_overview_words_its_methods_from_what_it_keeps_of_each_summary(block):
    # The overview keeps of each summary only what the methods section reads
    # (render._methods_view): the section is the one the whole summaries give, each block
    # the methods describe counting as present or not.
    from ketameta._results import WARNING_TEXT
    from ketameta.report.render import _methods_view

    config = load_config()
    summaries = []
    for aid in config["analyses"]:
        summary = json.loads((FIXTURES / "processed" / aid / "summary.json").read_text())
        for key in ("proportions", "subgroups", "ketamine_vs_esketamine", "time_course",
                    "generated"):
            summary.pop(key, None)
        summary["warnings"] = []
        summary.setdefault("provenance", {}).pop("config", None)
        summaries.append(summary)
    plain = methods_section(config, summaries)
    assert methods_section(config, [_methods_view(s) for s in summaries]) == plain
    if block == "warnings":
        summaries[0]["warnings"] = [next(iter(WARNING_TEXT.values()))]
    elif block == "generated":
        summaries[-1]["provenance"]["config"] = {"generated": True}
    else:
        summaries[1][block] = {"some": ["content"]}
    whole = methods_section(config, summaries)
    assert whole != plain
    assert methods_section(config, [_methods_view(s) for s in summaries]) == whole


# ----------------------------------------------------------------------------- helpers


def absolute_block(measure, est, low, high, studies):
    return _absolute(est, low, high, family_of(measure), studies)


def test_absolute_effects_wording_follows_the_outcome_direction():
    # the numbers come from summary.json (ketameta.absolute, tested in test_absolute.py);
    # the page words them: RD +100/1000 with RD CI 40 to 200 is a benefit when higher is
    # better (NNTB 10, 5 to 25) and a harm when lower is better
    block = absolute_block("RR", math.log(1.5), math.log(1.2), math.log(2.0),
                           [{"events_ctrl": e, "n_ctrl": 10.0} for e in (1.0, 2.0, 3.0)])
    out = absolute_display({"absolute": block}, False, "ketamine")
    assert out["nnt"] == "NNTB 10" and out["nnt_range"] == "NNTB 5 to 25"
    assert out["intervention"] == "ketamine" and out["rd"] == block["rd"]
    harm = absolute_display({"absolute": block}, True, "ketamine")
    assert harm["nnt"] == "NNTH 10" and harm["nnt_range"] == "NNTH 5 to 25"
    through = absolute_block("OR", 0.0, math.log(0.5), math.log(2.0),
                             [{"events_ctrl": 5.0, "n_ctrl": 10.0}])
    assert absolute_display({"absolute": through}, True, "k")["nnt_range"] == (
        "NNTB 6 to ∞ to NNTH 6")
    assert absolute_display({"absolute": None}, True, "k") is None


def test_number_formats():
    assert fmt.num(-0.004) == "0.00"
    assert fmt.num(-1.234) == "\u22121.23"
    assert fmt.pvalue(0.0004) == "<0.001"
    assert fmt.pvalue(0.0268) == "0.027"
    assert fmt.percent(None) == "\u2013"
    assert fmt.data_value(24.0) == "24" and fmt.data_value(14.2) == "14.2"


def test_axis_limits_never_collapse_to_a_point():
    # a ratio panel of the overview with nothing pooled has only the null line
    for log in (True, False):
        lo, hi, ticks = axis_limits([0.0], [], log)
        assert lo < 0.0 < hi and len(ticks) >= 2


def test_axis_limits_cover_the_core_and_use_nice_ticks():
    # points −1.26…0 (core width 1.26); intervals reach −1.98 and 0.23, within one core
    # width of the core, so the axis covers them
    points = [-1.26, -0.22, -0.60, 0.0]
    lo, hi, ticks = axis_limits(points, [-1.98, 0.19, -1.44, 0.23], False)
    assert lo <= -1.98 and hi >= 0.23 and 0.0 in ticks
    steps = {round(b - a, 10) for a, b in zip(ticks, ticks[1:], strict=False)}
    assert len(steps) == 1 and len(ticks) <= 8
    # an interval reaching −10 does not stretch the axis beyond one core width (+ a tick):
    # it ends in an arrow at the left edge
    lo, _, ticks = axis_limits(points, [-10.0, 0.23], False)
    assert -1.26 - 1.26 - (ticks[1] - ticks[0]) <= lo < -1.98
    # ratios: 1-2-5 ticks on a log axis, back-transformed labels are those ratios
    lo, hi, ticks = axis_limits([math.log(v) for v in (1.57, 4.12, 11.0, 1.0)],
                                [math.log(0.67), math.log(179.0)], True)
    ratios = [float(f"{math.exp(t):.6g}") for t in ticks]
    assert ratios[0] <= 0.67 and ratios[-1] >= 11.0
    assert all(float(f"{r:e}"[0]) in (1, 2, 5) for r in ratios) and len(ratios) <= 7
    # a k = 2 HKSJ interval such as RR 3.90 [0.00, 66161] (real data) is cut at one core
    # width (log 3.9) beyond the core [1, 3.9], i.e. about 0.26 to 15, and ends in arrows
    _, _, ticks = axis_limits([math.log(3.9), 0.0], [math.log(2e-5), math.log(66161.0)], True)
    ratios = [float(f"{math.exp(t):.6g}") for t in ticks]
    assert len(ratios) <= 7 and ratios[0] >= 0.1 and ratios[-1] <= 20
    # a wide range of points needs decade ticks to stay readable
    _, _, ticks = axis_limits([math.log(0.001), math.log(500.0), 0.0], [], True)
    ratios = [float(f"{math.exp(t):.6g}") for t in ticks]
    assert len(ratios) <= 7 and all(math.log10(r).is_integer() for r in ratios)


def test_fixture_generator_and_outputs_are_in_step():
    # every analysis of the fixture config has outputs with the keys the pages read
    config = load_config()
    for aid in config["analyses"]:
        s = json.loads((FIXTURES / "processed" / aid / "summary.json").read_text())
        assert s["analysis"] == aid
        for key in ("k", "measure", "estimate", "ci_low", "ci_high", "leave1out", "provenance"):
            assert key in s, (aid, key)


def test_analysis_without_any_effect_is_shown_not_dropped(tmp_path):
    # analysis.py writes k = 0 (all rows undefined, e.g. drop00) with null statistics and a
    # header-only effects.csv; the page must say so instead of failing or hiding it
    src = FIXTURES / "processed" / "ptsd_severity_2w"
    dst = tmp_path / "ptsd_severity_2w"
    dst.mkdir()
    header = (src / "effects.csv").read_text(encoding="utf-8").splitlines()[0]
    (dst / "effects.csv").write_text(header + "\n", encoding="utf-8")
    summary = json.loads((src / "summary.json").read_text(encoding="utf-8"))
    for key in ("estimate", "se", "ci_low", "ci_high", "n_participants"):
        summary[key] = None
    summary.update(k=0, studies=[], leave1out=[], influence=[],
                   warnings=["k = 0: no study has a defined effect size."])
    (dst / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    config = load_config()
    render_condition("PTSD", config, [dst / "summary.json"], [dst / "effects.csv"],
                     tmp_path / "PTSD.html")
    html = (tmp_path / "PTSD.html").read_text(encoding="utf-8")
    assert "No trial in this analysis has a defined effect size" in html
    assert "k = 0: no study has a defined effect size." in html
    render_index({**config, "analyses": {"ptsd_severity_2w": config["analyses"]["ptsd_severity_2w"]}},
                 [dst / "summary.json"], [dst / "effects.csv"], tmp_path / "index.html")
    assert "not pooled (1 trial)" in (tmp_path / "index.html").read_text(encoding="utf-8")


def _luminance(hex_colour: str) -> float:
    """Relative luminance, WCAG 2.1 definition."""
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_text_colours_pass_wcag_aa():
    # every text colour of the stylesheet and of the figures, on every background the pages
    # use, has a contrast ratio of at least 4.5:1 (WCAG 2.1 AA, normal text)
    from importlib.resources import files

    from ketameta.report import plots

    css = files("ketameta").joinpath("templates/style.css").read_text(encoding="utf-8")
    text = set(re.findall(r"(?<![-\w])color:\s*(#[0-9a-fA-F]{6})", css))
    text |= {plots.INK, plots.MUTED, plots.ACCENT}
    backgrounds = set(re.findall(r"background:\s*(#[0-9a-fA-F]{6})", css)) | {"#ffffff"}
    assert len(text) >= 5 and len(backgrounds) >= 3  # the regexes found the declarations
    for fg in text:
        for bg in backgrounds:
            light, dark = sorted((_luminance(fg), _luminance(bg)), reverse=True)
            ratio = (light + 0.05) / (dark + 0.05)
            assert ratio >= 4.5, (fg, bg, round(ratio, 2))


def test_ratios_read_as_numbers():
    assert fmt.effect(0.00023, ratio=True) == "0.0002"
    assert fmt.effect(0.0047, ratio=True) == "0.005"
    assert fmt.effect(66162, ratio=True) == "> 1000"
    assert fmt.effect(152.4, ratio=True) == "152"
    assert fmt.estimate_ci(1.5, 0.00041, 5500, ratio=True) == "1.50 [0.0004, > 1000]"
    assert fmt.effect(0.00023) == "0.00"  # an SMD or MD keeps its fixed decimals
    from ketameta.report.render import _cell

    assert _cell((1.5, 0.00041, 5500, True), "effci") == "1.50 [0.0004, > 1000]"
    assert _cell((1.5, 0.00041, 5500), "effci") == "1.50 [0.00, 5500]"


def test_engine_notes_go_to_the_methods_and_search_limits_are_said_in_words(tmp_path):
    from ketameta.models import _WARNING_TEXT

    config = load_config()
    src = FIXTURES / "processed" / "trd_severity_7d"
    summary = json.loads((src / "summary.json").read_text())
    limit = _WARNING_TEXT["ci_ub_max"]
    data_note = "Birch 2010 (raw/trd.csv, line 3) left out: effect size undefined"
    out = tmp_path / "trd_severity_7d"
    out.mkdir()
    (out / "summary.json").write_text(json.dumps(
        {**summary, "tau2_ci_high": 100.0, "warnings": [limit, data_note]}))
    (out / "effects.csv").write_bytes((src / "effects.csv").read_bytes())
    context = condition_context("TRD", config, [out / "summary.json"], [out / "effects.csv"])
    a = context["analyses"][0]
    assert a["warnings"] == [data_note]
    assert "above the search limit 100]" in a["heterogeneity"]
    notes = [p for p in context["methods"]["paragraphs"] if p.startswith("Notes from the")]
    assert notes == ["Notes from the estimation: trd_severity_7d: " + limit.rstrip(".") + "."]


def test_mixtures_and_arm_proportions_are_said_under_the_headline(pages):
    trd = pages["TRD"].read_text(encoding="utf-8")
    severity = section(trd, "trd_severity_24h")
    s = json.loads((FIXTURES / "processed" / "trd_severity_24h" / "summary.json").read_text())
    head = severity[severity.index('class="key-result"'):severity.index('id="fig-forest-')]
    assert "<strong>This analysis pools:</strong> crossover (1) and parallel (7) trials;" in head
    wc = s["without_crossover"]
    assert (f"Without the crossover trials (the 7 parallel trials alone): SMD "
            f"{fmt.estimate_ci(wc['estimate'], wc['ci_low'], wc['ci_high'])}") in head
    assert "Without crossover trials (k = 7)" in severity  # in the models table too
    response = section(trd, "trd_response_24h")
    p = json.loads((FIXTURES / "processed" / "trd_response_24h" / "summary.json").read_text())
    treat = p["proportions"]["treat"]
    assert (f"About {fmt.num(100 * treat['proportion'], 0)}% "
            f"({fmt.num(100 * treat['proportion_ci_low'], 0)} to "
            f"{fmt.num(100 * treat['proportion_ci_high'], 0)}%) of patients had the outcome "
            f"“{load_config()['outcomes']['response']['label']}” at 24 h with (es)ketamine"
            ) in response


def test_subgroup_forests_and_the_ketamine_esketamine_comparison(pages):
    html = section(pages["TRD"].read_text(encoding="utf-8"), "trd_severity_24h")
    s = json.loads((FIXTURES / "processed" / "trd_severity_24h" / "summary.json").read_text())
    for block in s["subgroups"]:
        forest = f'id="subgroup-trd_severity_24h-{block["variable"]}"'
        assert forest in html
        assert (f"Test for subgroup differences: χ² = {fmt.num(block['Q_between'])}, df = "
                f"{fmt.integer(block['Q_between_df'])}") in html
    kve = s["ketamine_vs_esketamine"]
    assert [g["label"] for g in kve["groups"]] == ["IV ketamine", "IN esketamine"]
    assert "Intravenous ketamine against intranasal esketamine: intravenous racemic" in html
    assert "Caution: this compares different trials" in html
    assert "Single trial: its own result, not pooled" in html  # the one oral trial


def test_few_trials_take_the_bayesian_headline(pages):
    aid = "suicidality_ideation_24h"  # k = 4, odds ratio
    s = json.loads((FIXTURES / "processed" / aid / "summary.json").read_text())
    assert s["measure"] == "OR"
    mu = {k: math.exp(v) for k, v in s["few_trials"]["mu"].items()
          if k in ("median", "ci_low", "ci_high")}
    html = section(pages["suicidality"].read_text(encoding="utf-8"), aid)
    head = html[html.index('class="key-result"'):]

    def ratio(v):
        return fmt.effect(v, ratio=True)

    assert head.startswith('class="key-result"><strong>Bayesian random-effects model '
                           '(half-normal prior on τ, scale 0.5):</strong> OR '
                           f"{ratio(mu['median'])} (95% credible interval "
                           f"{ratio(mu['ci_low'])} to {ratio(mu['ci_high'])})")
    assert "Beside it: Random-effects model" in html and "equal-effects model: OR" in html
    assert "Why this headline: with 4 trials" in html
    assert "Bayesian random effects (headline)" in html  # its diamond in the forest
    # the overview shows the same headline
    index = pages["index"].read_text(encoding="utf-8")
    assert fmt.estimate_ci(mu["median"], mu["ci_low"], mu["ci_high"], ratio=True) in index
    # k = 8 keeps the frequentist headline
    trd = section(pages["TRD"].read_text(encoding="utf-8"), "trd_severity_24h")
    assert "Bayesian random-effects model" not in trd


def test_posterior_probabilities_are_never_rounded_to_certainty():
    from ketameta.report.render import _probability

    assert [_probability(p) for p in (0.9996, 0.995, 0.9949, 0.42, 0.004)] == [
        "> 99%", "> 99%", "99%", "42%", "< 1%"]
