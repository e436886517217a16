package kernels

// Side holds buffers that outlive one kernel call, by slot: the state that
// a backward kernel needs from its forward (AttentionFwd's probabilities,
// HCCoeffsFwd's projection, ...) and scratch space reused from call to
// call. The caller gives each op its own Side for its state; scratch may
// be one Side shared by every op that runs one at a time. Every slot is
// fully overwritten by its writer before anything reads it. The zero value is
// empty and ready to use.
type Side struct {
	f32 [][]float32
	f64 [][]float64
}

// SideBuf returns slot i of s with n elements, allocated on first use and
// whenever n exceeds the slot's capacity (a slot reused by kernels of
// different sizes, such as a graph's shared scratch, keeps its largest
// allocation).
func SideBuf[T Float](s *Side, i, n int) []T {
	var z T
	if _, ok := any(z).(float32); ok {
		for len(s.f32) <= i {
			s.f32 = append(s.f32, nil)
		}
		if cap(s.f32[i]) < n {
			s.f32[i] = make([]float32, n)
		}
		return any(s.f32[i][:n]).([]T)
	}
	for len(s.f64) <= i {
		s.f64 = append(s.f64, nil)
	}
	if cap(s.f64[i]) < n {
		s.f64[i] = make([]float64, n)
	}
	return any(s.f64[i][:n]).([]T)
}

// SetSideBuf makes buf slot i of s: later SideBuf calls for slot i with
// len(buf) elements return it. The caller owns buf's lifetime; the
// backend's buffer plan uses it to place a backward kernel's further
// gradients in memory shared with other ops.
func SetSideBuf[T Float](s *Side, i int, buf []T) {
	switch b := any(buf).(type) {
	case []float32:
		for len(s.f32) <= i {
			s.f32 = append(s.f32, nil)
		}
		s.f32[i] = b
	case []float64:
		for len(s.f64) <= i {
			s.f64 = append(s.f64, nil)
		}
		s.f64[i] = b
	}
}
