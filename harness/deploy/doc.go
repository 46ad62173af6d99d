// Package deploy is the Kubernetes-object layer of the harness: it renders and installs Helm charts with the
// Helm v3 SDK (only helm.go, install.go and fetch.go import it, so moving to Helm v4 — v3 security fixes end
// 2027-02-10 — touches three files), pulls upstream charts (HTTP repositories and OCI, cached by version),
// reads the app-of-apps' Argo CD Applications back (apps.go) so the harness deploys exactly what Argo CD would,
// decodes manifests with their source file, extracts workloads (pod templates, custom resources' included) and
// installs CRDs. It knows nothing of checks or clusters beyond a REST config and a kubeconfig.
package deploy
