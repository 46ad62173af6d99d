package embedded

import (
	"flag"
	"io"

	"k8s.io/klog/v2"
)

// redirectKlog sends the components' klog output (process-wide; one control plane per process) to w and
// nothing to the terminal.
func redirectKlog(w io.Writer) {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("alsologtostderr", "false")
	_ = fs.Set("stderrthreshold", "FATAL")
	_ = fs.Set("one_output", "true")
	klog.SetOutput(w)
}
