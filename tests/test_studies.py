"""Characteristics of included studies: one record per trial, sources, RoB, overlaps."""

from ketameta.report import studies


def row(study, year, analysis, **extra):
    base = {
        "study": study,
        "year": year,
        "analysis": analysis,
        "analysis_label": analysis.upper(),
        "design": "parallel",
        "drug": "ketamine",
        "route": "IV",
        "comparator": "saline",
        "timepoint": "24h",
    }
    return {**base, **extra}


def test_one_record_per_trial_with_its_analyses_and_sources():
    rows = [
        row(
            "Zarate 2006",
            2006.0,
            "a24",
            doi="10.1/x",
            pmid=16894061.0,
            source="Table 2",
            evidence="MADRS fell",
            notes="",
            rob_d1="low",
            rob_d2="low",
            rob_d3="some",
            rob_d4="low",
            rob_d5="low",
        ),
        row(
            "Zarate 2006",
            2006.0,
            "a7",
            doi="10.1/x",
            pmid=16894061.0,
            source="Figure 1",
            evidence="at day 7",
            notes="DERIVED: 6 of 18",
            timepoint="end",
            day=7.0,
        ),
        row("Alpha 2010", 2010, "a24", rob="high", dose="0.5 mg/kg", schedule="single dose"),
    ]
    recs = studies.included_studies(rows)
    assert [r["label"] for r in recs] == ["Zarate 2006", "Alpha 2010"]
    z = recs[0]
    assert [a["id"] for a in z["analyses"]] == ["a24", "a7"]
    assert z["rob"] == "some" and z["rob_domains"] == ["low", "low", "some", "low", "low"]
    assert z["doi_url"] == "https://doi.org/10.1/x"
    assert z["pubmed_url"] == "https://pubmed.ncbi.nlm.nih.gov/16894061/"
    assert z["derived"] and [s["derived"] for s in z["sources"]] == [False, True]
    assert z["day_end"] == "7" and z["id"] == "study-zarate-2006-2006"
    a = recs[1]
    assert a["rob"] == "high" and a["rob_domains"] is None and a["doi_url"] is None
    assert a["schedule"] == "single dose"


def test_missing_judgements_stay_missing():
    recs = studies.included_studies([row("Beta 2012", 2012, "a")])
    assert recs[0]["rob"] is None and recs[0]["rob_domains"] is None


def test_same_study_label_in_two_years_is_two_trials():
    recs = studies.included_studies([row("Shechter", 1990, "a"), row("Shechter", 1991, "a")])
    assert [r["label"] for r in recs] == ["Shechter (1990)", "Shechter (1991)"]
    assert recs[0]["id"] != recs[1]["id"]


def test_overlapping_samples_are_cross_referenced_both_ways_and_across_pages():
    suic = [row("Price 2014", 2014, "s", same_participants_as="Murrough 2013")]
    trd = [row("Murrough 2013", 2013, "t")]
    overlaps = studies.overlaps_of(suic + trd)
    assert overlaps == [("Price 2014", "Murrough 2013")]
    links = studies.study_links({"TRD": trd, "suicidality": suic})
    on_suic = studies.included_studies(suic, overlaps=overlaps, links=links)
    assert on_suic[0]["shares_with"] == [
        {"label": "Murrough 2013", "href": "TRD.html#study-murrough-2013-2013"}
    ]
    on_trd = studies.included_studies(trd, overlaps=overlaps, links=links)
    assert on_trd[0]["shares_with"] == [
        {"label": "Price 2014", "href": "suicidality.html#study-price-2014-2014"}
    ]
    # Both on one page: the link stays on the page.
    both = studies.included_studies(suic + trd, overlaps=overlaps, links=links)
    assert both[0]["shares_with"][0]["href"] == "#study-price-2014-2014"
