package kernels

import (
	"math"
	"runtime"
	"testing"
)

// TestLayerNormParallelRows runs the LayerNorm kernels on inputs large
// enough for the parallel row split (and the per-chunk partials of dg and
// db), in float32, with rows far from zero mean, against the formulas
// evaluated here row by row in float64; the backward with the statistics
// the forward kept and with recomputed ones.
func TestLayerNormParallelRows(t *testing.T) {
	const rows, c, eps = 400, 96, 1e-5
	if nChunks(rows, 8*c) < 2 && runtime.GOMAXPROCS(0) > 1 {
		t.Fatalf("%d rows of %d do not take the parallel path", rows, c)
	}
	x, gy := make([]float32, rows*c), make([]float32, rows*c)
	g, b := make([]float32, c), make([]float32, c)
	for i := range x {
		x[i] = float32(50 + 3*math.Sin(float64(i)*0.37)) // mean ≈ 50: a one-pass variance would lose it
		gy[i] = float32(math.Cos(float64(i) * 0.11))
	}
	for i := range g {
		g[i], b[i] = float32(1+0.5*math.Sin(float64(i))), float32(math.Cos(float64(i)))
	}
	y, dx, dg, db := make([]float32, rows*c), make([]float32, rows*c), make([]float32, c), make([]float32, c)
	stats := make([]float32, 2*rows)
	LayerNormFwd(x, g, b, y, stats, c, eps)
	LayerNormBwd(x, g, gy, stats, dx, dg, db, &Side{}, c, eps)
	// without the kept statistics the backward recomputes them: the same
	dx2 := make([]float32, rows*c)
	LayerNormBwd(x, g, gy, nil, dx2, nil, nil, nil, c, eps)
	for i := range dx {
		if math.Abs(float64(dx[i]-dx2[i])) > 1e-6*math.Max(1, math.Abs(float64(dx[i]))) {
			t.Fatalf("dx[%d] = %g with the kept statistics, %g recomputed", i, dx[i], dx2[i])
		}
	}

	wdg, wdb := make([]float64, c), make([]float64, c)
	for r := 0; r < rows; r++ {
		var mu, v float64
		for i := 0; i < c; i++ {
			mu += float64(x[r*c+i]) / c
		}
		for i := 0; i < c; i++ {
			d := float64(x[r*c+i]) - mu
			v += d * d / c
		}
		inv := 1 / math.Sqrt(v+eps)
		var mg, mgx float64
		for i := 0; i < c; i++ {
			xh := (float64(x[r*c+i]) - mu) * inv
			gh := float64(gy[r*c+i]) * float64(g[i])
			mg += gh / c
			mgx += gh * xh / c
			wdg[i] += float64(gy[r*c+i]) * xh
			wdb[i] += float64(gy[r*c+i])
		}
		for i := 0; i < c; i++ {
			k := r*c + i
			xh := (float64(x[k]) - mu) * inv
			wy := xh*float64(g[i]) + float64(b[i])
			wdx := inv * (float64(gy[k])*float64(g[i]) - mg - xh*mgx)
			if math.Abs(float64(y[k])-wy) > 1e-4*math.Max(1, math.Abs(wy)) || math.Abs(float64(dx[k])-wdx) > 1e-3*math.Max(1, math.Abs(wdx)) {
				t.Fatalf("row %d, %d: y %g dx %g, want %g %g", r, i, y[k], dx[k], wy, wdx)
			}
		}
	}
	for i := 0; i < c; i++ {
		if math.Abs(float64(dg[i])-wdg[i]) > 1e-3*math.Max(1, math.Abs(wdg[i])) || math.Abs(float64(db[i])-wdb[i]) > 1e-4*math.Max(1, math.Abs(wdb[i])) {
			t.Fatalf("column %d: dg %g db %g, want %g %g", i, dg[i], db[i], wdg[i], wdb[i])
		}
	}
}
