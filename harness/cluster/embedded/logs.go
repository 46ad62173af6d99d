package embedded

import (
	"flag"
	"io"
	"sync"

	"k8s.io/klog/v2"
)

// klog is process-wide. Every running embedded cluster registers its component log file here, and klog writes
// to all registered files (nothing to the terminal). With no cluster running, klog output is dropped.
var klogSink = &fanout{}

var klogOnce sync.Once

type fanout struct {
	mu sync.Mutex
	ws []io.Writer
}

func (f *fanout) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, w := range f.ws {
		_, _ = w.Write(p)
	}
	return len(p), nil
}

func (f *fanout) add(w io.Writer) {
	klogOnce.Do(func() {
		fs := flag.NewFlagSet("klog", flag.ContinueOnError)
		klog.InitFlags(fs)
		_ = fs.Set("logtostderr", "false")
		_ = fs.Set("alsologtostderr", "false")
		_ = fs.Set("stderrthreshold", "FATAL")
		_ = fs.Set("one_output", "true")
		klog.SetOutput(klogSink)
	})
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ws = append(f.ws, w)
}

func (f *fanout) remove(w io.Writer) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, x := range f.ws {
		if x == w {
			f.ws = append(f.ws[:i], f.ws[i+1:]...)
			return
		}
	}
}
