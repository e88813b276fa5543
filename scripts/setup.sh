#!/usr/bin/env bash
# Installs what the tests and the demo need on a fresh Debian machine:
# the Node packages from the lockfile and, for the tests, redis-server and
# Chromium from Debian, and staticcheck, govulncheck and its vulnerability
# database (built by scripts/vulndb.sh) from the Go module proxy into bin/.
# It fails (never skips) when something is missing and cannot be installed.
set -euo pipefail
cd "$(dirname "$0")/.."

need_debian=()
if [[ "${1:-}" == "--tests" ]]; then
	command -v redis-server >/dev/null || need_debian+=(redis-server)
	[[ -x /usr/bin/chromium ]] || need_debian+=(chromium)
fi
if ((${#need_debian[@]})); then
	if [[ $(id -u) -ne 0 ]]; then
		echo "setup: missing ${need_debian[*]}; install them: sudo apt-get install -y ${need_debian[*]}" >&2
		exit 1
	fi
	echo "setup: installing ${need_debian[*]}" >&2
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_debian[@]}" >/dev/null
fi

for tool in go node npm; do
	command -v "$tool" >/dev/null || { echo "setup: $tool is required" >&2; exit 1; }
done

# The linters, at the versions make lint and make vulncheck are written for,
# in bin/ (gitignored).
staticcheck_version=v0.8.2
govulncheck_version=v1.9.0
if [[ "${1:-}" == "--tests" ]]; then
	if ! bin/staticcheck -version 2>/dev/null | grep -qF "(${staticcheck_version#v})"; then
		echo "setup: installing staticcheck $staticcheck_version in bin/" >&2
		GOFLAGS= GOBIN="$PWD/bin" go install "honnef.co/go/tools/cmd/staticcheck@$staticcheck_version"
	fi
	if ! bin/govulncheck -version 2>/dev/null | grep -qF "govulncheck@$govulncheck_version"; then
		echo "setup: installing govulncheck $govulncheck_version in bin/" >&2
		GOFLAGS= GOBIN="$PWD/bin" go install "golang.org/x/vuln/cmd/govulncheck@$govulncheck_version"
	fi
	./scripts/vulndb.sh
fi

# npm ci runs unless node_modules already matches the lockfile.
if [[ ! -f node_modules/.package-lock.json || package-lock.json -nt node_modules/.package-lock.json ]]; then
	npm ci --no-audit --no-fund --loglevel=error
fi
