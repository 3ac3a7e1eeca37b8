"""Characteristics of included studies and their references, for a condition page.

One record per trial (a study label with its year), gathered from the rows of every analysis
of the condition: what the trial was (design, population, setting, drug, route, dose and
schedule, comparator, day of the end of treatment), which analyses use it, its risk of bias,
and where its numbers come from (DOI, PubMed, the source and the quoted evidence of each
row, with derived values marked). Trials that share participants with another trial are
cross-referenced in both directions, with a link when the other trial is on another page.
Nothing here computes a statistic; the records feed the ``_studies.html`` partial.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence

from ketameta import rob as rob2

__all__ = ["anchor", "included_studies", "overlaps_of", "study_links"]

_DESCRIPTIVE = (
    "design",
    "population",
    "setting",
    "drug",
    "route",
    "dose",
    "schedule",
    "comparator",
)


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    text = str(value).strip()
    return "" if text.lower() == "nan" else text


def _year(value: object) -> str:
    text = _text(value)
    try:
        return str(int(float(text))) if text else ""
    except ValueError:
        return text


def _label(study: str, year: str) -> str:
    """A study's display label: its year is added unless the label already ends with it."""
    if year and not study.endswith(year):
        return f"{study} ({year})"
    return study


def anchor(study: str, year: str = "") -> str:
    """The HTML id of a trial's entry in the characteristics table (stable, ASCII)."""
    slug = re.sub(r"[^a-z0-9]+", "-", f"{study} {year}".lower()).strip("-")
    return f"study-{slug or 'unnamed'}"


def overlaps_of(rows: Iterable[Mapping]) -> list[tuple[str, str]]:
    """Pairs (study, other) for every row whose ``same_participants_as`` names another trial."""
    pairs = set()
    for row in rows:
        other = _text(row.get("same_participants_as"))
        study = _text(row.get("study"))
        if other and study and other != study:
            pairs.add((study, other))
    return sorted(pairs)


def _distinct(values: Iterable[str]) -> str:
    seen: list[str] = []
    for v in values:
        if v and v not in seen:
            seen.append(v)
    return "; ".join(seen)


def included_studies(
    rows: Sequence[Mapping],
    *,
    overlaps: Sequence[tuple[str, str]] = (),
    links: Mapping[str, str] | None = None,
) -> list[dict]:
    """One record per included trial of a condition, in order of year then label.

    Parameters
    ----------
    rows : sequence of mappings
        The ``effects.csv`` rows of every analysis of the condition, each with an added
        ``analysis`` (id) and ``analysis_label`` (display title).
    overlaps : sequence of (study, other)
        Every pair of trials that share participants, from all conditions
        (:func:`overlaps_of` over all rows).
    links : mapping, optional
        Study label → link to its entry on another page (:func:`study_links`), used for
        trials that share participants with a trial of this page but are not on it.

    Returns
    -------
    list of dict
        Keys: ``study, year, label, id`` (HTML anchor), the descriptive columns,
        ``day_end``, ``analyses`` (list of ``{id, label}``), ``rob`` (overall judgement or
        None), ``rob_domains`` (five judgements or None), ``rob_source``, ``doi``, ``pmid``,
        ``doi_url``, ``pubmed_url``, ``sources`` (list of ``{source, evidence, notes,
        derived, file, lines}``), ``derived`` (any derived value), ``shares_with`` (list of
        ``{label, href}``).
    """
    links = links or {}
    trials: dict[tuple[str, str], dict] = {}
    for row in rows:
        study, year = _text(row.get("study")), _year(row.get("year"))
        if not study:
            continue
        rec = trials.setdefault(
            (study, year),
            {"study": study, "year": year, "rows": [], "analyses": []},
        )
        rec["rows"].append(row)
        analysis = {"id": _text(row.get("analysis")), "label": _text(row.get("analysis_label"))}
        if analysis["id"] and analysis not in rec["analyses"]:
            rec["analyses"].append(analysis)

    records = []
    for (study, year), rec in trials.items():
        group = rec["rows"]
        out = {
            "study": study,
            "year": year,
            "label": _label(study, year),
            "id": anchor(study, year),
            "analyses": rec["analyses"],
        }
        for col in _DESCRIPTIVE:
            out[col] = _distinct(_text(r.get(col)) for r in group)
        days = sorted(
            {
                float(_text(r.get("day")))
                for r in group
                if _text(r.get("timepoint")) == "end" and _text(r.get("day"))
            }
        )
        out["day_end"] = ", ".join(f"{d:g}" for d in days)
        judgements = [rob2.judgement(r) for r in group]
        worst = [j for j in judgements if j is not None]
        out["rob"] = max(worst, key=rob2.LEVELS.index) if worst else None
        domain_rows = [r for r in group if any(_text(r.get(d)) for d in rob2.DOMAINS)]
        out["rob_domains"] = (
            [_text(domain_rows[0].get(d)) or None for d in rob2.DOMAINS] if domain_rows else None
        )
        out["rob_source"] = _distinct(_text(r.get("rob_source")) for r in group)
        doi = _distinct(_text(r.get("doi")) for r in group)
        pmid = _distinct(_year(r.get("pmid")) for r in group)
        out["doi"], out["pmid"] = doi, pmid
        first_doi = doi.split("; ")[0] if doi else ""
        first_pmid = pmid.split("; ")[0] if pmid else ""
        out["doi_url"] = f"https://doi.org/{first_doi}" if first_doi else None
        out["pubmed_url"] = (
            f"https://pubmed.ncbi.nlm.nih.gov/{first_pmid}/" if first_pmid.isdigit() else None
        )
        sources = []
        for r in group:
            notes = _text(r.get("notes"))
            src = {
                "analysis": _text(r.get("analysis_label")) or _text(r.get("analysis")),
                "source": _text(r.get("source")),
                "evidence": _text(r.get("evidence")),
                "notes": notes,
                "derived": "DERIVED" in notes,
                "file": _text(r.get("source_file")),
                "lines": _text(r.get("source_lines")),
            }
            if src not in sources:
                sources.append(src)
        out["sources"] = sources
        out["derived"] = any(s["derived"] for s in sources)
        shares = []
        for a, b in overlaps:
            other = b if a == study else a if b == study else None
            if other is None:
                continue
            local = [key for key in trials if key[0] == other]
            if len(local) == 1:
                href = f"#{anchor(*local[0])}"
            else:
                href = links.get(other)
            link = {"label": other, "href": href}
            if link not in shares:
                shares.append(link)
        out["shares_with"] = shares
        records.append(out)
    records.sort(key=lambda r: (r["year"] or "9999", r["study"].lower()))
    return records


def study_links(rows_by_condition: Mapping[str, Iterable[Mapping]]) -> dict[str, str]:
    """Study label → ``{condition}.html#{anchor}`` of the first page that lists it."""
    links: dict[str, str] = {}
    for condition, rows in rows_by_condition.items():
        for row in rows:
            study = _text(row.get("study"))
            if study and study not in links:
                links[study] = f"{condition}.html#{anchor(study, _year(row.get('year')))}"
    return links
