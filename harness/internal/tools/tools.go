//go:build tools

// Package tools pins, in the harness's module, the commands make builds from it besides bin/harness: the Helm CLI
// Argo CD's repo server runs (bin/helm, the Helm the harness renders with). Never compiled into the harness.
package tools

import _ "helm.sh/helm/v3/cmd/helm"
