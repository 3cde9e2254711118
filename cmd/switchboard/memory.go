package main

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math"
	"os"
	"path"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"

	"switchboard/server/ws"
)

// memoryLimit is the memory the process may use, as far as it can tell.
type memoryLimit struct {
	// bytes is the limit; 0: none found.
	bytes int64
	// source says where it was read.
	source string
}

// unlimitedV1 is where cgroup v1 starts to mean "no limit": it writes the
// largest page-aligned count it can (9223372036854771712 on 4 KiB pages).
const unlimitedV1 = 1 << 62

// cgroupMemoryLimit reads the memory limit of this process's own cgroup,
// and of its ancestors as far as they are visible (the tightest applies):
// memory.max under cgroup v2, memory.limit_in_bytes under v1. root is the
// file system's root ("/", or a test's directory). No cgroup, no memory
// controller or no limit is a limit of 0, not an error.
func cgroupMemoryLimit(root string) (memoryLimit, error) {
	dir, version, err := memoryCgroupDir(root)
	if err != nil || dir == "" {
		return memoryLimit{}, err
	}
	file := "memory.max"
	if version == 1 {
		file = "memory.limit_in_bytes"
	}
	var limit memoryLimit
	for d := dir; ; d = filepath.Dir(d) {
		b, err := os.ReadFile(filepath.Join(d, file))
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
			break // above the visible part of the hierarchy
		}
		if err != nil {
			return memoryLimit{}, err
		}
		s := strings.TrimSpace(string(b))
		if s != "max" {
			n, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return memoryLimit{}, fmt.Errorf("%s: %q is not a number of bytes", filepath.Join(d, file), s)
			}
			if n > 0 && n < unlimitedV1 && (limit.bytes == 0 || n < limit.bytes) {
				limit = memoryLimit{bytes: n, source: fmt.Sprintf("cgroup v%d %s", version, file)}
			}
		}
		if d == filepath.Dir(d) || len(d) <= len(root) {
			break
		}
	}
	return limit, nil
}

// memoryCgroupDir finds the directory of this process's memory cgroup from
// /proc/self/cgroup and /proc/self/mountinfo: the v1 memory controller's if
// it is mounted (a host may mount v1 and v2 side by side, with the memory
// controller on v1), else the v2 hierarchy's. "" when there is neither.
func memoryCgroupDir(root string) (dir string, version int, err error) {
	cgroups, err := os.ReadFile(filepath.Join(root, "proc/self/cgroup"))
	if errors.Is(err, fs.ErrNotExist) {
		return "", 0, nil // not Linux, or no /proc
	}
	if err != nil {
		return "", 0, err
	}
	var v1Path, v2Path string
	v1, v2 := false, false
	for _, line := range strings.Split(strings.TrimSpace(string(cgroups)), "\n") {
		// hierarchy-ID:controller-list:cgroup-path
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			v2Path, v2 = parts[2], true
		case slices.Contains(strings.Split(parts[1], ","), "memory"):
			v1Path, v1 = parts[2], true
		}
	}
	mounts, err := cgroupMounts(root)
	if err != nil {
		return "", 0, err
	}
	if m, ok := mounts["memory"]; ok && v1 {
		return m.dirOf(root, v1Path), 1, nil
	}
	if m, ok := mounts["cgroup2"]; ok && v2 {
		return m.dirOf(root, v2Path), 2, nil
	}
	return "", 0, nil
}

// cgroupMount is where a cgroup hierarchy is mounted: mountPoint shows the
// hierarchy's subtree at root.
type cgroupMount struct{ root, mountPoint string }

// dirOf is the directory of the cgroup at cgroupPath, under the file
// system's root fsRoot.
func (m cgroupMount) dirOf(fsRoot, cgroupPath string) string {
	rel := cgroupPath
	if m.root != "/" {
		// A mount of part of the hierarchy (a container's view without a
		// cgroup namespace) shows the paths below its root.
		rel = strings.TrimPrefix(cgroupPath, m.root)
	}
	return filepath.Join(fsRoot, m.mountPoint, path.Clean("/"+rel))
}

