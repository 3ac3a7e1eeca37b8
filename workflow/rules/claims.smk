# The claims page: claims from popular articles (config/claims.yaml) beside the pooled
# evidence. The claims file is checked when the workflow is read, so a bad entry stops the
# run with one message before any job starts. The rule reads the claims file, its schema and
# only the results of the conditions the claims name: editing the claims reruns only this
# page, and a data change reruns it with those conditions. A project without a claims file
# has no claims page.
from ketameta.claims import load as load_claims
from ketameta.report.claims import claims_config, used_conditions

CLAIMS_FILE = "config/claims.yaml"
CLAIMS_SCHEMA = str(
    Path(workflow.basedir) / "workflow" / "schemas" / "claims.schema.yaml"
)

CLAIMS = {"articles": {}, "claims": {}}
CLAIMS_TARGETS = []
if Path(CLAIMS_FILE).exists():
    try:
        CLAIMS = load_claims(CLAIMS_FILE, config, CLAIMS_SCHEMA, CLAIMS_FILE)
    except DataError as error:
        sys.exit(str(error))
    CLAIMS_TARGETS = ["data/processed/claims.json", "reports/claims.html"]

CLAIM_ANALYSES = [
    a
    for c in used_conditions(CLAIMS, config)
    if c in CONDITIONS
    for a in analyses_of(c)
]


rule render_claims:
    input:
        claims=CLAIMS_FILE,
        schema=CLAIMS_SCHEMA,
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
    conda:
        "../../environment.yml"
    params:
        config=claims_config(CLAIMS, config, CONDITIONS),
        pages=[f"{c}.html" for c in CONDITIONS],
        version=VERSION,
    script:
        "../scripts/render_claims.py"
