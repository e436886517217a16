package bench

import (
	"math"
	"slices"
	"time"
)

// Stats summarises a sample of step times.
type Stats struct {
	N      int           `json:"n"`
	Median time.Duration `json:"median_ns"`
	Q1     time.Duration `json:"q1_ns"` // 25th percentile
	Q3     time.Duration `json:"q3_ns"` // 75th percentile
	Min    time.Duration `json:"min_ns"`
	Max    time.Duration `json:"max_ns"`
	Mean   time.Duration `json:"mean_ns"`
}

// IQR is the interquartile range Q3 − Q1.
func (s Stats) IQR() time.Duration { return s.Q3 - s.Q1 }

// Summarize computes the statistics of ds (which it does not modify).
// Quantiles interpolate linearly between order statistics (the usual
// "type 7" definition: the q-quantile of x₀ ≤ … ≤ x_{n−1} is at rank
// q·(n−1)). An empty sample gives the zero Stats.
func Summarize(ds []time.Duration) Stats {
	if len(ds) == 0 {
		return Stats{}
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	var sum float64
	for _, d := range s {
		sum += float64(d)
	}
	return Stats{
		N:      len(s),
		Median: quantile(s, 0.5),
		Q1:     quantile(s, 0.25),
		Q3:     quantile(s, 0.75),
		Min:    s[0],
		Max:    s[len(s)-1],
		Mean:   time.Duration(math.Round(sum / float64(len(s)))),
	}
}

// quantile returns the q-quantile of the sorted sample s.
func quantile(s []time.Duration, q float64) time.Duration {
	r := q * float64(len(s)-1)
	i := int(math.Floor(r))
	if i >= len(s)-1 {
		return s[len(s)-1]
	}
	f := r - float64(i)
	return time.Duration(math.Round(float64(s[i]) + f*float64(s[i+1]-s[i])))
}

// MedianFloat returns the median of xs (NaN for an empty slice).
func MedianFloat(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}
