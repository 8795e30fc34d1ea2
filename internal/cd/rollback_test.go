package cd

import "testing"

func TestRollbackTarget(t *testing.T) {
	p := func(id int64, rel string, s State) Promotion {
		return Promotion{ID: id, Env: "production", ReleaseID: rel, State: s}
	}
	tests := []struct {
		name    string
		history []Promotion
		to      int64
		want    int64 // 0: an error is expected
	}{
		{"previous release", []Promotion{p(1, "r1", StateInactive), p(2, "r2", StateSuccess)}, 0, 1},
		{"skips redeploys of the current release", []Promotion{p(1, "r1", StateInactive), p(2, "r2", StateInactive), p(3, "r2", StateSuccess)}, 0, 1},
		{"skips failures", []Promotion{p(1, "r1", StateInactive), p(2, "r0", StateFailure), p(3, "r2", StateSuccess)}, 0, 1},
		{"after a failed deployment, the last success", []Promotion{p(1, "r1", StateInactive), p(2, "r2", StateSuccess), p(3, "r3", StateFailure)}, 0, 2},
		{"queued and waiting do not count as current", []Promotion{p(1, "r1", StateInactive), p(2, "r2", StateSuccess), p(3, "r3", StateWaiting), p(4, "r4", StateQueued)}, 0, 1},
		{"order by id, not slice order", []Promotion{p(3, "r3", StateSuccess), p(1, "r1", StateInactive), p(2, "r2", StateInactive)}, 0, 2},
		{"rolling back a rollback", []Promotion{p(1, "r1", StateInactive), p(2, "r2", StateInactive), p(3, "r1", StateSuccess)}, 0, 2},
		{"explicit target", []Promotion{p(1, "r1", StateInactive), p(2, "r2", StateInactive), p(3, "r3", StateSuccess)}, 1, 1},
		{"explicit target never succeeded", []Promotion{p(1, "r1", StateError), p(2, "r2", StateSuccess)}, 1, 0},
		{"explicit target is the current release", []Promotion{p(1, "r2", StateInactive), p(2, "r2", StateSuccess)}, 1, 0},
		{"explicit target unknown", []Promotion{p(1, "r1", StateInactive), p(2, "r2", StateSuccess)}, 7, 0},
		{"only one release", []Promotion{p(1, "r1", StateSuccess)}, 0, 0},
		{"nothing deployed", []Promotion{p(1, "r1", StateQueued)}, 0, 0},
		{"empty history", nil, 0, 0},
		{"mixed environments", []Promotion{p(1, "r1", StateInactive), {ID: 2, Env: "staging", ReleaseID: "r2", State: StateSuccess}}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RollbackTarget(tt.history, tt.to)
			if tt.want == 0 {
				if err == nil {
					t.Errorf("RollbackTarget = promotion %d, want an error", got.ID)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.ID != tt.want {
				t.Errorf("RollbackTarget = promotion %d, want %d", got.ID, tt.want)
			}
		})
	}
}
