// Package deploy renders and installs the platform's Helm charts and manifests.
//
// helm.go is the only file that imports the Helm v3 SDK, so moving to Helm v4 (v3 security fixes end
// 2027-02-10) touches one file. Rendering the app-of-apps chart yields the Argo CD Applications; apps.go reads
// them back so the harness deploys exactly what Argo CD would.
package deploy
