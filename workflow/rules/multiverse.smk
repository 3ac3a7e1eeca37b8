# The multiverse of each condition's primary analysis (ketameta.multiverse) is fitted by
# the condition's job (condition.smk). A condition with more than multiverse.chunk_size
# specifications has them fitted in chunk jobs of that size, which that job gathers; each
# chunk job reads the condition's rows from the data files itself.


rule multiverse_chunk:
    input:
        raw=lambda w: PLAN["raw_files"][w.condition],
    output:
        part=temp(staged("data/interim/multiverse/{condition}/{start}-{stop}.csv")),
    log:
        "logs/multiverse/{condition}/{start}-{stop}.log",
    benchmark:
        "benchmarks/results/multiverse/{condition}/{start}-{stop}.tsv"
    wildcard_constraints:
        start=r"\d+",
        stop=r"\d+",
    conda:
        "../../environment.yml"
    params:
        condition=lambda w: w.condition,
        limits=config["limits"],
        analysis=lambda w: Settings(MULTIVERSE_PRIMARY[w.condition]),
        settings=Settings(PLAN["multiverse"]["settings"]),
        start=lambda w: int(w.start),
        stop=lambda w: int(w.stop),
        version=VERSION,
    script:
        "../scripts/multiverse_chunk.py"
