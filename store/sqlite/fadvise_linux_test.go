package sqlite_test

import (
	"os"
	"syscall"
)

// fadviseDontNeed is posix_fadvise(POSIX_FADV_DONTNEED) over all of f.
func fadviseDontNeed(f *os.File) error {
	const dontNeed = 4
	if _, _, errno := syscall.Syscall6(syscall.SYS_FADVISE64, f.Fd(), 0, 0, dontNeed, 0, 0); errno != 0 {
		return errno
	}
	return nil
}
