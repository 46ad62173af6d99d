// Package ports finds free loopback TCP ports for the processes the harness starts.
package ports

import "net"

// Free is a TCP port free on 127.0.0.1 at the time of the call.
func Free() (int, error) {
	ps, err := FreeN(1)
	if err != nil {
		return 0, err
	}
	return ps[0], nil
}

// FreeN is n distinct TCP ports free on 127.0.0.1 at the time of the call: every listener is held until all n are
// chosen, so the kernel cannot hand the same port out twice (as n calls of Free may).
func FreeN(n int) ([]int, error) {
	out := make([]int, 0, n)
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}
