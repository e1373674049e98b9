package baresip

import "syscall"

// sysProcAttr kills baresip when the test process dies (a panic, a
// timeout) so that no phone outlives its test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
