//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package sqlite

// lockDir does nothing where directories cannot be flocked: there, the lock
// file alone holds the data dir, and deleting it lets a second server in.
func lockDir(string) (release func() error, held bool, err error) {
	return func() error { return nil }, false, nil
}
