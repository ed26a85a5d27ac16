# vaultferry Makefile. Every tool is pinned and installed into ./bin on first use.
SHELL := /usr/bin/env bash

## Pinned versions
CONTROLLER_TOOLS_VERSION ?= v0.21.0
GOLANGCI_LINT_VERSION    ?= v2.15.0
HELM_VERSION             ?= v3.19.0
# The kube-apiserver/kubectl release is pinned in hack/tools/kube/go.mod (k8s.io/kubernetes v1.37.2),
# the Vault release in hack/tools/vault/go.mod (github.com/hashicorp/vault v1.14.2).

BIN        := $(CURDIR)/bin
export KUBEBUILDER_ASSETS ?= $(BIN)/k8s
export PATH := $(BIN):$(PATH)
CONTROLLER_GEN := $(BIN)/controller-gen
GOLANGCI_LINT  := $(BIN)/golangci-lint
HELM           := $(BIN)/helm
VAULT          := $(BIN)/vault
# -p 3: the envtest and end-to-end packages mostly wait (for real lease TTLs,
# for the API server), so three at a time on 2 cores finish sooner; their
# tests wait for states, and pass beside two CPU burners.
GO_TEST_FLAGS  ?= -race -count=1 -p 3

## Release identity, stamped into the binary (vaultferry --version) and the image.
# The image name lives here only: make image, make push-image and the release workflow use it.
IMAGE      ?= ghcr.io/vaultferry/vaultferry
VERSION    ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT     ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
# The commit's date, so that the same commit builds the same image.
BUILD_DATE ?= $(shell TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo 1970-01-01T00:00:00Z)
LDFLAGS    := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(BUILD_DATE)
TEST_TIMEOUT   ?= 25m

.PHONY: all
all: build

##@ General

.PHONY: help
help: ## Show this help.
	@awk 'BEGIN {FS = ":.*##"; printf "\nUsage:\n  make \033[36m<target>\033[0m\n"} /^[a-zA-Z_0-9-]+:.*?##/ { printf "  \033[36m%-18s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) } ' $(MAKEFILE_LIST)

##@ Development

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Generate deepcopy code.
	$(CONTROLLER_GEN) object:headerFile=test/boilerplate.go.txt paths=./apis/...

