package kernels

import "fmt"

// GatherFwd copies table rows: y[i, :] = table[idx[i], :].
func GatherFwd[T Float](table []T, idx []int, y []T, c int) error {
	v := len(table) / c
	for i, id := range idx {
		if id < 0 || id >= v {
			return fmt.Errorf("gather: index %d out of range [0, %d)", id, v)
		}
		copy(y[i*c:(i+1)*c], table[id*c:(id+1)*c])
	}
	return nil
}

// GatherGrad scatter-adds g rows into dtable (which is zero on entry).
func GatherGrad[T Float](idx []int, g, dtable []T, c int) error {
	v := len(dtable) / c
	for i, id := range idx {
		if id < 0 || id >= v {
			return fmt.Errorf("gather: index %d out of range [0, %d)", id, v)
		}
		d, gg := dtable[id*c:(id+1)*c], g[i*c:(i+1)*c]
		for j, x := range gg {
			d[j] += x
		}
	}
	return nil
}

// PickFwd selects y[i] = x[i, idx[i]] from rows of length v.
func PickFwd[T Float](x []T, idx []int, y []T, v int) error {
	for i, id := range idx {
		if id < 0 || id >= v {
			return fmt.Errorf("pick: index %d out of range [0, %d)", id, v)
		}
		y[i] = x[i*v+id]
	}
	return nil
}

// PickGrad scatters g into dx (zero on entry).
func PickGrad[T Float](idx []int, g, dx []T, v int) error {
	for i, id := range idx {
		if id < 0 || id >= v {
			return fmt.Errorf("pick: index %d out of range [0, %d)", id, v)
		}
		dx[i*v+id] += g[i]
	}
	return nil
}
