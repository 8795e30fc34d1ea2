package cd

import (
	"errors"
	"fmt"
	"slices"
)

// ErrNoRollback is wrapped when an environment has nothing to roll back to.
var ErrNoRollback = errors.New("no rollback target")

// RollbackTarget chooses the promotion whose release a rollback restores, from one
// environment's history (any order; IDs give the order).
//
// The environment's current release is that of its latest promotion that reached it
// (in progress, success or failure: a failed deployment may have replaced what ran). With to
// == 0 the target is the latest successful promotion (success or, once replaced, inactive) of
// another release. With to set, it is that promotion, which must have succeeded and must not be
// of the current release.
func RollbackTarget(history []Promotion, to int64) (Promotion, error) {
	if len(history) == 0 {
		return Promotion{}, fmt.Errorf("choosing a rollback target: the environment has no promotions: %w", ErrNoRollback)
	}
	env := history[0].Env
	hs := slices.Clone(history)
	for _, h := range hs {
		if h.Env != env {
			return Promotion{}, fmt.Errorf("choosing a rollback target: history mixes environments %q and %q", env, h.Env)
		}
	}
	slices.SortFunc(hs, func(a, b Promotion) int { return compareInt64(a.ID, b.ID) })

	var current *Promotion
	for i := len(hs) - 1; i >= 0; i-- {
		switch hs[i].State {
		case StateInProgress, StateSuccess, StateFailure:
			current = &hs[i]
		}
		if current != nil {
			break
		}
	}
	if current == nil {
		return Promotion{}, fmt.Errorf("choosing a rollback target: nothing has been deployed to %s: %w", env, ErrNoRollback)
	}
	once := func(p Promotion) bool { return p.State == StateSuccess || p.State == StateInactive }

	if to != 0 {
		i := slices.IndexFunc(hs, func(p Promotion) bool { return p.ID == to })
		switch {
		case i < 0:
			return Promotion{}, fmt.Errorf("rolling back %s to promotion %d: no such promotion in its history: %w", env, to, ErrNoRollback)
		case !once(hs[i]):
			return Promotion{}, fmt.Errorf("rolling back %s to promotion %d: it ended %s, never succeeded: %w", env, to, hs[i].State, ErrNoRollback)
		case hs[i].ReleaseID == current.ReleaseID:
			return Promotion{}, fmt.Errorf("rolling back %s to promotion %d: its release %s is the current one; redeploy it instead: %w", env, to, current.ReleaseID, ErrNoRollback)
		}
		return hs[i], nil
	}
	for i := len(hs) - 1; i >= 0; i-- {
		if once(hs[i]) && hs[i].ReleaseID != current.ReleaseID {
			return hs[i], nil
		}
	}
	return Promotion{}, fmt.Errorf("rolling back %s: no earlier release succeeded there: %w", env, ErrNoRollback)
}

func compareInt64(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
