package workflow

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const dispatchYAML = `on:
  workflow_dispatch:
    inputs:
      Name:
        type: string
        default: world
      level:
        type: choice
        options: [info, debug]
        default: info
      dry-run:
        type: boolean
        default: true
      count:
        type: number
        default: 3
      env:
        type: environment
      note:
        description: untyped means string
      tag:
        required: true
        type: string
` + jobsYAML

func TestDispatchInputs(t *testing.T) {
	w := parseWorkflow(t, dispatchYAML)
	defaults := map[string]any{
		"Name": "world", "level": "info", "dry-run": true, "count": 3.0, "env": "", "note": "", "tag": "v1",
	}
	with := func(changes map[string]any) map[string]any {
		m := map[string]any{}
		for k, v := range defaults {
			m[k] = v
		}
		for k, v := range changes {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name    string
		given   map[string]string
		want    map[string]any
		wantErr []string // substrings, all must appear
	}{
		{name: "defaults", given: map[string]string{"tag": "v1"}, want: defaults},
		{name: "each type", given: map[string]string{"tag": "v1", "name": "you", "level": "debug", "dry-run": "false", "count": "2.5", "env": "prod", "note": "n"},
			want: with(map[string]any{"Name": "you", "level": "debug", "dry-run": false, "count": 2.5, "env": "prod", "note": "n"})},
		{name: "boolean case-insensitive", given: map[string]string{"tag": "v1", "DRY-RUN": "TRUE"}, want: defaults},
		{name: "empty given uses default", given: map[string]string{"tag": "v1", "name": ""}, want: defaults},
		{name: "required missing", given: map[string]string{}, wantErr: []string{`input "tag" is required`}},
		{name: "required empty", given: map[string]string{"tag": ""}, wantErr: []string{`input "tag" is required`}},
		{name: "bad choice", given: map[string]string{"tag": "v1", "level": "trace"}, wantErr: []string{`input "level": "trace" is not one of the options info, debug`}},
		{name: "bad boolean", given: map[string]string{"tag": "v1", "dry-run": "yes"}, wantErr: []string{`input "dry-run": "yes" is not a boolean`}},
		{name: "bad number", given: map[string]string{"tag": "v1", "count": "three"}, wantErr: []string{`input "count": "three" is not a number`}},
		{name: "unknown input", given: map[string]string{"tag": "v1", "colour": "red"},
			wantErr: []string{`unknown input "colour" (valid inputs: Name, level, dry-run, count, env, note, tag)`}},
		{name: "several errors", given: map[string]string{"count": "x"}, wantErr: []string{`"tag" is required`, `"count"`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := DispatchInputs(w, tc.given)
			checkErr(t, err, tc.wantErr)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("inputs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestDispatchInputsNoDispatch(t *testing.T) {
	w := parseWorkflow(t, "on: push\n"+jobsYAML)
	got, err := DispatchInputs(w, nil)
	if err != nil || len(got) != 0 {
		t.Errorf("DispatchInputs(no dispatch, nil) = %v, %v; want empty, nil", got, err)
	}
	if _, err := DispatchInputs(w, map[string]string{"x": "1"}); err == nil {
		t.Errorf("DispatchInputs(no dispatch, x=1): want error")
	}
}

const callYAML = `on:
  workflow_call:
    inputs:
      python:
        type: string
        default: "3.12"
      Coverage:
        type: boolean
      retries:
        type: number
        default: 2
      target:
        type: string
        required: true
      strict:
        type: boolean
        default: true
` + jobsYAML

func TestCallInputs(t *testing.T) {
	w := parseWorkflow(t, callYAML)
	call, ok := w.AST.FindWorkflowCallEvent()
	if !ok {
		t.Fatal("no workflow_call event")
	}
	tests := []struct {
		name    string
		given   map[string]any
		want    map[string]any
		wantErr []string
	}{
		{name: "defaults and zeros", given: map[string]any{"target": "x"},
			want: map[string]any{"python": "3.12", "Coverage": false, "retries": 2.0, "target": "x", "strict": true}},
		{name: "given values", given: map[string]any{"target": "x", "PYTHON": "3.11", "coverage": true, "retries": 5, "strict": false},
			want: map[string]any{"python": "3.11", "Coverage": true, "retries": 5.0, "target": "x", "strict": false}},
		{name: "number to string input", given: map[string]any{"target": 3.5},
			want: map[string]any{"python": "3.12", "Coverage": false, "retries": 2.0, "target": "3.5", "strict": true}},
		{name: "required", given: map[string]any{}, wantErr: []string{`input "target" is required`}},
		{name: "string for boolean", given: map[string]any{"target": "x", "coverage": "true"},
			wantErr: []string{`input "Coverage": expected a boolean, got string "true"`}},
		{name: "string for number", given: map[string]any{"target": "x", "retries": "2"},
			wantErr: []string{`input "retries": expected a number, got string "2"`}},
		{name: "object for string", given: map[string]any{"target": map[string]any{}},
			wantErr: []string{`input "target": expected a string, got an object`}},
		{name: "unknown", given: map[string]any{"target": "x", "nope": 1},
			wantErr: []string{`unknown input "nope" (valid inputs: python, Coverage, retries, target, strict)`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CallInputs(call, tc.given)
			checkErr(t, err, tc.wantErr)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("inputs (-want +got):\n%s", diff)
			}
		})
	}
}

func checkErr(t *testing.T, err error, want []string) {
	t.Helper()
	if len(want) == 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if err == nil {
		t.Fatalf("want error containing %q, got nil", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}
