//go:build !linux

package harness

import "os/exec"

// setProcAttr does nothing where the kernel offers no parent-death signal; t.Cleanup still
// kills every child.
func setProcAttr(*exec.Cmd) {}
