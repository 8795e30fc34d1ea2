package main

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    memory
		wantErr bool
	}{
		{"both", "Name:\tsluice\nVmPeak:\t 1300 kB\nVmHWM:\t   31200 kB\nVmRSS:\t   29492 kB\nThreads:\t9\n", memory{RSS: 29492, HWM: 31200}, false},
		{"missing HWM", "VmRSS:\t 10 kB\n", memory{}, true},
		{"odd unit", "VmRSS:\t 10 MB\nVmHWM:\t 10 kB\n", memory{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatus(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseStatus error = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseStatus (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseStat(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    cpuTimes
		wantErr bool
	}{
		{"plain", "4242 (sluice) S 1 4242 4242 0 -1 4194560 100 0 0 0 120 30 7 3 20 0 9 0 100 0 0\n", cpuTimes{Self: 150, Children: 10}, false},
		{"name with spaces and parens", "7 (a b) c)) R 1 7 7 0 -1 0 0 0 0 0 1 2 3 4 20 0 1 0 5 0 0", cpuTimes{Self: 3, Children: 7}, false},
		{"short", "7 (x) R 1 2", cpuTimes{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStat(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("parseStat error = %v, want error %v", err, tt.wantErr)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("parseStat (-want +got):\n%s", diff)
			}
		})
	}
}
