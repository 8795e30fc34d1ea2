package venvs

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/python"
)

// richEnv is an environment step writing what real environments hold:
// an executable script, a symlink to the interpreter, a file with
// content, a directory with other permissions.
func (w *world) richEnv() Step {
	dir := filepath.Join(w.root, "py")
	return Step{Name: "env", Fixed: true, Targets: []string{dir},
		Inputs: python.StepInputs{Values: map[string]string{"interpreter": "3.11"}},
		Run: func(context.Context) error {
			w.runs["env"]++
			sp := filepath.Join(dir, "lib", "python3.11", "site-packages")
			for _, d := range []string{filepath.Join(sp, "pip-25.0.dist-info"), filepath.Join(dir, "bin"), filepath.Join(dir, "private")} {
				if err := os.MkdirAll(d, 0o755); err != nil {
					return err
				}
			}
			if err := os.Chmod(filepath.Join(dir, "private"), 0o700); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(dir, "bin", "pip"), []byte("#!"+dir+"/bin/python\nimport pip\n"), 0o755); err != nil {
				return err
			}
			if err := os.WriteFile(filepath.Join(sp, "pip-25.0.dist-info", "RECORD"), []byte("pip/__init__.py,sha256=x,1\n"), 0o644); err != nil {
				return err
			}
			return os.Symlink("/usr/bin/python3", filepath.Join(dir, "bin", "python"))
		}}
}

// tree is everything a job could observe of its environments: each
// path's type, permissions, content or link target, and file mtimes.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		v := fi.Mode().String()
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			v += " -> " + l
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			v += " " + fi.ModTime().UTC().String() + " " + string(b)
		}
		out[rel] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

// A warm run restores by renaming the spare made in the background by the
// run before, and gets exactly the tree a copy from the kept environment
// gives (and the cold run had); each run leaves a spare for the next.
func TestWarmRestoreFromSpareEqualsCold(t *testing.T) {
	w := newWorld(t)
	w.ix.publish("beta", "beta-1.0-py3-none-any.whl")
	files := map[string]string{"req.txt": "beta\n"}
	steps := func() []Step {
		return []Step{w.richEnv(), w.install("pip install -r req.txt", "req.txt", map[string]string{"beta": "1.0"})}
	}
	w.job(w.newRun(files), steps()...)
	cold := tree(t, w.root)
	w.closeLast()
	recs := readRecords(filepath.Join(w.state, "envs", w.slot))
	if len(recs) != 1 {
		t.Fatalf("kept %d environments, want 1", len(recs))
	}
	spare := filepath.Join(recs[0].dir, spareName)
	for run := 2; run <= 3; run++ {
		// The spare's file, renamed into place, keeps its inode: the
		// restore took the spare rather than copying.
		want := inode(t, filepath.Join(spare, "py", "bin", "pip"))
		w.job(w.newRun(files), steps()...)
		if !w.noted("environment restored from") {
			t.Fatalf("run %d did not restore: %q", run, w.notes)
		}
		if got := inode(t, filepath.Join(w.root, "py", "bin", "pip")); got != want {
			t.Errorf("run %d copied instead of taking the spare", run)
		}
		if d := cmp.Diff(cold, tree(t, w.root)); d != "" {
			t.Errorf("run %d: restored from the spare differs from the cold run (-cold +warm):\n%s", run, d)
		}
		w.closeLast()
		if _, err := os.Stat(spare); err != nil {
			t.Fatalf("run %d left no spare for the next: %v", run, err)
		}
	}
	// Without a spare (or with only a half-made one) the restore copies,
	// with the same result.
	if err := os.RemoveAll(spare); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(recs[0].dir, sparePartial+"half", "py"), 0o755); err != nil {
		t.Fatal(err)
	}
	w.job(w.newRun(files), steps()...)
	if d := cmp.Diff(cold, tree(t, w.root)); d != "" {
		t.Errorf("restored by copying differs from the cold run (-cold +warm):\n%s", d)
	}
	w.closeLast()
	if _, err := os.Stat(filepath.Join(recs[0].dir, sparePartial+"half")); err == nil {
		t.Error("a half-made spare was left in place")
	}
	if w.runs["env"] != 1 || w.runs["pip install -r req.txt"] != 1 {
		t.Errorf("steps really run: %v", w.runs)
	}
}

