# The floor under the pipeline's clean run (benchmarks/pipeline.sh, part 1): a Snakemake
# workflow with as many jobs as the pipeline's run had, each of which starts Python, imports
# config["imports"] (nothing, or what a job of the pipeline imports) and does no work. Like
# the pipeline, it releases Snakemake's pending timers when the run is over.
#   snakemake -s benchmarks/floor.smk --cores 2 --config jobs=10 imports=numpy,pandas
from ketameta.workflow import release_pending_timers

JOBS = int(config.get("jobs", 10))
IMPORTS = str(config.get("imports") or "").strip()
PYTHON = sys.executable


rule all:
    input:
        expand("floor/{i}.done", i=range(JOBS)),


rule job:
    output:
        touch("floor/{i}.done"),
    params:
        code=f"import {IMPORTS}" if IMPORTS else "pass",
    shell:
        "{PYTHON:q} -c {params.code:q}"


onsuccess:
    release_pending_timers()


onerror:
    release_pending_timers()
