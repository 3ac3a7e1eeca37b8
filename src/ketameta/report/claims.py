"""The claims page: each claim from a popular article beside the pooled randomised evidence.

:func:`render_claims` reads ``config/claims.yaml`` (checked by :func:`ketameta.claims.load`)
and the ``summary.json``/``effects.csv`` of the analyses the claims name, computes every
verdict with :func:`ketameta.claims.evaluate`, and writes the verdicts as JSON
(``data/processed/claims.json``) and the page (``reports/claims.html``). The page is
self-contained and escaped like the other pages (same Jinja environment, ``base.html`` and
macros) and byte-identical for identical inputs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from ketameta import claims as claims_mod

from . import formatting as fmt

# The rendering code (Jinja2) is imported by the functions that load and render: the
# workflow calls claims_config and used_conditions while it parses.

__all__ = ["claims_config", "claims_context", "evaluate_files", "render_claims",
           "used_conditions"]

#: How the page marks each verdict: a symbol and a word, so colour is never the only cue.
MARKS = {
    claims_mod.CONSISTENT: {"symbol": "✓", "word": "Consistent with the trials",
                            "css": "consistent"},
    claims_mod.PARTLY: {"symbol": "◐", "word": "Partly supported", "css": "partly"},
    claims_mod.NOT_SUPPORTED: {"symbol": "✗", "word": "Not supported", "css": "not-supported"},
    claims_mod.CANNOT: {"symbol": "?", "word": "Cannot be checked", "css": "cannot"},
}

#: The verdict rules, one row per kind of check, as the page's methods state them.
RULES = (
    ("Share of patients (e.g. “60 to 70 percent responded”)",
     "The pooled proportion of patients with the event in the ketamine arms (logit random "
     "effects, back-transformed). Not supported when the asserted range and the 95% CI do not "
     "overlap; consistent when they overlap and the estimate lies in the range or the range "
     "lies inside the CI; partly otherwise."),
    ("An effect exists",
     "The pooled effect against control (the headline of the condition page). Consistent "
     "when the CI excludes no effect on the side of benefit; not supported when the estimate "
     "does not favour ketamine; partly when it favours ketamine but the CI includes no effect."),
    ("The effect fades within a number of days",
     "From the time course: consistent when the last time point with a clear effect lies "
     "within the asserted days and a later one shows none; not supported when a clear effect "
     "is still seen later; cannot be checked otherwise."),
    ("One route acts faster",
     "From the test for subgroup differences by route at each early time point: consistent "
     "when the routes differ (p < 0.05) in the asserted direction, not supported otherwise. "
     "Routes are compared across trials, not within them, so this is observational evidence."),
    ("Time to relapse; topics without trials",
     "Cannot be checked: no pooled result here measures them; the page says what would. "
     "Where the trials report a related outcome (relapse as a risk ratio), it is shown for "
     "context and does not enter the verdict."),
)


def used_conditions(claims: Mapping, config: Mapping) -> list[str]:
    """Conditions whose results the claims read, in configuration order."""
    used = set()
    for claim in claims["claims"].values():
        for check in claim["checks"]:
            if "analysis" in check:
                used.add(config["analyses"][check["analysis"]]["condition"])
            elif "condition" in check:
                used.add(check["condition"])
    return [c for c in config["conditions"] if c in used]


def claims_config(claims: Mapping, config: Mapping, with_results: Sequence[str]) -> dict:
    """The configuration the claims page depends on: what its checks may name, and nothing else.

    The analyses (and page settings) of the conditions the claims use that have results
    (``with_results``), and every declared condition and outcome, since a check may name one
    without results (it then cannot be checked). The workflow passes this through ``params:``.
    """
    from . import page_config

    used = [c for c in used_conditions(claims, config) if c in with_results]
    out = page_config(used, config)
    out["conditions"] = {c: dict(v) for c, v in config["conditions"].items()}
    out["outcomes"] = {o: dict(v) for o, v in config["outcomes"].items()}
    return out


def evaluate_files(claims: Mapping, config: Mapping, summaries: Sequence[str | Path],
                   effects: Sequence[str | Path]) -> tuple[dict, list[dict]]:
    """Verdicts of every claim from the analyses' files, and the loaded analyses."""
    if len(summaries) != len(effects):
        raise ValueError(f"{len(summaries)} summary files but {len(effects)} effects files")
    from .render import load_analysis

    loaded = [load_analysis(s, e) for s, e in zip(summaries, effects, strict=True)]
    analyses = {item["summary"]["analysis"]: {"summary": item["summary"], "rows": item["studies"]}
                for item in loaded}
    result = claims_mod.evaluate(claims, claims_mod.Results(config, analyses))
    return result, loaded


def _shown(e: Mapping) -> str:
    """One evidence item as the table prints it."""
    if e["measure"] == "proportion":
        pct = [fmt.percent(100 * e[k], 0) for k in ("estimate", "ci_low", "ci_high")]
        text = f"{pct[0]} of patients (95% CI {pct[1]} to {pct[2]})"
    else:
        text = f"{e['measure']} " + fmt.estimate_ci(
            e["estimate"], e["ci_low"], e["ci_high"], ratio=e["measure"] in ("RR", "OR", "HR"))
    trials = f"k = {e['k']}"
    if e.get("n") is not None:
        trials += f", N = {fmt.integer(e['n'])}"
    return f"{text}; {trials}"


