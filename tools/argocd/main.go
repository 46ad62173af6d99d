// Command argocd runs Argo CD's application controller or repo server, unmodified, from the argo-cd/v3 module at
// the version the platform installs: `argocd application-controller [flags]`, `argocd repo-server [flags]`. It is
// its own Go module (tools/argocd) so that Argo CD's dependency graph stays out of the harness's; the harness
// builds it on first use and runs both as processes against its cluster.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	appcontroller "github.com/argoproj/argo-cd/v3/cmd/argocd-application-controller/commands"
	reposerver "github.com/argoproj/argo-cd/v3/cmd/argocd-repo-server/commands"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: argocd application-controller|repo-server [flags]")
		os.Exit(2)
	}
	var cmd *cobra.Command
	switch os.Args[1] {
	case "application-controller":
		cmd = appcontroller.NewCommand()
	case "repo-server":
		cmd = reposerver.NewCommand()
	default:
		fmt.Fprintf(os.Stderr, "unknown component %q: want application-controller or repo-server\n", os.Args[1])
		os.Exit(2)
	}
	cmd.SetArgs(os.Args[2:])
	if err := cmd.Execute(); err != nil {
		os.Exit(1)
	}
}
