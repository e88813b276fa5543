package loadgen

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// MachineLoad is what the whole machine did during a phase, from the
// aggregate "cpu" line of /proc/stat read at its start and end, and the
// 1-minute load average of /proc/loadavg at its start. Times add up every
// CPU: on a 2-core machine a 1 s phase has a Total of about 2 s.
type MachineLoad struct {
	// Total is the CPU time that passed, on all CPUs (every field of the
	// cpu line but guest time, which user time already counts).
	Total time.Duration
	// Busy is the time the CPUs ran work: user, nice, system, irq and
	// softirq (not idle, iowait or steal).
	Busy time.Duration
	// Steal is the time the hypervisor gave this machine's virtual CPUs
	// to someone else.
	Steal time.Duration
	// Client is the CPU time of the load generator's own process (the
	// process that ran the phase), from /proc/self/stat.
	Client time.Duration
	// Load1 is the 1-minute load average when the phase started.
	Load1 float64
}

// StealPct is the share of the machine's CPU time stolen, in per cent.
func (m *MachineLoad) StealPct() float64 { return pct(m.Steal, m.Total) }

// BusyPct is the share of the machine's CPU time spent running work, in
// per cent.
func (m *MachineLoad) BusyPct() float64 { return pct(m.Busy, m.Total) }

// OthersPct is the share of the machine's CPU time that went to work
// other than the server (whose CPU over the phase is server) and the load
// generator: other processes, the kernel's own threads, interrupts. It is
// never below zero (the readings have a 10 ms resolution).
func (m *MachineLoad) OthersPct(server time.Duration) float64 {
	return max(0, pct(m.Busy-server-m.Client, m.Total))
}

func pct(a, b time.Duration) float64 {
	if b <= 0 {
		return 0
	}
	return 100 * float64(a) / float64(b)
}

// cpuTimes is one reading of the aggregate cpu line of /proc/stat.
type cpuTimes struct {
	total, busy, steal time.Duration
}

// readCPUTimes reads the aggregate cpu line of /proc/stat.
func readCPUTimes() (cpuTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuTimes{}, err
	}
	return parseCPULine(b, ClockTicks())
}

// parseCPULine reads the "cpu" line of a /proc/stat file: user nice system
// idle iowait irq softirq steal [guest guest_nice], in clock ticks.
func parseCPULine(stat []byte, ticks int64) (cpuTimes, error) {
	if ticks <= 0 {
		return cpuTimes{}, errors.New("loadgen: invalid clock ticks")
	}
	for line := range strings.SplitSeq(string(stat), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0] != "cpu" {
			continue
		}
		if len(f) < 9 {
			return cpuTimes{}, fmt.Errorf("loadgen: /proc/stat: short cpu line %q", line)
		}
		var v [8]int64
		for i := range v {
			n, err := strconv.ParseInt(f[i+1], 10, 64)
			if err != nil {
				return cpuTimes{}, fmt.Errorf("loadgen: /proc/stat: %w", err)
			}
			v[i] = n
		}
		d := func(n int64) time.Duration { return time.Duration(n * int64(time.Second) / ticks) }
		user, nice, system, idle, iowait, irq, softirq, steal := v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
		busy := user + nice + system + irq + softirq
		return cpuTimes{total: d(busy + idle + iowait + steal), busy: d(busy), steal: d(steal)}, nil
	}
	return cpuTimes{}, errors.New("loadgen: /proc/stat: no cpu line")
}

// readLoad1 reads the 1-minute load average.
func readLoad1() (float64, error) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, err
	}
	return parseLoad1(b)
}

func parseLoad1(b []byte) (float64, error) {
	f := bytes.Fields(b)
	if len(f) == 0 {
		return 0, errors.New("loadgen: empty /proc/loadavg")
	}
	return strconv.ParseFloat(string(f[0]), 64)
}

// machineMark is the machine's state at the start of a phase.
type machineMark struct {
	cpu    cpuTimes
	client time.Duration
	load1  float64
	ok     bool
}

// markMachine reads the machine's CPU times, this process's CPU time and
// the load average; ok is false when one of them cannot be read (not
// Linux).
func markMachine() machineMark {
	cpu, err := readCPUTimes()
	if err != nil {
		return machineMark{}
	}
	self, err := ReadProc(os.Getpid())
	if err != nil {
		return machineMark{}
	}
	load, err := readLoad1()
	if err != nil {
		return machineMark{}
	}
	return machineMark{cpu: cpu, client: self.CPU, load1: load, ok: true}
}

// since returns the machine's load from m to now, or nil when either
// reading failed.
func (m machineMark) since() *MachineLoad {
	end := markMachine()
	if !m.ok || !end.ok {
		return nil
	}
	return &MachineLoad{
		Total:  end.cpu.total - m.cpu.total,
		Busy:   end.cpu.busy - m.cpu.busy,
		Steal:  end.cpu.steal - m.cpu.steal,
		Client: end.client - m.client,
		Load1:  m.load1,
	}
}
