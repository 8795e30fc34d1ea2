package main

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sluice-ci/sluice/internal/client"
	"github.com/spf13/cobra"
)

func TestPrintList(t *testing.T) {
	row := func(w io.Writer, n int) { fmt.Fprintf(w, "%d\tx\n", n) }
	tests := []struct {
		name   string
		asJSON bool
		list   []int
		want   string
	}{
		{"json of nothing is an empty list", true, nil, "[]\n"},
		{"json", true, []int{1, 22}, "[\n  1,\n  22\n]\n"},
		{"table", false, []int{1, 22}, "N   COL\n1   x\n22  x\n"},
		{"table of nothing", false, nil, "N  COL\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := printList(&b, tt.asJSON, tt.list, "N\tCOL", row); err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, b.String()); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestWithRun(t *testing.T) {
	conn := &apiConn{server: "http://127.0.0.1:1", token: "t"}
	tests := []struct {
		name    string
		conn    *apiConn
		arg     string
		want    int64
		wantErr string
	}{
		{"id", conn, "42", 42, ""},
		{"not a number", conn, "abc", 0, `run "abc": want a run ID (see sluice runs)`},
		{"not positive", conn, "0", 0, `run "0": want a run ID (see sluice runs)`},
		{"bad id before no token", &apiConn{server: conn.server}, "x", 0, `run "x": want a run ID (see sluice runs)`},
		{"no token", &apiConn{server: conn.server}, "1", 0, "no API token: pass --token or set SLUICE_TOKEN (sluice serve prints the admin token on first start)"},
		{"bad server", &apiConn{server: "127.0.0.1", token: "t"}, "1", 0, `--server "127.0.0.1": want an http:// or https:// URL`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got int64
			runE := tt.conn.withRun(func(_ *cobra.Command, c *client.Client, id int64) error {
				if c == nil {
					t.Error("do called without a client")
				}
				got = id
				return nil
			})
			err := runE(&cobra.Command{}, []string{tt.arg})
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != tt.wantErr || got != tt.want {
				t.Errorf("withRun(%q): id %d, error %q; want id %d, error %q", tt.arg, got, gotErr, tt.want, tt.wantErr)
			}
		})
	}
}
