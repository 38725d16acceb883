# A queue of training runs for the table scripts (sourced, not run): PARALLEL workers, each
# pinned to a core of its own, pop the next run as they finish one. A finished run is skipped
# and an interrupted one resumes where it stopped, so rerunning a table script after a stop
# (SIGTERM saves a checkpoint first) loses nothing.
#
#   source "$(dirname "$0")/queue.sh"
#   one_run() { train "$runs/name" "$1" --config=...; }   # $1: the worker's core, or empty
#   run_queue "$runs/.my_queue" one_run "arguments of run 1" "arguments of run 2" ...
#
# Each queued line is the arguments of the run function, before the core.

# Whether WORKDIR holds a finished run: its results.json says so, or, for a run of several
# seeds in one process (train.num_seeds), the results.json of every seed_* folder does; or
# the run was collected already (tools/report --collect): RESULTS_DIR/NAME/results.json says
# finished, RESULTS_DIR being the repository's results/ unless set. Workdirs are not kept
# between machines; the collected results are, so a fresh checkout skips what has landed.
RESULTS_DIR=${RESULTS_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/results}
finished() {  # workdir
  grep -qs '"finished": true' "$RESULTS_DIR/$(basename "$1")/results.json" && return
  if [ -f "$1/results.json" ]; then
    grep -q '"finished": true' "$1/results.json"
    return
  fi
  local seeds=("$1"/seed_*/) seed
  [ -d "${seeds[0]}" ] || return 1
  for seed in "${seeds[@]}"; do grep -qs '"finished": true' "${seed}results.json" || return 1; done
}

# Trains into WORKDIR (log: WORKDIR.log) on core CPU (empty: unpinned), unless finished.
train() {  # workdir cpu main-args...
  local workdir=$1 cpu=$2
  shift 2
  if finished "$workdir"; then
    echo "finished already: $workdir (or its folder in $RESULTS_DIR)"
    return
  fi
  local pin=()
  [ -n "$cpu" ] && pin=(taskset -c "$cpu")
  echo "$(date -u '+%F %T') core ${cpu:-any}: $workdir"
  "${pin[@]}" python -m attn_rl.main "$@" --workdir="$workdir" > "$workdir.log" 2>&1
}

run_queue() {  # queue-file run-function job...
  local queue=$1 fn=$2
  shift 2
  mkdir -p "$(dirname "$queue")"
  printf '%s\n' "$@" > "$queue"
  local parallel=${PARALLEL:-1} w
  if [ "$parallel" -le 1 ]; then
    _queue_worker "$queue" "$fn" ""
    return
  fi
  for ((w = 0; w < parallel; w++)); do _queue_worker "$queue" "$fn" "$w" & done
  wait
}

_queue_worker() {  # queue-file run-function core
  local job
  while job=$(flock "$1.lock" sh -c 'head -n1 "$0"; sed -i 1d "$0"' "$1") && [ -n "$job" ]; do
    # shellcheck disable=SC2086
    "$2" $job "$3" || echo "failed: $job (its log is beside its workdir)" >&2
  done
}

# Collects (tools/report --collect) the workdirs that match the glob PATTERNs, quoted by the
# caller: those trained here; runs collected in an earlier sitting have no workdir and are left.
collect_found() {  # pattern...
  local found=() pattern
  shopt -s nullglob
  # shellcheck disable=SC2206
  for pattern in "$@"; do found+=($pattern); done
  shopt -u nullglob
  [ ${#found[@]} -eq 0 ] || python -m attn_rl.tools.report --collect="$(IFS=,; echo "${found[*]}")"
}
