package sqlite

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/gofrs/flock"
)

// Why Open refuses a data dir; each error it returns for one of them wraps
// one of these and says what to do.
var (
	// ErrHeld: another server holds the data dir.
	ErrHeld = errors.New("another switchboard server holds the data dir")
	// ErrNotWritable: the server could not write the store.
	ErrNotWritable = errors.New("the store cannot be written")
	// ErrDamaged: the integrity check found the store damaged.
	ErrDamaged = errors.New("the store is damaged")
	// ErrLostData: the store is missing or empty, in a data dir that has
	// held one.
	ErrLostData = errors.New("the store is missing or empty, but this data dir has held one")
)

// The files of a data dir besides DBFile.
const (
	// LockFile is locked besides the directory itself, for servers that
	// lock only this file (before the directory lock was added), so that
	// a mix of versions on one data dir still excludes each other.
	LockFile = "switchboard.lock"
	// HeldDataFile marks a data dir that has held a store. It is written
	// once the store has a schema, never removed by the server, and
	// written again at any start that finds a store without it (one
	// restored into a new dir, or a dir of an older version).
	HeldDataFile = "switchboard.has-data"
)

// dirLock holds a data dir: the directory's own lock and the lock file.
type dirLock struct {
	releaseDir func() error
	file       *flock.Flock
}

func lockDataDir(dataDir string) (*dirLock, error) {
	held := func() error {
		return fmt.Errorf("sqlite: %w %s; stop it or use another data dir", ErrHeld, dataDir)
	}
	release, isHeld, err := lockDir(dataDir)
	if err != nil {
		return nil, fmt.Errorf("sqlite: lock data dir %s: %w", dataDir, err)
	}
	if isHeld {
		return nil, held()
	}
	// The directory lock comes first: the lock file may be deleted or
	// unwritable, and what it says matters only to older servers.
	file := flock.New(filepath.Join(dataDir, LockFile))
	locked, err := file.TryLock()
	if err != nil {
		_ = release()
		return nil, notWritable(dataDir, fmt.Errorf("lock file: %w", err))
	}
	if !locked {
		_ = release()
		return nil, held()
	}
	return &dirLock{releaseDir: release, file: file}, nil
}

func (l *dirLock) release() error {
	return errors.Join(l.file.Unlock(), l.releaseDir())
}

// checkWritable fails unless this process can create files in dataDir (as
// SQLite does for the write-ahead log and its index) and write the store's
// files that exist. SQLite itself opens a file it may not write read-only
// without saying so, and the server would then start, say it is ready and
// fail every write. It opens no file SQLite has open: closing one would
// drop SQLite's locks on it.
func checkWritable(dataDir string) error {
	f, err := os.CreateTemp(dataDir, ".switchboard-write-check-*")
	if err != nil {
		return notWritable(dataDir, err)
	}
	name := f.Name()
	err = errors.Join(f.Close(), os.Remove(name))
	if err != nil {
		return notWritable(dataDir, err)
	}
	for _, suffix := range []string{"", "-wal", "-shm"} {
		f, err := os.OpenFile(filepath.Join(dataDir, DBFile+suffix), os.O_RDWR, 0)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return notWritable(dataDir, err)
		}
		if err := f.Close(); err != nil {
			return notWritable(dataDir, err)
		}
	}
	return nil
}

func notWritable(dataDir string, err error) error {
	return fmt.Errorf("sqlite: %w (%v).\n"+
		"  The server writes its store in the data dir %s: %s, %s-wal and %s-shm.\n"+
		"  Check the owner and mode of the directory and its files, their immutable flag (lsattr),\n"+
		"  and whether the file system is mounted read-only", ErrNotWritable, err, dataDir, DBFile, DBFile, DBFile)
}

// heldData reports whether dataDir has held a store.
func heldData(dataDir string) (bool, error) {
	_, err := os.Stat(filepath.Join(dataDir, HeldDataFile))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("sqlite: %w", err)
	}
	return true, nil
}

// markHeldData writes HeldDataFile: whole or not at all (a temporary file
// renamed into place), and on disk before the server serves.
func markHeldData(dataDir string, now time.Time) error {
	text := fmt.Sprintf(`Switchboard found a store in this directory on %s.
While this file is here, a missing or empty %s is refused at start-up, since
its data would be lost: restore a backup (switchboard restore BACKUP_FILE), or
start once with --fresh-store to begin with an empty store on purpose.
Keep this file with %s.
`, now.UTC().Format(time.RFC3339), DBFile, DBFile)
	if err := writeFileSynced(filepath.Join(dataDir, HeldDataFile), []byte(text)); err != nil {
		return fmt.Errorf("sqlite: mark the data dir as holding a store: %w", err)
	}
	return nil
}

// lostData is the refusal of a missing or empty store in a dir that has
// held one; what says what became of it.
func lostData(dataDir, what string) error {
	return fmt.Errorf("sqlite: %w: %s in %s %s, but %s says this directory has held a store, so its data is gone\n"+
		"  (the file was deleted, truncated or replaced). Refusing to start an empty store in its place.\n"+
		"  Restore the last backup:    switchboard restore BACKUP_FILE --data-dir %s\n"+
		"  Or start empty on purpose:  start once with --fresh-store (SWITCHBOARD_FRESH_STORE=true)",
		ErrLostData, DBFile, dataDir, what, HeldDataFile, dataDir)
}

// damaged is the refusal of a store the integrity check found damaged.
func damaged(dbPath string, problems []string) error {
	return fmt.Errorf("sqlite: %w: %s (PRAGMA quick_check: %s). Refusing to serve it.\n"+
		"  Restore the last backup:  switchboard restore BACKUP_FILE --data-dir %s\n"+
		"  (it keeps the damaged files aside; README \"Backups\" says how to salvage rows without a backup)",
		ErrDamaged, dbPath, damageSummary(problems), filepath.Dir(dbPath))
}

// writeFileSynced replaces path with data, whole: a temporary file beside
// it is written, synced and renamed over it, and the directory synced.
func writeFileSynced(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Sync()
	}
	if err = errors.Join(err, tmp.Close()); err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return err
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes the entries of dir (a rename, a new file) durable.
func syncDir(dir string) error {
	if runtime.GOOS == "windows" {
		return nil // a directory cannot be opened for syncing there
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// storeFileState says whether the store's file is missing or empty.
func storeFileState(dbPath string) (what string, empty bool, err error) {
	st, err := os.Stat(dbPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return "is missing", true, nil
	case err != nil:
		return "", false, fmt.Errorf("sqlite: %w", err)
	case st.Size() == 0:
		return "is empty (0 bytes)", true, nil
	}
	return "", false, nil
}