// What a job does to its restored environment never reaches the next
// run: the spare was renamed away, and the next one is copied afresh from
// the kept environment.
func TestJobWritesDoNotReachTheNextRestore(t *testing.T) {
	w := newWorld(t)
	files := map[string]string{"req.txt": "a\n"}
	steps := func() []Step {
		return []Step{w.richEnv(), w.install("i", "req.txt", map[string]string{"a": "1"}, "a")}
	}
	w.job(w.newRun(files), steps()...)
	cold := tree(t, w.root)
	for run := 2; run <= 3; run++ {
		w.job(w.newRun(files), steps()...)
		if d := cmp.Diff(cold, tree(t, w.root)); d != "" {
			t.Errorf("run %d differs from the cold run (-cold +warm):\n%s", run, d)
		}
		// The job writes in place into what it was given.
		pip := filepath.Join(w.root, "py", "bin", "pip")
		f, err := os.OpenFile(pip, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteString("import evil\n"); err != nil {
			t.Fatal(err)
		}
		f.Close()
		if err := os.WriteFile(filepath.Join(w.root, "py", "planted.py"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// Two kept environments of one slot used in turn (main and a branch with
// other pins; a job with and without the sandbox) each keep a spare: every
// warm run takes its own instead of copying, and gets the tree its cold run
// had.
func TestAlternatingRecordsEachKeepASpare(t *testing.T) {
	w := newWorld(t)
	w.ix.publish("beta", "beta-1.0-py3-none-any.whl")
	w.ix.publish("gamma", "gamma-1.0-py3-none-any.whl")
	files := []map[string]string{{"req.txt": "beta\n"}, {"req.txt": "gamma\n"}}
	steps := func(pkg string) []Step {
		return []Step{w.richEnv(), w.install("pip install -r req.txt", "req.txt", map[string]string{pkg: "1.0"})}
	}
	pkgs := []string{"beta", "gamma"}
	cold := make([]map[string]string, 2)
	for i := range files {
		w.job(w.newRun(files[i]), steps(pkgs[i])...)
		cold[i] = tree(t, w.root)
		w.closeLast()
	}
	for run := 3; run <= 6; run++ {
		i := run % 2
		// Warm runs of both records leave their spares; from the second
		// round on, each run finds its own.
		w.job(w.newRun(files[i]), steps(pkgs[i])...)
		if !w.noted("environment restored from") {
			t.Fatalf("run %d did not restore: %q", run, w.notes)
		}
		if d := cmp.Diff(cold[i], tree(t, w.root)); d != "" {
			t.Errorf("run %d (%s) differs from its cold run (-cold +warm):\n%s", run, pkgs[i], d)
		}
		w.closeLast()
	}
	recs := readRecords(filepath.Join(w.state, "envs", w.slot))
	if len(recs) != 2 {
		t.Fatalf("kept %d environments, want 2", len(recs))
	}
	for _, r := range recs {
		if _, err := os.Stat(filepath.Join(r.dir, spareName)); err != nil {
			t.Errorf("kept environment %s has no spare after being used in turn: %v", filepath.Base(r.dir), err)
		}
	}
	// The next run of each takes its spare (the restored file keeps the
	// spare's inode) rather than copying.
	for run := 7; run <= 8; run++ {
		i := run % 2
		var rec string
		for _, r := range recs {
			if _, err := os.Stat(filepath.Join(r.dir, spareName)); err == nil && sameRecord(t, r.dir, pkgs[i]) {
				rec = r.dir
			}
		}
		if rec == "" {
			t.Fatalf("run %d: no spare for %s", run, pkgs[i])
		}
		want := inode(t, filepath.Join(rec, spareName, "py", "bin", "pip"))
		w.job(w.newRun(files[i]), steps(pkgs[i])...)
		if got := inode(t, filepath.Join(w.root, "py", "bin", "pip")); got != want {
			t.Errorf("run %d (%s) copied instead of taking its spare", run, pkgs[i])
		}
		w.closeLast()
	}
}

// sameRecord reports whether the kept environment in dir is the one that
// installed pkg: its spare holds pkg's files.
func sameRecord(t *testing.T, dir, pkg string) bool {
	t.Helper()
	for k := range tree(t, filepath.Join(dir, spareName)) {
		if strings.Contains(k, pkg) {
			return true
		}
	}
	return false
}
