package harness

import (
	"os/exec"
	"syscall"
)

// setProcAttr has the kernel kill the child if the test binary dies first, so that no server
// or client outlives an interrupted test run.
func setProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
