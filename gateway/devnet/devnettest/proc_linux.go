package devnettest

import "syscall"

// sysProcAttr: a gateway dies with the test binary (a test that panics or
// times out leaves no gateway behind holding its ports).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
