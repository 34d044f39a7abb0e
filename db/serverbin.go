package db

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
)

// ServerBinDir finds the newest installed Postgres server binaries (initdb,
// pg_ctl, pg_resetwal), for the private clusters of `keytask dev` and of tests.
func ServerBinDir() (string, error) {
	// initdb on the PATH may be a link into the server's directory, which also
	// holds the programs (pg_resetwal) that are linked nowhere.
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		return filepath.Dir(p), nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Strings(dirs)
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "initdb")); err == nil {
			return dirs[i], nil
		}
	}
	return "", errors.New("no Postgres server binaries installed")
}
