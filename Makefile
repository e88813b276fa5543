# The two commands of the README:
#   make demo   runs the demo server (http://127.0.0.1:3000)
#   make test   runs every test: vet, unit, interop with real clients,
#               browser, cluster, short fuzzing
.PHONY: demo test setup test-setup vet unit fuzz flake bench soak

GO ?= go
FUZZSCALE ?= 1

demo: setup
	$(GO) run ./cmd/socketio-jwt-demo

setup:
	./scripts/setup.sh

test-setup:
	./scripts/setup.sh --tests

test: test-setup vet unit fuzz

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed" >&2; exit 1; }
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 30m ./...

# Every fuzz target, with a budget counted in executions (scripts/fuzz.sh).
fuzz:
	./scripts/fuzz.sh $(FUZZSCALE)

# Not part of `make test`: the socket-level packages RUNS times under -race
# with a CPU burner beside them, and a pass count per test.
RUNS ?= 5
flake: test-setup
	./scripts/flake.sh -n $(RUNS)

# Not part of `make test`: the full benchmark run that writes BENCHMARKS.md.
bench: setup
	./bench/run.sh
