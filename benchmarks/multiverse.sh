#!/usr/bin/env bash
# What the multiverse adds to a clean run of the shipped configuration and data: two clean
# runs, each in its own temporary copy, one with the multiverse (the shipped configuration)
# and one with `multiverse: {enabled: false}`; their difference is the multiverse's cost.
# Also prints the number of specifications per condition and the multiverse jobs' own
# wall-clock seconds (benchmarks/results/multiverse/*.tsv).
# Usage: benchmarks/multiverse.sh [cores]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cores="${1:-2}"
snakemake="${SNAKEMAKE:-$root/.venv/bin/snakemake}"
python="${PYTHON_BIN:-$root/.venv/bin/python}"
work="$(mktemp -d "${TMPDIR:-/tmp}/ketameta-multiverse.XXXXXX")"
trap 'rm -rf "$work"' EXIT

seconds() { # clean run of snakemake in $1; print the wall time in s
  local dir="$1" start end
  start=$(date +%s.%N)
  if ! (cd "$dir" && "$snakemake" -s "$root/Snakefile" --cores "$cores" --quiet all \
    >snakemake.out 2>&1); then
    echo "benchmarks/multiverse.sh: snakemake failed in $dir:" >&2
    tail -n 20 "$dir/snakemake.out" >&2
    exit 1
  fi
  end=$(date +%s.%N)
  awk -v a="$start" -v b="$end" 'BEGIN { printf "%.3f", b - a }'
}

for variant in with without; do
  mkdir -p "$work/$variant"
  cp -r "$root/config" "$root/data" "$work/$variant/"
  rm -rf "$work/$variant/data/processed" "$work/$variant/data/interim"
done
"$python" - "$work/without/config/config.yaml" <<'PY'
import sys

import yaml

path = sys.argv[1]
config = yaml.safe_load(open(path, encoding="utf-8"))
config.setdefault("multiverse", {})["enabled"] = False
open(path, "w", encoding="utf-8").write(yaml.safe_dump(config, sort_keys=False))
PY
without=$(seconds "$work/without")
with=$(seconds "$work/with")
jobs=$(awk 'FNR == 2 { total += $1 } END { printf "%.1f", total }' \
  "$work/with"/benchmarks/results/multiverse/*.tsv)
cpu() { # CPU seconds of a run's jobs (the cpu_time column of Snakemake's benchmark files)
  find "$1/benchmarks/results" -name '*.tsv' -exec awk 'FNR == 2 { print $10 }' {} + |
    awk '{ total += $1 } END { printf "%.1f", total }'
}
cpu_with=$(cpu "$work/with")
cpu_without=$(cpu "$work/without")
printf 'cores: %s\n' "$cores"
"$python" - "$work/with"/data/processed/multiverse/*.json <<'PY'
import json
import sys

for path in sys.argv[1:]:
    s = json.load(open(path, encoding="utf-8"))
    m = s["multiverse"]
    print(f"  {s['condition']:<12} {s['analysis']:<24} {m['n_specifications']:>7,} "
          f"specifications, {m['n_fitted']:>6,} fitted")
PY
printf 'clean run without the multiverse: %7.1f s\n' "$without"
printf 'clean run with the multiverse:    %7.1f s\n' "$with"
printf 'the multiverse adds:              %7.1f s (its jobs: %s s of wall-clock time)\n' \
  "$(awk -v a="$without" -v b="$with" 'BEGIN { printf "%.1f", b - a }')" "$jobs"
# on a busy machine wall-clock time says little; the jobs' CPU time does not depend on load
printf 'CPU time of all jobs: %s s with, %s s without the multiverse (+%s s)\n' \
  "$cpu_with" "$cpu_without" "$(awk -v a="$cpu_without" -v b="$cpu_with" 'BEGIN { printf "%.1f", b - a }')"
