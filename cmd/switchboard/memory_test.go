package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"switchboard/server/ws"
)

// fakeRoot writes files (path → content) under a new directory, as a file
// system's root.
func fakeRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

const (
	mountinfoV2 = `22 1 0:21 / / rw - overlay overlay rw
30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw
`
	// A host with v1 controllers and the v2 hierarchy side by side; the
	// memory controller is on v1.
	mountinfoHybrid = `22 1 0:21 / / rw - ext4 /dev/sda1 rw
30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
40 30 0:37 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
)

func TestCgroupMemoryLimit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		files  map[string]string
		want   int64
		source string
	}{
		{
			name: "v2 in a container",
			files: map[string]string{
				"proc/self/cgroup":             "0::/\n",
				"proc/self/mountinfo":          mountinfoV2,
				"sys/fs/cgroup/memory.max":     "209715200\n",
				"sys/fs/cgroup/memory.current": "1000\n",
			},
			want: 200 << 20, source: "cgroup v2 memory.max",
		},
		{
			name: "v2 without a limit",
			files: map[string]string{
				"proc/self/cgroup":         "0::/\n",
				"proc/self/mountinfo":      mountinfoV2,
				"sys/fs/cgroup/memory.max": "max\n",
			},
		},
		{
			name: "v2 on a host: the tightest of the cgroup and its ancestors",
			files: map[string]string{
				"proc/self/cgroup":                                          "0::/system.slice/switchboard.service\n",
				"proc/self/mountinfo":                                       mountinfoV2,
				"sys/fs/cgroup/system.slice/memory.max":                     "104857600\n",
				"sys/fs/cgroup/system.slice/switchboard.service/memory.max": "max\n",
			},
			want: 100 << 20, source: "cgroup v2 memory.max",
		},
		{
			name: "v1 beside v2, as on this kind of host",
			files: map[string]string{
				"proc/self/cgroup":                                   "9:name=systemd:/\n4:memory:/jobs/42\n1:cpu:/\n0::/\n",
				"proc/self/mountinfo":                                mountinfoHybrid,
				"sys/fs/cgroup/memory/memory.limit_in_bytes":         "9223372036854771712\n",
				"sys/fs/cgroup/memory/jobs/memory.limit_in_bytes":    "9223372036854771712\n",
				"sys/fs/cgroup/memory/jobs/42/memory.limit_in_bytes": "209715200\n",
			},
			want: 200 << 20, source: "cgroup v1 memory.limit_in_bytes",
		},
		{
			name: "v1 without a limit",
			files: map[string]string{
				"proc/self/cgroup":                           "4:memory:/\n0::/\n",
				"proc/self/mountinfo":                        mountinfoHybrid,
				"sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n",
			},
		},
		{
			name: "v1 mounted at the container's own cgroup (no cgroup namespace)",
			files: map[string]string{
				"proc/self/cgroup":                           "4:memory:/docker/abc\n",
				"proc/self/mountinfo":                        "34 30 0:31 /docker/abc /sys/fs/cgroup/memory ro,relatime - cgroup cgroup rw,memory\n",
				"sys/fs/cgroup/memory/memory.limit_in_bytes": "536870912\n",
			},
			want: 512 << 20, source: "cgroup v1 memory.limit_in_bytes",
		},
		{
			name:  "no cgroups at all",
			files: map[string]string{"etc/hostname": "box\n"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cgroupMemoryLimit(fakeRoot(t, tc.files))
			if err != nil {
				t.Fatal(err)
			}
			if got.bytes != tc.want || (tc.want != 0 && got.source != tc.source) {
				t.Fatalf("got %d from %q, want %d from %q", got.bytes, got.source, tc.want, tc.source)
			}
		})
	}
}

func TestSocketBudgetComesFromTheSettingTheMemoryLimitOrTheDefault(t *testing.T) {
	limited := fakeRoot(t, map[string]string{
		"proc/self/cgroup":         "0::/\n",
		"proc/self/mountinfo":      mountinfoV2,
		"sys/fs/cgroup/memory.max": "209715200\n",
	})
	unlimited := fakeRoot(t, map[string]string{"etc/hostname": "box\n"})
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	// GOMEMLIMIT is set here, so that no soft limit is set on the test's
	// own process; the runtime did not read it, so it does not count.
	env := func(string) string { return "off" }

	if b := socketBudget(0, env, limited, log); b != ws.MemoryBudget(200<<20) {
		t.Errorf("from the cgroup: %+v", b)
	}
	if !strings.Contains(logs.String(), "WebSocket budget from the memory limit") || !strings.Contains(logs.String(), fmt.Sprintf("max_sockets=%d", ws.MemoryBudget(200<<20).Sockets)) {
		t.Errorf("logs: %s", logs.String())
	}
	// 200 MiB holds 268 sockets of eight subscriptions each.
	fit := ws.SocketsThatFit(ws.MemoryBudget(200 << 20))
	logs.Reset()
	if b := socketBudget(fit, env, limited, log); b != ws.SocketBudget(fit) || strings.Contains(logs.String(), "more than the memory limit allows") {
		t.Errorf("from a setting that fits (%d): %+v\n%s", fit, b, logs.String())
	}
	logs.Reset()
	if b := socketBudget(fit+1, env, limited, log); b != ws.SocketBudget(fit+1) || !strings.Contains(logs.String(), "more than the memory limit allows") ||
		!strings.Contains(logs.String(), fmt.Sprintf("sockets_that_fit=%d", fit)) {
		t.Errorf("from a setting past the limit: %+v\n%s", b, logs.String())
	}
	logs.Reset()
	if b := socketBudget(0, env, unlimited, log); b != ws.DefaultBudget() || !strings.Contains(logs.String(), "no memory limit found") {
		t.Errorf("without a limit: %+v\n%s", b, logs.String())
	}
}

func TestMaxSocketsSetting(t *testing.T) {
	for in, want := range map[string]int{"": 0, "1": 1, "2000": 2000} {
		if got, err := parseMaxSockets(in); err != nil || got != want {
			t.Errorf("%q: %d %v", in, got, err)
		}
	}
	for _, in := range []string{"0", "-1", "many", "1e3", "2k"} {
		if _, err := parseMaxSockets(in); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
