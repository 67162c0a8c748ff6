package redisproc

import "syscall"

// sysProcAttr makes the kernel kill redis-server when redtop dies, even by
// SIGKILL, so no private server outlives its owner.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
}
