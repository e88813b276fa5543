#!/usr/bin/env bash
# Runs the socket-level test packages N times under -race with CPU burners
# beside them, and prints how often each test passed, so that a flaky test
# is found before it lands.
#
#   scripts/flake.sh [-n RUNS] [-burners K] [-run REGEXP] [PACKAGE ...]
#
# Defaults: 5 runs, 1 burner (a busy loop that keeps one core busy for the
# whole run), the packages that start real servers and clients. It exits 1
# when any test failed at least once, and keeps the output of every run
# in flake-logs/ (go test -json) for reading.
set -euo pipefail
cd "$(dirname "$0")/.."

runs=5
burners=1
run=.
pkgs=()
while (($#)); do
	case "$1" in
	-n) runs="$2"; shift 2 ;;
	-burners) burners="$2"; shift 2 ;;
	-run) run="$2"; shift 2 ;;
	-h | --help) sed -n '2,12p' "$0"; exit 0 ;;
	*) pkgs+=("$1"); shift ;;
	esac
done
if ((${#pkgs[@]} == 0)); then
	pkgs=(. ./internal/testclient/... ./interop/... ./cmd/... ./examples/... ./cluster/... ./revoke/redisrevoke/... ./bench/loadgen/...)
fi

# interop/ and bench/ are Go modules of their own: go test runs once per
# module, in the module's folder, with the package paths made relative to it.
modules=(interop bench)
gotest() {
	local -A group=()
	local p m mod rel status=0
	for p in "${pkgs[@]}"; do
		rel="${p#./}"
		m=.
		for mod in "${modules[@]}"; do
			if [[ "$rel" == "$mod" || "$rel" == "$mod/"* ]]; then
				m="$mod"
				rel="${rel#"$mod"}"
				rel="${rel#/}"
			fi
		done
		group[$m]+=" ./${rel}"
	done
	for m in "${!group[@]}"; do
		# The package list is split into words on purpose.
		# shellcheck disable=SC2086
		(cd "$m" && go test "$@" ${group[$m]}) || status=$?
	done
	return "$status"
}

burner_pids=()
cleanup() {
	for pid in "${burner_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
for ((b = 0; b < burners; b++)); do
	bash -c 'while :; do :; done' &
	burner_pids+=($!)
done

logs=flake-logs
rm -rf "$logs"
mkdir -p "$logs"
results="$logs/results.txt"
: >"$results"
for ((i = 1; i <= runs; i++)); do
	out="$logs/run-$i.log"
	start=$(date +%s)
	status=0
	gotest -race -count=1 -json -timeout 30m -run "$run" >"$out" 2>&1 || status=$?
	echo "flake: run $i/$runs exit $status in $(($(date +%s) - start)) s ($burners burners)"
	# One line per finished test (subtests included): "PASS: package.TestX/sub".
	awk 'match($0, /"Action":"(pass|fail)"/) {
		action = toupper(substr($0, RSTART + 10, 4))
		if (!match($0, /"Test":"[^"]*"/)) next
		test = substr($0, RSTART + 8, RLENGTH - 9)
		match($0, /"Package":"[^"]*"/)
		pkg = substr($0, RSTART + 11, RLENGTH - 12)
		sub(/.*\//, "", pkg)
		print action ":", pkg "." test
	}' "$out" >>"$results"
	if ((status != 0)) && ! grep -q '^FAIL:' "$results"; then
		# A build failure, a panic or a timeout fails the run without a test line.
		echo "FAIL: run-$i(no-test-line)" >>"$results"
	fi
done

echo
echo "passed/runs  test"
awk '{ seen[$2]++; if ($1 == "PASS:") pass[$2]++; else fail[$2]++ }
	END { for (t in seen) printf "%d/%d  %s%s\n", pass[t], seen[t], t, (fail[t] ? "   <- FAILED" : "") }' "$results" | sort -k2
if grep -q '^FAIL:' "$results"; then
	echo "flake: some tests failed; their runs are in $logs/" >&2
	exit 1
fi
echo "flake: every test passed in each of $runs runs"
