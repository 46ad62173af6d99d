# eks-mlops-enterprise-grade — run `make` for the list of targets.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

# The control plane libraries need Go 1.27; the go command fetches this toolchain from the module proxy.
export GOTOOLCHAIN ?= go1.27.3
GO ?= go

# Kubernetes components report the version they were built from (otherwise v0.0.0). -w leaves out the DWARF
# debugging information (stack traces keep their functions and lines; dlv builds its own binaries): linking
# bin/harness or a test binary of the control plane's package graph then costs ~35 % less CPU (measured: bin/harness
# 39 -> 25 CPU-s, harness/check's test binary 32 -> 21), and `make test` links one per package.
K8S_VERSION := $(shell GOTOOLCHAIN=$(GOTOOLCHAIN) $(GO) list -m -f '{{.Version}}' k8s.io/kubernetes 2>/dev/null)
K8S_MINOR := $(word 2,$(subst ., ,$(K8S_VERSION)))
LDFLAGS := -w -X k8s.io/component-base/version.gitVersion=$(K8S_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(K8S_MINOR)

PKGS := ./harness/... ./test/...

# The pinned upstream charts, unpacked: HARNESS_CHARTS_DIR, or ../shared/charts beside the repository (what CI
# has: no route to chart repositories there). A laptop fills the chart cache once with `harness charts pull`.
HARNESS_CHARTS_DIR ?= $(if $(wildcard ../shared/charts/PROVENANCE.md),$(abspath ../shared/charts),)
export HARNESS_CHARTS_DIR

.PHONY: help
help: ## list targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: deps
deps: ## download Go modules (and the Go toolchain)
	$(GO) mod download

.PHONY: build harness
build: deps harness ## build bin/harness

# bin/harness alone, for the jobs below that run after deps: under make -j a phony prerequisite held the longest
# build back until the end (measured cold under -j2: it started 16 min into a 32-min run).
harness:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/harness ./harness/cmd/harness

# CRDs for the custom resources the platform creates, generated from the upstream Go API types by
# tools/crdgen (its own Go module: Argo CD's, KubeRay's and Karpenter's dependencies stay out of the harness).
CRDGEN_SRC := $(shell find tools/crdgen -name '*.go') tools/crdgen/go.mod tools/crdgen/go.sum

# The Karpenter AWS provider's EC2NodeClass CRD is copied as its module publishes it (pkg/apis/crds), at the version
# tools/karpenter pins (the provider that runs): only that module is downloaded, not its dependencies.
KARPENTER_AWS_MOD := github.com/aws/karpenter-provider-aws

bin/crds/SOURCES: $(CRDGEN_SRC) tools/karpenter/go.mod
	@mkdir -p bin
	v=$$(cd tools/karpenter && $(GO) list -m -f '{{.Version}}' $(KARPENTER_AWS_MOD)) && \
	d=$$($(GO) mod download -json $(KARPENTER_AWS_MOD)@$$v | sed -n 's/^\t"Dir": "\(.*\)",$$/\1/p') && \
	cd tools/crdgen && $(GO) run . -out ../../bin/crds -copy "$(KARPENTER_AWS_MOD)@$$v=$$d/pkg/apis/crds/karpenter.k8s.aws_ec2nodeclasses.yaml"

.PHONY: crds
crds: bin/crds/SOURCES ## generate bin/crds from the upstream Go API types (controller-tools)

# The real Argo CD (application controller + repo server, argo-cd/v3 at the version the runbook installs), built
# in its own module (tools/argocd), its CRDs from that module, and a Helm CLI for its repo server.
ARGOCD_SRC := tools/argocd/main.go tools/argocd/go.mod tools/argocd/go.sum

bin/argocd: $(ARGOCD_SRC)
	@mkdir -p bin
	cd tools/argocd && $(GO) build -ldflags "-s -w -X github.com/argoproj/argo-cd/v3/common.version=$$($(GO) list -m -f '{{.Version}}' github.com/argoproj/argo-cd/v3 | sed 's/^v//')" -o ../../bin/argocd .

bin/argocd-crds/application-crd.yaml: tools/argocd/go.mod
	rm -rf bin/argocd-crds && cp -r "$$(cd tools/argocd && $(GO) list -m -f '{{.Dir}}' github.com/argoproj/argo-cd/v3)/manifests/crds" bin/argocd-crds
	chmod -R u+w bin/argocd-crds && rm -f bin/argocd-crds/kustomization.yaml
	echo "github.com/argoproj/argo-cd/v3 $$(cd tools/argocd && $(GO) list -m -f '{{.Version}}' github.com/argoproj/argo-cd/v3) manifests/crds" > bin/argocd-crds/SOURCES
	# The repo server runs this script of Argo CD's image for every Git revision (signature check).
	install -m 0755 "$$(cd tools/argocd && $(GO) list -m -f '{{.Dir}}' github.com/argoproj/argo-cd/v3)/hack/git-verify-wrapper.sh" bin/git-verify-wrapper.sh

# The Helm CLI the repo server runs: helm.sh/helm/v3/cmd/helm at the version of the Helm SDK the harness renders charts
# with, built in the harness's own module, so Argo CD's path and the Helm path render with the same Helm and the same
# libraries, and the CLI reuses bin/harness's compiled packages (15 of its 977 packages are its own; built with Helm's
# go.mod it compiled all of them again). After bin/harness, so that the two builds never compile the same packages at once.
bin/helm: go.mod go.sum | harness
	@mkdir -p bin
	$(GO) build -o bin/helm helm.sh/helm/v3/cmd/helm

# The real KubeRay operator's reconcilers (ray-operator at the version the platform's kuberay-operator chart
# installs), built in their own module (tools/kuberay), for the workload tier's Ray steps.
KUBERAY_SRC := tools/kuberay/main.go tools/kuberay/go.mod tools/kuberay/go.sum

bin/kuberay: $(KUBERAY_SRC)
	@mkdir -p bin
	cd tools/kuberay && $(GO) build -ldflags "-s -w" -o ../../bin/kuberay .

.PHONY: kuberay
kuberay: bin/kuberay ## build the real KubeRay operator for the workload tier (harness check --workloads)

# The real kube-apiserver of each Kubernetes minor the rehearsal supports (tools/kubeapiserver: one main.go, one
# go.1.NN.mod per minor, chosen with -modfile; ~3-4 min and 2.2 GB each, cold). Add a minor: tools/kubeapiserver/gen-mod.sh v1.NN.P.
REHEARSE_MINORS := $(patsubst tools/kubeapiserver/go.%.mod,%,$(wildcard tools/kubeapiserver/go.1.*.mod))

bin/kube-apiserver-%: tools/kubeapiserver/main.go tools/kubeapiserver/go.%.mod tools/kubeapiserver/go.%.sum
	@mkdir -p bin
	cd tools/kubeapiserver && v=$$($(GO) list -modfile go.$*.mod -m -f '{{.Version}}' k8s.io/kubernetes) && \
	$(GO) build -modfile go.$*.mod -ldflags "-s -w -X k8s.io/component-base/version.gitVersion=$$v -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$(word 2,$(subst ., ,$*))" -o ../../bin/kube-apiserver-$* .

.PHONY: kube-apiservers
kube-apiservers: $(foreach m,$(REHEARSE_MINORS),bin/kube-apiserver-$(m)) ## build the real kube-apiserver of every minor the rehearsal supports

.PHONY: rehearse
rehearse: build crds kube-apiservers ## rehearse the next EKS minor upgrade on the local environment (harness rehearse --env local --to <declared+1>)
	./bin/harness rehearse --env local

# The real Karpenter, two builds from one module (tools/karpenter): bin/karpenter, sigs.k8s.io/karpenter (the version
# tools/crdgen generates its CRDs from) with its kwok cloud provider (tools/karpenter/main.go; scenarios run it), and
# bin/karpenter-aws, the real AWS provider in kwok mode (github.com/aws/karpenter-provider-aws/kwok, built unchanged;
# `harness check` runs it in place of the generic provider when built: against moto holding the emulated apply of
# terraform/, with the Pricing API and the public EKS AMI SSM parameters served beside moto, harness/cloud/publicdata).
# The AWS provider's go.mod selects the Kubernetes libraries and the Karpenter core both are built with, so one `go
# build` compiles what they share once (measured cold, 2 cores: see docs/karpenter.md); plus the KWOKNodeClass CRD.
# tools/karpenter's go.mod selects, for every module it compiles packages of with tools/argocd, the version Argo CD's
# does (test/static: TestToolModulesShareCompiledPackages), so after bin/argocd the build finds the Kubernetes
# libraries and the rest they share compiled in Go's build cache: 691 -> 352 CPU-seconds cold. The parallel builds
# of `make test` and `make test-local` therefore make it after bin/argocd (KARPENTER_AFTER), never beside it.
KARPENTER_SRC := tools/karpenter/main.go tools/karpenter/tools.go tools/karpenter/go.mod tools/karpenter/go.sum
KARPENTER_AFTER ?=

bin/karpenter bin/karpenter-aws &: $(KARPENTER_SRC) | $(KARPENTER_AFTER)
	@mkdir -p bin
	rm -rf bin/.karpenter-build
	cd tools/karpenter && $(GO) build -ldflags "-s -w" -o ../../bin/.karpenter-build/ . github.com/aws/karpenter-provider-aws/kwok
	mv bin/.karpenter-build/karpenter bin/karpenter && mv bin/.karpenter-build/kwok bin/karpenter-aws && rmdir bin/.karpenter-build

bin/karpenter-crds/karpenter.kwok.sh_kwoknodeclasses.yaml: tools/karpenter/go.mod
	rm -rf bin/karpenter-crds && mkdir -p bin/karpenter-crds
	cp "$$(cd tools/karpenter && $(GO) list -m -f '{{.Dir}}' sigs.k8s.io/karpenter)/kwok/apis/crds/karpenter.kwok.sh_kwoknodeclasses.yaml" bin/karpenter-crds/
	chmod -R u+w bin/karpenter-crds
	echo "sigs.k8s.io/karpenter $$(cd tools/karpenter && $(GO) list -m -f '{{.Version}}' sigs.k8s.io/karpenter) kwok/apis/crds" > bin/karpenter-crds/SOURCES

.PHONY: karpenter
karpenter: bin/karpenter bin/karpenter-crds/karpenter.kwok.sh_kwoknodeclasses.yaml ## build the real Karpenter (kwok cloud provider) for the embedded cluster, and its AWS provider beside it

.PHONY: karpenter-aws
karpenter-aws: bin/karpenter-aws ## build the real Karpenter AWS provider in kwok mode (harness check runs it when built; the same build as make karpenter)

.PHONY: argocd
argocd: bin/argocd bin/argocd-crds/application-crd.yaml bin/helm ## build the real Argo CD and a Helm CLI for `harness check --deploy argocd`

# How many of test/local's tests run at once (`make test`).
LOCAL_TEST_PARALLEL ?= 3

.PHONY: test
# What a job needs, made three at a time (make -j3), the longest first: bin/harness and the Python runtimes at once,
# then the tools, so that on a fresh machine pip (mostly one core, and the network) runs beside two Go builds (each
# of which parallelizes its own compiles) and both cores stay busy. Karpenter after Argo CD: see KARPENTER_SRC.
LOCAL_PARTS := harness python-runtimes argocd karpenter crds kuberay KARPENTER_AFTER=bin/argocd
LOCAL_JOBS ?= 3

.PHONY: runtimes python-runtimes
runtimes: python-runtimes ## install the Python runtimes a run uses (workload tier, moto, checkov) ahead of it

# `harness runtimes` without the rest of the harness (harness/cmd/runtimes: it builds in seconds, bin/harness in
# minutes on a fresh machine). A runtime not installed here fails nothing yet: the step that needs it installs it
# again or says why it cannot.
python-runtimes:
	-$(GO) run ./harness/cmd/runtimes

test: deps ## run every test that needs no Docker, AWS or network (what CI runs), then the apply tier (or its skip line)
	$(MAKE) --no-print-directory -j$(LOCAL_JOBS) $(LOCAL_PARTS) kube-apiservers
	$(GO) test -ldflags "$(LDFLAGS)" -count=1 -timeout 30m $$($(GO) list $(PKGS) | grep -v '/test/local$$')
	@# test/local after the rest, its tests LOCAL_TEST_PARALLEL at a time (t.Parallel: each has its own clusters,
	@# processes and directories). Most of a test's time is waiting (syncs, retries, deadlines): measured on 2 cores,
	@# one at a time ~2,600 s (1.3 cores busy), two ~1,490 s, four 1,210 s (the cores ~90 % busy, tests up to 2x slower).
	$(GO) test -ldflags "$(LDFLAGS)" -count=1 -timeout 80m -parallel $(LOCAL_TEST_PARALLEL) ./test/local
	$(GO) vet -tags aws ./test/aws/...
	./bin/harness apply --env local

.PHONY: test-aws
test-aws: build ## the nightly real-AWS tier (costs money): HARNESS_AWS_ACCOUNT=<id> make test-aws; always destroys
	$(GO) test -tags aws -ldflags "$(LDFLAGS)" -count=1 -timeout 240m -v ./test/aws/...

.PHONY: test-local
test-local: deps ## the main job: `harness check --env local` (deployed through the real Argo CD, the workload tier included) and every scenario beside its steps after the deploy, on embedded EKS-shaped clusters
	$(MAKE) --no-print-directory -j$(LOCAL_JOBS) $(LOCAL_PARTS)
	./bin/harness check --env local --deploy argocd --workloads --reuse-deploy $(if $(HARNESS_CHARTS_DIR),,--fetch-charts) scenarios/*.yaml

.PHONY: diff
diff: build crds argocd karpenter karpenter-aws kuberay ## rehearse the working tree's change over the main branch (BASE=rev to choose): Argo CD syncs the base, then the change; report in test/results/diff/diff.md
	./bin/harness diff --env local $(if $(BASE),--base $(BASE),) $(if $(HARNESS_CHARTS_DIR),,--fetch-charts)

.PHONY: mutations
mutations: build crds argocd karpenter karpenter-aws kuberay ## the corpus of real-world mistakes (test/mutations/cases) on fresh copies, default path: table + catch rate (test/results/mutations.md)
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/mutations ./test/mutations/cmd
	./bin/mutations

STRESS_ROUNDS ?= 50

.PHONY: stress
stress: build crds ## STRESS_ROUNDS (50) rounds of `harness check` + every scenario beside a neighbouring check: runs, failures, wall time
	hack/stress.sh $(STRESS_ROUNDS)

.PHONY: bench
bench: build ## measure cluster start, first GPU pod, scale scheduling and peak RSS
	$(GO) test -ldflags "$(LDFLAGS)" -run '^$$' -bench . -benchtime 1x -timeout 20m ./test/bench/...

.PHONY: lint
lint: ## gofmt, go vet, terraform fmt (through the Go tests of the static tier)
	@out=$$(gofmt -l harness test tools); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GO) vet -tags aws ./test/aws/...
	cd tools/crdgen && $(GO) vet ./...
	cd tools/kuberay && $(GO) vet ./...
	cd tools/karpenter && $(GO) vet ./...

# OpenTofu, built from its Go module source (no binary downloads on air-gapped CI): `make tools`.
TOFU_VERSION ?= v1.10.10

.PHONY: tools
tools: ## build OpenTofu from Go module source into ./bin/tofu (the apply tier uses it when no terraform/tofu is installed)
	@mkdir -p bin
	@src=$$(cd /tmp && GOTOOLCHAIN=$(GOTOOLCHAIN) GOFLAGS=-mod=mod $(GO) mod download -json github.com/opentofu/opentofu@$(TOFU_VERSION) | sed -n 's/.*"Dir": "\(.*\)",/\1/p'); \
	tmp=$$(mktemp -d); cp -r "$$src"/. "$$tmp"; chmod -R u+w "$$tmp"; \
	(cd "$$tmp" && $(GO) build -o "$(CURDIR)/bin/tofu" ./cmd/tofu); status=$$?; rm -rf "$$tmp"; exit $$status
	./bin/tofu version

.PHONY: up
up: build ## start the local embedded cluster until Ctrl-C
	./bin/harness up --env local

.PHONY: clean
clean: ## remove build output
	rm -rf bin
