# One job per condition fits all of its analyses in one Python process. Snakemake outputs
# cannot vary in number with a wildcard, so there is one rule per condition.
for condition in CONDITIONS:

    rule:
        name:
            f"meta_{condition}"
        input:
            rows=staged(f"data/interim/{condition}.csv"),
        output:
            effects=expand(
                staged("data/processed/{analysis}/effects.csv"),
                analysis=analyses_of(condition),
            ),
            summaries=expand(
                staged("data/processed/{analysis}/summary.json"),
                analysis=analyses_of(condition),
            ),
        log:
            f"logs/meta/{condition}.log",
        benchmark:
            f"benchmarks/results/meta/{condition}.tsv"
        conda:
            "../../environment.yml"
        params:
            analyses=effective_configs(condition, config),
            version=VERSION,
        script:
            "../scripts/meta.py"
