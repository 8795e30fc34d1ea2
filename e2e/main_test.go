// Package e2e drives the real sluice binary end to end: `sluice serve`,
// `sluice agent` and the CLI as separate processes on 127.0.0.1, with a real
// bare git repository pushed to from a work tree, signed webhooks, and
// processes killed the hard way.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// binEnv carries the freshly built binary's path from TestMain to the tests;
// an environment variable avoids package-level state.
const binEnv = "SLUICE_E2E_BIN"

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "sluice-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "creating temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	root, err := filepath.Abs("..")
	if err != nil {
		fmt.Fprintln(os.Stderr, "finding module root:", err)
		return 1
	}
	bin := filepath.Join(dir, "sluice")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/sluice")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building sluice: %v\n%s", err, out)
		return 1
	}
	if err := os.Setenv(binEnv, bin); err != nil {
		fmt.Fprintln(os.Stderr, "setting", binEnv, err)
		return 1
	}
	return m.Run()
}

func sluiceBin(t *testing.T) string {
	t.Helper()
	bin := os.Getenv(binEnv)
	if bin == "" {
		t.Fatal("binary not built: TestMain did not run")
	}
	return bin
}
