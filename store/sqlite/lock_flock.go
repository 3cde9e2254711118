//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package sqlite

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockDir takes an exclusive flock on the directory itself. No file in the
// directory carries the lock, so deleting any of them (the lock file
// included) cannot let a second server in; and the lock belongs to this
// open directory, not to the process (unlike fcntl's), so a second Open in
// the same process is refused too. The OS drops it when the process dies.
func lockDir(dir string) (release func() error, held bool, err error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, false, err
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if errors.Is(err, syscall.EWOULDBLOCK) {
		_ = f.Close()
		return nil, true, nil
	}
	if err != nil {
		_ = f.Close()
		return nil, false, fmt.Errorf("flock: %w", err)
	}
	// Closing the only descriptor of the open directory releases the lock.
	return f.Close, false, nil
}
