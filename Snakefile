# ketameta: meta-analyses of ketamine and esketamine trials, from data/raw/*.csv to reports/.
# Rules live in workflow/rules/ by stage (ingest, meta, report); all statistics in the
# ketameta package (src/ketameta). What is analysed is set in config/config.yaml only.
from snakemake.utils import min_version

min_version("9.0")


configfile: "config/config.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/ingest.smk"
include: "workflow/rules/meta.smk"
include: "workflow/rules/report.smk"
include: "workflow/rules/claims.smk"


wildcard_constraints:
    condition="|".join(CONDITIONS),


rule all:
    default_target: True
    input:
        "reports/index.html",
        CLAIMS_TARGETS,
        expand("reports/{condition}.html", condition=CONDITIONS),
        expand(
            "data/processed/{analysis}/{output}",
            analysis=config["analyses"],
            output=["effects.csv", "summary.json"],
        ),
