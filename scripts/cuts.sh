#!/bin/sh
# Counts what real socket.io-client 4.8.4 sockets see when the server cuts
# them (expiry, revocation, demo logout, post-connect timeout, failed
# refresh), N sockets per kind (default 1000), with two CPU burners running
# beside the run: interop TestCutReasons, which fails unless every socket
# saw "io server disconnect", after "unauthorized" where the wire contract
# sends one. Needs node and `npm ci`. TRANSPORT is websocket (the default)
# or polling (long-polling only).
#
#   scripts/cuts.sh [N] [BURNERS] [TRANSPORT]
set -eu
cd "$(dirname "$0")/.."
n=${1:-1000}
burners=${2:-2}
transport=${3:-websocket}
pids=""
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM
i=0
while [ "$i" -lt "$burners" ]; do
	sh -c 'while :; do :; done' &
	pids="$pids $!"
	i=$((i + 1))
done
echo "cutting $n $transport sockets per kind with $burners CPU burners"
cd interop && SIOJWT_CUTS=$n SIOJWT_CUTS_TRANSPORT=$transport go test -count=1 -timeout 60m -run '^TestCutReasons$' -v .
