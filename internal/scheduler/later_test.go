package scheduler

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/store"
	"github.com/sluice-ci/sluice/internal/testenv"
)

const laterYAML = `on: push
jobs:
  test:
    runs-on: ubuntu-latest
    strategy:
      matrix:
        n: [1, 2, 3, 4, 5]
    steps:
      - run: echo ${{ matrix.n }}
  after:
    needs: test
    runs-on: ubuntu-latest
    steps:
      - run: echo done
`

// onBothDatabases runs test against a fresh harness on SQLite and on Postgres.
func onBothDatabases(t *testing.T, test func(t *testing.T, h *harness)) {
	for _, db := range []string{"sqlite", "postgres"} {
		t.Run(db, func(t *testing.T) {
			t.Parallel()
			dsn := "sqlite://" + filepath.Join(t.TempDir(), "db.sqlite")
			if db == "postgres" {
				dsn = testenv.PostgresDB(t)
			}
			test(t, newHarnessOn(t, dsn))
		})
	}
}

// holdRunLock takes run runID's lock as another replica's pass would, until the returned
// release is called.
func holdRunLock(t *testing.T, h *harness, runID int64) (release func()) {
	t.Helper()
	held, free, done := make(chan struct{}), make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		err := h.db.WithRunLock(h.ctx, runID, func(context.Context) error {
			close(held)
			<-free
			return nil
		})
		if err != nil {
			t.Errorf("holding run %d's lock: %v", runID, err)
			close(held)
		}
	}()
	<-held
	return func() { close(free); <-done }
}

