package cd

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestGate(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	// Wednesday 2025-01-15 10:00 UTC (11:00 in Paris).
	now := time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC)
	rel := Release{ID: "sha256:r1", Ref: "refs/heads/main"}
	prod := Environment{
		Name: "production", Upstream: []string{"staging"}, Branches: []string{"main"},
		Reviewers: []string{"alice", "bob", "carol"}, RequiredApprovals: 2,
	}
	stagingOK := []Promotion{{ID: 1, Env: "staging", ReleaseID: "sha256:r1", State: StateSuccess}}
	approve := func(by ...string) []Approval {
		var as []Approval
		for _, b := range by {
			as = append(as, Approval{By: b, Approve: true, At: now})
		}
		return as
	}
	promo := func(kind Kind, by string, as []Approval) Promotion {
		return Promotion{ID: 9, Env: "production", ReleaseID: "sha256:r1", Kind: kind, StartedBy: by, Approvals: as, Created: now}
	}
	withEnv := func(f func(*Environment)) Environment {
		e := prod
		f(&e)
		return e
	}

	tests := []struct {
		name    string
		in      GateInput
		want    GateResult
		refused error // sentinel the refusal wraps
	}{
		{
			name: "two of three approvals: ready",
			in:   GateInput{Env: prod, Release: rel, Promotion: promo(KindForward, "dave", approve("alice", "bob")), History: stagingOK, Now: now},
			want: GateResult{Ready: true},
		},
		{
			name: "one of two approvals: waiting",
			in:   GateInput{Env: prod, Release: rel, Promotion: promo(KindForward, "dave", approve("alice")), History: stagingOK, Now: now},
			want: GateResult{Waiting: []string{"approvals 1/2"}},
		},
		{
			name: "same reviewer twice counts once, any case",
			in:   GateInput{Env: prod, Release: rel, Promotion: promo(KindForward, "dave", approve("alice", "Alice")), History: stagingOK, Now: now},
			want: GateResult{Waiting: []string{"approvals 1/2"}},
		},
		{
			name: "non-reviewer approvals do not count",
			in:   GateInput{Env: prod, Release: rel, Promotion: promo(KindForward, "dave", approve("alice", "mallory")), History: stagingOK, Now: now},
			want: GateResult{Waiting: []string{"approvals 1/2"}},
		},
		{
			name:    "self-approval refused",
			in:      GateInput{Env: prod, Release: rel, Promotion: promo(KindForward, "alice", approve("alice", "bob")), History: stagingOK, Now: now},
			refused: ErrSelfApproval,
		},
		{
			name: "reviewer rejection refuses",
			in: GateInput{Env: prod, Release: rel, History: stagingOK, Now: now,
				Promotion: promo(KindForward, "dave", append(approve("alice"), Approval{By: "bob", Approve: false}))},
			refused: ErrRejected,
		},
		{
			name:    "upstream not succeeded",
			in:      GateInput{Env: prod, Release: rel, Promotion: promo(KindForward, "dave", approve("alice", "bob")), Now: now},
			refused: ErrUpstream,
		},
		{
			name: "upstream failure does not count",
			in: GateInput{Env: prod, Release: rel, Promotion: promo(KindForward, "dave", approve("alice", "bob")), Now: now,
				History: []Promotion{{Env: "staging", ReleaseID: "sha256:r1", State: StateFailure}, {Env: "staging", ReleaseID: "sha256:r0", State: StateSuccess}}},
			refused: ErrUpstream,
		},
		{
			name: "upstream success since replaced (inactive) counts",
			in: GateInput{Env: prod, Release: rel, Promotion: promo(KindForward, "dave", approve("alice", "bob")), Now: now,
				History: []Promotion{{Env: "staging", ReleaseID: "sha256:r1", State: StateInactive}}},
			want: GateResult{Ready: true},
		},
		{
			name:    "branch not allowed",
			in:      GateInput{Env: prod, Release: Release{ID: "sha256:r1", Ref: "refs/heads/feature"}, Promotion: promo(KindForward, "dave", approve("alice", "bob")), History: stagingOK, Now: now},
			refused: ErrNotEligible,
		},
		{
			name:    "release rejected",
			in:      GateInput{Env: prod, Release: Release{ID: "sha256:r1", Ref: "refs/heads/main", Rejected: true}, Promotion: promo(KindForward, "dave", approve("alice", "bob")), History: stagingOK, Now: now},
			refused: ErrReleaseRejected,
		},
		{
			name:    "digest mismatch flagged by caller",
			in:      GateInput{Env: prod, Release: rel, Promotion: promo(KindForward, "dave", approve("alice", "bob")), History: stagingOK, Now: now, DigestErr: errors.New("app.whl: sha256 differs")},
			refused: ErrDigestMismatch,
		},
		{
			name: "wait timer pending",
			in: GateInput{Env: withEnv(func(e *Environment) { e.WaitTimer = 30 * time.Minute }), Release: rel, History: stagingOK,
				Promotion: promo(KindForward, "dave", approve("alice", "bob")), Now: now.Add(10 * time.Minute)},
			want: GateResult{Waiting: []string{"wait timer until 2025-01-15T10:30:00Z"}, Recheck: now.Add(30 * time.Minute)},
		},
		{
			name: "wait timer elapsed",
			in: GateInput{Env: withEnv(func(e *Environment) { e.WaitTimer = 30 * time.Minute }), Release: rel, History: stagingOK,
				Promotion: promo(KindForward, "dave", approve("alice", "bob")), Now: now.Add(30 * time.Minute)},
			want: GateResult{Ready: true},
		},
		{
			name: "outside window, approvals and timer pending too",
			in: GateInput{
				Env: withEnv(func(e *Environment) {
					e.WaitTimer = time.Hour
					e.Windows = []Window{{Days: []time.Weekday{time.Wednesday}, Start: 14 * 60, End: 16 * 60, Timezone: "Europe/Paris"}}
				}),
				Release: rel, History: stagingOK, Promotion: promo(KindForward, "dave", nil), Now: now,
			},
			want: GateResult{
				Waiting: []string{"approvals 0/2", "wait timer until 2025-01-15T11:00:00Z", "outside deployment window until 2025-01-15T14:00:00+01:00"},
				Recheck: time.Date(2025, 1, 15, 14, 0, 0, 0, paris),
			},
		},
		{
			name: "window opening checked after the timer ends",
			in: GateInput{
				Env: withEnv(func(e *Environment) {
					e.WaitTimer = 2 * time.Hour // ends 12:00 UTC = 13:00 Paris, inside the window
					e.Windows = []Window{{Start: 10 * 60, End: 17 * 60, Timezone: "Europe/Paris"}}
				}),
				Release: rel, History: stagingOK, Promotion: promo(KindForward, "dave", approve("alice", "bob")), Now: now.Add(-time.Hour),
			},
			want: GateResult{Waiting: []string{"wait timer until 2025-01-15T12:00:00Z"}, Recheck: time.Date(2025, 1, 15, 12, 0, 0, 0, time.UTC)},
		},
		{
			name: "rollback skips timer and window but needs approvals and a past success here",
			in: GateInput{
				Env: withEnv(func(e *Environment) {
					e.WaitTimer = time.Hour
					e.Windows = []Window{{Days: []time.Weekday{time.Sunday}, Start: 0, End: 60}}
				}),
				Release: rel, Promotion: promo(KindRollback, "dave", approve("alice")), Now: now,
				History: []Promotion{{Env: "production", ReleaseID: "sha256:r1", State: StateInactive}},
			},
			want: GateResult{Waiting: []string{"approvals 1/2"}},
		},
		{
			name: "automatic rollback skips approvals",
			in: GateInput{Env: prod, Release: rel, Now: now,
				Promotion: Promotion{Env: "production", ReleaseID: "sha256:r1", Kind: KindRollback, Auto: true, Created: now},
				History:   []Promotion{{Env: "production", ReleaseID: "sha256:r1", State: StateInactive}}},
			want: GateResult{Ready: true},
		},
		{
			name: "rollback to a release that never succeeded here",
			in: GateInput{Env: prod, Release: rel, Now: now, History: stagingOK,
				Promotion: Promotion{Env: "production", ReleaseID: "sha256:r1", Kind: KindRollback, Auto: true}},
			refused: errAny,
		},
		{
			name: "hotfix skips upstream",
			in: GateInput{Env: withEnv(func(e *Environment) { e.Hotfix = []string{"hotfix/*"} }),
				Release: Release{ID: "sha256:r1", Ref: "refs/heads/hotfix/x"}, Promotion: promo(KindHotfix, "dave", approve("alice", "bob")), Now: now},
			want: GateResult{Ready: true},
		},
		{
			name:    "promotion of another release",
			in:      GateInput{Env: prod, Release: Release{ID: "sha256:other", Ref: "refs/heads/main"}, Promotion: promo(KindForward, "dave", approve("alice", "bob")), History: stagingOK, Now: now},
			refused: errAny,
		},
		{
			name: "no reviewers, no rules: ready",
			in:   GateInput{Env: Environment{Name: "dev"}, Release: rel, Promotion: Promotion{Env: "dev", Kind: KindForward}, Now: now},
			want: GateResult{Ready: true},
		},
		{
			name: "reviewers without a count need one",
			in:   GateInput{Env: Environment{Name: "dev", Reviewers: []string{"alice"}}, Release: rel, Promotion: Promotion{Env: "dev", Kind: KindForward}, Now: now},
			want: GateResult{Waiting: []string{"approvals 0/1"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Gate(tt.in)
			if tt.refused != nil {
				if got.Refused == nil || (tt.refused != errAny && !errors.Is(got.Refused, tt.refused)) {
					t.Fatalf("Gate refused = %v, want %v", got.Refused, tt.refused)
				}
				if got.Ready || len(got.Waiting) > 0 {
					t.Errorf("refused gate also says ready=%v waiting=%q", got.Ready, got.Waiting)
				}
				return
			}
			if got.Refused != nil {
				t.Fatalf("Gate refused: %v", got.Refused)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Gate mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// errAny stands for a refusal without a sentinel of its own.
var errAny = errors.New("any refusal")

func TestCheckApproval(t *testing.T) {
	env := Environment{Name: "production", Reviewers: []string{"alice", "bob"}, RequiredApprovals: 1}
	p := Promotion{ID: 3, State: StateWaiting, StartedBy: "alice", Approvals: []Approval{{By: "bob", Approve: true}}}
	tests := []struct {
		name string
		p    Promotion
		a    Approval
		want error
	}{
		{"reviewer approves", Promotion{ID: 3, State: StateWaiting, StartedBy: "dave"}, Approval{By: "bob", Approve: true}, nil},
		{"self-approval", p, Approval{By: "Alice", Approve: true}, ErrSelfApproval},
		{"starter may reject (cancel)", p, Approval{By: "alice", Approve: false}, nil},
		{"non-reviewer", p, Approval{By: "mallory", Approve: true}, ErrNotReviewer},
		{"twice", p, Approval{By: "bob", Approve: false}, errAny},
		{"no longer waiting", Promotion{ID: 3, State: StateSuccess, StartedBy: "dave"}, Approval{By: "bob", Approve: true}, errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckApproval(env, tt.p, tt.a)
			switch {
			case tt.want == nil && err != nil:
				t.Errorf("CheckApproval = %v, want nil", err)
			case tt.want == errAny && err == nil:
				t.Error("CheckApproval = nil, want an error")
			case tt.want != nil && tt.want != errAny && !errors.Is(err, tt.want):
				t.Errorf("CheckApproval = %v, want %v", err, tt.want)
			}
		})
	}
}
