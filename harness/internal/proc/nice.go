package proc

import (
	"context"
	"os/exec"
	"strconv"
)

// BackgroundNice is the niceness of work started under Background: the kernel gives it about a tenth of a core's
// share when the run's own work (the control plane, the controllers on the run's longest path) wants the CPU, and
// all of it otherwise.
const BackgroundNice = 10

type niceKey struct{}

// Background marks ctx's processes as work beside the run's longest path (a scan, runtimes warmed ahead of their
// step): every process Start or Command starts under it runs at BackgroundNice, through nice(1), so that it takes
// only the CPU the run's own processes leave. Without nice(1) on the PATH the processes run as usual.
func Background(ctx context.Context) context.Context {
	return context.WithValue(ctx, niceKey{}, BackgroundNice)
}

// niced returns the command to run for name and args under ctx: through nice(1) when ctx is Background.
func niced(ctx context.Context, name string, args []string) (string, []string) {
	n, _ := ctx.Value(niceKey{}).(int)
	if n <= 0 {
		return name, args
	}
	nice, err := exec.LookPath("nice")
	if err != nil {
		return name, args
	}
	// The program as the harness finds it (nice(1) would search the child's PATH): one that cannot be found fails
	// to start with exec's own error, not as nice's exit status 127.
	prog, err := exec.LookPath(name)
	if err != nil {
		return name, args
	}
	return nice, append([]string{"-n", strconv.Itoa(n), prog}, args...)
}
