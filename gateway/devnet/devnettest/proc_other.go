//go:build !linux

package devnettest

import "syscall"

func sysProcAttr() *syscall.SysProcAttr { return nil }
