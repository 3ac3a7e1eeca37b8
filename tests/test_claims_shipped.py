"""The claims page on the shipped data, end to end without Snakemake: every shipped claim has
a verdict and either a number or a stated reason, every evidence link resolves to an anchor
of an existing condition page, the page is deterministic and escaped, and it opens in
headless Chromium without errors (screenshots at 1400 px and in print media go to
``test-artifacts/``)."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from ketameta.analysis import check_inputs, run_condition
from ketameta.claims import CANNOT, VERDICTS
from ketameta.io import validate_config, write_table
from ketameta.plan import plan_analyses
from ketameta.profiles import effective_configs
from ketameta.report import page_config, render_condition, render_index
from ketameta.report.claims import render_claims, used_conditions

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "workflow" / "schemas" / "config.schema.yaml"
CLAIMS = ROOT / "config" / "claims.yaml"
CLAIMS_SCHEMA = ROOT / "workflow" / "schemas" / "claims.schema.yaml"
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("claims")
    config = validate_config(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()),
                             SCHEMA)
    trials = check_inputs(config, root=ROOT)
    config["analyses"] = plan_analyses(config, trials)
    conditions = [c for c in config["conditions"]
                  if any(a["condition"] == c for a in config["analyses"].values())]
    summaries, effects, pages = [], [], []
    for condition in conditions:
        rows = out / "interim" / f"{condition}.csv"
        write_table(trials[trials["condition"] == condition], rows)
        analyses = effective_configs(condition, config)
        s = [out / a / "summary.json" for a in analyses]
        e = [out / a / "effects.csv" for a in analyses]
        run_condition(rows, analyses, e, s)
        render_condition(condition, page_config([condition], config), s, e,
                         out / "reports" / f"{condition}.html", rows=rows)
        pages.append(f"{condition}.html")
        summaries += s
        effects += e
    render_index(page_config(conditions, config), summaries, effects,
                 out / "reports" / "index.html")
    claims = yaml.safe_load(CLAIMS.read_text())
    used = set(used_conditions(claims, config))
    keep = [i for i, p in enumerate(summaries)
            if config["analyses"][p.parent.name]["condition"] in used]
    sel_s, sel_e = [summaries[i] for i in keep], [effects[i] for i in keep]
    result = render_claims(CLAIMS, CLAIMS_SCHEMA, config, sel_s, sel_e, out / "claims.json",
                           out / "reports" / "claims.html", pages)
    return {"config": config, "out": out, "result": result, "pages": pages,
            "args": (CLAIMS, CLAIMS_SCHEMA, config, sel_s, sel_e)}


class _Anchors(HTMLParser):
    def __init__(self):
        super().__init__()
        self.ids, self.hrefs = set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "id" in attrs:
            self.ids.add(attrs["id"])
        if tag == "a" and attrs.get("href"):
            self.hrefs.append(attrs["href"])


def _parse(path: Path) -> _Anchors:
    parser = _Anchors()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def test_every_shipped_claim_has_a_verdict_and_a_number_or_a_reason(built):
    result = built["result"]
    shipped = yaml.safe_load(CLAIMS.read_text())["claims"]
    assert [c["id"] for c in result["claims"]] == list(shipped)
    assert sum(result["counts"].values()) == len(shipped) == 16
    for claim in result["claims"]:
        assert claim["verdict"] in VERDICTS
        assert claim["reason"].strip().endswith(".")
        numbers = [e for check in claim["checks"] for e in check["evidence"]]
        if claim["verdict"] != CANNOT:
            assert numbers, claim["id"]
            for e in numbers:
                assert e["ci_low"] <= e["estimate"] <= e["ci_high"], (claim["id"], e)
                assert e["k"] >= 1
        else:
            assert "would need" in claim["reason"] or "no " in claim["reason"].lower()
    written = json.loads((built["out"] / "claims.json").read_text())
    assert written == json.loads(json.dumps(result))


def test_a_claim_that_confuses_terms_is_checked_against_what_it_defines(built):
    claim = next(c for c in built["result"]["claims"] if c["id"] == "remission_85")
    assert claim["notes"] and "response" in claim["notes"][0]
    labels = [e["label"] for ch in claim["checks"] for e in ch["evidence"]]
    assert labels and all("esponse" in label for label in labels)
    html = (built["out"] / "reports" / "claims.html").read_text()
    assert "call that\nresponse" not in html and "trials call that response" in html


def test_links_resolve_to_existing_anchors(built):
    reports = built["out"] / "reports"
    page = _parse(reports / "claims.html")
    evidence_links = [h for h in page.hrefs if ".html#" in h]
    assert evidence_links
    for href in page.hrefs:
        if href.startswith("data:"):
            continue
        target, _, anchor = href.partition("#")
        ids = page.ids if not target else _parse(reports / target).ids
        assert (reports / (target or "claims.html")).exists(), href
        if anchor:
            assert anchor in ids, href
    for name in ("index.html", *built["pages"]):
        assert "claims.html" in _parse(reports / name).hrefs, name


def test_page_is_deterministic_and_escaped(built, tmp_path):
    claims_path, schema, config, s, e = built["args"]
    text = claims_path.read_text().replace(
        "a common protocol includes", "a <script>alert(1)</script> & common protocol includes")
    evil = tmp_path / "claims.yaml"
    evil.write_text(text)
    render_claims(evil, schema, config, s, e, tmp_path / "c.json", tmp_path / "c.html",
                  built["pages"])
    html = (tmp_path / "c.html").read_text()
    assert "<script>alert" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp;" in html
    render_claims(*built["args"], tmp_path / "a.json", tmp_path / "a.html", built["pages"])
    assert (tmp_path / "a.html").read_bytes() == (
        built["out"] / "reports" / "claims.html").read_bytes()
    assert (tmp_path / "a.json").read_bytes() == (built["out"] / "claims.json").read_bytes()


def test_claims_checked_already_are_taken_as_they_are(built, tmp_path, monkeypatch):
    # The workflow checks the claims when it is read and hands them to the page's job,
    # which then neither reads them again nor loads the schema validator: same bytes.
    import ketameta.claims as claims_mod

    claims_path, schema, config = built["args"][:3]
    checked = claims_mod.load(claims_path, config, schema)

    def refuse(*args, **kwargs):
        raise AssertionError("the claims were checked again")

    monkeypatch.setattr(claims_mod, "load", refuse)
    render_claims(*built["args"], tmp_path / "a.json", tmp_path / "a.html", built["pages"],
                  checked=checked)
    assert (tmp_path / "a.html").read_bytes() == (
        built["out"] / "reports" / "claims.html").read_bytes()
    assert (tmp_path / "a.json").read_bytes() == (built["out"] / "claims.json").read_bytes()


def test_page_states_verdict_without_relying_on_colour(built):
    html = (built["out"] / "reports" / "claims.html").read_text()
    rows = re.findall(r'<tr id="claim-[a-z0-9_]+">.*?</tr>', html, flags=re.S)
    assert len(rows) == 16
    for row in rows:
        assert re.search(r'class="verdict-mark" aria-hidden="true">[✓◐✗?]</span> <strong>'
                         r"(Consistent with the trials|Partly supported|Not supported|"
                         r"Cannot be checked)</strong>", row)
    assert "open-label" in html and "Methods" in html


@pytest.mark.browser
def test_claims_page_in_the_browser(built):
    pytest.importorskip("test_browser")
    from test_browser import Browser, problems

    ARTIFACTS.mkdir(exist_ok=True)
    path = built["out"] / "reports" / "claims.html"
    url = path.resolve().as_uri()
    browser = Browser()
    try:
        session = browser.open(url)
        browser.send("Emulation.setDeviceMetricsOverride", session, width=1400, height=900,
                     deviceScaleFactor=1, mobile=False)
        assert problems(browser, session, url) == []
        width = browser.evaluate(session, "document.documentElement.scrollWidth")
        assert width <= 1400
        rows = browser.evaluate(session, "document.querySelectorAll('#claims-table tbody tr')"
                                         ".length")
        assert rows == 16
        browser.screenshot(session, ARTIFACTS / "claims-1400.png")
        session = browser.open(url, javascript=False, media="print")
        assert problems(browser, session, url) == []
        browser.screenshot(session, ARTIFACTS / "claims-print.png")
    finally:
        browser.close()
