#!/usr/bin/env bash
# The pipeline beside the R script it replaces (benchmarks/r_pipeline.R: the same analyses
# by hand with metafor, one SVG forest() and funnel() per analysis, one page per condition).
# Every run starts in its own temporary copy of config/ and data/ (no outputs), so the
# repository is not touched:
#   1. clean run of the shipped data, pipeline against R, in alternation (BENCH_PAIRS pairs,
#      the order swapped every pair): median wall and CPU (user + sys) time of each side,
#      their ratios, and how many analyses and SVG figures each side produced; the same
#      pipeline run with every job in its own process (KETAMETA_NO_WORKER=1, after each
#      pair: what the warm worker of ketameta.worker saves); beside them
#      the floor: Snakemake running as many jobs as the pipeline's run, each starting Python
#      and doing nothing (benchmarks/floor.smk), then each importing what the pipeline's
#      jobs import (the least a clean run would cost if every job imported the statistics
#      itself, as it does without the warm worker of ketameta.worker), and R loading metafor;
#   2. no-op rerun of the same project, nothing changed (median of BENCH_NOOP runs);
#   3. a synthetic configuration of BENCH_VALIDATE analyses: the time of `snakemake -n`
#      (parse, checks, DAG) and of the parse-time checks alone (benchmarks/resolve.py
#      checks: what workflow/rules/common.smk does when Snakemake reads the workflow);
#   4. scale: synthetic projects (benchmarks/synthetic.py) of each size in BENCH_SCALE, one
#      clean run of each side; wall and CPU time, the marginal cost per analysis between the
#      smallest and the largest size, and peak memory: the largest job (max_rss of the
#      Snakemake benchmark files, or for a job run in the warm worker the peak memory its log
#      ends with, see ketameta.worker), the largest process of the run (/usr/bin/time's %M over
#      snakemake and every job it waited for) and R's;
#   5. with BENCH_SLURM=1, the shipped data through the SLURM profile on a one-node SLURM.
# The R side reads the list of analyses the pipeline fits (benchmarks/resolve.py list,
# written before its clock starts); reading it is part of its timed run.
#
# Usage: benchmarks/pipeline.sh [cores]        (make benchmark; cores default 2)
#        benchmarks/pipeline.sh --help
# Environment (defaults in brackets):
#   BENCH_PAIRS [5]            pairs of clean runs of part 1 (0 skips parts 1 and 2)
#   BENCH_NOOP [5]             no-op reruns of part 2
#   BENCH_VALIDATE [1000]      analyses of the configuration of part 3 (0 skips part 3)
#   BENCH_SCALE ["200 1000"]   sizes of part 4, in analyses ("" skips part 4)
#   BENCH_DATA [repository]    folder whose config/ and data/ parts 1, 2 and 5 use
#   BENCH_OUT [benchmarks/results/pipeline.txt]  where the table is written as well
#   BENCH_SLURM [0]            1 runs part 5
#   BENCH_KEEP [0]             1 keeps the temporary folder and says where it is
#   BENCH_WORK [.ketameta]     the folder the temporary folder is made in
#   SNAKEMAKE, PYTHON_BIN, RSCRIPT   the programs [.venv/bin/snakemake, .venv/bin/python, Rscript]
# A smoke run: BENCH_PAIRS=1 BENCH_NOOP=1 BENCH_VALIDATE=40 BENCH_SCALE="20 40" benchmarks/pipeline.sh
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
name="benchmarks/pipeline.sh"

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }
fail() { # a usage error: one message, the usage line, status 2
  echo "$name: $1" >&2
  echo "usage: $name [cores]   ($name --help explains the options)" >&2
  exit 2
}
positive() { [[ "$1" =~ ^[1-9][0-9]*$ ]]; }

case "${1:-}" in
  -h | --help)
    usage
    exit 0
    ;;
