package workdirs

import (
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestSweep: a directory whose owner is gone is removed; one held, one just
// made, one kept and one sluice did not make stay.
func TestSweep(t *testing.T) {
	parent := t.TempDir()
	old := time.Now().Add(-time.Hour)
	mk := func(held bool) string {
		dir, release, err := Make(parent, "job1-")
		if err != nil {
			t.Fatal(err)
		}
		if !held {
			release() // its process died: the lock is gone with it
		} else {
			t.Cleanup(release)
		}
		return dir
	}
	dead, held, fresh, kept := mk(false), mk(true), mk(false), mk(false)
	if err := Keep(kept); err != nil {
		t.Fatal(err)
	}
	foreign := filepath.Join(parent, "job9-foreign")
	if err := os.MkdirAll(foreign, 0o755); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(parent, "unrelated")
	if err := os.MkdirAll(other, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{dead, held, kept, foreign, other} {
		os.Chtimes(d, old, old)
	}
	removed, err := Sweep(parent, "job*-*")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{dead}, removed); diff != "" {
		t.Errorf("removed (-want +got):\n%s", diff)
	}
	var left []string
	for _, d := range []string{dead, held, fresh, kept, foreign, other} {
		if _, err := os.Stat(d); err == nil {
			left = append(left, d)
		}
	}
	want := []string{held, fresh, kept, foreign, other}
	sort.Strings(left)
	sort.Strings(want)
	if diff := cmp.Diff(want, left); diff != "" {
		t.Errorf("left (-want +got):\n%s", diff)
	}
}
