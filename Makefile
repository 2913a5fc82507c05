# Vane: progressive delivery for Kubernetes, Argo Rollouts-compatible.
# `make help` lists the targets.

SHELL := /usr/bin/env bash
.SHELLFLAGS := -euo pipefail -c
GO ?= go
BIN := $(CURDIR)/bin
# Control-plane binaries live in a versioned cache outside the clone (see hack/cluster/bindir.sh).
K8S_BIN := $(shell hack/cluster/bindir.sh)
# Argo Rollouts' controller, kubectl plugin and CRDs, built from the pinned module (hack/tools/argo).
ARGO_BIN := $(shell hack/tools/argo/bindir.sh)
CLUSTER_DIR ?= $(CURDIR)/.cache/cluster
GO_TEST_FLAGS ?=
PKGS := ./...

.PHONY: help
help: ## list the targets
	@awk -F':.*## ' '/^[a-z0-9-]+:.*## /{printf "  %-14s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## build bin/vane
	$(GO) build -o $(BIN)/vane ./cmd/vane

.PHONY: demo
demo: k8s-tools ## the main job: local control plane + controller, colorapi canary 1.0 -> 2.0 -> 3.0 (rolled back by its analysis)
	$(GO) run ./hack/demo $(DEMO_FLAGS)

.PHONY: demo-traffic
demo-traffic: k8s-tools traefik ## the same through Traefik (Gateway API): where 200 requests go at each weight, 3.0 rolled back
	$(GO) run ./hack/demo -traffic $(DEMO_FLAGS)

.PHONY: k8s-tools
k8s-tools: ## build the local control plane's binaries once (cached in ~/.cache/vane)
	@t=$$(date +%s); hack/cluster/install.sh "$(K8S_BIN)"; \
	  echo "timing: control-plane build $$(( $$(date +%s) - t ))s"

.PHONY: traefik
traefik: ## build Traefik (the real-traffic e2e test's gateway) once from Go modules (cached in ~/.cache/vane)
	@t=$$(date +%s); hack/traefik/install.sh; \
	  echo "timing: traefik build $$(( $$(date +%s) - t ))s"

.PHONY: deps
deps: ## install the Debian packages tests use (tmux, prometheus, chromium) when missing
	hack/deps.sh

.PHONY: install
install: ## install vane and kubectl-vane (the kubectl plugin) into $(shell go env GOPATH)/bin
	$(GO) build -o "$$($(GO) env GOPATH)/bin/vane" ./cmd/vane
	ln -sf vane "$$($(GO) env GOPATH)/bin/kubectl-vane"
	@echo "installed vane and kubectl-vane in $$($(GO) env GOPATH)/bin (put it on PATH for 'kubectl vane')"

.PHONY: test
test: k8s-tools traefik argo-tools argo-plugins deps lint ## all tests (after gofmt and go vet): unit and end-to-end against a real local control plane, then make fuzz
	@t=$$(date +%s); VANE_K8S_BIN="$(K8S_BIN)" VANE_ARGO_BIN="$(ARGO_BIN)" $(GO) test -timeout 30m $(GO_TEST_FLAGS) $(PKGS); \
	  echo "timing: tests $$(( $$(date +%s) - t ))s"
	@$(MAKE) --no-print-directory fuzz

# The fuzz targets `make fuzz` runs, as package:Target (docs/testing.md). `go test` runs their
# seed corpora (f.Add and testdata/fuzz) as plain tests too.
FUZZ_TARGETS := \
	./api/v1alpha1:FuzzDecodeStrict ./api/v1alpha1:FuzzRollout ./api/v1alpha1:FuzzAnalysisTemplate \
	./api/flagger/v1beta1:FuzzDecodeStrict \
	./internal/strategy:FuzzCanary ./internal/strategy:FuzzCanaryReplay \
	./internal/strategy:FuzzBlueGreen ./internal/strategy:FuzzBlueGreenReplay \
	./internal/strategy/flagger:FuzzDecide ./internal/strategy/flagger:FuzzReplay \
	./internal/analysis/condition:FuzzEvaluate \
	./internal/analysis:FuzzSubstitute ./internal/analysis:FuzzAssessMetric ./internal/analysis:FuzzNewRun
FUZZTIME ?= 5s

