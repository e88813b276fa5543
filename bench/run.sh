#!/usr/bin/env bash
# The whole benchmark suite in one command, from anywhere in the repository:
#
#   ./bench/run.sh            full run (about 25 minutes): writes BENCHMARKS.md and bench/plots/*.svg
#   ./bench/run.sh -smoke     tiny counts in a minute or two, output in a temporary directory
#
# It builds the Go servers, starts every server itself on 127.0.0.1, and
# needs go and node (with the npm packages of package.json installed).
# Extra flags go to bench/cmd/benchall (-reps, -n, -c, -out, -plots, -only, -soak-n, -soak-for, -tune-reps);
# -only takes parts: handshake, features, keyset, event, hold, scale, tuning, variance, soak, micro, profile.
set -euo pipefail
cd "$(dirname "$0")/.."
cd bench # a module of its own
exec go run ./cmd/benchall -command "./bench/run.sh${*:+ $*}" "$@"
