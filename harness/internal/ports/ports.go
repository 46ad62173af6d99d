// Package ports finds free loopback TCP ports for the processes the harness starts.
package ports

import "net"

// Free is a TCP port free on 127.0.0.1 at the time of the call.
func Free() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