# Each package's test binary is built once, instrumented for fuzzing, and run per target from
# the package's folder (for its testdata) with a corpus cache of its own, so that every run
# starts from the committed seeds and spends FUZZTIME fuzzing. A failing input is written to
# the package's testdata/fuzz/<Target>; `go test -run '<Target>/<file>' <package>` replays it.
# Go 1.26's fuzzing coordinator may end a run with "context deadline exceeded" at -fuzztime
# without any failing input (go.dev/issue/75804, fixed in Go 1.27): that is not a failure.
.PHONY: fuzz
fuzz: ## run each fuzz target for FUZZTIME (default 5s) from its committed seeds; a failing input lands in testdata/fuzz
	@t=$$(date +%s); dir=$$(mktemp -d); trap 'rm -rf "$$dir"' EXIT; \
	for ft in $(FUZZ_TARGETS); do \
	  pkg=$${ft%%:*}; fn=$${ft##*:}; bin="$$dir/$$(echo "$$pkg" | tr -c 'a-zA-Z0-9\n' _).test"; \
	  [ -x "$$bin" ] || $(GO) test -c -vet=off -fuzz . -o "$$bin" "$$pkg"; \
	  out=$$(cd "$$pkg" && "$$bin" -test.run '^$$' -test.fuzz "^$$fn\$$" -test.fuzztime $(FUZZTIME) \
	    -test.fuzzminimizetime 0 -test.fuzzcachedir "$$dir/cache/$$pkg" 2>&1) || { \
	    if grep -q 'context deadline exceeded' <<<"$$out" && ! grep -q 'Failing input written' <<<"$$out"; then \
	      echo "fuzz: $$pkg $$fn: stopped by Go's -fuzztime race (go.dev/issue/75804), no failing input"; continue; fi; \
	    echo "$$out"; echo "fuzz: $$fn in $$pkg failed (the input is in $$pkg/testdata/fuzz/$$fn)"; exit 1; }; \
	  grep -q '^fuzz: elapsed' <<<"$$out" || { echo "$$out"; echo "fuzz: no fuzz target $$fn in $$pkg"; exit 1; }; \
	  echo "fuzz: $$pkg $$fn: $$(grep '^fuzz: elapsed' <<<"$$out" | tail -n 1 | sed 's/^fuzz: //')"; \
	done; echo "timing: fuzz $$(( $$(date +%s) - t ))s"

.PHONY: test-unit
test-unit: ## unit tests only (no control plane: go test -short)
	$(GO) test -short $(GO_TEST_FLAGS) $(PKGS)

.PHONY: test-e2e
test-e2e: k8s-tools traefik argo-tools argo-plugins deps ## end-to-end scenarios in test/e2e
	VANE_K8S_BIN="$(K8S_BIN)" VANE_ARGO_BIN="$(ARGO_BIN)" $(GO) test -timeout 30m $(GO_TEST_FLAGS) ./test/e2e/...

.PHONY: chaos
chaos: k8s-tools ## chaos and overload tests at the issue's sizes: 100 rollouts through random controller kills, 40 through shard replicas joining and dying, 1,000 Rollouts at once (test/e2e/chaos; CI runs them smaller)
	@t=$$(date +%s); VANE_K8S_BIN="$(K8S_BIN)" $(GO) test -count=1 -timeout 60m -v $(GO_TEST_FLAGS) ./test/e2e/chaos \
	  -args -rollouts=100 -leader-rollouts=30 -leader-kills=2 -shard-rollouts=40 -burst=1000 $(CHAOS_FLAGS); \
	  echo "timing: chaos $$(( $$(date +%s) - t ))s"

.PHONY: bench
bench: k8s-tools ## measure the controller at scale: N (200) canary rollouts created, updated, promoted, then N Deployments (prints figures)
	VANE_K8S_BIN="$(K8S_BIN)" $(GO) run ./test/bench/rollouts -n $(or $(N),200) $(BENCH_FLAGS)

.PHONY: cluster-up
cluster-up: k8s-tools ## start a local control plane; kubeconfig in .cache/cluster/kubeconfig
	$(GO) run ./hack/cluster/localcluster up -dir "$(CLUSTER_DIR)" -bin "$(K8S_BIN)"

.PHONY: cluster-down
cluster-down: ## stop the local control plane started by cluster-up
	$(GO) run ./hack/cluster/localcluster down -dir "$(CLUSTER_DIR)"

.PHONY: generate
generate: ## regenerate deepcopy code and CRDs
	hack/generate.sh

.PHONY: verify
verify: generate lint ## fail when generated files are stale, code is unformatted or go.mod untidy
	$(GO) mod tidy
	@git diff --exit-code -- api config go.mod go.sum || \
	  { echo "verify: generated files or go.mod are stale: run 'make generate' and 'go mod tidy', then commit"; exit 1; }

.PHONY: lint
lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

.PHONY: clean
clean: ## remove build outputs (not the control-plane cache)
	rm -rf $(BIN) .cache

.PHONY: argo-golden
argo-golden: ## regenerate testdata/argo/*.json with Argo Rollouts' own code (hash, step hash, replica counts)
	cd hack/tools/argo && GOWORK=off $(GO) run ./golden -repo $(CURDIR)

.PHONY: argo-plugins
argo-plugins: ## build Argo Rollouts' sample plugins (metric, traffic router, step) once from the pinned module (cached in ~/.cache/vane)
	@t=$$(date +%s); hack/tools/argoplugins/install.sh; \
	  echo "timing: argo sample plugins build $$(( $$(date +%s) - t ))s"

.PHONY: argo-tools
argo-tools: ## build Argo Rollouts' controller and kubectl plugin once from the pinned module (cached in ~/.cache/vane)
	@t=$$(date +%s); hack/tools/argo/install.sh; \
	  echo "timing: argo-rollouts build $$(( $$(date +%s) - t ))s"

# --- Shipping: image, install manifests, Helm chart (docs/install.md) ---
# Evaluated only by the targets below (recursive variables).
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
# The commit's time (UTC), so that the same tree gives the same image digest.
BUILD_DATE ?= $(shell TZ=UTC git log -1 --date=format-local:%Y-%m-%dT%H:%M:%SZ --format=%cd 2>/dev/null || date -u +%Y-%m-%dT%H:%M:%SZ)
PLATFORMS ?= linux/amd64,linux/arm64
BASE_IMAGE ?= scratch
LICENSES ?= NOASSERTION
IMAGE_OUT ?= $(CURDIR)/_output/image
IMAGE_NAME ?= vane
REGISTRY ?=

.PHONY: image
image: ## build the OCI image (linux/amd64, linux/arm64) without Docker into _output/image (oci/, vane.oci.tar, digest)
	$(GO) run ./hack/image build -out "$(IMAGE_OUT)" -platforms "$(PLATFORMS)" -base "$(BASE_IMAGE)" \
	  -version "$(VERSION)" -commit "$(COMMIT)" -date "$(BUILD_DATE)" -licenses "$(LICENSES)"

.PHONY: image-push
image-push: ## push the image `make image` built to $(REGISTRY)/vane:$(VERSION) (needs REGISTRY=...)
	@test -n "$(REGISTRY)" || { echo "image-push: set REGISTRY, e.g. make image-push REGISTRY=ghcr.io/you"; exit 1; }
	$(GO) run ./hack/image push -out "$(IMAGE_OUT)" -repo "$(REGISTRY)/$(IMAGE_NAME)" -tag "$(VERSION)"

MANIFESTS_OUT ?= $(CURDIR)/dist
NAMESPACE ?= vane-system

.PHONY: manifests
manifests: ## write dist/install.yaml and dist/namespace-install.yaml from config/ (image pinned by digest after make image)
	$(GO) run ./hack/image manifests -out "$(MANIFESTS_OUT)" -image-dir "$(IMAGE_OUT)" \
	  -repo "$(or $(REGISTRY),ghcr.io/vanedev)/$(IMAGE_NAME)" -version "$(VERSION)" -namespace "$(NAMESPACE)"

HELM_CHART ?= charts/vane
HELM_FLAGS ?=

.PHONY: helm-tool
helm-tool: ## build charts/helmtool (Helm 4 library: template, lint) once into ~/.cache/vane
	@t=$$(date +%s); charts/helmtool/install.sh >/dev/null; echo "timing: helmtool build $$(( $$(date +%s) - t ))s"

.PHONY: chart-lint
chart-lint: helm-tool ## lint charts/vane with the Helm library (as helm lint --strict)
	"$$(charts/helmtool/install.sh 2>/dev/null)" lint -chart $(HELM_CHART) $(HELM_FLAGS)

.PHONY: chart-template
chart-template: helm-tool ## render charts/vane with the Helm library (HELM_FLAGS="-f my-values.yaml -namespace ns")
	@"$$(charts/helmtool/install.sh 2>/dev/null)" template -chart $(HELM_CHART) $(HELM_FLAGS)
