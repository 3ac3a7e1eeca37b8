rule ingest:
    input:
        raw=get_raw_files,
    output:
        rows="data/interim/{condition}.csv",
    log:
        "logs/ingest/{condition}.log",
    benchmark:
        "benchmarks/results/ingest/{condition}.tsv"
    conda:
        "../../environment.yml"
    params:
        condition="{condition}",
        version=VERSION,
    script:
        "../scripts/ingest.py"
