package proc

import "strings"

// GCPercent is the GOGC the harness gives the Go servers it runs for a few minutes and that allocate heavily: the
// embedded control plane (the API server decodes, converts and re-encodes the platform's ~1 MB CRDs and rebuilds
// their OpenAPI on every change) and Argo CD's controller and repo server. Go's default (100) spent about a third of
// the control plane's CPU in the garbage collector during the Argo CD sync; at 300, with the soft memory limits
// below, `harness check`'s CPU fell from 165 s to 131 s and the sync from 64–105 s to ~55 s on 2 cores (2026-12-06),
// the control plane's peak RSS rising from 1.9 to 2.7 GB.
const GCPercent = "300"

// GCTuned returns env (a process's environment: os.Environ() and its own variables) with GOGC=GCPercent and
// GOMEMLIMIT=memLimit (a soft limit: past it the collector runs as often as it must, so memory stays bounded) —
// each only when env does not set it already: the user's GOGC or GOMEMLIMIT wins.
func GCTuned(env []string, memLimit string) []string {
	if !hasVar(env, "GOGC") {
		env = append(env, "GOGC="+GCPercent)
	}
	if !hasVar(env, "GOMEMLIMIT") && memLimit != "" {
		env = append(env, "GOMEMLIMIT="+memLimit)
	}
	return env
}

func hasVar(env []string, name string) bool {
	for _, kv := range env {
		if strings.HasPrefix(kv, name+"=") {
			return true
		}
	}
	return false
}
