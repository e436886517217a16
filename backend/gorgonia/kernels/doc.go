// Package kernels holds the compute kernels of mhcc's Gorgonia backend
// (backend/gorgonia): plain functions over flat row-major slices, with no
// graph and no dependency on Gorgonia (TestNoGorgoniaImports enforces
// that). The backend's graph builder wraps each of them in a custom op.
//
// Every kernel is generic over float32 (training) and float64 (gradient
// checks). float32 kernels run hand-written AVX2/FMA C code (the *.c
// files, one per family, with the shared inline helpers of vecmath.h; Go
// binds them in vec_cgo.go) when the build has cgo on amd64 and the CPU has
// AVX2 and FMA, else the generic Go code, which float64 always uses;
// TestVectorKernels compares the two. float32 matrix products run the
// package's packed GEMM — AVX-512 (sgemm_avx512.c) or AVX2
// (sgemm_avx2.c) micro-kernels around one blocked driver (sgemm_impl.h),
// the level chosen at run time from the CPU (sgemm.c, sgemm_level.go;
// MHCC_SGEMM caps it) — or a BLAS that the caller can set (SetBLAS,
// gonum's pure-Go one by default). cgo.go holds the C compiler flags.
// A few elementwise kernels also have an AVX-512 form (gelu.c, on the
// 16-lane exp and tanh of vecmath512.h; vecmath_impl.h writes the exp and
// tanh once for both widths), chosen where the CPU has the GEMM's AVX-512
// level and bit-identical to the AVX2 one. Kernels that must equal a
// reference bit for bit (gelu.c, rope.c) turn off FMA contraction.
//
// Kernels write every element of their outputs unless documented to
// accumulate, and split rows (tokens, heads, matrices) over the CPUs when
// the work is large enough. Reductions across rows (gradients of shared
// weights) use one partial result per chunk, combined in chunk order, so a
// run is deterministic. Buffers a kernel keeps from one call to the next
// (the forward's state for the backward, scratch) live in a Side that the
// caller owns.
//
// The families, one file each: plan.go (strided walks and copies),
// elementwise.go (binary with broadcasting, scalar, unary), reduce.go,
// softmax.go, index.go (gather, pick), sequence.go (causal mask, rope),
// fastmath.go (float32 exp, tanh, sigmoid), gemm.go (GEMM, BLAS selection,
// matmul), sgemm_level.go and sgemm_split.go (the native GEMM's levels and
// its split over the cores), parallel.go, side.go, and the fused ops: rmsnorm.go, gelu.go,
// sinkhorn.go, hc.go (hc.coeffs, hc.read, hc.write), attention.go,
// crossentropy.go, matmulconcat.go, moe.go (top-k, expert load, the
// routed experts as one product per expert).
package kernels

// Float is the element type of every kernel.
type Float interface{ ~float32 | ~float64 }
