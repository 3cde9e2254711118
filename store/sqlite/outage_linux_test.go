package sqlite_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"switchboard/app"
	"switchboard/internal/outagetest"
	"switchboard/internal/wsclient"
)

// A real full disk under a running server: the data dir is a small tmpfs,
// filled to the last byte while agents are connected, then freed.
func TestAFullDiskDegradesAndDamagesNothing(t *testing.T) {
	dir := mountSmallDisk(t, 16<<20)
	const timeout = 2 * time.Second
	logs := &outagetest.Log{}
	a, err := app.New(context.Background(), app.Config{
		DataDir: dir, Keys: benchKeys, PresenceTimeout: timeout, Jobs: true,
		Logger: slog.New(slog.NewTextHandler(logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wsclient.Wait)
		defer cancel()
		if err := a.Shutdown(ctx); err != nil {
			t.Errorf("shutting down: %v", err)
		}
		api.Close()
	})
	var filler string
	outagetest.Run(t, outagetest.Server{URL: api.URL, Secret: benchKeys.Secret, PresenceTimeout: timeout, Logs: logs},
		outagetest.Outage{
			Start: func(t *testing.T) { filler = fillDisk(t, dir) },
			End: func(t *testing.T) {
				if err := os.Remove(filler); err != nil {
					t.Fatal(err)
				}
			},
			Reads:       true,
			ReadyWithin: 10 * time.Second,
		})
}

// mountSmallDisk mounts a tmpfs of size bytes on a temporary directory for
// the test. Mounting needs root (CI runs as root): without the permission
// the test skips, except under CI=true, where it fails.
func mountSmallDisk(t *testing.T, size int) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "disk")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+strconv.Itoa(size)); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("mounting a tmpfs to fill: %v (CI=true: CI runs as root, so this must not skip)", err)
		}
		t.Skipf("mounting a tmpfs to fill needs root: %v", err)
	}
	// Registered before the server's cleanups, so it runs after them.
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmounting the tmpfs: %v", err)
		}
	})
	return dir
}

// fillDisk writes a file into dir until the disk is full, to the last
// byte, and returns its path.
func fillDisk(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := make([]byte, 64<<10)
	for _, n := range []int{len(block), 1} {
		for {
			if _, err := f.Write(block[:n]); err != nil {
				if !errors.Is(err, syscall.ENOSPC) {
					t.Fatalf("filling the disk: %v", err)
				}
				break
			}
		}
	}
	return path
}
