#!/usr/bin/env bash
# Checks that the library module carries none of the repository's tooling
# into the modules of its users, as a user would see it: a throwaway module
# in a temporary folder imports every library package of the checkout (a
# `replace` to it), `go mod tidy` resolves it through the module proxy, and
# the check fails when
#
#   - `go mod graph` holds a tooling module: the benchmark's or the interop
#     suite's module, or a module only they need (the load generator's
#     websocket client);
#   - `go list -deps` of the user's program holds a tooling package: the
#     harness, the benchmark, the examples, the demo, a socket.io client, a
#     test helper, or the standard library's `testing`.
#
#   scripts/modcheck.sh [CHECKOUT]     (default: this repository)
#
# github.com/gorilla/websocket is not tooling: the server library itself
# (github.com/zishang520/socket.io/v3/pkg/types) serves websockets with it.
set -euo pipefail
root="$(cd "${1:-$(dirname "$0")/..}" && pwd)"
lib=github.com/siojwt/siojwt

# Tooling modules: none may appear in the user's module graph.
forbidden_modules=(
	"$lib/bench"
	"$lib/interop"
	"$lib/examples"
	github.com/coder/websocket
)
# Tooling packages (regular expressions on import paths): none may be
# compiled into the user's program.
forbidden_packages=(
	"^$lib/(bench|interop|examples|cmd)(/|\$)"
	"^$lib/internal/(leakcheck|redistest|syncbuf)"
	'^github\.com/zishang520/socket\.io/clients/'
	'^github\.com/coder/websocket'
	'^go\.uber\.org/goleak'
	'^testing$'
)

# The library's packages: every package of the root module but main
# packages and internal ones (which a user cannot import).
mapfile -t pkgs < <(cd "$root" && GOWORK=off go list -f '{{if ne .Name "main"}}{{.ImportPath}}{{end}}' ./... | grep -v "^$lib/internal\(/\|\$\)" | grep .)
if ((${#pkgs[@]} == 0)); then
	echo "modcheck: no library packages found in $root" >&2
	exit 1
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"
cat >go.mod <<EOF
module example.com/user

go 1.26.0

require $lib v0.0.0

replace $lib => $root
EOF
{
	echo "// A user of every library package."
	echo "package main"
	echo
	echo "import ("
	for p in "${pkgs[@]}"; do echo "	_ \"$p\""; done
	echo ")"
	echo
	echo "func main() {}"
} >main.go
export GOWORK=off GOFLAGS=
go mod tidy
go mod graph >graph.txt
go list -deps . >deps.txt

fail=0
for m in "${forbidden_modules[@]}"; do
	# A graph line is "from to" with versions as @vX; the module path is what precedes the @.
	if hits=$(tr ' ' '\n' <graph.txt | sed 's/@.*//' | grep -Fx -- "$m"); then
		echo "modcheck: the module graph of a user holds $m:" >&2
		grep -F -- "$m" graph.txt | head -5 | sed 's/^/  /' >&2
		fail=1
	fi
done
for re in "${forbidden_packages[@]}"; do
	if hits=$(grep -E -- "$re" deps.txt); then
		echo "modcheck: a user's program compiles tooling ($re):" >&2
		echo "$hits" | head -5 | sed 's/^/  /' >&2
		fail=1
	fi
done
if ((fail)); then
	echo "modcheck: the library module carries tooling into its users' modules (checked with ${#pkgs[@]} library packages)" >&2
	exit 1
fi
echo "modcheck: ${#pkgs[@]} library packages, $(sort -u <(tr ' ' '\n' <graph.txt | sed 's/@.*//') | wc -l) modules in a user's graph, $(wc -l <deps.txt) packages compiled: no tooling"
