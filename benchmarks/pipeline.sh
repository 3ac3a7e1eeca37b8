#!/usr/bin/env bash
# Time the pipeline, each run in its own temporary copy so that the
# repository's outputs are not touched:
#   1. a clean run of the shipped configuration and data,
#   2. a no-op rerun of it (nothing changed: Snakemake should schedule nothing),
#   3. synthetic data: a run with 4 analyses (one per condition) and a run with 200 analyses
#      (50 per condition, 8 trials each); their difference over 196 analyses is the marginal
#      cost of one analysis. The meta stage's own marginal cost comes from the benchmark
#      files Snakemake writes (benchmarks/results/meta/*.tsv).
# Usage: benchmarks/pipeline.sh [cores]     (make benchmark)
# BENCH_DATA=dir takes config/ and data/ of run 1 from dir instead of the repository.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cores="${1:-2}"
snakemake="${SNAKEMAKE:-$root/.venv/bin/snakemake}"
python="${PYTHON_BIN:-$root/.venv/bin/python}"
work="$(mktemp -d "${TMPDIR:-/tmp}/ketameta-bench.XXXXXX")"
trap 'rm -rf "$work"' EXIT

seconds() { # run snakemake in $1 with the remaining arguments; print the wall time in s
  local dir="$1"
  shift
  local start end
  start=$(date +%s.%N)
  if ! "$snakemake" -s "$root/Snakefile" --cores "$cores" --quiet all "$@" \
    >"$dir/snakemake.out" 2>&1; then
    echo "benchmarks/pipeline.sh: snakemake failed in $dir:" >&2
    tail -n 20 "$dir/snakemake.out" >&2
    exit 1
  fi
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }'
}

meta_seconds() { # sum of the meta stage's wall-clock seconds in a run directory
  awk 'FNR == 2 { total += $1 } END { printf "%.3f", total }' "$1"/benchmarks/results/meta/*.tsv
}

# 1 and 2: the shipped configuration and data
mkdir -p "$work/shipped"
cp -r "${BENCH_DATA:-$root}/config" "${BENCH_DATA:-$root}/data" "$work/shipped/"
rm -rf "$work/shipped/data/processed" "$work/shipped/data/interim"
(cd "$work/shipped" && seconds . >"$work/clean.t")
(cd "$work/shipped" && seconds . >"$work/noop.t")

# 3: synthetic configurations with 4 and 200 analyses
for count in 4 200; do
  dir="$work/synthetic-$count"
  mkdir -p "$dir/config" "$dir/data/raw"
  "$python" - "$dir" "$count" <<'PY'
"""Synthetic trials: 4 conditions, count/4 analyses each, 8 two-arm trials per analysis."""
import sys
from pathlib import Path

import numpy as np

folder, count = Path(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(2024)
conditions = ["C1", "C2", "C3", "C4"]
per = count // len(conditions)
config = ["data_dir: data/raw", "conditions:"]
config += [f"  {c}: {{label: Condition {c}}}" for c in conditions]
config += ["outcomes:", "  severity: {label: Severity, lower_is_better: true}", "analyses:"]
for c in conditions:
    rows = ["study,year,condition,outcome,timepoint,n_treat,mean_treat,sd_treat,n_ctrl,"
            "mean_ctrl,sd_ctrl"]
    for a in range(per):
        timepoint = f"{a + 1}d"
        config.append(f"  {c.lower()}_a{a:03d}: {{condition: {c}, outcome: severity, "
                      f"timepoint: {timepoint}, measure: SMD}}")
        for s in range(8):
            n1, n2 = rng.integers(10, 80, size=2)
            m1, m2 = rng.normal(-12, 3), rng.normal(-8, 3)
            sd1, sd2 = rng.uniform(6, 12, size=2)
            rows.append(f"Trial {s} {c}{a},{2000 + s},{c},severity,{timepoint},{n1},{m1:.2f},"
                        f"{sd1:.2f},{n2},{m2:.2f},{sd2:.2f}")
    (folder / "data" / "raw" / f"{c}.csv").write_text("\n".join(rows) + "\n")
(folder / "config" / "config.yaml").write_text("\n".join(config) + "\n")
PY
  (cd "$dir" && seconds . >"$work/synthetic-$count.t")
done

clean=$(cat "$work/clean.t")
noop=$(cat "$work/noop.t")
small=$(cat "$work/synthetic-4.t")
large=$(cat "$work/synthetic-200.t")
meta_small=$(meta_seconds "$work/synthetic-4")
meta_large=$(meta_seconds "$work/synthetic-200")
analyses=$(grep -c "condition:" "$work/shipped/config/config.yaml" || true)
printf 'cores: %s\n' "$cores"
printf 'clean run, shipped data (%s analyses):   %7.1f s\n' "$analyses" "$clean"
printf 'no-op rerun:                             %7.1f s\n' "$noop"
printf 'synthetic, 4 analyses:                   %7.1f s\n' "$small"
printf 'synthetic, 200 analyses:                 %7.1f s\n' "$large"
per_analysis() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b - a) / 196 }'; }
printf 'marginal cost per analysis, whole run:   %7.3f s\n' "$(per_analysis "$small" "$large")"
printf 'marginal cost per analysis, meta stage:  %7.3f s (meta jobs %s s vs %s s)\n' \
  "$(per_analysis "$meta_small" "$meta_large")" "$meta_large" "$meta_small"

# 4: the scheduler's overhead. The shipped data through the SLURM profile on a one-node
# SLURM started on this machine by tests/slurm/cluster.sh (root and Debian's slurmctld,
# slurmd, slurm-client and munge; the [slurm] extra), to set beside the clean local run.
# Runs when BENCH_SLURM=1; a cluster this script started is torn down afterwards.
slurm_overhead() {
  if [ "${BENCH_SLURM:-0}" != 1 ]; then
    printf 'SLURM run, shipped data:                 not run (BENCH_SLURM=1 runs it)\n'
    return
  fi
  local cluster="$root/tests/slurm/cluster.sh" started=0 dir="$work/slurm" start end
  if ! "$cluster" status; then
    if ! "$cluster" up; then
      printf 'SLURM run, shipped data:                 not run (no SLURM here, see above)\n'
      return
    fi
    started=1
  fi
  mkdir -p "$dir"
  cp -r "${BENCH_DATA:-$root}/config" "${BENCH_DATA:-$root}/data" "$dir/"
  rm -rf "$dir/data/processed" "$dir/data/interim"
  local args
  mapfile -t args < <("$python" "$root/tests/slurm/arguments.py")
  start=$(date +%s.%N)
  if ! (cd "$dir" && "$snakemake" -s "$root/Snakefile" --profile "$root/profiles/slurm" \
    "${args[@]}" all >"$dir/snakemake.out" 2>&1); then
    echo "benchmarks/pipeline.sh: snakemake on SLURM failed in $dir:" >&2
    tail -n 20 "$dir/snakemake.out" >&2
    if [ "$started" = 1 ]; then "$cluster" down; fi
    exit 1
  fi
  end=$(date +%s.%N)
  if [ "$started" = 1 ]; then "$cluster" down; fi
  local seconds jobs
  seconds=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }')
  jobs=$(grep -c "has been submitted with SLURM jobid" "$dir/snakemake.out" || true)
  printf 'SLURM run, shipped data (%2s jobs):       %7.1f s (scheduler overhead %.1f s)\n' \
    "$jobs" "$seconds" "$(awk -v a="$clean" -v b="$seconds" 'BEGIN { print b - a }')"
}
slurm_overhead
