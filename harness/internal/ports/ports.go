// Package ports finds free loopback TCP ports for the processes the harness starts.
//
// A port is chosen here and bound later by another process (Ray's raylet, a kube-apiserver, Argo CD's repo
// server), so between the two it is free for anyone to take. A port the kernel hands out for 127.0.0.1:0 comes
// from its ephemeral range, the same range every outgoing connection on the machine takes its local port from:
// with control planes, Argo CD and Ray busy beside a run, one of those connections can take the port first and the
// component that was given it fails to bind (a Ray raylet then dies at start: one likely cause of a CI run whose
// raylet never registered). So ports are chosen below the ephemeral range, where the kernel never puts an outgoing
// connection, and one process does not hand a port out twice (within ten minutes).
package ports

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"
)

// low is the first port chosen: above the registered ports that laptops commonly run, and above Ray's default
// worker port range (10002–19999), which Ray's workers bind themselves.
const low = 20000

// reuseAfter is how long a handed-out port is not handed out again by this process: by then the process it was
// chosen for has bound it or is gone (a long `harness stress` run would otherwise use the range up).
const reuseAfter = 10 * time.Minute

var (
	mu     sync.Mutex
	handed = map[int]time.Time{} // the ports this process handed out, and when
)

// Free is a TCP port free on 127.0.0.1 at the time of the call.
func Free() (int, error) {
	ps, err := FreeN(1)
	if err != nil {
		return 0, err
	}
	return ps[0], nil
}

// FreeN is n distinct TCP ports free on 127.0.0.1 at the time of the call, below the kernel's ephemeral range and
// not handed out by this process in the last ten minutes. Every listener is held until all n are chosen. When the range below the
// ephemeral one is too small or used up (a machine tuned so), the kernel's choice (127.0.0.1:0) is used.
func FreeN(n int) ([]int, error) { return pick(n, low, ephemeralLow()-1) }

// pick chooses n ports in [lo, hi] as FreeN says.
func pick(n, lo, hi int) ([]int, error) {
	mu.Lock()
	defer mu.Unlock()
	out := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for tries := 0; len(out) < n; tries++ {
		addr := "127.0.0.1:0"
		if hi-lo >= 100 && tries < 200*n {
			p := lo + rand.IntN(hi-lo+1)
			if at, ok := handed[p]; ok && time.Since(at) < reuseAfter {
				continue
			}
			addr = fmt.Sprintf("127.0.0.1:%d", p)
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			if addr != "127.0.0.1:0" {
				continue // in use: another
			}
			return nil, err
		}
		ls = append(ls, l)
		p := l.Addr().(*net.TCPAddr).Port
		handed[p] = time.Now()
		out = append(out, p)
	}
	return out, nil
}

// ephemeralLow is the first port of the kernel's range for outgoing connections (Linux: net.ipv4.ip_local_port_range;
// elsewhere IANA's 49152, the BSDs' and macOS's default).
func ephemeralLow() int {
	if runtime.GOOS == "linux" {
		if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
			var lo, hi int
			if _, err := fmt.Sscan(strings.TrimSpace(string(b)), &lo, &hi); err == nil && lo > 0 {
				return lo
			}
		}
		return 32768
	}
	return 49152
}