def claims_context(result: Mapping, loaded: Sequence[Mapping], config: Mapping,
                   claims_text: str, pages: Sequence[str]) -> dict:
    """Context of ``claims.html`` from :func:`ketameta.claims.evaluate`'s result.

    ``pages`` are the condition pages that exist (``{condition}.html``); evidence links go
    only to them.
    """
    from .render import _provenance

    rows = []
    for claim in result["claims"]:
        article = result["articles"][claim["article"]]
        source = article["title"]
        extra = [article[k] for k in ("byline", "outlet", "date") if article.get(k)]
        if extra:
            source += " (" + ", ".join(str(x) for x in extra) + ")"
        evidence = []
        for check in claim["checks"]:
            for e in check["evidence"]:
                anchor = e["anchor"]
                if anchor and anchor.split("#")[0] not in pages:
                    anchor = None
                evidence.append({"label": e["label"], "text": _shown(e), "anchor": anchor,
                                 "certainty": e["certainty"] or "not assessed"})
        levels = [e["certainty"] for e in evidence if e["certainty"] != "not assessed"]
        rows.append({
            "id": claim["id"], "quote": claim["quote"], "source": source,
            "verdict": claim["verdict"], "mark": MARKS[claim["verdict"]],
            "reason": claim["reason"], "notes": claim["notes"], "evidence": evidence,
            "certainty": (_lowest(levels) if claim["verdict"] != claims_mod.CANNOT
                          else "not applicable"),
        })
    counts = [{"mark": MARKS[v], "n": n} for v, n in result["counts"].items()]
    return {
        "page_title": "Claims about ketamine and what the randomised trials show",
        "rows": rows,
        "counts": counts,
        "conditions": [(c, config["conditions"][c].get("label", c)) for c in
                       config["conditions"] if f"{c}.html" in pages],
        "rules": [{"kind": k, "rule": r} for k, r in RULES],
        "methods": {
            "paragraphs": [
                "Every verdict is computed from the pooled results of this evidence base by "
                "the rules in the table below; none is written by hand. Numbers are the "
                "headline result of the condition page (with few trials the Bayesian "
                "random-effects result), ratios back-transformed and proportions as "
                "percentages. A claim with several results (time points, outcomes or "
                "conditions) is consistent when all of them are, not supported when all are, "
                "and partly otherwise; results that cannot be checked are left out of that "
                "combination.",
                "Certainty is GRADE's: high, moderate, low or very low, from risk of bias, "
                "inconsistency, indirectness, imprecision and publication bias. The "
                "certainty shown for a claim is the lowest among the results it rests on.",
            ],
            "settings": {
                "id": "verdict-rules", "caption": "The verdict rules",
                "columns": [{"key": "kind", "header": "What the claim asserts", "kind": "text"},
                            {"key": "rule", "header": "Rule", "kind": "text"}],
                "records": [{"kind": k, "rule": r} for k, r in RULES],
            },
            "references": [
                "Guyatt GH, Oxman AD, Vist GE, et al. GRADE: an emerging consensus on rating "
                "quality of evidence and strength of recommendations. BMJ 2008;336:924–926.",
                "Higgins JPT, Thomas J, Chandler J, et al. (eds). Cochrane Handbook for "
                "Systematic Reviews of Interventions, version 6.4. Cochrane, 2023; chapter "
                "10 (subgroup analyses are observational comparisons).",
            ],
        },
        "provenance": _provenance(loaded, claims_text),
    }


_ORDER = ("high", "moderate", "low", "very low")


def _lowest(levels: Sequence[str]) -> str:
    known = [lv for lv in levels if lv in _ORDER]
    if not known:
        return "not assessed"
    return max(known, key=_ORDER.index)


def render_claims(claims_path: str | Path, schema: str | Path | Mapping, config: Mapping,
                  summaries: Sequence[str | Path], effects: Sequence[str | Path],
                  json_out: str | Path, html_out: str | Path,
                  pages: Sequence[str] | None = None,
                  checked: Mapping | None = None) -> dict:
    """Evaluate every claim and write ``claims.json`` and ``claims.html``.

    Parameters
    ----------
    claims_path, schema : path-like
        ``config/claims.yaml`` and ``workflow/schemas/claims.schema.yaml``.
    config : mapping
        The validated configuration with its planned analyses.
    summaries, effects : sequences of paths
        ``summary.json`` and ``effects.csv`` of the analyses of the conditions the claims
        name, in the same order.
    json_out, html_out : path-like
        Where to write the verdicts (JSON, sorted keys) and the page.
    pages : sequence of str, optional
        Condition pages that exist (``TRD.html``…); default: one per condition with an
        analysis among ``summaries``.
    checked : mapping, optional
        The claims of ``claims_path`` as :func:`ketameta.claims.load` returned them, if
        they have been read and checked already (the workflow checks them when it is read);
        by default the file is read and checked against ``schema`` here.

    Returns
    -------
    dict
        The verdicts as written to ``json_out``.
    """
    claims = checked if checked is not None else claims_mod.load(claims_path, config, schema)
    result, loaded = evaluate_files(claims, config, summaries, effects)
    if pages is None:
        pages = sorted({f"{config['analyses'][i['summary']['analysis']]['condition']}.html"
                        for i in loaded})
    out = Path(json_out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w", encoding="utf-8", newline="\n") as handle:
        json.dump(result, handle, indent=1, sort_keys=True, ensure_ascii=False, allow_nan=False)
        handle.write("\n")
    from .render import write_page

    text = Path(claims_path).read_text(encoding="utf-8")
    write_page("claims.html", claims_context(result, loaded, config, text, pages), html_out)
    return result
