//go:build cgo && amd64

// The float32 GEMM's CPU dispatch and scratch buffers. The levels:
// sgemm_avx512.c (AVX-512F, 12×32 tiles) and sgemm_avx2.c (AVX2/FMA, 6×16
// tiles), both instances of the blocked driver of sgemm_impl.h. Go
// (sgemm_cgo.go) picks the level once and may force a lower one.

#include <pthread.h>
#include <stdlib.h>
#include "kernels.h"

int mhcc_cpu_level(void) {
	__builtin_cpu_init();
	if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) return SGEMM_GO;
	// __builtin_cpu_supports reports AVX-512F only when the OS saves the
	// zmm and mask registers (XCR0), like AVX2 for the ymm ones.
	if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
	    __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw"))
		return SGEMM_AVX512;
	return SGEMM_AVX2;
}

int mhcc_cpu_avx2(void) {
	__builtin_cpu_init();
	return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

// The scratch buffer of mhcc_sgemm_*_rows (op(A) packed, ~150 KiB), one
// per OS thread (a cgo call runs on one thread from start to end), kept
// for the thread's lifetime and freed when it exits. NULL when it cannot
// be allocated: the caller then writes nothing and reports it.
struct buf {
	float *p;
	size_t n;
};

static pthread_key_t buf_key;
static pthread_once_t buf_once = PTHREAD_ONCE_INIT;

static void free_buf(void *v) {
	struct buf *b = v;
	free(b->p);
	free(b);
}

static void make_key(void) { pthread_key_create(&buf_key, free_buf); }

// fail_alloc, when set (by the tests, through mhcc_sgemm_set_fail_alloc),
// makes every mhcc_sgemm_buf fail as an exhausted heap would.
static int fail_alloc;

void mhcc_sgemm_set_fail_alloc(int on) { __atomic_store_n(&fail_alloc, on, __ATOMIC_SEQ_CST); }

float *mhcc_sgemm_buf(unsigned long n) {
	if (__atomic_load_n(&fail_alloc, __ATOMIC_SEQ_CST)) return NULL;
	pthread_once(&buf_once, make_key);
	struct buf *b = pthread_getspecific(buf_key);
	if (!b) {
		b = calloc(1, sizeof *b);
		if (!b) return NULL;
		if (pthread_setspecific(buf_key, b) != 0) {
			free(b);
			return NULL;
		}
	}
	if (b->n < n) {
		free(b->p);
		b->n = 0;
		size_t bytes = (n * sizeof(float) + 63) / 64 * 64;
		b->p = aligned_alloc(64, bytes);
		if (!b->p) return NULL;
		b->n = n;
	}
	return b->p;
}

int mhcc_sgemm_nr(int level) {
	return level == SGEMM_AVX512 ? mhcc_sgemm_avx512_nr() : mhcc_sgemm_avx2_nr();
}

void mhcc_sgemm_pack(int level, int tb, int n, int k, const float *B, int ldb, int q0, int q1, float *Bp) {
	if (level == SGEMM_AVX512) mhcc_sgemm_avx512_pack(tb, n, k, B, ldb, q0, q1, Bp);
	else mhcc_sgemm_avx2_pack(tb, n, k, B, ldb, q0, q1, Bp);
}

int mhcc_sgemm_rows(int level, int ta, int n, int k, const float *A, int lda, const float *Bp, float beta,
                    float *C, int ldc, int i0, int i1, int j0, int j1, int mc) {
	if (level == SGEMM_AVX512) return mhcc_sgemm_avx512_rows(ta, n, k, A, lda, Bp, beta, C, ldc, i0, i1, j0, j1, mc);
	return mhcc_sgemm_avx2_rows(ta, n, k, A, lda, Bp, beta, C, ldc, i0, i1, j0, j1, mc);
}