.PHONY: manifests
manifests: $(CONTROLLER_GEN) ## Generate CRDs and RBAC, and copy the CRDs into the chart.
	$(CONTROLLER_GEN) crd:allowDangerousTypes=false paths=./apis/... output:crd:artifacts:config=config/crd/bases
	$(CONTROLLER_GEN) rbac:roleName=vaultferry-manager paths=./controllers/... paths=./cmd/... output:rbac:artifacts:config=config/rbac
	mkdir -p charts/vaultferry/crds charts/vaultferry/files
	cp config/crd/bases/*.yaml charts/vaultferry/crds/
	cp config/rbac/role.yaml charts/vaultferry/files/role.yaml
	cp config/admission/stable-references.yaml charts/vaultferry/files/stable-references.yaml

.PHONY: verify
verify: generate manifests dashboard ## Regenerate everything and fail if generated files were stale.
	@git diff --exit-code -- apis config charts/vaultferry/crds charts/vaultferry/files/role.yaml charts/vaultferry/files/stable-references.yaml charts/vaultferry/dashboards || { echo "generated files are stale: run 'make generate manifests' and commit"; exit 1; }

.PHONY: dashboard
dashboard: ## Generate the Grafana dashboard (charts/vaultferry/dashboards/vaultferry.json) from hack/dashboard.
	go run ./hack/dashboard charts/vaultferry/dashboards/vaultferry.json

.PHONY: fmt
fmt: ## Run gofmt.
	gofmt -l -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## Run go vet.
	go vet ./...

.PHONY: lint
lint: $(GOLANGCI_LINT) ## Run golangci-lint (includes gofmt and vet checks).
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	go vet ./...
	$(GOLANGCI_LINT) run --allow-serial-runners ./...

.PHONY: lint-fix
lint-fix: $(GOLANGCI_LINT) ## Run golangci-lint and fix what it can.
	$(GOLANGCI_LINT) run --fix ./...

##@ Test

.PHONY: test
test: verify lint test-peers ## Every test: generated files, lint, unit, envtest and end-to-end suites, a short fuzz run.
	go test $(GO_TEST_FLAGS) -timeout $(TEST_TIMEOUT) ./...
	$(MAKE) fuzz FUZZ_TIME=20000x

# FUZZ_TIME is an execution count: a duration makes Go 1.26's fuzz coordinator
# fail now and then with "context deadline exceeded" and no crasher when the
# time runs out (golang/go#75804, fixed in Go 1.27).
FUZZ_TIME ?= 200000x
.PHONY: fuzz
fuzz: ## Fuzz the template renderer and its function library, property extraction, the allowedKeys matcher and the converter's parser (FUZZ_TIME executions each; corpus in testdata/fuzz).
	go test -short -run '^$$' -fuzz FuzzRender -fuzztime $(FUZZ_TIME) ./controllers/internal/render
	go test -short -run '^$$' -fuzz FuzzLibrary -fuzztime $(FUZZ_TIME) ./controllers/internal/render
	go test -short -run '^$$' -fuzz FuzzProperty -fuzztime $(FUZZ_TIME) ./providers
	go test -short -run '^$$' -fuzz FuzzAllowedKeys -fuzztime $(FUZZ_TIME) ./controllers/internal/tenancy
	go test -short -run '^$$' -fuzz FuzzConvert -fuzztime $(FUZZ_TIME) ./apis/convert

.PHONY: test-unit
test-unit: ## Only the tests that need no test peers.
	go test $(GO_TEST_FLAGS) -short ./...

.PHONY: test-peers
test-peers: $(KUBEBUILDER_ASSETS)/kube-apiserver $(KUBEBUILDER_ASSETS)/kube-controller-manager $(KUBEBUILDER_ASSETS)/kubectl $(KUBEBUILDER_ASSETS)/etcd $(HELM) $(VAULT) ## Install the real test peers and tools: kube-apiserver, kube-controller-manager, etcd, kubectl, helm, Vault, Prometheus, PostgreSQL.
	hack/install-apt.sh prometheus:prometheus promtool:prometheus pg_ctlcluster:postgresql

.PHONY: helm-lint
helm-lint: $(HELM) ## Lint the chart with default values and with every option enabled.
	$(HELM) lint --strict charts/vaultferry
	$(HELM) lint --strict charts/vaultferry -f charts/vaultferry/ci/all-options-values.yaml

# BENCH selects the benchmarks: InitialSync, NewDuringRefreshWave, or both (.).
BENCH ?= .

.PHONY: bench
bench: test-peers build ## Scale benchmarks, ~6 min (see test/bench; sizes via BENCH_* variables).
	go test -run '^$$' -bench '$(BENCH)' -benchtime 1x -timeout 60m ./test/bench/...

##@ Build

.PHONY: build
build: ## Build the operator binary into bin/.
	go build -ldflags "$(LDFLAGS)" -o $(BIN)/vaultferry ./cmd/vaultferry

.PHONY: image
image: ## Build the container image as an OCI archive, bin/vaultferry-image.tar (no daemon, no network).
	hack/install-apt.sh update-ca-certificates:ca-certificates
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN)/vaultferry-linux-amd64 ./cmd/vaultferry
	go run ./hack/image --binary $(BIN)/vaultferry-linux-amd64 --name $(IMAGE) --version $(VERSION) --commit $(COMMIT) \
		--created $(BUILD_DATE) --out $(BIN)/vaultferry-image.tar

.PHONY: push-image
push-image: image ## Push bin/vaultferry-image.tar to $(IMAGE):$(VERSION) (needs registry credentials; used by the release workflow).
	rm -rf $(BIN)/oci && mkdir -p $(BIN)/oci && tar -xf $(BIN)/vaultferry-image.tar -C $(BIN)/oci
	go run github.com/google/go-containerregistry/cmd/crane@v0.22.1 push $(BIN)/oci $(IMAGE):$(VERSION)

.PHONY: run
run: manifests ## Run the operator against the current kubeconfig.
	go run ./cmd/vaultferry

.PHONY: demo
demo: $(KUBEBUILDER_ASSETS)/kube-apiserver $(KUBEBUILDER_ASSETS)/kube-controller-manager $(KUBEBUILDER_ASSETS)/kubectl $(KUBEBUILDER_ASSETS)/etcd build ## Start a local control plane, run the operator and sync the examples (KEEP=1 leaves them running).
	go run ./test/demo $(if $(KEEP),--keep)

##@ Tools

$(CONTROLLER_GEN):
	GOBIN=$(BIN) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)

$(GOLANGCI_LINT):
	GOBIN=$(BIN) go install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_LINT_VERSION)

$(HELM):
	GOBIN=$(BIN) go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

# kube-apiserver, kube-controller-manager and kubectl are built from the k8s.io/kubernetes
# module (about 10 minutes the first time); setup-envtest's download cannot work without
# internet, and envtest ships no kube-controller-manager.
# Stamped with the release as the Kubernetes build does, so that `kubectl version` and the
# API server's /version say v1.37.2 rather than v0.0.0-master.
KUBE_VERSION := $(shell awk '$$1 == "require" && $$2 == "k8s.io/kubernetes" {print $$3}' hack/tools/kube/go.mod)
KUBE_LDFLAGS := $(foreach pkg,k8s.io/component-base/version k8s.io/client-go/pkg/version,\
	-X $(pkg).gitVersion=$(KUBE_VERSION) -X $(pkg).gitMajor=$(word 1,$(subst ., ,$(KUBE_VERSION:v%=%))) \
	-X $(pkg).gitMinor=$(word 2,$(subst ., ,$(KUBE_VERSION))) -X $(pkg).gitTreeState=clean)
$(KUBEBUILDER_ASSETS)/kube-apiserver $(KUBEBUILDER_ASSETS)/kube-controller-manager $(KUBEBUILDER_ASSETS)/kubectl &: hack/tools/kube/go.mod Makefile
	mkdir -p $(KUBEBUILDER_ASSETS)
	cd hack/tools/kube && go build -ldflags "$(KUBE_LDFLAGS)" -o $(KUBEBUILDER_ASSETS)/ k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager k8s.io/kubernetes/cmd/kubectl
	touch $(KUBEBUILDER_ASSETS)/kube-apiserver $(KUBEBUILDER_ASSETS)/kube-controller-manager $(KUBEBUILDER_ASSETS)/kubectl

# etcd 3.4 from Debian's etcd-server package.
$(KUBEBUILDER_ASSETS)/etcd:
	hack/install-apt.sh etcd:etcd-server
	mkdir -p $(KUBEBUILDER_ASSETS)
	ln -sf $$(command -v etcd) $@

# Vault from the Go module proxy (about 6 minutes the first time); see hack/build-vault.sh.
$(VAULT): hack/tools/vault/go.mod hack/build-vault.sh
	mkdir -p $(BIN)
	hack/build-vault.sh $(BIN)
	touch $(VAULT)

.PHONY: clean
clean: ## Remove built binaries (keeps the slow-to-build test peers).
	rm -f $(BIN)/vaultferry