// cgroupMounts reads the cgroup mounts of /proc/self/mountinfo: the v2
// hierarchy under "cgroup2", v1 hierarchies under each of their
// controllers.
func cgroupMounts(root string) (map[string]cgroupMount, error) {
	f, err := os.Open(filepath.Join(root, "proc/self/mountinfo"))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	mounts := map[string]cgroupMount{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// id parent major:minor root mount-point options [optional...] - fstype source super-options
		fields := strings.Fields(sc.Text())
		sep := slices.Index(fields, "-")
		if sep < 5 || sep+3 > len(fields) {
			continue
		}
		m := cgroupMount{root: unescapeMount(fields[3]), mountPoint: unescapeMount(fields[4])}
		switch fields[sep+1] {
		case "cgroup2":
			mounts["cgroup2"] = m
		case "cgroup":
			if len(fields) > sep+3 {
				for _, opt := range strings.Split(fields[sep+3], ",") {
					mounts[opt] = m
				}
			}
		}
	}
	return mounts, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// softLimitShare is the share of a cgroup's limit given to the Go runtime
// as its soft limit: the rest is for memory the runtime does not count but
// the cgroup does (the binary's pages, SQLite's allocations, the kernel's
// socket buffers under cgroup v2).
const softLimitShare = 0.9

// socketBudget decides the WebSocket budget at start-up, and the Go
// runtime's soft memory limit where GOMEMLIMIT does not set one: from
// maxSockets if it is set, else from the memory limit (the smaller of
// GOMEMLIMIT and the cgroup's), else the default. It logs what it chose
// and why.
func socketBudget(maxSockets int, getenv func(string) string, cgroupRoot string, log *slog.Logger) ws.Budget {
	cg, err := cgroupMemoryLimit(cgroupRoot)
	if err != nil {
		log.Warn("could not read the cgroup's memory limit; sizing as if there were none", "err", err)
	}
	limit := cg
	switch goLimit := debug.SetMemoryLimit(-1); {
	case getenv("GOMEMLIMIT") != "":
		// The operator's soft limit (or "off") stands; a limit is also
		// the most the budget may plan for.
		if goLimit < math.MaxInt64 && (limit.bytes == 0 || goLimit < limit.bytes) {
			limit = memoryLimit{bytes: goLimit, source: "GOMEMLIMIT"}
		}
	case cg.bytes > 0:
		// A soft limit alone did not keep the server alive (GOMEMLIMIT=170MiB
		// under a 200 MB container): it makes the collector work harder as
		// memory nears it, but cannot free memory in use, and 2,000 sockets
		// had more in use than that, so the collector ran without pause and
		// the kernel still killed the process. With the budget keeping what
		// is in use to three fifths of the limit, the soft limit only has
		// the garbage of a burst to collect, and collects it before the
		// heap doubles (GOGC) into the cgroup's limit.
		soft := int64(float64(cg.bytes) * softLimitShare)
		debug.SetMemoryLimit(soft)
		log.Info("Go soft memory limit set from the cgroup's", "soft_limit_mib", soft>>20, "cgroup_limit_mib", cg.bytes>>20, "source", cg.source)
	}

	var b ws.Budget
	switch {
	case maxSockets > 0:
		b = ws.SocketBudget(maxSockets)
		if limit.bytes > 0 {
			if fit := ws.MemoryBudget(limit.bytes); b.Bytes > fit.Bytes {
				log.Warn("SWITCHBOARD_MAX_SOCKETS asks for more than the memory limit allows; a burst may exhaust it",
					"max_sockets", maxSockets, "memory_limit_mib", limit.bytes>>20, "sockets_that_fit", ws.SocketsThatFit(fit))
			}
		}
		log.Info("WebSocket budget from SWITCHBOARD_MAX_SOCKETS", budgetAttrs(b)...)
	case limit.bytes > 0:
		b = ws.MemoryBudget(limit.bytes)
		log.Info("WebSocket budget from the memory limit", append(budgetAttrs(b), "memory_limit_mib", limit.bytes>>20, "source", limit.source)...)
	default:
		b = ws.DefaultBudget()
		log.Info("WebSocket budget: no memory limit found (set SWITCHBOARD_MAX_SOCKETS, or run under a memory limit)", budgetAttrs(b)...)
	}
	return b
}

func budgetAttrs(b ws.Budget) []any {
	return []any{"max_sockets", b.Sockets, "sockets_and_subscriptions_mib", b.Bytes >> 20, "queued_messages_mib", b.QueueBytes >> 20,
		"socket_kib", ws.SocketBytes >> 10, "subscription_kib", ws.SubscriptionBytes >> 10}
}
