package sqlite

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
)

// The write-ahead log's format (sqlite.org/fileformat.html#walformat): a
// 32-byte header, then frames of a 24-byte header and one page each.
const (
	walHeaderSize      = 32
	walFrameHeaderSize = 24
	walMagicLE         = 0x377f0682 // checksums of little-endian words
	walMagicBE         = 0x377f0683 // checksums of big-endian words
)

// walDamage is what checkWAL found wrong in a write-ahead log.
type walDamage struct {
	frames     int // the log's frames: up to the last that carries its salts
	badFrame   int // the first frame SQLite would not replay (1-based)
	lostCommit int // transactions committed after it, which SQLite would drop
}

// sure reports whether the damage is certain: a transaction committed
// after the bad frame and before the last one was synced, and so
// acknowledged, before the crash could have torn anything.
func (d *walDamage) sure() bool { return d.lostCommit >= 2 }

// checkWAL looks for damage in the write-ahead log at path that SQLite
// would pass over in silence: on opening, it replays frames up to the
// first whose salt or checksum is wrong and drops the rest, committed
// transactions included, and its next checkpoint erases them for good.
//
// A bad frame followed by frames that are whole (salts of this log,
// checksums that chain on from the stored checksum of the frame before)
// and commit a transaction is either damage or a crash: the store syncs
// the log at every commit (synchronous=FULL), so a crash can tear only the
// frames of the last transaction, which was never acknowledged. So one
// commit after the bad frame may be a crash; two or more are damage to
// acknowledged writes (sure() says which). It returns nil when the log is
// missing, empty, or has no whole commit after a bad frame (a torn tail).
// Run it before SQLite opens the store, while nothing else may.
func checkWAL(path string) (*walDamage, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var hdr [walHeaderSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, nil // no header: SQLite ignores the log, and so may we
	}
	magic := binary.BigEndian.Uint32(hdr[0:4])
	var order binary.ByteOrder
	switch magic {
	case walMagicLE:
		order = binary.LittleEndian
	case walMagicBE:
		order = binary.BigEndian
	default:
		return nil, nil
	}
	pageSize := int(binary.BigEndian.Uint32(hdr[8:12]))
	if pageSize == 1 {
		pageSize = 65536
	}
	if pageSize < 512 || pageSize > 65536 || pageSize&(pageSize-1) != 0 {
		return nil, nil
	}
	s0, s1 := walChecksum(order, 0, 0, hdr[:24])
	if s0 != binary.BigEndian.Uint32(hdr[24:28]) || s1 != binary.BigEndian.Uint32(hdr[28:32]) {
		return nil, nil // SQLite treats a log with a bad header as empty
	}
	salt := hdr[16:24]

	frame := make([]byte, walFrameHeaderSize+pageSize)
	var d walDamage
	read := 0 // frames read; beyond the log's end lie frames of older logs
	// prev is the stored checksum of the frame before, which the next
	// frame's checksum continues from, whether or not that frame was whole.
	prev0, prev1 := s0, s1
	for {
		if _, err := io.ReadFull(r, frame); err != nil {
			break // the end, or a torn last frame
		}
		read++
		fh := frame[:walFrameHeaderSize]
		ours := string(fh[8:16]) == string(salt)
		if ours {
			d.frames = read
		}
		c0, c1 := walChecksum(order, prev0, prev1, fh[:8])
		c0, c1 = walChecksum(order, c0, c1, frame[walFrameHeaderSize:])
		whole := ours && binary.BigEndian.Uint32(fh[0:4]) != 0 &&
			c0 == binary.BigEndian.Uint32(fh[16:20]) && c1 == binary.BigEndian.Uint32(fh[20:24])
		commits := binary.BigEndian.Uint32(fh[4:8]) != 0
		switch {
		case !whole && d.badFrame == 0:
			d.badFrame = read
		case whole && commits && d.badFrame != 0:
			d.lostCommit++
		}
		prev0, prev1 = binary.BigEndian.Uint32(fh[16:20]), binary.BigEndian.Uint32(fh[20:24])
	}
	if d.lostCommit == 0 {
		return nil, nil
	}
	return &d, nil
}

// walChecksum continues the log's checksum (s0, s1) over b, a multiple of
// 8 bytes, read as 32-bit words in order.
func walChecksum(order binary.ByteOrder, s0, s1 uint32, b []byte) (uint32, uint32) {
	for i := 0; i+8 <= len(b); i += 8 {
		s0 += order.Uint32(b[i:]) + s1
		s1 += order.Uint32(b[i+4:]) + s0
	}
	return s0, s1
}

// walDamaged is the refusal of a store whose write-ahead log is damaged.
func walDamaged(dataDir string, d *walDamage) error {
	return fmt.Errorf("sqlite: %w: its write-ahead log %s-wal is damaged at frame %d of %d, and %d transactions committed after it\n"+
		"  would be dropped without a word if the server started (SQLite stops replaying the log at the first bad frame,\n"+
		"  and its next checkpoint erases the rest). Refusing to start; the files are left as they are.\n"+
		"  Restore the last backup:  switchboard restore BACKUP_FILE --data-dir %s\n"+
		"  Or keep what precedes the damage, losing those transactions:\n"+
		"    switchboard backup BEFORE_DAMAGE.db --data-dir %s && switchboard restore BEFORE_DAMAGE.db --data-dir %s\n"+
		"  (restore keeps the damaged store and its log aside)",
		ErrDamaged, DBFile, d.badFrame, d.frames, d.lostCommit, dataDir, dataDir, dataDir)
}
