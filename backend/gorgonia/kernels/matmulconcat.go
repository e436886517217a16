package kernels

// packWeights copies the weights ([k, ns[i]] each) side by side into st
// slot 0: [k, Σns].
func packWeights[T Float](ws [][]T, k int, ns []int, st *Side) ([]T, int) {
	total := 0
	for _, n := range ns {
		total += n
	}
	W := SideBuf[T](st, 0, k*total)
	off := 0
	for i, w := range ws {
		n := ns[i]
		for r := 0; r < k; r++ {
			copy(W[r*total+off:r*total+off+n], w[r*n:(r+1)*n])
		}
		off += n
	}
	return W, total
}

// MatmulConcatFwd computes y = x·[w₁|w₂|…] as one GEMM, for x [N, k] and
// weights [k, ns[i]]; st keeps the packed weights.
func MatmulConcatFwd[T Float](x []T, ws [][]T, y []T, k int, ns []int, st *Side) {
	W, total := packWeights(ws, k, ns, st)
	gemmRows(false, len(x)/k, total, k, x, W, total, y)
}

// MatmulConcatBwd computes dx = G·Wᵀ (into dst[0]) and d[w₁|w₂|…] = xᵀ·G
// split into dst[1:] (nil entries are not computed), with W = [w₁|w₂|…]
// packed into st as MatmulConcatFwd does.
func MatmulConcatBwd[T Float](x []T, ws [][]T, G []T, dst [][]T, k int, ns []int, st *Side) {
	W, total := packWeights(ws, k, ns, st)
	N := len(x) / k
	if dst[0] != nil {
		gemmRows(true, N, k, total, G, W, total, dst[0])
	}
	need := false
	for _, d := range dst[1:] {
		need = need || d != nil
	}
	if !need {
		return
	}
	dW := SideBuf[T](st, 1, k*total)
	gemmTN(k, total, N, x, G, dW, st, 2)
	off := 0
	for i, d := range dst[1:] {
		n := ns[i]
		if d != nil {
			for r := 0; r < k; r++ {
				copy(d[r*n:(r+1)*n], dW[r*total+off:r*total+off+n])
			}
		}
		off += n
	}
}
