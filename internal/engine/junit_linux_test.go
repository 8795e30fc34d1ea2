package engine

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// Every version of a report written while a step runs is kept, in order, the last one included
// although stop comes right after it (its event is still queued then), and each only once.
func TestJUnitCaptureKeepsEachVersion(t *testing.T) {
	for range 20 {
		dir := filepath.Join(t.TempDir(), "junit")
		c := startJUnitCapture(dir, "step-b.xml")
		// The directory is the job's: an earlier step's report, and anything else written
		// there, is not this step's.
		for _, f := range []struct{ name, body string }{
			{"step-a.xml", "<earlier/>"}, {"step-b.xml", "<first/>"}, {"step-b.xml", "<second/>"},
			{"other.xml", "<other/>"}, {"step-b.xml", "<third/>"},
		} {
			if err := os.WriteFile(filepath.Join(dir, f.name), []byte(f.body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		var got []string
		for _, r := range c.stop() {
			got = append(got, string(r))
		}
		// The watch may see a version only after the next overwrote it (then it reads the
		// newer one twice and keeps it once): the last one is always there, never twice.
		if len(got) == 0 || got[len(got)-1] != "<third/>" {
			t.Fatalf("reports %q: want the last version last", got)
		}
		for i := 1; i < len(got); i++ {
			if got[i] == got[i-1] {
				t.Fatalf("reports %q: a version kept twice", got)
			}
		}
		if diff := cmp.Diff([]string{"<first/>", "<second/>", "<third/>"}, got); diff != "" && len(got) == 3 {
			t.Errorf("reports (-want +got):\n%s", diff)
		}
	}
}
