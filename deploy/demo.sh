#!/usr/bin/env bash
# The README's main job, end to end on a fresh Debian machine: system packages, the real model, a
# release build, then pipelines/apo-vs-baseline.yaml with the preset pipelines/presets/demo.yaml
# (the APO game next to its baseline at toy sizes) run by apod with 2 workers, watched until it
# ends, and its report written as one HTML page.
#
#   deploy/demo.sh [DEMO_DIR] [--param name=value ...]
#
# DEMO_DIR (default demo-run/) receives apo.db, the run's artifacts, apod.log and report.html.
# Exit status: the run's (`apoctl watch`: 0 succeeded, 1 failed, 5 cancelled), or the failing step's.
set -euo pipefail
cd "$(dirname "$0")/.."
demo_dir="demo-run"
if [ $# -gt 0 ] && [ "${1#--}" = "$1" ]; then demo_dir="$1"; shift; fi
params=()
while [ $# -gt 0 ]; do
    case "$1" in
        --param) params+=(--param "$2"); shift 2 ;;
        *) echo "usage: deploy/demo.sh [DEMO_DIR] [--param name=value ...]" >&2; exit 2 ;;
    esac
done

deploy/install-deps.sh
deploy/fetch-model.sh
swift build -c release --product apod
swift build -c release --product apoctl
bin="$(swift build -c release --show-bin-path)"

mkdir -p "$demo_dir"
db="$demo_dir/apo.db"
"$bin/apod" --db "$db" --workers 2 2>"$demo_dir/apod.log" &
apod_pid=$!
stop_apod() {
    if kill -0 "$apod_pid" 2>/dev/null; then
        kill -TERM "$apod_pid"
        wait "$apod_pid" || true
    fi
}
trap stop_apod EXIT

run_id="$("$bin/apoctl" submit --db "$db" pipelines/apo-vs-baseline.yaml --params pipelines/presets/demo.yaml \
    "${params[@]+"${params[@]}"}")"
echo "demo: run $run_id submitted (apod pid $apod_pid, log $demo_dir/apod.log)"
start=$(date +%s)
status=0
"$bin/apoctl" watch --db "$db" "$run_id" || status=$?
echo "demo: run $run_id ended with status $status after $(( $(date +%s) - start ))s"

"$bin/apoctl" report --db "$db" "$run_id" --out "$demo_dir/report.html"
"$bin/apoctl" report --db "$db" "$run_id" --format md --out "$demo_dir/report.md"
stop_apod
trap - EXIT
echo "demo: report    $demo_dir/report.html (Markdown: $demo_dir/report.md)"
echo "demo: artifacts under $demo_dir/artifacts/ (list them: $bin/apoctl artifacts --db $db $run_id)"
exit "$status"
