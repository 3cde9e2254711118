//go:build !linux

package mongotest

import "syscall"

// sysProcAttr: elsewhere a child outlives a killed test binary; Main stops
// it on a normal exit.
func sysProcAttr() *syscall.SysProcAttr { return nil }
