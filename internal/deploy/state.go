package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/sluice-ci/sluice/internal/fslock"
)

// state is what is remembered about one name: the spec running now and,
// newest last, the specs that ran before it. Rollback pops the history, so
// repeated rollbacks walk back through earlier deployments.
type state struct {
	Current *Target  `json:"current,omitempty"`
	History []Target `json:"history,omitempty"`
}

func statePath(stateDir, name string) string {
	return filepath.Join(stateDir, name+".json")
}

func loadState(stateDir, name string) (state, error) {
	var st state
	p := statePath(stateDir, name)
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("reading deployment state: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("reading deployment state %s: %w", p, err)
	}
	return st, nil
}

// saveState writes through a temporary file and a rename so a crash never
// leaves a half-written state that would lose the rollback target.
func saveState(stateDir, name string, st state) error {
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return fmt.Errorf("creating deployment state directory: %w", err)
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding deployment state: %w", err)
	}
	p := statePath(stateDir, name)
	tmp, err := os.CreateTemp(stateDir, "."+name+".*.tmp")
	if err != nil {
		return fmt.Errorf("writing deployment state: %w", err)
	}
	_, werr := tmp.Write(append(b, '\n'))
	cerr := tmp.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing deployment state %s: %w", p, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing deployment state %s: %w", p, err)
	}
	return nil
}

// lockName serialises deployments of one name across processes: two
// interleaved swaps would each remove the other's container.
func lockName(ctx context.Context, stateDir, name string) (unlock func(), err error) {
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating deployment state directory: %w", err)
	}
	p := filepath.Join(stateDir, name+".lock")
	unlock, err = fslock.LockContext(ctx, p, 100*time.Millisecond)
	if errors.Is(err, ctx.Err()) && ctx.Err() != nil {
		return nil, fmt.Errorf("waiting for another deployment of %s: %w", name, err)
	}
	if err != nil {
		return nil, fmt.Errorf("locking %s: %w", p, err)
	}
	return unlock, nil
}
