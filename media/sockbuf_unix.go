//go:build unix

package media

import (
	"net"
	"syscall"
)

// receiveBuffer is the socket's receive buffer as the kernel sized it (on
// Linux, twice what was granted), or 0 if it cannot be read.
func receiveBuffer(c *net.UDPConn) int {
	raw, err := c.SyscallConn()
	if err != nil {
		return 0
	}
	size := 0
	_ = raw.Control(func(fd uintptr) {
		size, _ = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF)
	})
	return size
}
