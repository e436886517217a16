// The C kernels of this package, as Go calls them (vec_cgo.go, sgemm_cgo.go).
// They are built only with cgo on amd64; every one except mhcc_cpu_level
// and mhcc_cpu_avx2 needs AVX2 and FMA (the GEMM's AVX-512 level more), so
// callers check those first. The float32 kernels work on a range of rows
// (or tokens, matrices) so that Go can split the work across goroutines.

#ifndef MHCC_KERNELS_H
#define MHCC_KERNELS_H

// sgemm.c: the float32 GEMM C[m,n] = op(A)[m,k]·op(B)[k,n] + beta·C at an
// instruction-set level (SGEMM_AVX2 or SGEMM_AVX512, at most
// mhcc_cpu_level()), in two steps so that one product can run on several
// threads (sgemm_split.go): mhcc_sgemm_pack packs column panels [q0, q1) of op(B) (mhcc_sgemm_nr columns each) into Bp
// (k·np·nr floats, np = ceil(n/nr)) and mhcc_sgemm_rows computes rows
// [i0, i1) × columns [j0, j1) of C from it (j0 a multiple of nr, j1 = n
// or one too), packing mc rows of op(A) at a time (mc ≤ 0: the level's
// MC); it returns 0, having written nothing, when its scratch
// cannot be allocated, else 1. Every level sums each element of C in the
// same order (sgemm_impl.h), so the levels agree bit for bit.
#define SGEMM_GO 0
#define SGEMM_AVX2 1
#define SGEMM_AVX512 2
#define SGEMM_KC 256
int mhcc_cpu_level(void);
int mhcc_cpu_avx2(void);
int mhcc_sgemm_nr(int level);
void mhcc_sgemm_pack(int level, int tb, int n, int k, const float *B, int ldb, int q0, int q1, float *Bp);
int mhcc_sgemm_rows(int level, int ta, int n, int k, const float *A, int lda, const float *Bp, float beta,
                    float *C, int ldc, int i0, int i1, int j0, int j1, int mc);
// the levels' entry points (sgemm_avx2.c, sgemm_avx512.c) and their
// per-thread scratch (sgemm.c; NULL when it cannot be allocated)
float *mhcc_sgemm_buf(unsigned long n);
void mhcc_sgemm_set_fail_alloc(int on); // for tests: every mhcc_sgemm_buf fails
int mhcc_sgemm_avx2_nr(void);
void mhcc_sgemm_avx2_pack(int tb, int n, int k, const float *B, int ldb, int q0, int q1, float *Bp);
int mhcc_sgemm_avx2_rows(int ta, int n, int k, const float *A, int lda, const float *Bp, float beta,
                         float *C, int ldc, int i0, int i1, int j0, int j1, int mc);
int mhcc_sgemm_avx512_nr(void);
void mhcc_sgemm_avx512_pack(int tb, int n, int k, const float *B, int ldb, int q0, int q1, float *Bp);
int mhcc_sgemm_avx512_rows(int ta, int n, int k, const float *A, int lda, const float *Bp, float beta,
                           float *C, int ldc, int i0, int i1, int j0, int j1, int mc);

// fastmath.c
void mhcc_vunary(int kind, const float *x, float *y, int n);
double mhcc_exp_shift(const float *x, float *y, int n, float m);

// gelu.c: the fused GELU, AVX-512 when avx512 (only where mhcc_cpu_level
// reports it), else AVX2; t may be NULL (fwd: not kept; bwd: recomputed)
void mhcc_gelu_fwd(int avx512, const float *x, float *y, float *t, int n, float a, float c, float a3, float hc);
void mhcc_gelu_bwd(int avx512, const float *x, const float *t, const float *g, float *dx, int n, float a, float c, float a3,
                   float hc);

// rope.c: blocks [b0, b1) of t rows of d values; cos, sin: t·d/2 each
void mhcc_rope(const float *x, float *y, int b0, int b1, int t, int d, const double *cos, const double *sin, int inverse);

// elementwise.c
void mhcc_vbin(int kind, int mode, const float *a, const float *b, float c, float *y, int n);
void mhcc_vbingrad(int kind, int w, const float *a, const float *b, float c, const float *g, float *y, int n);
void mhcc_vunary_grad(int kind, const float *xy, const float *g, float *dx, int n);

// softmax.c
void mhcc_softmax_rows(const float *x, float *y, int r0, int r1, int n, int logout);

// attention.c
void mhcc_attn_softmax(float *S, int T, int causal, float scale);
void mhcc_attn_dsoftmax(const float *P, float *dS, int T, int causal, float scale);

// crossentropy.c
double mhcc_ce_rows(const float *x, const long long *tgt, float *P, int r0, int r1, int V);

// rmsnorm.c
void mhcc_rms_inv(const float *x, float *inv, int r0, int r1, int c, double eps);
void mhcc_rms_fwd(const float *x, const float *g, float *y, int r0, int r1, int c, double eps);
void mhcc_rms_bwd(const float *x, const float *g, const float *gy, float *dx, float *dg, int r0, int r1, int c, double eps);

// sinkhorn.c
int mhcc_sinkhorn_fwd(const float *x, float *y, int m0, int m1, int n, int iters);
int mhcc_sinkhorn_bwd(const float *x, const float *gy, float *dx, int m0, int m1, int n, int iters);

// hc.c
void mhcc_hc_read_fwd(const float *h, const float *X, float *u, int t0, int t1, int n, int c);
void mhcc_hc_read_bwd(const float *h, const float *X, const float *gy, float *dh, float *dX, int add, int t0, int t1, int n, int c);
void mhcc_hc_write_fwd(const float *R, const float *X, const float *p, const float *y, float *out, int t0, int t1, int n, int c);
void mhcc_hc_write_bwd(const float *R, const float *X, const float *p, const float *y, const float *G,
                       float *dR, float *dX, float *dp, float *dy, int t0, int t1, int n, int c);
void mhcc_hc_proj(const float *x, const float *phi, float *m, int t0, int t1, int K, int w, float *inv, double eps, int avx512);
void mhcc_hc_dphi(const float *x, const float *dz, float *dphi, int t0, int t1, int K, int w);
void mhcc_axpy_rows(const float *x, const float *c, float *y, int r0, int r1, int k);
void mhcc_hc_xparts(const float *R, const float *G, const float *h, const float *gu, const float *cs, const float *X, float *dX,
                    int t0, int t1, int n, int c);

#endif
