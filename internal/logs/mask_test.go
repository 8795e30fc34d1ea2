package logs

import (
	"fmt"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestMasker(t *testing.T) {
	tests := []struct {
		name    string
		secrets []string
		in      string
		want    string
	}{
		{"no secrets", nil, "hello world", "hello world"},
		{"single", []string{"hunter2"}, "pw=hunter2!", "pw=***!"},
		{"every occurrence", []string{"ab"}, "ab-ab-ab", "***-***-***"},
		{"empty ignored", []string{""}, "a b", "a b"},
		{"whitespace ignored", []string{"  \t\n "}, "a  \t b", "a  \t b"},
		{"overlapping secrets mask fully", []string{"abc", "bcd"}, "xabcdx", "x***x"},
		{"overlapping order independent", []string{"bcd", "abc"}, "xabcdx", "x***x"},
		{"contained secret", []string{"secret", "secretvalue"}, "a secretvalue b secret", "a *** b ***"},
		{"adjacent occurrences merge", []string{"abc"}, "abcabc", "***"},
		{"self-overlap", []string{"aa"}, "aaa", "***"},
		{"multi-line whole", []string{"line1\nline2"}, "x line1\nline2 y", "x *** y"},
		{"multi-line each line", []string{"line1\r\nline2\n\n"}, "got line2 then line1", "got *** then ***"},
		{"multi-line blank lines ignored", []string{"one\n   \ntwo"}, "a   b", "a   b"},
		{"unicode", []string{"пароль"}, "это пароль!", "это ***!"},
		{"empty input", []string{"x"}, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMasker()
			for _, s := range tt.secrets {
				m.Add(s)
			}
			if diff := cmp.Diff(tt.want, m.Mask(tt.in)); diff != "" {
				t.Errorf("Mask(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestMaskerConcurrent(t *testing.T) {
	m := NewMasker()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			m.Add(fmt.Sprintf("secret-%d", i))
		}()
		go func() {
			defer wg.Done()
			for range 100 {
				m.Mask("line with secret-1 and secret-7")
			}
		}()
	}
	wg.Wait()
	if diff := cmp.Diff("line with *** and ***", m.Mask("line with secret-1 and secret-7")); diff != "" {
		t.Errorf("after concurrent adds (-want +got):\n%s", diff)
	}
}
