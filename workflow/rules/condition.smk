# One job per condition does all of the condition's work in one Python process: it reads
# the condition's rows from the data files, fits every analysis (effects.csv and
# summary.json each), fits the multiverse of its primary analysis (gathering the chunk jobs
# of multiverse.smk when there are any) and writes the condition's page. A job costs a
# process start and the imports of the statistics and plotting stack, more than most of
# this work; one job per condition pays that once.
#
# The job reruns when the condition's data files, the effective configuration of one of
# its analyses, the settings its page or multiverse shows, or the pages that list a trial
# sharing its participants change: all reach it as input or params (the large ones as
# Settings, which Snakemake's records of every output hold as a digest, see
# ketameta.workflow.Settings). Snakemake outputs cannot vary in number with a wildcard, so
# there is one rule per condition.
#
# The conditions with the most work start first (priority_of, common.smk).
for condition in CONDITIONS:

    rule:
        name:
            f"analyse_{condition}"
        input:
            raw=PLAN["raw_files"][condition],
            chunks=[
                staged(f"data/interim/multiverse/{condition}/{start}-{stop}.csv")
                for start, stop in PLAN["multiverse"]["chunks"].get(condition, [])
            ],
        output:
            rows=staged(f"data/interim/{condition}.csv"),
            effects=expand(
                staged("data/processed/{analysis}/effects.csv"),
                analysis=analyses_of(condition),
            ),
            summaries=expand(
                staged("data/processed/{analysis}/summary.json"),
                analysis=analyses_of(condition),
            ),
            multiverse=expand(
                staged("data/processed/multiverse/{condition}.{ext}"),
                condition=[c for c in [condition] if c in MULTIVERSE_PRIMARY],
                ext=["csv", "json"],
            ),
            html=staged(f"reports/{condition}.html"),
        log:
            f"logs/condition/{condition}.log",
        benchmark:
            f"benchmarks/results/condition/{condition}.tsv"
        priority: priority_of(condition)
        conda:
            "../../environment.yml"
        params:
            condition=condition,
            limits=config["limits"],
            analyses=Settings(PLAN["effective"][condition]),
            grade=Settings(PLAN["grade"][condition]),
            multiverse=(
                Settings(MULTIVERSE_PRIMARY[condition])
                if condition in MULTIVERSE_PRIMARY
                else None
            ),
            multiverse_settings=(
                Settings(PLAN["multiverse"]["settings"])
                if condition in MULTIVERSE_PRIMARY
                else None
            ),
            page=Settings(PLAN["pages"][condition]),
            links=PLAN["links"][condition],
            version=VERSION,
        script:
            "../scripts/condition.py"
