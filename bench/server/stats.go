package main

import (
	"math"
	"sort"
	"time"
)

// summary is the distribution of a set of durations.
type summary struct {
	N                  int
	Min, P50, P95, Max time.Duration
	Mean               time.Duration
}

// summarize uses the nearest-rank percentile (the smallest value with at
// least p% of the samples at or below it), so p95 of 50 samples is the 48th.
func summarize(ds []time.Duration) summary {
	if len(ds) == 0 {
		return summary{}
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	var total time.Duration
	for _, d := range s {
		total += d
	}
	return summary{
		N: len(s), Min: s[0], Max: s[len(s)-1],
		P50: nearestRank(s, 50), P95: nearestRank(s, 95),
		Mean: total / time.Duration(len(s)),
	}
}

// nearestRank expects sorted input.
func nearestRank(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	return sorted[max(rank, 1)-1]
}

// ms formats a duration in milliseconds with one decimal.
func ms(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Millisecond)*10) / 10
}
