#!/usr/bin/env bash
# Runs every Go fuzz target of the repository (every module) with a budget
# counted in executions, not seconds.
#
#   scripts/fuzz.sh [SCALE]
#
# Why counts: with a duration budget (-fuzztime 10s) Go 1.26's fuzz
# coordinator races its own deadline when the machine is starved of CPU and
# fails with "context deadline exceeded" although nothing was found
# (go.dev/issue/75804, fixed in Go 1.27). A count budget (-fuzztime Nx) has
# no deadline to race, so the run fails only on a finding. A finding is
# written by go test under the package's testdata/fuzz/<Target>/, where it
# stays as a regression input once committed.
#
# Each target's count is sized to about 10 s on an idle 2-core machine
# (measured rates below); SCALE multiplies every count (default 1, e.g. 0.1
# for a quick pass, 10 for a long one). -timeout bounds a run that stalls.
set -euo pipefail
cd "$(dirname "$0")/.."
scale="${1:-1}"

# Executions per target. Rates seen on a 2-core machine, idle and loaded:
# FuzzVerify 10-20 k/s, FuzzExtract 15-30 k/s, FuzzParseMatchesGolangJWT
# 30-60 k/s, FuzzReadRegistered 20-40 k/s, FuzzLoad 15-30 k/s.
declare -A budget=(
	[FuzzVerify]=150000
	[FuzzExtract]=200000
	[FuzzParseMatchesGolangJWT]=400000
	[FuzzReadRegistered]=300000
	[FuzzLoad]=200000
)
default_budget=150000

count=0
while IFS= read -r file; do
	pkg="./$(dirname "$file")"
	# go test runs in the package's folder, so that it uses the module the
	# package belongs to (interop/ and bench/ are modules of their own).
	for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$file" | awk '{print $2}'); do
		n="${budget[$target]:-$default_budget}"
		n=$(awk -v n="$n" -v s="$scale" 'BEGIN { v = int(n * s); print (v < 1 ? 1 : v) }')
		echo "fuzz: $pkg $target (${n}x)"
		start=$(date +%s)
		if ! (cd "$pkg" && go test -run '^$' -fuzz "^${target}\$" -fuzztime "${n}x" -timeout 10m .); then
			echo "fuzz: $pkg $target failed; a finding is kept in $pkg/testdata/fuzz/$target/ (commit it with the fix)" >&2
			exit 1
		fi
		echo "fuzz: $target: $n executions in $(($(date +%s) - start)) s"
		count=$((count + 1))
	done
done < <(git ls-files '*_test.go' | xargs grep -l '^func Fuzz')
if ((count == 0)); then
	echo "fuzz: no fuzz targets found" >&2
	exit 1
fi
echo "fuzz: $count targets passed"
