package httpprobe

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// userHZ is the unit of the times in /proc/<pid>/stat: USER_HZ, what
// sysconf(_SC_CLK_TCK) returns, fixed at 100 by the Linux ABI on every
// architecture (the Prometheus Go client's procfs assumes 100 as well).
const userHZ = 100

// The process metrics that dashboards use, with the names, types and
// meaning of the Prometheus Go client's process collector.
const (
	helpCPU       = "Total user and system CPU time spent in seconds."
	helpResident  = "Resident memory size in bytes."
	helpVirtual   = "Virtual memory size in bytes."
	helpStartTime = "Start time of the process since unix epoch in seconds."
	helpOpenFDs   = "Number of open file descriptors."
	helpMaxFDs    = "Maximum number of open file descriptors."
)

// procStat is what /proc/self/stat (with /proc/stat's boot time) tells.
type procStat struct {
	cpuSeconds   float64 // utime + stime
	startTime    float64 // seconds since the epoch
	virtualBytes float64 // vsize
	residentPage float64 // rss, in pages
}

// writeProcess writes the process_ families from /proc; a family whose
// source cannot be read (no /proc mounted) is left out rather than failing
// the scrape.
func writeProcess(e *expo) {
	if st, err := readProcStat(); err == nil {
		e.one("process_cpu_seconds_total", typeCounter, helpCPU, st.cpuSeconds)
		e.one("process_resident_memory_bytes", typeGauge, helpResident, st.residentPage*float64(os.Getpagesize()))
		e.one("process_virtual_memory_bytes", typeGauge, helpVirtual, st.virtualBytes)
		e.one("process_start_time_seconds", typeGauge, helpStartTime, st.startTime)
	}
	if n, err := openFDs(); err == nil {
		e.one("process_open_fds", typeGauge, helpOpenFDs, float64(n))
	}
	if b, err := os.ReadFile("/proc/self/limits"); err == nil {
		if n, err := parseMaxFDs(b); err == nil {
			e.one("process_max_fds", typeGauge, helpMaxFDs, n)
		}
	}
}

func readProcStat() (procStat, error) {
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return procStat{}, err
	}
	sys, err := os.ReadFile("/proc/stat")
	if err != nil {
		return procStat{}, err
	}
	btime, err := parseBootTime(sys)
	if err != nil {
		return procStat{}, err
	}
	return parseStat(stat, btime)
}

// parseStat reads a /proc/<pid>/stat line (proc(5)): the command name is
// in parentheses and may hold spaces and parentheses itself, so the fields
// are counted from its last ')'. btime is the boot time, in seconds since
// the epoch.
func parseStat(b []byte, btime float64) (procStat, error) {
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return procStat{}, errors.New("/proc/self/stat: no ')' after the command name")
	}
	f := strings.Fields(string(b[end+1:])) // f[0] is field 3, state
	const utime, stime, starttime, vsize, rss = 14 - 3, 15 - 3, 22 - 3, 23 - 3, 24 - 3
	if len(f) <= rss {
		return procStat{}, fmt.Errorf("/proc/self/stat: %d fields, want at least %d", len(f)+2, rss+3)
	}
	var v [5]float64
	for i, k := range []int{utime, stime, starttime, vsize, rss} {
		n, err := strconv.ParseInt(f[k], 10, 64)
		if err != nil {
			return procStat{}, fmt.Errorf("/proc/self/stat field %d: %w", k+3, err)
		}
		v[i] = float64(n)
	}
	return procStat{cpuSeconds: (v[0] + v[1]) / userHZ, startTime: btime + v[2]/userHZ, virtualBytes: v[3], residentPage: v[4]}, nil
}

// parseBootTime reads the btime line of /proc/stat: the boot time in
// seconds since the epoch.
func parseBootTime(b []byte) (float64, error) {
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "btime "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/stat btime: %w", err)
			}
			return float64(n), nil
		}
	}
	return 0, errors.New("/proc/stat: no btime line")
}

// openFDs counts the entries of /proc/self/fd, the one open to read it
// included, as the client's procfs did.
func openFDs() (int, error) {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, err
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	return len(names), err
}

// parseMaxFDs reads the soft limit of "Max open files" in
// /proc/<pid>/limits; "unlimited" is the largest uint64, as procfs gave it.
func parseMaxFDs(b []byte) (float64, error) {
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			if f[0] == "unlimited" {
				return float64(^uint64(0)), nil
			}
			n, err := strconv.ParseUint(f[0], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/self/limits max open files: %w", err)
			}
			return float64(n), nil
		}
	}
	return 0, errors.New("/proc/self/limits: no max open files line")
}
