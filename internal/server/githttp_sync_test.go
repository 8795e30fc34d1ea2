package server

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func pkt(lines ...string) []byte {
	var b bytes.Buffer
	for _, l := range lines {
		if l == "" {
			b.WriteString("0000")
			continue
		}
		fmt.Fprintf(&b, "%04x%s", len(l)+4, l)
	}
	return b.Bytes()
}

func TestUploadPackWants(t *testing.T) {
	a, b := strings.Repeat("a", 40), strings.Repeat("b", 40)
	v0 := pkt("want "+a+" multi_ack side-band-64k\n", "want "+b+"\n", "", "done\n")
	v2 := pkt("command=fetch\n", "agent=git/2.39\n", "0001", "want "+a+"\n", "have "+b+"\n", "done\n", "")
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(v0)
	zw.Close()
	for _, tc := range []struct {
		name, enc string
		body      []byte
		want      []string
		err       string
	}{
		{"v0", "", v0, []string{a, b}, ""},
		{"v2", "", v2, []string{a}, ""},
		{"gzip", "gzip", gz.Bytes(), []string{a, b}, ""},
		// Hostile: a want that is not an object id never reaches git's argv.
		{"option injection", "", pkt("want --upload-pack=touch /tmp/x\n", "want ../../etc\n"), nil, ""},
		{"not pkt-lines", "", []byte("GET / HTTP/1.1\r\n"), nil, "not a git pkt-line"},
		{"truncated", "", []byte("00ffwant"), nil, "truncated"},
		{"bad gzip", "gzip", []byte("nope"), nil, "gzipped"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := uploadPackWants(tc.body, tc.enc)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("wants (-want +got):\n%s", diff)
			}
		})
	}
}

func FuzzUploadPackWants(f *testing.F) {
	f.Add(pkt("want "+strings.Repeat("c", 40)+"\n", ""), "")
	f.Add([]byte("0004000000010002"), "")
	f.Fuzz(func(t *testing.T, body []byte, enc string) {
		wants, _ := uploadPackWants(body, enc)
		for _, w := range wants {
			if !hexSHA.MatchString(w) {
				t.Fatalf("want %q is not an object id", w)
			}
		}
	})
}
