package jsonindex

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

type counter struct {
	N     int      `json:"n"`
	Names []string `json:"names"`
}

func TestWith(t *testing.T) {
	f := File[counter]{Dir: t.TempDir(), Store: "test store", Name: "test index"}
	read := func() counter {
		t.Helper()
		var got counter
		if err := f.With(false, func(c *counter) error { got = *c; return nil }); err != nil {
			t.Fatal(err)
		}
		return got
	}
	if d := cmp.Diff(counter{}, read()); d != "" {
		t.Errorf("before any write (-want +got):\n%s", d)
	}
	if err := f.With(true, func(c *counter) error { c.N, c.Names = 1, []string{"a"}; return nil }); err != nil {
		t.Fatal(err)
	}
	// Neither a read-only call nor a failing one saves what fn changed.
	if err := f.With(false, func(c *counter) error { c.N = 99; return nil }); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	if err := f.With(true, func(c *counter) error { c.N = 98; return boom }); !errors.Is(err, boom) {
		t.Fatalf("With = %v, want %v", err, boom)
	}
	if d := cmp.Diff(counter{N: 1, Names: []string{"a"}}, read()); d != "" {
		t.Errorf("after writes (-want +got):\n%s", d)
	}
}

// TestWithSerialises checks that concurrent read-modify-write cycles lose
// no update: each File value takes its own lock, as separate processes do.
func TestWithSerialises(t *testing.T) {
	dir := t.TempDir()
	const n = 20
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			f := File[counter]{Dir: dir, Store: "test store", Name: "test index"}
			errs <- f.With(true, func(c *counter) error { c.N++; return nil })
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var got counter
	f := File[counter]{Dir: dir, Store: "test store", Name: "test index"}
	if err := f.With(false, func(c *counter) error { got = *c; return nil }); err != nil {
		t.Fatal(err)
	}
	if got.N != n {
		t.Errorf("N = %d after %d increments", got.N, n)
	}
}

func TestWithCorruptIndex(t *testing.T) {
	dir := t.TempDir()
	f := File[counter]{Dir: dir, Store: "test store", Name: "test index"}
	if err := f.With(true, func(c *counter) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.json"), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := f.With(false, func(*counter) error { return nil }); err == nil {
		t.Error("With on a corrupt index succeeded")
	}
}
