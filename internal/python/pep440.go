package python

// The exported face of this package's PEP 440 rules, for dependency updates
// (internal/deps) and version bumps (internal/release): one parser and one
// ordering for every Python version sluice reads.

// Version is a parsed PEP 440 version.
type Version struct{ v pepVersion }

// ParseVersion parses a PEP 440 version ("1.2.3", "2.0rc1", "1!2.0.post1.dev3+local").
func ParseVersion(s string) (Version, error) {
	v, err := parseVersion(s)
	if err != nil {
		return Version{}, err
	}
	return Version{v}, nil
}

// NewVersion builds a version from its parts; pre is "", "a", "b" or "rc", and post and dev
// are -1 when absent.
func NewVersion(epoch int, release []int, pre string, preNum, post, dev int) Version {
	kinds := map[string]int{"": 0, "a": 1, "b": 2, "rc": 3}
	return Version{pepVersion{epoch: epoch, release: append([]int(nil), release...), preKind: kinds[pre], preNum: preNum, post: post, dev: dev}}
}

// Compare orders a and b as PEP 440 does: -1, 0 or 1.
func (a Version) Compare(b Version) int { return compareVersions(a.v, b.v) }

// String is the normal form.
func (a Version) String() string { return a.v.String() }

// Epoch is the N of "N!".
func (a Version) Epoch() int { return a.v.epoch }

// Release is the dotted numbers, e.g. [1 2 3].
func (a Version) Release() []int { return append([]int(nil), a.v.release...) }

// Pre is the pre-release kind ("a", "b", "rc"; "" for none) and its number.
func (a Version) Pre() (string, int) {
	return []string{"", "a", "b", "rc"}[a.v.preKind], a.v.preNum
}

// Post is the post-release number, -1 when absent.
func (a Version) Post() int { return a.v.post }

// Dev is the development-release number, -1 when absent.
func (a Version) Dev() int { return a.v.dev }

// Local is the part after "+".
func (a Version) Local() string { return a.v.local }

// IsPrerelease reports a pre-release or development release.
func (a Version) IsPrerelease() bool { return a.v.isPrerelease() }

// SpecifierContains reports whether version v satisfies the PEP 440 specifier set spec
// (e.g. ">=2,<3"); pre-releases are judged like any version.
func SpecifierContains(spec string, v Version) (bool, error) {
	cs, err := parseSpecifier(spec)
	if err != nil {
		return false, err
	}
	return satisfiesAll(cs, v.v), nil
}

// NormalizeName is the PEP 503 normal form of a distribution name.
func NormalizeName(s string) string { return normName(s) }
