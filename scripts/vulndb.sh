#!/usr/bin/env bash
# Builds the Go vulnerability database that make vulncheck reads, without
# reaching vuln.go.dev: the database's source, the golang.org/x/vulndb module
# (its OSV entries under data/osv), comes through the Go module proxy like
# any module, and its own generator (cmd/gendb) writes the database that
# `govulncheck -db file://...` reads into bin/vulndb/ (gitignored).
#
#   scripts/vulndb.sh [VERSION]     (default: latest, the proxy's newest)
#
# It does nothing when bin/vulndb/ was built from that version already.
# gendb reads a git repository (it dates each entry from the history), and a
# module is a plain folder: the script commits a copy to a throwaway
# repository first.
set -euo pipefail
cd "$(dirname "$0")/.."
version="${1:-latest}"
export GOFLAGS= GOWORK=off

info="$(go mod download -json "golang.org/x/vulndb@$version")"
resolved="$(sed -n 's/^[[:space:]]*"Version": "\(.*\)",$/\1/p' <<<"$info")"
src="$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$info")"
if [[ -z "$resolved" || -z "$src" ]]; then
	echo "vulndb: go mod download golang.org/x/vulndb@$version gave no version or folder:" >&2
	echo "$info" >&2
	exit 1
fi
if [[ -f bin/vulndb/VERSION && "$(cat bin/vulndb/VERSION)" == "$resolved" ]]; then
	exit 0
fi
echo "vulndb: building the vulnerability database from golang.org/x/vulndb@$resolved" >&2

tmp="$(mktemp -d)"
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
cp -R "$src" "$tmp/vulndb"
chmod -R u+w "$tmp/vulndb"
git -C "$tmp/vulndb" init -q
git -C "$tmp/vulndb" add -A
git -C "$tmp/vulndb" -c user.name=vulndb -c user.email=vulndb@localhost commit -q -m "golang.org/x/vulndb@$resolved"
(cd "$tmp/vulndb" && go build -o "$tmp/gendb" ./cmd/gendb)
"$tmp/gendb" -repo "$tmp/vulndb" -out "$tmp/db"
echo "$resolved" >"$tmp/db/VERSION"
mkdir -p bin
rm -rf bin/vulndb
mv "$tmp/db" bin/vulndb
echo "vulndb: $(find bin/vulndb/ID -name '*.json' | wc -l) entries in bin/vulndb" >&2
