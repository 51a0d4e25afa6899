# Liaison — developer entry points. `make test` is the one CI runs.
SHELL := /bin/bash
GO    ?= go
STATE := $(CURDIR)/.cache/devstack/run

.PHONY: all build test test-unit lint bench decide-diff devstack-install devstack-up devstack-down clean
.PHONY: image package-check console-screenshots

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

N ?= 100000
decide-diff: ## the differential corpus in full (issue 15): N generated inputs + the golden ones, engine path vs reference evaluation
	$(GO) test -count=1 -timeout 2h -run '^TestDecideDifferential$$' ./policy -diff-n $(N) -v

devstack-install: ## build the MinIO and Vault servers and the helm and promtool checkers into the cache
	bash deploy/devstack/devstack.sh install

devstack-up: ## start MinIO + Vault for manual use; prints the environment to export
	bash deploy/devstack/devstack.sh up $(STATE)

devstack-down: ## stop them
	bash deploy/devstack/devstack.sh down $(STATE)

image: ## the container image as an OCI layout tarball, bin/liaison-image.tar (no Docker daemon; see docs/packaging.md)
	$(GO) run ./deploy/image -o bin/liaison-image.tar

package-check: ## the packaging checks alone: helm lint/template + k8s API types, image, Dockerfile, compose, systemd
	bash deploy/devstack/devstack.sh install
	LIAISON_TEST_HELM_BIN=$$(bash deploy/devstack/devstack.sh helm-bin) LIAISON_INTEGRATION=required $(GO) test -count=1 ./deploy/packaging/ ./deploy/image/

console-screenshots: ## regenerate docs/console/*.png: the console's views at 1280x800, taken by its browser tests
	@eval "$$(bash deploy/devstack/devstack.sh browser)" && \
	  LIAISON_INTEGRATION=required LIAISON_CONSOLE_SCREENSHOTS=$(CURDIR)/docs/console \
	  $(GO) test -count=1 -run 'TestBrowserConsole$$' ./gateway/console/

clean:
	rm -rf bin .cache/devstack/run
