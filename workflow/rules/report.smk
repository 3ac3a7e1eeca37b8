# Reports (CONTRACT §3): one self-contained HTML page per condition and an overview page.
# The pages are rendered by ketameta.report; the configuration sections a page shows reach
# the scripts through params:, so editing a label or a method reruns the pages it affects.


def report_config(conditions):
    """The configuration sections the pages of ``conditions`` depend on (and nothing else)."""
    analyses = {
        a: entry
        for a, entry in config["analyses"].items()
        if entry["condition"] in conditions
    }
    outcomes = sorted({entry["outcome"] for entry in analyses.values()})
    return {
        "profile": config.get("profile", "cochrane"),
        "conditions": {c: config["conditions"][c] for c in conditions},
        "outcomes": {o: config["outcomes"][o] for o in outcomes},
        "analyses": analyses,
    }


rule render_condition:
    input:
        summaries=lambda w: expand(
            "data/processed/{analysis}/summary.json", analysis=analyses_of(w.condition)
        ),
        effects=lambda w: expand(
            "data/processed/{analysis}/effects.csv", analysis=analyses_of(w.condition)
        ),
    output:
        html="reports/{condition}.html",
    log:
        "logs/report/{condition}.log",
    benchmark:
        "benchmarks/results/report/{condition}.tsv"
    params:
        config=lambda w: report_config([w.condition]),
        version=VERSION,
    script:
        "../scripts/render_condition.py"


rule render_index:
    input:
        summaries=expand(
            "data/processed/{analysis}/summary.json",
            analysis=[a for c in CONDITIONS for a in analyses_of(c)],
        ),
        effects=expand(
            "data/processed/{analysis}/effects.csv",
            analysis=[a for c in CONDITIONS for a in analyses_of(c)],
        ),
    output:
        html="reports/index.html",
    log:
        "logs/report/index.log",
    benchmark:
        "benchmarks/results/report/index.tsv"
    params:
        config=report_config(CONDITIONS),
        version=VERSION,
    script:
        "../scripts/render_index.py"
