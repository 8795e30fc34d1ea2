package pypi

import (
	"encoding/hex"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// RFC 7693 appendix A gives BLAKE2b-512("abc").
func TestBlake2bRFCVector(t *testing.T) {
	h := newBlake2b(64)
	h.Write([]byte("abc"))
	got := hex.EncodeToString(h.Sum(nil))
	want := "ba80a53f981c4d0d6a2797b69f12f6e94c212f14685ac4b74b12bb6fdbffa2d1" +
		"7d87c5392aab792dc252d5de4533cc9518d38aa8dbf1925ab92386edd4009923"
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("BLAKE2b-512(abc) (-want +got):\n%s", diff)
	}
}

// Cross-checks against Python's hashlib over lengths around block edges,
// fed in uneven pieces so buffering across Write calls is exercised.
func TestBlake2b256MatchesPython(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found; the RFC vector test still covers the core")
	}
	lengths := []int{0, 1, 3, 127, 128, 129, 255, 256, 257, 1000, 4096}
	script := `
import hashlib, sys
for n in map(int, sys.argv[1:]):
    data = bytes((i * 7 + 3) % 251 for i in range(n))
    print(hashlib.blake2b(data, digest_size=32).hexdigest())
`
	args := []string{"-c", script}
	for _, n := range lengths {
		args = append(args, strconv.Itoa(n))
	}
	out, err := exec.Command(py, args...).Output()
	if err != nil {
		t.Fatalf("running python hashlib: %v", err)
	}
	want := strings.Fields(string(out))
	var got []string
	for _, n := range lengths {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte((i*7 + 3) % 251)
		}
		h := newBlake2b256()
		for len(data) > 0 {
			k := min(len(data), 61)
			h.Write(data[:k])
			data = data[k:]
		}
		got = append(got, hex.EncodeToString(h.Sum(nil)))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("BLAKE2b-256 digests (-python +ours):\n%s", diff)
	}
}
