package startgc

import (
	"runtime/debug"
	"testing"
)

// Until Done, the collector is off (the package's initialiser turned it off); Done gives back
// the setting the process started with.
func TestDoneRestoresTheStartingSetting(t *testing.T) {
	if got := debug.SetGCPercent(-1); got != -1 {
		t.Fatalf("before Done the collector is at %d%%, want off", got)
	}
	Done()
	got := debug.SetGCPercent(before)
	if got != before {
		t.Errorf("after Done the collector is at %d%%, want the starting %d%%", got, before)
	}
	if before == -1 {
		t.Log("GOGC=off in this test's environment: Done keeps it off")
	}
}
