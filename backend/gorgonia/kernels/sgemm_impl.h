// The blocked float32 GEMM driver shared by the instruction-set levels of
// sgemm_avx2.c and sgemm_avx512.c: packing of op(A) and op(B) into panels
// and the cache-blocked loops around a register-blocked micro-kernel.
// Each of those files defines, before including this header:
//
//	MR, NR    the micro-tile (rows of C, columns of C)
//	MC, NCB   rows of A packed at a time (unless the caller of FN(rows)
//	          asks for more), columns of packed B per sweep
//	TARGET    the function attribute that enables the instruction set
//	FN(x)     the level's name for x (mhcc_sgemm_avx512_x, …)
//	KERNEL    static void KERNEL(int kc, const float *Ap, const float *Bp,
//	          float *C, int ldc, int mr, int nr, int add): the MR×NR tile
//	          C (+)= Ap·Bp over kc, of which the mr×nr corner is stored
//
// and optionally TRANSPOSE_PANEL, a vectorised FN(transpose_panel).
// It defines the level's entry points FN(nr), FN(pack) and FN(rows)
// (kernels.h).
//
// The summation order of every element of C is fixed by SGEMM_KC alone
// (kernels.h): Σ over each KC-block of k in increasing p with one FMA per
// term, starting from 0, and the block sums added to C in block order
// (after C = beta·C). It does not depend on MR, NR, the blocking or the
// split of C across threads, so every level gives bit-identical results.

// copy_panel writes kc rows of w floats at dst from kc rows of x ≤ w
// floats at src (row stride ld), zero-padded: a panel of op(X) whose rows
// are contiguous in X.
TARGET static inline void FN(copy_panel)(const float *src, int ld, int x, int w, int kc, float *dst) {
	for (int p = 0; p < kc; p++, src += ld, dst += w) {
		if (x == w) { // the common case, a copy of known size
			memcpy(dst, src, (size_t)w * sizeof(float));
			continue;
		}
		int j = 0;
		for (; j < x; j++) dst[j] = src[j];
		for (; j < w; j++) dst[j] = 0;
	}
}

// transpose_panel writes kc rows of w floats at dst whose column j < x is
// row j of src (kc floats, row stride ld), columns x..w-1 zero: a panel of
// op(X) whose rows are columns of X.
#ifdef TRANSPOSE_PANEL
#define transpose_panel_impl TRANSPOSE_PANEL
#else
TARGET static inline void FN(transpose_panel)(const float *src, int ld, int x, int w, int kc, float *dst) {
	for (int j = 0; j < w; j++) {
		const float *s = src + (size_t)j * ld;
		for (int p = 0; p < kc; p++) dst[(size_t)p * w + j] = j < x ? s[p] : 0;
	}
}
#define transpose_panel_impl FN(transpose_panel)
#endif

// pack_a packs rows [i0, i0+mc) and columns [p0, p0+kc) of op(A) into
// panels of MR rows: Ap[panel][p][MR], rows past mc zero.
TARGET static void FN(pack_a)(int mc, int kc, const float *A, int lda, int ta, int i0, int p0, float *Ap) {
	for (int ir = 0; ir < mc; ir += MR, Ap += (size_t)kc * MR) {
		int mr = mc - ir < MR ? mc - ir : MR;
		if (ta) // op(A)(i, p) = A[p][i]
			FN(copy_panel)(A + (size_t)p0 * lda + i0 + ir, lda, mr, MR, kc, Ap);
		else // op(A)(i, p) = A[i][p]
			transpose_panel_impl(A + (size_t)(i0 + ir) * lda + p0, lda, mr, MR, kc, Ap);
	}
}

