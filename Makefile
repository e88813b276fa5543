# The two commands of the README:
#   make demo   runs the demo server (http://127.0.0.1:3000)
#   make test   runs every test: vet, linters, the module check, unit,
#               interop with real clients, browser, cluster, short fuzzing
.PHONY: demo test setup test-setup vet lint vulncheck modcheck unit fuzz flake bench soak

GO ?= go
# Build and test with the toolchain the go.mod files name (a patched Go
# 1.26, fetched through the module proxy when it is not installed), whatever
# the machine's default: govulncheck judges the standard library of the
# toolchain that runs it.
export GOTOOLCHAIN = auto
FUZZSCALE ?= 1
# The repository's Go modules: the library at the root, and the interop
# suite and the benchmark in modules of their own (a replace to the library),
# so that their dependencies stay out of the library's users' modules. Each is
# built and tested on its own, as a user would build it (no go.work).
MODULES := . interop bench
# Runs a command in every module, stopping at the first that fails.
each = set -e; for m in $(MODULES); do echo "== $$m: $(1)"; (cd $$m && $(1)); done

demo: setup
	$(GO) run ./cmd/socketio-jwt-demo

setup:
	./scripts/setup.sh

test-setup:
	./scripts/setup.sh --tests

test: test-setup vet lint vulncheck modcheck unit fuzz

# gofmt, go.mod and go.sum tidy, go vet, in every module.
vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed" >&2; exit 1; }
	@$(call each,$(GO) mod tidy -diff)
	@$(call each,$(GO) vet ./...)

# staticcheck (installed in bin/ by scripts/setup.sh --tests) in every module.
lint:
	@$(call each,$(CURDIR)/bin/staticcheck ./...)

# govulncheck in every module, against the database scripts/vulndb.sh built
# in bin/vulndb from the golang.org/x/vulndb module (no vuln.go.dev needed).
vulncheck:
	@$(call each,$(CURDIR)/bin/govulncheck -db file://$(CURDIR)/bin/vulndb ./...)

# A module outside the repository that imports every library package has no
# tooling in its module graph or its build (scripts/modcheck.sh).
modcheck:
	./scripts/modcheck.sh

unit:
	@$(call each,$(GO) test -race -count=1 -timeout 30m ./...)

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
