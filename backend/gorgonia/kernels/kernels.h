// The C kernels of this package, as Go calls them (vec_cgo.go, sgemm_cgo.go).
// They are built only with cgo on amd64; every one except
// mhcc_sgemm_supported needs AVX2 and FMA, so callers check
// mhcc_sgemm_supported() first. The float32 kernels work on a range of rows
// (or tokens, matrices) so that Go can split the work across goroutines.

#ifndef MHCC_KERNELS_H
#define MHCC_KERNELS_H

// sgemm.c: C[m,n] = op(A)[m,k]·op(B)[k,n] + beta·C, rows [i0, i1) of C
int mhcc_sgemm_supported(void);
int mhcc_sgemm(int ta, int tb, int m, int n, int k, const float *A, int lda, const float *B, int ldb,
               float beta, float *C, int ldc, int i0, int i1);

// fastmath.c
void mhcc_vunary(int kind, const float *x, float *y, int n);
double mhcc_exp_shift(const float *x, float *y, int n, float m);

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
void mhcc_hc_proj(const float *x, const float *phi, float *m, int t0, int t1, int K, int w, float *inv, double eps);
void mhcc_hc_dphi(const float *x, const float *dz, float *dphi, int t0, int t1, int K, int w);
void mhcc_axpy_rows(const float *x, const float *c, float *y, int r0, int r1, int k);
void mhcc_hc_xparts(const float *R, const float *G, const float *h, const float *gu, const float *cs, const float *X, float *dX,
                    int t0, int t1, int n, int c);

#endif
