#!/bin/bash
# Submits a sweep as a Slurm job array of SHARDS tasks and a merge job that runs when every
# task succeeded; prints the two job ids.
#   examples/slurm/submit.sh SWEEP.toml OUT_DIR SHARDS [extra sbatch options...]
set -euo pipefail
if [ $# -lt 3 ]; then
  echo "usage: $0 SWEEP.toml OUT_DIR SHARDS [sbatch options...]" >&2
  exit 2
fi
sweep=$1 out=$2 shards=$3
shift 3
here=$(cd "$(dirname "$0")" && pwd)
array=$(sbatch --parsable "$@" --array="0-$((shards - 1))" \
  --export="ALL,SWEEP=$sweep,OUT=$out" "$here/sweep.sbatch")
array=${array%%;*}
merge=$(sbatch --parsable "$@" --dependency="afterok:$array" \
  --export="ALL,SWEEP=$sweep,OUT=$out,MERGE=1" "$here/sweep.sbatch")
echo "$array ${merge%%;*}"
