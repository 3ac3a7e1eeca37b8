# The multiverse of each condition's primary analysis (ketameta.multiverse): one job per
# condition, or chunk jobs of multiverse.chunk_size specifications gathered by that job when
# a condition has more. A job reruns when its condition's rows, its primary analysis's
# effective configuration or the multiverse settings change (all reach it as input/params).
from ketameta.multiverse import (
    check_settings,
    n_specifications,
    primary_analyses,
    settings_for,
    specification_chunks,
)

try:
    check_settings(config, CONFIG_PATH)
except DataError as error:
    sys.exit(str(error))

MULTIVERSE_SETTINGS = settings_for(config)
# condition -> effective configuration of its primary analysis
MULTIVERSE_PRIMARY = (
    {
        c: effective_configs(c, config)[a]
        for c, a in primary_analyses(config).items()
        if c in CONDITIONS
    }
    if MULTIVERSE_SETTINGS["enabled"]
    else {}
)
# condition -> (start, stop) of its chunk jobs; empty when one job fits everything
MULTIVERSE_CHUNKS = {}
for _condition, _analysis in MULTIVERSE_PRIMARY.items():
    _n = n_specifications(
        TRIALS[TRIALS["condition"] == _condition], _analysis, MULTIVERSE_SETTINGS
    )
    _size = MULTIVERSE_SETTINGS["chunk_size"]
    MULTIVERSE_CHUNKS[_condition] = (
        specification_chunks(_n, _size) if _n > _size else []
    )


rule multiverse:
    input:
        rows=staged("data/interim/{condition}.csv"),
        chunks=lambda w: [
            staged(f"data/interim/multiverse/{w.condition}/{start}-{stop}.csv")
            for start, stop in MULTIVERSE_CHUNKS[w.condition]
        ],
    output:
        table=staged("data/processed/multiverse/{condition}.csv"),
        summary=staged("data/processed/multiverse/{condition}.json"),
    log:
        "logs/multiverse/{condition}.log",
    benchmark:
        "benchmarks/results/multiverse/{condition}.tsv"
    conda:
        "../../environment.yml"
    params:
        analysis=lambda w: MULTIVERSE_PRIMARY[w.condition],
        settings=MULTIVERSE_SETTINGS,
        version=VERSION,
    script:
        "../scripts/multiverse.py"


rule multiverse_chunk:
    input:
        rows=staged("data/interim/{condition}.csv"),
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
        analysis=lambda w: MULTIVERSE_PRIMARY[w.condition],
        settings=MULTIVERSE_SETTINGS,
        start=lambda w: int(w.start),
        stop=lambda w: int(w.stop),
        version=VERSION,
    script:
        "../scripts/multiverse_chunk.py"
