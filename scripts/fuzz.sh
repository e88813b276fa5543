#!/usr/bin/env bash
# Runs every Go fuzz target of the module for a bounded time each.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzztime="${1:-10s}"
count=0
while IFS= read -r file; do
	pkg="./$(dirname "$file")"
	for target in $(grep -oE '^func (Fuzz[A-Za-z0-9_]+)' "$file" | awk '{print $2}'); do
		echo "fuzz: $pkg $target ($fuzztime)"
		go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg"
		count=$((count + 1))
	done
done < <(git ls-files '*_test.go' | xargs grep -l '^func Fuzz')
if ((count == 0)); then
	echo "fuzz: no fuzz targets found" >&2
	exit 1
fi
echo "fuzz: $count targets passed"