esac
[ $# -le 1 ] || fail "too many arguments: $*"
cores="${1:-2}"
positive "$cores" || fail "cores must be a whole number of at least 1 (got '$cores')"
pairs="${BENCH_PAIRS:-5}"
[ "$pairs" = 0 ] || positive "$pairs" ||
  fail "BENCH_PAIRS must be a whole number (got '$pairs'; 0 skips parts 1 and 2)"
noops="${BENCH_NOOP:-5}"
positive "$noops" || fail "BENCH_NOOP must be a whole number of at least 1 (got '$noops')"
validate="${BENCH_VALIDATE:-1000}"
[ "$validate" = 0 ] || positive "$validate" ||
  fail "BENCH_VALIDATE must be a whole number (got '$validate'; 0 skips part 3)"
read -r -a scale <<<"${BENCH_SCALE-200 1000}"
for n in "${scale[@]}"; do
  positive "$n" || fail "BENCH_SCALE must list whole numbers of analyses, e.g. \"200 1000\" (got '$n')"
done
source_dir="${BENCH_DATA:-$root}"
[ -d "$source_dir/config" ] && [ -d "$source_dir/data" ] ||
  fail "BENCH_DATA=$source_dir has no config/ and data/ folders"
out_file="${BENCH_OUT:-$root/benchmarks/results/pipeline.txt}"
snakemake="${SNAKEMAKE:-$root/.venv/bin/snakemake}"
python="${PYTHON_BIN:-$root/.venv/bin/python}"
rscript="${RSCRIPT:-Rscript}"
timer=/usr/bin/time
for tool in "$snakemake" "$python" "$rscript" "$timer"; do
  command -v "$tool" >/dev/null ||
    fail "$tool not found (make benchmark builds .venv; R, metafor and jsonlite come from r-cran-metafor and r-cran-jsonlite; /usr/bin/time from the time package)"
done

# The package's bytecode and its compiled page templates, as make report writes them before
# a run (see the Makefile).
"$python" -m compileall -q "$root/src/ketameta"
"$python" -c "from ketameta.report.render import precompile_templates as p; p()"

# The runs happen on the filesystem of the project, as `make report`'s do: in a temporary
# folder below .ketameta/ (BENCH_WORK sets another parent). A system's /tmp can be another
# filesystem with other costs; on the machine these figures were first taken on, creating a
# file there took about 1 ms against 0.03 ms in the project's folder (a clean run of the
# pipeline creates about 600 files: staged and published outputs, Snakemake's records; the
# R script about 90).
work_parent="${BENCH_WORK:-$root/.ketameta}"
mkdir -p "$work_parent"
work="$(mktemp -d "$work_parent/bench.XXXXXX")"
if [ "${BENCH_KEEP:-0}" = 1 ]; then
  trap 'echo "$name: the runs are kept in $work" >&2' EXIT
else
  trap 'rm -rf "$work"' EXIT
fi
results="$work/results" # one "key value..." line per measurement
: >"$results"
record() { echo "$*" >>"$results"; }
load_at_start=$(cut -d ' ' -f 1-3 /proc/loadavg)

# What a job of the pipeline imports before it does any work (the floor of part 1): the
# statistics, the page and its figures, and what Snakemake's script preamble needs.
JOB_IMPORTS="snakemake.iocontainers,ketameta.analysis,ketameta.io,ketameta.multiverse,ketameta.report.render,ketameta.report.plots,ketameta.report.robustness"

# ------------------------------------------------------------------------------ helpers

project_copy() { # fresh copy of a project's config/ and data/, no outputs: project_copy FROM TO
  mkdir -p "$2"
  cp -r "$1/config" "$1/data" "$2/"
  rm -rf "$2/data/processed" "$2/data/interim"
}

timed() { # timed KEY DIR COMMAND...: run in DIR, record "KEY wall cpu rss_kib"
  local key="$1" dir="$2"
  shift 2
  if ! (cd "$dir" && "$timer" -f "%e %U %S %M" -o "$dir/time.$key" "$@" \
    >"$dir/log.$key" 2>&1); then
    echo "$name: this failed in $dir: $*" >&2
    tail -n 25 "$dir/log.$key" >&2
    exit 1
  fi
  awk -v key="$key" 'END { printf "%s %.3f %.3f %d\n", key, $1, $2 + $3, $4 }' \
    "$dir/time.$key" >>"$results"
}

pipeline() { # pipeline KEY DIR [snakemake options]: the workflow's default target in DIR,
  # run as `make report` runs it (Snakemake's command line as `python -m ketameta`, which
  # starts the warm worker first; its scheduler; output kept to errors)
  local key="$1" dir="$2"
  shift 2
  timed "$key" "$dir" "$python" -m ketameta -s "$root/Snakefile" --cores "$cores" \
    --scheduler greedy --quiet=all "$@"
}

r_side() { # r_side KEY DIR LIST: the R script on DIR's data, pages to DIR/reports
  timed "$1" "$2" "$rscript" "$root/benchmarks/r_pipeline.R" . "$3" reports
}

count() { # count PATTERN FILES...: occurrences of PATTERN in the files (0 when none)
  local pattern="$1"
  shift
  cat "$@" 2>/dev/null | grep -o -- "$pattern" | wc -l | tr -d ' '
}

pipeline_outputs() { # analyses and SVG figures of a pipeline run in DIR
  local analyses
  analyses=$(find "$1/data/processed" -mindepth 2 -maxdepth 2 -name summary.json | wc -l)
  echo "$analyses $(count '<svg' "$1"/reports/*.html)"
}

r_outputs() { # analyses and SVG figures of an R run in DIR
  echo "$(count '<section class="analysis"' "$1"/reports/*.html) $(count '<svg' "$1"/reports/*.html)"
}

largest_job() { # largest peak memory (MiB) of a job of the run in DIR
  # A job run in the warm worker (ketameta.worker) is measured by Snakemake's benchmark file
  # as its launcher only; the worker writes the peak memory of the process that ran
  # it as the last line of the job's log. The largest of both kinds of figure.
  {
    find "$1/benchmarks/results" -name '*.tsv' -print0 2>/dev/null |
      xargs -0 -r awk -F '\t' '
        FNR == 1 { col = 0; for (i = 1; i <= NF; i++) if ($i == "max_rss") col = i; next }
        col && $col != "NA" { print $col + 0 }'
    find "$1/logs" -name '*.log' -print0 2>/dev/null |
      xargs -0 -r sed -n 's/^ketameta worker: .*peak memory \([0-9.]*\) MiB$/\1/p'
  } | awk '$1 + 0 > max { max = $1 + 0 } END { printf "%.0f", max }'
}

field() { # field KEY N: the Nth value recorded under KEY (1 wall, 2 cpu, 3 rss_kib)
  awk -v key="$1" -v n="$2" '$1 == key { print $(n + 1); exit }' "$results"
}

median() { # median KEY_PREFIX N: median of the Nth value over keys KEY_PREFIX.*
  awk -v prefix="$1." -v n="$2" 'index($1, prefix) == 1 { print $(n + 1) }' "$results" |
    sort -g | awk '{ v[NR] = $1 } END {
      if (NR == 0) { print "nan"; exit }
      if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.0f", k / 1024 }'; }

progress() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# ------------------------------------------------------------------ 1 and 2: shipped data

if [ "$pairs" != 0 ]; then
  project_copy "$source_dir" "$work/shipped"
  "$python" "$root/benchmarks/resolve.py" list "$work/shipped" "$work/shipped.json" >/dev/null
  for i in $(seq 1 "$pairs"); do
    project_copy "$source_dir" "$work/clean/pipeline.$i"
    project_copy "$source_dir" "$work/clean/r.$i"
    if [ $((i % 2)) = 1 ]; then order="pipeline r"; else order="r pipeline"; fi
    for side in $order; do
      progress "clean run $i of $pairs: $side"
      if [ "$side" = pipeline ]; then
        pipeline "clean_pipeline.$i" "$work/clean/pipeline.$i"
      else
        r_side "clean_r.$i" "$work/clean/r.$i" "$work/shipped.json"
      fi
    done
    # the same run with every job in its own process (no warm worker, ketameta.worker)
    project_copy "$source_dir" "$work/clean/alone.$i"
    progress "clean run $i of $pairs: pipeline without the worker"
    KETAMETA_NO_WORKER=1 pipeline "clean_alone.$i" "$work/clean/alone.$i"
  done
  last="$work/clean/pipeline.$pairs"
  read -r clean_analyses clean_svg < <(pipeline_outputs "$last")
  read -r clean_r_analyses clean_r_svg < <(r_outputs "$work/clean/r.$pairs")
  clean_job=$(largest_job "$last")
  # Python processes the clean run started: one per benchmarked job, and publish
  jobs=$(($(find "$last/benchmarks/results" -name '*.tsv' | wc -l) + 1))

  # The floor under both sides: Snakemake running that many jobs that start Python and do
  # nothing, the same with every job importing what the pipeline's jobs import, and R
  # loading metafor.
  for i in $(seq 1 "$pairs"); do
    progress "floor $i of $pairs"
    mkdir -p "$work/floor/empty.$i" "$work/floor/imports.$i"
    timed "floor_empty.$i" "$work/floor/empty.$i" "$snakemake" -s "$root/benchmarks/floor.smk" \
      --cores "$cores" --scheduler greedy --quiet=all --config "jobs=$jobs"
    timed "floor_imports.$i" "$work/floor/imports.$i" "$snakemake" \
      -s "$root/benchmarks/floor.smk" --cores "$cores" --scheduler greedy --quiet=all \
      --config "jobs=$jobs" "imports=$JOB_IMPORTS"
    timed "floor_r.$i" "$work/floor/empty.$i" "$rscript" -e \
      'suppressPackageStartupMessages(library(metafor))'
  done

  touch "$work/before-noop"
  sleep 1 # so that a file written by a rerun is newer by the clock's second, too
  for i in $(seq 1 "$noops"); do
    progress "no-op rerun $i of $noops"
    pipeline "noop.$i" "$last"
  done
  # files a rerun wrote besides Snakemake's own records, this script's logs and job logs
  noop_written=$(find "$last" -type f -newer "$work/before-noop" -not -path "$last/.snakemake/*" \
    -not -path "$last/logs/*" -not -name 'log.*' -not -name 'time.*' | wc -l)
fi

# --------------------------------------------------------------- 3: validation at scale

synthetic() { # synthetic N DIR: a synthetic project of N analyses, its analysis list beside it
  "$python" "$root/benchmarks/synthetic.py" "$2" "$1" >/dev/null
  "$python" "$root/benchmarks/resolve.py" list "$2" "$2.json" >/dev/null
}

if [ "$validate" != 0 ]; then
  progress "validation of a $validate-analysis configuration"
  synthetic "$validate" "$work/validate"
  pipeline validate_dry "$work/validate" -n
  checks=$(cd "$work/validate" && "$python" "$root/benchmarks/resolve.py" checks .)
  check_import=$(awk '$1 == "import" { print $2 }' <<<"$checks")
  check_seconds=$(awk '$1 == "checks" { print $2 }' <<<"$checks")
  check_cpu=$(awk '$1 == "checks_cpu" { print $2 }' <<<"$checks")
fi

# ---------------------------------------------------------------------------- 4: scale

for n in "${scale[@]}"; do
  synthetic "$n" "$work/scale/source.$n"
  project_copy "$work/scale/source.$n" "$work/scale/pipeline.$n"
  project_copy "$work/scale/source.$n" "$work/scale/r.$n"
  progress "scale, $n analyses: pipeline"
  pipeline "scale_pipeline.$n" "$work/scale/pipeline.$n"
  progress "scale, $n analyses: R"
  r_side "scale_r.$n" "$work/scale/r.$n" "$work/scale/source.$n.json"
  read -r a s < <(pipeline_outputs "$work/scale/pipeline.$n")
  read -r ra rs < <(r_outputs "$work/scale/r.$n")
  record "outputs.$n $a $s $ra $rs $(largest_job "$work/scale/pipeline.$n")"
done

# ------------------------------------------------------------------------ 5: SLURM
# The shipped data through the SLURM profile on a one-node SLURM started on this machine by
# tests/slurm/cluster.sh (root and Debian's slurmctld, slurmd, slurm-client and munge; the
# [slurm] extra). A cluster this script started is torn down afterwards.
slurm_line="not run (BENCH_SLURM=1 runs it)"
slurm_run() {
  local cluster="$root/tests/slurm/cluster.sh" started=0 dir="$work/slurm" start end
  if ! "$cluster" status >&2; then
    if ! "$cluster" up >&2; then
      slurm_line="not run (no SLURM here, see above)"
      return
    fi
    started=1
  fi
  project_copy "$source_dir" "$dir"
  local args
  mapfile -t args < <("$python" "$root/tests/slurm/arguments.py")
  start=$(date +%s.%N)
  if ! (cd "$dir" && "$snakemake" -s "$root/Snakefile" --profile "$root/profiles/slurm" \
    "${args[@]}" >"$dir/snakemake.out" 2>&1); then
    echo "$name: snakemake on SLURM failed in $dir:" >&2
    tail -n 20 "$dir/snakemake.out" >&2
    if [ "$started" = 1 ]; then "$cluster" down >&2; fi
    exit 1
  fi
  end=$(date +%s.%N)
  if [ "$started" = 1 ]; then "$cluster" down >&2; fi
  local seconds jobs
  seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1f", b - a }')
  jobs=$(grep -c "has been submitted with SLURM jobid" "$dir/snakemake.out" || true)
  slurm_line=$(awk -v s="$seconds" -v j="$jobs" -v c="$(median clean_pipeline 1)" \
    'BEGIN { printf "%.1f s, %d jobs (scheduler overhead %.1f s over the clean local run)", s, j, s - c }')
}
if [ "${BENCH_SLURM:-0}" = 1 ]; then
  progress "SLURM run"
  slurm_run
fi

# ------------------------------------------------------------------------------ table

versions() {
  local smk r metafor ketameta
  smk=$("$snakemake" --version 2>/dev/null || echo "?")
  ketameta=$("$python" -c "import ketameta; print(ketameta.__version__)" 2>/dev/null || echo "?")
  r=$("$rscript" -e 'cat(paste(R.version$major, R.version$minor, sep = "."), as.character(packageVersion("metafor")))' 2>/dev/null || echo "? ?")
  read -r r metafor <<<"$r"
  echo "snakemake $smk, ketameta $ketameta, R $r, metafor $metafor"
}

table() {
  local pw pc rw rc
  pw=$(median clean_pipeline 1)
  pc=$(median clean_pipeline 2)
  rw=$(median clean_r 1)
  rc=$(median clean_r 2)
  printf 'ketameta pipeline benchmark, %s, %s cores (nproc %s, load average %s at the start)\n' \
    "$(date -u '+%Y-%m-%d %H:%M UTC')" "$cores" "$(nproc)" "$load_at_start"
  printf '%s\n\n' "$(versions)"
  printf '%-54s %12s %12s %8s\n' "" "pipeline" "R script" "ratio"
  if [ "$pairs" = 0 ]; then
    printf '1. clean run, shipped data: not run (BENCH_PAIRS=0)\n'
    printf '2. no-op rerun: not run (BENCH_PAIRS=0)\n'
  else
    printf '1. clean run, shipped data, %d pair(s) in alternation\n' "$pairs"
    printf '%-54s %12s %12s\n' "   analyses" "$clean_analyses" "$clean_r_analyses"
    printf '%-54s %12s %12s\n' "   SVG figures in the pages" "$clean_svg" "$clean_r_svg"
    printf '%-54s %10.2f s %10.2f s %7s×\n' "   wall time, median" "$pw" "$rw" "$(ratio "$pw" "$rw")"
    printf '%-54s %10.2f s %10.2f s %7s×\n' "   CPU time (user + sys), median" "$pc" "$rc" "$(ratio "$pc" "$rc")"
    aw="$(median clean_alone 1)"
    ac="$(median clean_alone 2)"
    printf '%-54s %10.2f s %12s %7s×\n' "   wall time without the warm worker, median" "$aw" "" "$(ratio "$aw" "$rw")"
    printf '%-54s %10.2f s %12s %7s×\n' "   CPU time without the warm worker, median" "$ac" "" "$(ratio "$ac" "$rc")"
    printf '%-54s %8s MiB %8s MiB\n' "   peak RSS, largest process (/usr/bin/time %M)" \
      "$(mib "$(median clean_pipeline 3)")" "$(mib "$(median clean_r 3)")"
    printf '%-54s %8s MiB\n' "   peak RSS, largest job (benchmark, worker log)" "$clean_job"
    printf '%-54s %10.2f s %10.2f s\n' "   floor: $jobs jobs that start Python / R loading metafor" \
      "$(median floor_empty 1)" "$(median floor_r 1)"
    printf '%-54s %10.2f s\n' "   floor without the worker: $jobs jobs importing it all" \
      "$(median floor_imports 1)"
    printf '2. no-op rerun, median of %d\n' "$noops"
    printf '%-54s %10.2f s\n' "   wall time" "$(median noop 1)"
    printf '%-54s %10.2f s\n' "   CPU time (user + sys)" "$(median noop 2)"
    printf '%-54s %12s\n' "   files written (0: nothing was redone)" "$noop_written"
  fi
  if [ "$validate" != 0 ]; then
    printf '3. validation of a %d-analysis configuration\n' "$validate"
    printf '%-54s %10.2f s\n' "   snakemake -n (parse, checks, DAG), wall" "$(field validate_dry 1)"
    printf '%-54s %10.2f s\n' "   snakemake -n, CPU" "$(field validate_dry 2)"
    printf '%-54s %10.2f s\n' "   parse-time checks alone (imports apart), wall" "$check_seconds"
    printf '%-54s %10.2f s\n' "   parse-time checks alone, CPU" "$check_cpu"
    printf '%-54s %10.2f s\n' "   their imports" "$check_import"
  else
    printf '3. validation: not run (BENCH_VALIDATE=0)\n'
  fi
  if [ "${#scale[@]}" -gt 0 ]; then
    printf '4. scale: synthetic projects, one clean run each\n'
    local n first last
    for n in "${scale[@]}"; do
      read -r _ a s ra rs job < <(grep "^outputs.$n " "$results")
      printf '%-54s %12s %12s\n' "   $n analyses: analyses / SVG figures" "$a / $s" "$ra / $rs"
      printf '%-54s %10.2f s %10.2f s %7s×\n' "   $n analyses: wall time" \
        "$(field "scale_pipeline.$n" 1)" "$(field "scale_r.$n" 1)" \
        "$(ratio "$(field "scale_pipeline.$n" 1)" "$(field "scale_r.$n" 1)")"
      printf '%-54s %10.2f s %10.2f s %7s×\n' "   $n analyses: CPU time" \
        "$(field "scale_pipeline.$n" 2)" "$(field "scale_r.$n" 2)" \
        "$(ratio "$(field "scale_pipeline.$n" 2)" "$(field "scale_r.$n" 2)")"
      printf '%-54s %8s MiB %8s MiB\n' "   $n analyses: peak RSS, largest process (time %M)" \
        "$(mib "$(field "scale_pipeline.$n" 3)")" "$(mib "$(field "scale_r.$n" 3)")"
      printf '%-54s %8s MiB\n' "   $n analyses: peak RSS, largest job" "$job"
    done
    first="${scale[0]}"
    last="${scale[${#scale[@]} - 1]}"
    if [ "$first" != "$last" ]; then
      local what col dp dr
      for what in "wall:1" "CPU:2"; do
        col="${what#*:}"
        dp=$(awk -v a="$(field "scale_pipeline.$first" "$col")" \
          -v b="$(field "scale_pipeline.$last" "$col")" 'BEGIN { print b - a }')
        dr=$(awk -v a="$(field "scale_r.$first" "$col")" \
          -v b="$(field "scale_r.$last" "$col")" 'BEGIN { print b - a }')
        printf '%-54s %10.4f s %10.4f s %7s×\n' \
          "   marginal cost per analysis, ${what%:*} (ΔT/$((last - first)))" \
          "$(awk -v d="$dp" -v n=$((last - first)) 'BEGIN { print d / n }')" \
          "$(awk -v d="$dr" -v n=$((last - first)) 'BEGIN { print d / n }')" \
          "$(ratio "$dp" "$dr")"
      done
    fi
  else
    printf '4. scale: not run (BENCH_SCALE is empty)\n'
  fi
  printf '5. SLURM run, shipped data: %s\n' "$slurm_line"
}
mkdir -p "$(dirname "$out_file")"
table | tee "$out_file"
echo "$name: the table is in $out_file" >&2
