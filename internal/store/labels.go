package store

import (
	"slices"
	"strings"
)

// LabelDefault is the agent label that opts an agent into the default runs-on labels.
const LabelDefault = "default"

// LabelsMatch reports whether an agent with agentLabels may run a job whose runs-on labels are
// jobLabels. The rule, compared case-insensitively:
//
//   - a job without labels runs on any agent;
//   - every job label must be matched, and a label matches when the agent lists it;
//   - the default labels "self-hosted", "linux", "x64", "ubuntu-latest" and "ubuntu-*" (any
//     "ubuntu-" version) also match any agent that lists "default".
//
// So `runs-on: ubuntu-latest` runs on every agent started with the default label set, and
// `runs-on: [self-hosted, gpu]` only on a "default" (or "self-hosted") agent that also lists "gpu".
func LabelsMatch(agentLabels, jobLabels []string) bool {
	have := make(map[string]bool, len(agentLabels))
	for _, l := range agentLabels {
		have[strings.ToLower(strings.TrimSpace(l))] = true
	}
	for _, l := range jobLabels {
		l = strings.ToLower(strings.TrimSpace(l))
		if have[l] || (have[LabelDefault] && isDefaultLabel(l)) {
			continue
		}
		return false
	}
	return true
}

func isDefaultLabel(l string) bool {
	switch l {
	case "self-hosted", "linux", "x64", "ubuntu-latest":
		return true
	}
	return strings.HasPrefix(l, "ubuntu-")
}

// labelsKey is the normalized label set stored with each job so a claim can test each distinct
// set once instead of every queued job.
func labelsKey(labels []string) string {
	norm := make([]string, 0, len(labels))
	for _, l := range labels {
		if l = strings.ToLower(strings.TrimSpace(l)); l != "" {
			norm = append(norm, l)
		}
	}
	slices.Sort(norm)
	return strings.Join(slices.Compact(norm), "\n")
}

func keyLabels(key string) []string {
	if key == "" {
		return nil
	}
	return strings.Split(key, "\n")
}
