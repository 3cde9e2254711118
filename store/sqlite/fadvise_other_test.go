//go:build !linux

package sqlite_test

import (
	"errors"
	"os"
)

func fadviseDontNeed(*os.File) error { return errors.New("only on Linux") }
