package redistest

import "syscall"

// sysProcAttr asks Linux to kill redis-server if the test process dies
// before it can stop the server.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
