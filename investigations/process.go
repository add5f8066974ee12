package investigations

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
)

// procIdentity names a process on this host well enough to tell, later,
// whether it is still alive: the pid plus a token (boot id and start time on
// Linux) that changes if the pid is reused or the host rebooted.
type procIdentity struct {
	pid   int
	token string
}

func selfIdentity() procIdentity {
	return procIdentity{pid: os.Getpid(), token: processToken(os.Getpid())}
}

// processToken is "<boot id>:<start tick>" from /proc, or "" where /proc is
// not available.
func processToken(pid int) string {
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return ""
	}
	start, err := procStartTick(pid)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(boot)) + ":" + start
}

// procStartTick reads field 22 (starttime) of /proc/PID/stat. The command
// name in field 2 may hold spaces and parentheses, so count from the last ')'.
func procStartTick(pid int) (string, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", err
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return "", errors.New("malformed stat")
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); starttime is field 22.
	if len(f) < 20 {
		return "", errors.New("short stat")
	}
	return f[19], nil
}

// alive reports whether the process that wrote (pid, token) on this host is
// still running.
func alive(pid int, token string) bool {
	if pid <= 0 {
		return false
	}
	if token != "" {
		boot, _, _ := strings.Cut(token, ":")
		now := processToken(pid)
		if now != "" {
			return now == token
		}
		// No such process now, or /proc unreadable: decide by boot id.
		if b, err := os.ReadFile("/proc/sys/kernel/random/boot_id"); err == nil {
			if strings.TrimSpace(string(b)) != boot {
				return false // rebooted since: every process of that boot is gone
			}
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); errors.Is(err, os.ErrNotExist) {
				return false
			}
		}
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
