package engine

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Every version of a report written while a step runs is kept, in order, the last one included
// although stop comes right after it (its event is still queued then), and each only once.
// The watch is the job's: another step's report, and anything else written in its directory,
// is not this step's.
func TestJUnitCaptureKeepsEachVersion(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "junit")
	w := newJUnitWatch(dir)
	defer w.close()
	write := func(name, body string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 20 {
		step := "step-" + string(rune('a'+i)) + ".xml"
		// Written between steps: no step's.
		write("step-late.xml", "<between/>")
		w.start(step)
		for _, f := range []struct{ name, body string }{
			{"step-late.xml", "<earlier/>"}, {step, "<first/>"}, {step, "<second/>"},
			{"other.xml", "<other/>"}, {step, "<third/>"},
		} {
			write(f.name, f.body)
		}
		var got []string
		for _, r := range w.stop() {
			got = append(got, string(r))
		}
		// The watch may see a version only after the next overwrote it (then it reads the
		// newer one twice and keeps it once): the last one is always there, never twice.
		if len(got) == 0 || got[len(got)-1] != "<third/>" {
			t.Fatalf("step %d: reports %q: want the last version last", i, got)
		}
		for j := 1; j < len(got); j++ {
			if got[j] == got[j-1] {
				t.Fatalf("step %d: reports %q: a version kept twice", i, got)
			}
		}
		for _, r := range got {
			if r == "<earlier/>" || r == "<other/>" || r == "<between/>" {
				t.Fatalf("step %d: reports %q: another file's report taken", i, got)
			}
		}
		if diff := cmp.Diff([]string{"<first/>", "<second/>", "<third/>"}, got); diff != "" && len(got) == 3 {
			t.Errorf("step %d: reports (-want +got):\n%s", i, diff)
		}
	}
}

// A step that writes no report gets none, even when the step before it wrote one.
func TestJUnitStepWithoutReport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "junit")
	w := newJUnitWatch(dir)
	defer w.close()
	w.start("one.xml")
	if err := os.WriteFile(filepath.Join(dir, "one.xml"), []byte("<one/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := w.stop(); len(got) != 1 {
		t.Fatalf("first step: %d reports, want 1", len(got))
	}
	w.start("two.xml")
	if got := w.stop(); len(got) != 0 {
		t.Fatalf("second step: reports %q, want none", got)
	}
}
