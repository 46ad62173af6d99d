// Package local is the local tier: suites that start embedded EKS-shaped clusters and need no Docker, AWS or
// network. `make test-local` runs it.
//
// Every test calls t.Parallel (`make test` runs LOCAL_TEST_PARALLEL at once): a test starts its own clusters,
// processes, ports and temporary directories and asserts only on those, never on what the whole machine has. A test
// that changes the process's environment (t.Setenv) stays serial.
package local