// pack_b packs column panels [q0, q1) (NR columns each) of op(B) for
// every KC-block of k: block b, panel q at Bp + b·KC·np·NR + q·kc_b·NR,
// kc_b × NR floats, columns past n zero.
TARGET static void FN(pack_b)(int tb, int n, int k, const float *B, int ldb, int q0, int q1, float *Bp) {
	int np = (n + NR - 1) / NR;
	for (int pc = 0; pc < k; pc += SGEMM_KC) {
		int kc = k - pc < SGEMM_KC ? k - pc : SGEMM_KC;
		float *blk = Bp + (size_t)pc * np * NR;
		for (int q = q0; q < q1; q++) {
			int j0 = q * NR, nr = n - j0 < NR ? n - j0 : NR;
			if (tb) // op(B)(p, j) = B[j][p]
				transpose_panel_impl(B + (size_t)j0 * ldb + pc, ldb, nr, NR, kc, blk + (size_t)q * kc * NR);
			else // op(B)(p, j) = B[p][j]
				FN(copy_panel)(B + (size_t)pc * ldb + j0, ldb, nr, NR, kc, blk + (size_t)q * kc * NR);
		}
	}
}

// packed computes the block rows [i0, i1) × columns [j0, j1) of
// C = op(A)·B + beta·C from B packed by pack_b (j0 a multiple of NR,
// j1 = n or one too), packing op(A) into Ap (mcb rounded up to MR, times
// SGEMM_KC floats). Loops: mcb rows of A at a time; per KC-block of k, the
// A block is packed once; per NCB columns of B (in L2), every MR-row panel
// of A (in L1) runs the micro-kernel over the NR-column panels of B.
TARGET static void FN(packed)(int ta, int n, int k, const float *A, int lda, const float *Bp, float beta,
                              float *C, int ldc, int i0, int i1, int j0, int j1, int mcb, float *Ap) {
	int np = (n + NR - 1) / NR;
	if (k == 0) {
		for (int i = i0; i < i1; i++) {
			float *ci = C + (size_t)i * ldc;
			for (int j = j0; j < j1; j++) ci[j] = beta == 0 ? 0 : beta * ci[j];
		}
		return;
	}
	for (int ic = i0; ic < i1; ic += mcb) {
		int mc = i1 - ic < mcb ? i1 - ic : mcb;
		if (beta != 0 && beta != 1) {
			for (int i = 0; i < mc; i++) {
				float *ci = C + (size_t)(ic + i) * ldc;
				for (int j = j0; j < j1; j++) ci[j] *= beta;
			}
		}
		for (int pc = 0; pc < k; pc += SGEMM_KC) {
			int kc = k - pc < SGEMM_KC ? k - pc : SGEMM_KC;
			int add = pc > 0 || beta != 0;
			const float *blk = Bp + (size_t)pc * np * NR;
			FN(pack_a)(mc, kc, A, lda, ta, ic, pc, Ap);
			for (int jc = j0; jc < j1; jc += NCB) {
				int je = j1 - jc < NCB ? j1 : jc + NCB;
				for (int ir = 0; ir < mc; ir += MR) {
					int mr = mc - ir < MR ? mc - ir : MR;
					const float *ap = Ap + (size_t)ir * kc;
					float *cr = C + (size_t)(ic + ir) * ldc;
					for (int jr = jc; jr < je; jr += NR) {
						int nr = je - jr < NR ? je - jr : NR;
						KERNEL(kc, ap, blk + (size_t)(jr / NR) * kc * NR, cr + jr, ldc, mr, nr, add);
					}
				}
			}
		}
	}
}

int FN(nr)(void) { return NR; }

void FN(pack)(int tb, int n, int k, const float *B, int ldb, int q0, int q1, float *Bp) {
	FN(pack_b)(tb, n, k, B, ldb, q0, q1, Bp);
}

int FN(rows)(int ta, int n, int k, const float *A, int lda, const float *Bp, float beta, float *C, int ldc,
             int i0, int i1, int j0, int j1, int mc) {
	if (mc <= 0) mc = MC;
	float *Ap = mhcc_sgemm_buf((size_t)(mc + MR - 1) / MR * MR * SGEMM_KC);
	if (!Ap) return 0;
	FN(packed)(ta, n, k, A, lda, Bp, beta, C, ldc, i0, i1, j0, j1, mc, Ap);
	return 1;
}
