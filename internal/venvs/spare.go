package venvs

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// A restore is the bulk of a warm run's own time: tens of megabytes in
// thousands of files copied from the kept environment into the job's
// environments directory. A spare is that copy made ahead of time, in the
// background while the previous run's later steps ran, by the same copier
// (so the same tree: contents, modes, mtimes, links), and kept in the
// state directory beside the environment it copies, where no job can
// reach it. A restore renames it into place and starts the next spare;
// without one (first warm run, another file system, a half-made spare) it
// copies as before.
const (
	spareName    = "spare"   // a finished spare of the record's venvs
	sparePartial = ".spare-" // prefix of spares being made or taken
)

// startSpare makes, in the background, the spare of the kept environment
// in dir, unless it has one; the slot's other spares but the newest go
// (dropSpares). Close waits for it.
func (m *Manager) startSpare(dir string) {
	m.waitSpare()
	if _, err := os.Stat(filepath.Join(dir, spareName)); err == nil {
		return
	}
	done := make(chan struct{})
	m.spare = done
	go func() {
		defer close(done)
		dropSpares(filepath.Dir(dir), dir)
		_ = makeSpare(dir)
	}()
}

func (m *Manager) waitSpare() {
	if m.spare != nil {
		<-m.spare
		m.spare = nil
	}
}

// maxSpares is how many kept environments of a slot keep a spare: the one
// just restored and the one restored before it, so that two records used
// in turn (a branch with other pins and main, a job with and without the
// sandbox) each find theirs, while disk stays bounded.
const maxSpares = 2

// dropSpares removes any half-made spare and the spares of the slot's kept
// environments other than keep's and the newest maxSpares-1 others.
func dropSpares(slot, keep string) {
	type spare struct {
		path string
		made time.Time
	}
	var others []spare
	recs, _ := os.ReadDir(slot)
	for _, r := range recs {
		dir := filepath.Join(slot, r.Name())
		des, _ := os.ReadDir(dir)
		for _, de := range des {
			p := filepath.Join(dir, de.Name())
			switch {
			case strings.HasPrefix(de.Name(), sparePartial):
				_ = os.RemoveAll(p)
			case de.Name() == spareName && dir != keep:
				fi, err := os.Stat(p)
				if err != nil {
					continue
				}
				others = append(others, spare{p, fi.ModTime()})
			}
		}
	}
	sort.Slice(others, func(i, j int) bool { return others[i].made.After(others[j].made) })
	for i, o := range others {
		if i >= maxSpares-1 {
			_ = os.RemoveAll(o.path)
		}
	}
}

// makeSpare copies dir/venvs into dir/spare, whole or not at all.
func makeSpare(dir string) error {
	tmp, err := os.MkdirTemp(dir, sparePartial)
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // gone once renamed
	src := filepath.Join(dir, "venvs")
	vm, err := plainManifest(src)
	if err != nil {
		return err
	}
	r, err := os.OpenRoot(tmp)
	if err != nil {
		return err
	}
	err = (&copier{}).toJob(src, vm, r)
	r.Close()
	if err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, spareName))
}

// takeSpare moves the spare of the kept environment in dir into place as
// root (emptied by the caller), reporting whether it did; when it did
// not, root is an empty directory again and the caller copies.
func takeSpare(dir, root string) bool {
	// Claim the spare first so that a failure half-way never leaves a
	// partial spare to be taken by a later run.
	claimed := filepath.Join(dir, sparePartial+"taken")
	_ = os.RemoveAll(claimed)
	if err := os.Rename(filepath.Join(dir, spareName), claimed); err != nil {
		return false
	}
	defer os.RemoveAll(claimed)
	fi, err := os.Stat(root)
	if err != nil {
		return false
	}
	if err := os.Chmod(claimed, fi.Mode().Perm()); err != nil {
		return false
	}
	// root is empty (os.Remove refuses otherwise); the rename fails (EXDEV)
	// when the state directory is on another file system.
	if err := os.Remove(root); err != nil {
		return false
	}
	if err := os.Rename(claimed, root); err != nil {
		_ = os.MkdirAll(root, fi.Mode().Perm())
		return false
	}
	return true
}
