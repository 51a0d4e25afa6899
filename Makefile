# Liaison — developer entry points. `make test` is the one CI runs.
SHELL := /bin/bash
GO    ?= go
STATE := $(CURDIR)/.cache/devstack/run

.PHONY: all build test test-unit lint bench devstack-install devstack-up devstack-down clean

all: build

build: ## the liaison binary in ./bin
	$(GO) build -trimpath -o bin/liaison ./cmd/liaison

test: ## everything: builds (once, cached) and starts real MinIO + Vault, runs all tests with integration required, stops them
	@bash deploy/devstack/test.sh

test-unit: ## quick: no servers; integration tests skip with a message
	$(GO) test ./...

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

bench: ## benchmarks against the real stack (see docs/benchmarks.md)
	@LIAISON_BENCH=1 bash deploy/devstack/test.sh bench

devstack-install: ## build the MinIO and Vault binaries into the cache
	bash deploy/devstack/devstack.sh install

devstack-up: ## start MinIO + Vault for manual use; prints the environment to export
	bash deploy/devstack/devstack.sh up $(STATE)

devstack-down: ## stop them
	bash deploy/devstack/devstack.sh down $(STATE)

clean:
	rm -rf bin .cache/devstack/run
