# The claims page: claims from popular articles (config/claims.yaml) beside the pooled
# evidence. The claims file is checked when the workflow is read (ketameta.workflow), so a
# bad entry stops the run with one message before any job starts, and the job takes the
# claims as checked then (params). The rule reads the claims file, its schema and only the
# results of the conditions the claims name: editing the claims reruns only this page, and
# a data change reruns it with those conditions. A project without a claims file has no
# claims page.
CLAIM_ANALYSES = PLAN["claims"]["analyses"]


rule render_claims:
    input:
        claims=CLAIMS_FILE,
        schema=str(SCHEMAS / "claims.schema.yaml"),
        summaries=expand(
            staged("data/processed/{analysis}/summary.json"), analysis=CLAIM_ANALYSES
        ),
        effects=expand(
            staged("data/processed/{analysis}/effects.csv"), analysis=CLAIM_ANALYSES
        ),
    output:
        json=staged("data/processed/claims.json"),
        html=staged("reports/claims.html"),
    log:
        "logs/report/claims.log",
    benchmark:
        "benchmarks/results/report/claims.tsv"
    priority: CLAIMS_PRIORITY
    conda:
        "../../environment.yml"
    params:
        config=Settings(PLAN["claims"]["config"]),
        claims=Settings(PLAN["claims"]["claims"]),
        pages=[f"{c}.html" for c in CONDITIONS],
        version=VERSION,
    script:
        "../scripts/render_claims.py"
