#!/usr/bin/env bash
# The whole benchmark suite in one command, from anywhere in the repository:
#
#   ./bench/run.sh            full run (about 15 minutes): writes BENCHMARKS.md and bench/plots/*.svg
#   ./bench/run.sh -smoke     tiny counts in under a minute, output in a temporary directory
#
# It builds the Go servers, starts every server itself on 127.0.0.1, and
# needs go and node (with the npm packages of package.json installed).
# Extra flags go to bench/cmd/benchall (-reps, -n, -c, -out, -plots, -only, -soak-n, -soak-for, -tune-reps).
set -euo pipefail
cd "$(dirname "$0")/.."
cd bench # a module of its own
exec go run ./cmd/benchall -command "./bench/run.sh${*:+ $*}" "$@"
