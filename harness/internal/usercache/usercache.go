// Package usercache places the harness's machine-wide stores (virtualenvs, checkov's reports) in the user's cache,
// each overridable by an environment variable.
package usercache

import (
	"os"
	"path/filepath"
)

// Dir is the store named sub: the value of the environment variable env when set ("none": no store, ""), else
// <user cache>/eks-mlops-harness/<sub> ("" when the user has no cache directory).
func Dir(env, sub string) string {
	switch v := os.Getenv(env); v {
	case "none":
		return ""
	case "":
		dir, err := os.UserCacheDir()
		if err != nil {
			return ""
		}
		return filepath.Join(dir, "eks-mlops-harness", sub)
	default:
		return v
	}
}
