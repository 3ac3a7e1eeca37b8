# Reports (CONTRACT §3): one self-contained HTML page per condition and an overview page.
# The pages are rendered by ketameta.report; the configuration sections a page shows reach
# the scripts through params: (ketameta.report.page_config), so editing a label or a method
# reruns exactly the pages that show it. Each condition page also reads every condition's
# rows, only to find the page a trial sharing participants with one of its trials is on;
# they are ancient() so that editing one condition's data still reruns only its own page
# (and the overview): the overlaps themselves are declared on both trials' rows.
from ketameta.report import page_config


rule render_condition:
    input:
        rows="data/interim/{condition}.csv",
        all_rows=ancient(expand("data/interim/{condition}.csv", condition=CONDITIONS)),
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
    conda:
        "../../environment.yml"
    params:
        config=lambda w: page_config([w.condition], config),
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
    conda:
        "../../environment.yml"
    params:
        config=page_config(CONDITIONS, config),
        version=VERSION,
    script:
        "../scripts/render_index.py"
