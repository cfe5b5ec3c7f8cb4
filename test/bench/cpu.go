package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// CPU time of the processes a workload runs on, logged next to its result:
// on a machine shared with other work the CPU seconds a tool spends per
// GiB moved vary far less than its wall-clock speed.

// clockTick is the unit of /proc/PID/stat's utime and stime (USER_HZ, 100
// on Linux).
const clockTick = 10 * time.Millisecond

// procCPU returns the user plus system CPU time pid has used so far.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may hold spaces; the fields after its
	// closing parenthesis start with the state (field 3).
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0, fmt.Errorf("/proc/%d/stat: no command name", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: bad times", pid)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// selfCPU returns the CPU time this process (the driver, which is the
// limit's client) has used so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// cpuMeter measures the CPU time of the emulator and of one more process
// (a mount, or the driver itself for the limit) over a workload.
type cpuMeter struct {
	emuPid         int
	emu0, other0   time.Duration
	other          func() (time.Duration, bool)
	emuOK, startOK bool
}

func startCPU(emuPid int, other func() (time.Duration, bool)) *cpuMeter {
	c := &cpuMeter{emuPid: emuPid, other: other}
	var err error
	c.emu0, err = procCPU(emuPid)
	c.emuOK = err == nil
	c.other0, c.startOK = other()
	return c
}

// stop returns "who X s, b2emu Y s" for the time since start (empty when
// nothing could be read).
func (c *cpuMeter) stop(who string) string {
	var parts []string
	if o, ok := c.other(); ok && c.startOK {
		parts = append(parts, fmt.Sprintf("%s %.2fs", who, (o-c.other0).Seconds()))
	}
	if e, err := procCPU(c.emuPid); err == nil && c.emuOK {
		parts = append(parts, fmt.Sprintf("b2emu %.2fs", (e-c.emu0).Seconds()))
	}
	if len(parts) == 0 {
		return ""
	}
	return "CPU " + strings.Join(parts, ", ")
}

// setCPU gives every result of a workload the CPU note.
func setCPU(res []*result, note string) {
	for _, r := range res {
		if r != nil {
			r.cpu = note
		}
	}
}

// pid returns the emulator's process ID (0 when it is not running).
func (e *emulator) pid() int {
	if e == nil || e.cmd == nil || e.cmd.Process == nil {
		return 0
	}
	return e.cmd.Process.Pid
}

// cpu returns the CPU time the mount's process has used so far, or in all
// once it has exited.
func (m *mount) cpu() (time.Duration, bool) {
	if m.cmd == nil || m.cmd.Process == nil {
		return 0, false
	}
	if !m.alive() {
		if st := m.cmd.ProcessState; st != nil {
			return st.UserTime() + st.SystemTime(), true
		}
		return 0, false
	}
	d, err := procCPU(m.cmd.Process.Pid)
	return d, err == nil
}
