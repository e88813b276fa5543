package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ProcSample is one reading of a process's accounting in /proc.
type ProcSample struct {
	// CPU is user plus system time consumed so far.
	CPU time.Duration
	// RSS is the resident set size in bytes.
	RSS int64
}

var clkTck = sync.OnceValue(func() int64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if n, err := strconv.ParseInt(strings.TrimSpace(string(out)), 10, 64); err == nil && n > 0 {
			return n
		}
	}
	return 100 // the value on every Linux architecture in practice
})

// ClockTicks returns the kernel's clock ticks per second (CLK_TCK), read
// once with getconf; 100 when getconf is unavailable.
func ClockTicks() int64 { return clkTck() }

// ReadProc reads the CPU time (utime+stime from /proc/PID/stat) and the
// resident set size (VmRSS from /proc/PID/status) of process pid.
func ReadProc(pid int) (ProcSample, error) {
	if pid <= 0 {
		return ProcSample{}, fmt.Errorf("loadgen: invalid pid %d", pid)
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ProcSample{}, err
	}
	cpu, err := parseStatCPU(stat, ClockTicks())
	if err != nil {
		return ProcSample{}, fmt.Errorf("loadgen: /proc/%d/stat: %w", pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return ProcSample{}, err
	}
	rss, err := parseStatusRSS(status)
	if err != nil {
		return ProcSample{}, fmt.Errorf("loadgen: /proc/%d/status: %w", pid, err)
	}
	return ProcSample{CPU: cpu, RSS: rss}, nil
}

// parseStatCPU returns utime+stime (fields 14 and 15) of a /proc/PID/stat
// line. The command name (field 2) may hold spaces and parentheses, so
// fields are counted from the last ')'.
func parseStatCPU(stat []byte, ticks int64) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("no command name")
	}
	f := strings.Fields(string(stat[i+1:]))
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, errors.New("too few fields")
	}
	ut, err := strconv.ParseInt(f[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("utime: %w", err)
	}
	st, err := strconv.ParseInt(f[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stime: %w", err)
	}
	if ticks <= 0 {
		return 0, errors.New("invalid clock ticks")
	}
	return time.Duration((ut + st) * int64(time.Second) / ticks), nil
}

// parseStatusRSS returns VmRSS of a /proc/PID/status file in bytes.
func parseStatusRSS(status []byte) (int64, error) {
	for line := range strings.SplitSeq(string(status), "\n") {
		rest, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("unexpected VmRSS line %q", line)
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, err
		}
		return kb * 1024, nil
	}
	return 0, errors.New("no VmRSS line")
}
