package kernels

// Side holds buffers that outlive one kernel call, by slot: the state that
// a backward kernel needs from its forward (AttentionFwd's probabilities,
// HCCoeffsFwd's projection, ...) and scratch space reused from call to
// call. The caller gives each op its own Side; every slot is fully
// overwritten by its writer before anything reads it. The zero value is
// empty and ready to use.
type Side struct {
	f32 [][]float32
	f64 [][]float64
}

// SideBuf returns slot i of s with n elements (allocated on first use and
// whenever n changes).
func SideBuf[T Float](s *Side, i, n int) []T {
	var z T
	if _, ok := any(z).(float32); ok {
		for len(s.f32) <= i {
			s.f32 = append(s.f32, nil)
		}
		if len(s.f32[i]) != n {
			s.f32[i] = make([]float32, n)
		}
		return any(s.f32[i]).([]T)
	}
	for len(s.f64) <= i {
		s.f64 = append(s.f64, nil)
	}
	if len(s.f64[i]) != n {
		s.f64[i] = make([]float64, n)
	}
	return any(s.f64[i]).([]T)
}
