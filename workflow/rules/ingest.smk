rule ingest:
    input:
        raw=get_raw_files,
    output:
        rows=staged("data/interim/{condition}.csv"),
    log:
        "logs/ingest/{condition}.log",
    benchmark:
        "benchmarks/results/ingest/{condition}.tsv"
    conda:
        "../../environment.yml"
    params:
        condition="{condition}",
        limits=config["limits"],
        version=VERSION,
    script:
        "../scripts/ingest.py"
