package venvs

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// record is what a kept environment remembers of how it was made: the
// ordered steps whose results it holds, each with what it read, the
// distributions whose index pages decided it (and how those pages looked),
// and what the steps changed in the workspace.
type record struct {
	Version   int          `json:"version"`
	Created   time.Time    `json:"created"`
	Root      string       `json:"root"`
	Workspace string       `json:"workspace"`
	Steps     []stepRecord `json:"steps"`
	Delta     delta        `json:"delta"`
	// Bases are the digests, before the steps ran, of the workspace files
	// the steps modified or deleted: a restore needs them unchanged.
	Bases map[string]string `json:"bases,omitempty"`

	dir string // where it is kept
}

const recordVersion = 2

// stepRecord is one applied step.
type stepRecord struct {
	Name   string            `json:"name"`
	Chain  string            `json:"chain"` // key of the whole prefix through this step
	Inputs map[string]string `json:"inputs"`
	// Pages maps the distributions the index decided to the digest of the
	// files it offered for them when the step ran.
	Pages map[string]string `json:"pages,omitempty"`
}

// chainKey extends a prefix's key with one more step's.
func chainKey(prev, step string) string {
	h := sha256.Sum256([]byte("sluice-chain-v2\x00" + prev + "\x00" + step))
	return hex.EncodeToString(h[:])
}

const recordFile = "record.json"

// readRecords loads the kept environments of a slot, newest first.
func readRecords(dir string) []*record {
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []*record
	for _, de := range des {
		if !de.IsDir() || de.Name()[0] == '.' {
			continue
		}
		d := filepath.Join(dir, de.Name())
		b, err := os.ReadFile(filepath.Join(d, recordFile))
		if err != nil {
			continue
		}
		var r record
		if json.Unmarshal(b, &r) != nil || r.Version != recordVersion || len(r.Steps) == 0 {
			continue
		}
		r.dir = d
		out = append(out, &r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out
}

func (r *record) write() error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the environment record: %w", err)
	}
	return os.WriteFile(filepath.Join(r.dir, recordFile), b, 0o644)
}

// prune keeps the newest keep records of a slot (and the one named
// current), removing the rest and any half-written directory.
func prune(dir string, keep int, current string) error {
	recs := readRecords(dir)
	var errs []error
	kept := 0
	for _, r := range recs {
		if filepath.Base(r.dir) == current || kept < keep {
			kept++
			continue
		}
		errs = append(errs, os.RemoveAll(r.dir))
	}
	des, _ := os.ReadDir(dir)
	for _, de := range des {
		if de.Name()[0] == '.' && de.IsDir() {
			if fi, err := de.Info(); err == nil && time.Since(fi.ModTime()) > time.Hour {
				errs = append(errs, os.RemoveAll(filepath.Join(dir, de.Name())))
			}
		}
	}
	return errors.Join(errs...)
}
