# Reports (docs/contract.md, section 3): one self-contained HTML page per condition and an
# overview page, written to the staging tree like every output. The pages are rendered by
# ketameta.report; the configuration sections a page shows reach the scripts through
# params: (ketameta.report.page_config), so editing a label or a method reruns exactly the
# pages that show it.
from ketameta.report import page_config


rule render_condition:
    input:
        unpack(get_condition_outputs),
    output:
        html=staged("reports/{condition}.html"),
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
            staged("data/processed/{analysis}/summary.json"),
            analysis=[a for c in CONDITIONS for a in analyses_of(c)],
        ),
        effects=expand(
            staged("data/processed/{analysis}/effects.csv"),
            analysis=[a for c in CONDITIONS for a in analyses_of(c)],
        ),
    output:
        html=staged("reports/index.html"),
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