// waitState polls until job key of run runID is in state want.
func waitState(t *testing.T, h *harness, runID int64, key, want string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for h.states(runID)[key] != want {
		if time.Now().After(deadline) {
			t.Fatalf("job %s never became %s: jobs %v", key, want, h.states(runID))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestJobFinishedLater: the agent's completion is answered without waiting for the run's
// lock (another replica's pass holds it): JobFinishedLater returns while the lock is held, the
// run does not move meanwhile, and once the lock is free one background advance serves every
// leg that ended, the dependent is queued and the run ends.
func TestJobFinishedLater(t *testing.T) {
	t.Parallel()
	onBothDatabases(t, func(t *testing.T, h *harness) {
		r := h.triggerOne(h.pushWorkflows(map[string]string{"ci.yml": laterYAML}))
		var legs []*store.Job
		for n := 1; n <= 5; n++ {
			legs = append(legs, h.claim("test ("+string(rune('0'+n))+")"))
		}
		release := holdRunLock(t, h, r.ID)
		answered := make(chan struct{})
		go func() {
			defer close(answered)
			for _, j := range legs {
				if _, err := h.db.Complete(h.ctx, j.ID, h.agent.ID, store.ConclusionSuccess, nil); err != nil {
					t.Errorf("completing %s: %v", j.Key, err)
				}
				h.s.JobFinishedLater(h.ctx, j.RunID, j.ID)
			}
		}()
		select {
		case <-answered:
		case <-time.After(time.Minute):
			release()
			t.Fatal("JobFinishedLater waited for the run's lock: the agent's answer would too")
		}
		if got := h.states(r.ID)["after"]; got != store.StatusWaiting {
			t.Errorf("after is %s while the run's lock was held, want waiting", got)
		}
		release()
		waitState(t, h, r.ID, "after", store.StatusQueued)
		h.complete(h.claim("after"), store.ConclusionSuccess, nil)
		if diff := cmp.Diff("completed/success", h.runState(r.ID)); diff != "" {
			t.Errorf("run state (-want +got):\n%s", diff)
		}
	})
}

// TestJobFinishedLaterLostIsResumed: the process stops (its context ends, as a kill ends it)
// after a completion was answered and before the run's advance got the run's lock. The run is
// left as it was, and the next start's Resume advances it: the dependent is queued.
func TestJobFinishedLaterLostIsResumed(t *testing.T) {
	t.Parallel()
	onBothDatabases(t, func(t *testing.T, h *harness) {
		r := h.triggerOne(h.pushWorkflows(map[string]string{"ci.yml": laterYAML}))
		for n := 1; n <= 4; n++ {
			h.finish("test ("+string(rune('0'+n))+")", store.ConclusionSuccess, nil)
		}
		last := h.claim("test (5)")
		dying := New(Config{DB: h.db, DataDir: h.data, GitURL: "file:///unused/%d.git"})
		ctx, die := context.WithCancel(context.Background())
		dying.bg.start(ctx)
		release := holdRunLock(t, h, r.ID)
		if _, err := h.db.Complete(h.ctx, last.ID, h.agent.ID, store.ConclusionSuccess, nil); err != nil {
			t.Fatal(err)
		}
		dying.JobFinishedLater(h.ctx, last.RunID, last.ID)
		die()
		dying.bg.wg.Wait()
		release()
		if got := h.states(r.ID)["after"]; got != store.StatusWaiting {
			t.Fatalf("after is %s though the process died before advancing, want waiting", got)
		}
		// The next start.
		if err := h.newScheduler().Resume(h.ctx); err != nil {
			t.Fatal(err)
		}
		if got := h.states(r.ID)["after"]; got != store.StatusQueued {
			t.Errorf("after is %s once the server started again, want queued: jobs %v", got, h.states(r.ID))
		}
	})
}

// flakyRunLock is the store with WithRunLock failing its first fails calls, as a database
// that drops a connection does.
type flakyRunLock struct {
	Store
	mu    sync.Mutex
	fails int
	calls int
}

func (f *flakyRunLock) WithRunLock(ctx context.Context, runID int64, fn func(ctx context.Context) error) error {
	f.mu.Lock()
	f.calls++
	failing := f.calls <= f.fails
	f.mu.Unlock()
	if failing {
		return errors.New("connection reset by peer")
	}
	return f.Store.WithRunLock(ctx, runID, fn)
}

// TestJobFinishedLaterRetries: a background advance that fails is tried again, with the ended
// jobs, until it goes through (within maxLaterRetries); past that the run is left open, as it
// was, for another replica's reconcile duty to advance.
func TestJobFinishedLaterRetries(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name      string
		fails     int
		wantAfter string // the dependent's state once the background work is done
	}{
		{"fails twice, then goes through", 2, store.StatusQueued},
		{"fails past the retries", maxLaterRetries + 1, store.StatusWaiting},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			onBothDatabases(t, func(t *testing.T, h *harness) {
				r := h.triggerOne(h.pushWorkflows(map[string]string{"ci.yml": laterYAML}))
				for n := 1; n <= 4; n++ {
					h.finish("test ("+string(rune('0'+n))+")", store.ConclusionSuccess, nil)
				}
				last := h.claim("test (5)")
				flaky := &flakyRunLock{Store: h.db, fails: tc.fails}
				s := New(Config{DB: flaky, DataDir: h.data, GitURL: "file:///unused/%d.git"})
				ctx, stop := context.WithCancel(context.Background())
				defer stop()
				s.bg.start(ctx)
				if _, err := h.db.Complete(h.ctx, last.ID, h.agent.ID, store.ConclusionSuccess, nil); err != nil {
					t.Fatal(err)
				}
				s.JobFinishedLater(h.ctx, last.RunID, last.ID)
				// The drain ends when its pass went through or it gave up.
				deadline := time.Now().Add(time.Minute)
				for {
					s.finished.mu.Lock()
					_, draining := s.finished.runs[last.RunID]
					s.finished.mu.Unlock()
					if !draining {
						break
					}
					if time.Now().After(deadline) {
						t.Fatal("the background advance never ended")
					}
					time.Sleep(20 * time.Millisecond)
				}
				flaky.mu.Lock()
				calls := flaky.calls
				flaky.mu.Unlock()
				if got := h.states(r.ID)["after"]; got != tc.wantAfter {
					t.Fatalf("after is %s after %d failed advances, want %s (advances tried: %d)", got, tc.fails, tc.wantAfter, calls)
				}
				if tc.wantAfter == store.StatusWaiting {
					// Left open, not lost: the reconcile duty's pass, on another replica (another
					// scheduler on the same database), moves it.
					if err := h.newScheduler().Reconcile(h.ctx); err != nil {
						t.Fatal(err)
					}
					if got := h.states(r.ID)["after"]; got != store.StatusQueued {
						t.Errorf("after is %s once the run was reconciled, want queued", got)
					}
				}
			})
		})
	}
}
