# The overview page (docs/contract.md, section 3), written to the staging tree like every
# output; each condition's page is written by its condition's job (condition.smk). The
# configuration sections the overview shows reach it through params: (computed with
# ketameta.report.page_config when the workflow is read), so editing a label or a method
# reruns it.


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
        config=Settings(PLAN["index_page"]),
        version=VERSION,
    script:
        "../scripts/render_index.py"
