// SPDX-License-Identifier: GPL-2.0
/*
 * The batched forward pass.  One call computes every row (one token of
 * one request at one position) of a step.  Each row's arithmetic is done
 * in the same order as llama2.c's single-token forward(), whatever the
 * batch, its split into chunks, the thread count or the SIMD width:
 * matmul outputs are independent sequential dot products, attention of a
 * row reads its own request's cache positions 0..pos in order.  Nothing
 * here allocates.
 *
 * SIMD never changes a result because a lane only ever holds one output's
 * own sequential sum: the batched matmul puts GME_LANES batch rows in the
 * lanes (the input transposed to (k, row), each weight broadcast once for
 * all rows), attention scores put consecutive cache positions in the
 * lanes (K is stored transposed per block), the attention output puts the
 * head's dimensions in the lanes; independent sums (heads, rows) run side
 * by side.  Products and sums are rounded separately as in the scalar
 * code: the build uses -ffp-contract=off (AVX-512F has FMA instructions
 * the compiler would otherwise fuse into) and the AVX2 kernels are built
 * without FMA.  expf() is computed in lanes exactly as libm does it (see
 * expf_avx512()).  The kernels are picked at run time
 * (__builtin_cpu_supports(), gme_forward_set_isa()), so the binary runs on
 * any x86-64; tests/engine/test-engine.c checks every kernel set against
 * the scalar loops bit for bit.
 */
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#ifdef __x86_64__
#define GME_X86 1
#include <immintrin.h>
#endif

/*
 * The batched SIMD matmul does a MAC about this many times faster than
 * the scalar loop: its regions' work (compared with min_parallel_work,
 * in scalar MACs) is divided by it.
 */
#define SIMD_WORK_DIV 8

/* ---- buffers ---------------------------------------------------------- */

/* GPUMUX_ENGINE_ISA=scalar|vec4|avx2|avx512 picks the kernels, if it runs */
static int isa_from_env(void)
{
	const char *v = getenv("GPUMUX_ENGINE_ISA");

	for (int isa = 0; v && isa < GME_ISA_COUNT; isa++)
		if (!strcmp(v, gme_isa_name(isa)) && gme_forward_isa_runs(isa))
			return isa;
	return GME_ISA_BEST;
}

int gme_run_state_init(struct gme_run_state *s, const struct gme_config *c,
		       int32_t max_rows, int32_t max_seqs, int n_threads)
{
	size_t R = max_rows, dim = c->dim, hid = c->hidden_dim;
	size_t kv_dim = dim * c->n_kv_heads / c->n_heads;
	size_t hs = dim / c->n_heads, half = hs / 2;
	size_t groups = (R + GME_LANES - 1) / GME_LANES;
	size_t xt_bytes =
		groups * GME_LANES * (hid > dim ? hid : dim) * sizeof(float);

	memset(s, 0, sizeof(*s));
	s->x = calloc(R * dim, sizeof(float));
	s->xb = calloc(R * dim, sizeof(float));
	s->xb2 = calloc(R * dim, sizeof(float));
	s->hb = calloc(R * hid, sizeof(float));
	s->hb2 = calloc(R * hid, sizeof(float));
	s->q = calloc(R * dim, sizeof(float));
	s->k = calloc(R * kv_dim, sizeof(float));
	s->v = calloc(R * kv_dim, sizeof(float));
	s->att = calloc((size_t)n_threads * c->n_heads * c->seq_len,
			sizeof(float));
	/* a multiple of 64 bytes: GME_LANES floats per input element */
	s->xt = aligned_alloc(64, xt_bytes);
	s->xf = calloc((size_t)max_seqs * dim, sizeof(float));
	s->logits = calloc((size_t)max_seqs * c->vocab_size, sizeof(float));
	s->probindex = calloc(c->vocab_size, sizeof(*s->probindex));
	s->rope_cos = calloc((size_t)c->seq_len * half, sizeof(float));
	s->rope_sin = calloc((size_t)c->seq_len * half, sizeof(float));
	s->row_token = calloc(R, sizeof(*s->row_token));
	s->row_pos = calloc(R, sizeof(*s->row_pos));
	s->row_blocks = calloc(R, sizeof(*s->row_blocks));
	s->out_rows = calloc(max_seqs, sizeof(*s->out_rows));
	if (!s->x || !s->xb || !s->xb2 || !s->hb || !s->hb2 || !s->q || !s->k ||
	    !s->v || !s->att || !s->xt || !s->xf || !s->logits ||
	    !s->probindex || !s->rope_cos || !s->rope_sin || !s->row_token ||
	    !s->row_pos || !s->row_blocks || !s->out_rows) {
		gme_run_state_free(s);
		return -ENOMEM;
	}
	memset(s->xt, 0, xt_bytes);
	/* the same expressions as llama2.c evaluates at every step */
	for (int32_t pos = 0; pos < c->seq_len; pos++) {
		for (size_t i = 0; i < hs; i += 2) {
			float freq = 1.0f / powf(10000.0f, i / (float)hs);
			float val = pos * freq;

			s->rope_cos[pos * half + i / 2] = cosf(val);
			s->rope_sin[pos * half + i / 2] = sinf(val);
		}
	}
	gme_forward_set_isa(s, isa_from_env());
	return 0;
}

void gme_run_state_free(struct gme_run_state *s)
{
	free(s->x);
	free(s->xb);
	free(s->xb2);
	free(s->hb);
	free(s->hb2);
	free(s->q);
	free(s->k);
	free(s->v);
	free(s->att);
	free(s->xt);
	free(s->xf);
	free(s->logits);
	free(s->probindex);
	free(s->rope_cos);
	free(s->rope_sin);
	free(s->row_token);
	free(s->row_pos);
	free(s->row_blocks);
	free(s->out_rows);
	memset(s, 0, sizeof(*s));
}

/* ---- scalar kernels --------------------------------------------------- */

static void rmsnorm(float *o, const float *x, const float *weight, int32_t size)
{
	float ss = 0.0f;

	for (int32_t j = 0; j < size; j++)
		ss += x[j] * x[j];
	ss /= size;
	ss += 1e-5f;
	ss = 1.0f / sqrtf(ss);
	for (int32_t j = 0; j < size; j++)
		o[j] = weight[j] * (ss * x[j]);
}

/* softmax's max and exponentials; returns the sum to divide by */
static float softmax_exp(float *x, int32_t size)
{
	float max = x[0], sum = 0.0f;

	for (int32_t i = 1; i < size; i++)
		if (x[i] > max)
			max = x[i];
	for (int32_t i = 0; i < size; i++) {
		x[i] = expf(x[i] - max);
		sum += x[i];
	}
	return sum;
}

/*
 * out (rows, d) = x (rows, n) @ w (d, n)^T for outputs [i0, i1).  Every
 * output is one sequential sum over j = 0..n-1, as in llama2.c; speed
 * comes from running independent sums side by side: four weight rows
 * (read once per step, then from cache) times two batch rows.  Used for
 * a single row and by GME_ISA_SCALAR.
 */
static void matmul_range(float *out, const float *x, const float *w,
			 int32_t rows, int32_t n, int32_t d, int32_t i0,
			 int32_t i1)
{
	int32_t i = i0;

	for (; i + 4 <= i1; i += 4) {
		const float *w0 = w + (size_t)i * n;
		const float *w1 = w0 + n, *w2 = w1 + n, *w3 = w2 + n;
		int32_t b = 0;

		for (; b + 2 <= rows; b += 2) {
			const float *xa = x + (size_t)b * n, *xc = xa + n;
			float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
			float c0 = 0.0f, c1 = 0.0f, c2 = 0.0f, c3 = 0.0f;
			float *oa = out + (size_t)b * d + i, *oc = oa + d;

			for (int32_t j = 0; j < n; j++) {
				a0 += w0[j] * xa[j];
				a1 += w1[j] * xa[j];
				a2 += w2[j] * xa[j];
				a3 += w3[j] * xa[j];
				c0 += w0[j] * xc[j];
				c1 += w1[j] * xc[j];
				c2 += w2[j] * xc[j];
				c3 += w3[j] * xc[j];
			}
			oa[0] = a0;
			oa[1] = a1;
			oa[2] = a2;
			oa[3] = a3;
			oc[0] = c0;
			oc[1] = c1;
			oc[2] = c2;
			oc[3] = c3;
		}
		for (; b < rows; b++) {
			const float *xa = x + (size_t)b * n;
			float a0 = 0.0f, a1 = 0.0f, a2 = 0.0f, a3 = 0.0f;
			float *oa = out + (size_t)b * d + i;

			for (int32_t j = 0; j < n; j++) {
				a0 += w0[j] * xa[j];
				a1 += w1[j] * xa[j];
				a2 += w2[j] * xa[j];
				a3 += w3[j] * xa[j];
			}
			oa[0] = a0;
			oa[1] = a1;
			oa[2] = a2;
			oa[3] = a3;
		}
	}
	for (; i < i1; i++) {
		const float *wi = w + (size_t)i * n;

		for (int32_t b = 0; b < rows; b++) {
			const float *xa = x + (size_t)b * n;
			float s = 0.0f;

			for (int32_t j = 0; j < n; j++)
				s += wi[j] * xa[j];
			out[(size_t)b * d + i] = s;
		}
	}
}

/*
 * Attention of one row, every head: q (n_heads * hs), its request's cache
 * positions 0..pos, output xb (n_heads * hs); att (n_heads, seq_len) is
 * scratch.  Query head h reads KV head h / kv_mul.
 */
struct att_args {
	const struct gme_kv *kv;
	int32_t layer;
	int32_t n_heads, kv_mul, hs;
	int32_t pos;
	size_t seq_len; /* att's stride */
	const int32_t *blocks; /* the request's block table */
	const float *q;
	float *att;
	float *xb;
	void (*expf_n)(float *x, int32_t n); /* in place */
};

static void att_row_scalar(const struct att_args *a)
{
	const struct gme_kv *kv = a->kv;
	int32_t hs = a->hs, pos = a->pos, bs = kv->block_size;

	for (int32_t h = 0; h < a->n_heads; h++) {
		const float *q = a->q + (size_t)h * hs;
		float *att = a->att + h * a->seq_len, *xb = a->xb + h * hs;
		size_t koff = (size_t)(h / a->kv_mul) * hs;
		float sum;

		/* block table entry b: positions b * bs .. b * bs + bs - 1 */
		for (int32_t t0 = 0, b = 0; t0 <= pos; t0 += bs, b++) {
			int32_t n = pos + 1 - t0 < bs ? pos + 1 - t0 : bs;
			const float *kt =
				gme_kv_keys(kv, a->blocks[b], a->layer) +
				koff * bs;

			for (int32_t o = 0; o < n; o++) {
				float score = 0.0f;

				for (int32_t i = 0; i < hs; i++)
					score += q[i] * kt[(size_t)i * bs + o];
				score /= sqrtf(hs);
				att[t0 + o] = score;
			}
		}
		sum = softmax_exp(att, pos + 1);
		for (int32_t t = 0; t <= pos; t++)
			att[t] /= sum;
		memset(xb, 0, hs * sizeof(float));
		for (int32_t t0 = 0, b = 0; t0 <= pos; t0 += bs, b++) {
			int32_t n = pos + 1 - t0 < bs ? pos + 1 - t0 : bs;
			const float *v =
				gme_kv_value(kv, a->blocks[b], a->layer, 0) +
				koff;

			for (int32_t o = 0; o < n; o++, v += kv->kv_dim) {
				float w = att[t0 + o];

				for (int32_t i = 0; i < hs; i++)
					xb[i] += w * v[i];
			}
		}
	}
}

/* ---- SIMD kernels ----------------------------------------------------- */

typedef float v4f __attribute__((vector_size(16)));
typedef float v4f_u __attribute__((vector_size(16), aligned(4), may_alias));
typedef int32_t v4i __attribute__((vector_size(16)));
#ifdef GME_X86
typedef float v8f __attribute__((vector_size(32)));
typedef float v8f_u __attribute__((vector_size(32), aligned(4), may_alias));
typedef int32_t v8i __attribute__((vector_size(32)));
typedef float v16f __attribute__((vector_size(64)));
typedef float v16f_u __attribute__((vector_size(64), aligned(4), may_alias));
typedef int32_t v16i __attribute__((vector_size(64)));
#endif

#define INLINE static inline __attribute__((always_inline))
#define UNROLL _Pragma("GCC unroll 16")

/*
 * expf() over an array, in SIMD lanes, bit for bit what libm's expf()
 * returns.  glibc (2.27 on) computes expf() as ARM's optimized-routines
 * do: in double precision, a 32-entry table of 2^(i/32) and a cubic,
 * rounded to float once at the end.  expf8_avx512() and expf4_avx2() do
 * that arithmetic per lane, products and sums rounded separately as
 * glibc's generic build does (-ffp-contract=off keeps the intrinsics
 * apart).  glibc's FMA build (what x86-64 machines with AVX2 and FMA run)
 * rounds differently on two inputs only, EXPF_ODD0 and EXPF_ODD1; those
 * two, and what glibc treats apart (abstop > 0x42a: |x| >= 88,
 * infinities, NaN), go to libm's expf() itself.  Checked on all 2^32
 * floats against glibc 2.36, both builds (GLIBC_TUNABLES=
 * glibc.cpu.hwcaps=-AVX2,-FMA selects the generic one).  expf_ok()
 * compares with libm on a sample when the kernels are picked and falls
 * back to calling libm where a libm disagrees.
 */
static const uint64_t exp2f_tab[32] = {
	0x3ff0000000000000, 0x3fefd9b0d3158574, 0x3fefb5586cf9890f,
	0x3fef9301d0125b51, 0x3fef72b83c7d517b, 0x3fef54873168b9aa,
	0x3fef387a6e756238, 0x3fef1e9df51fdee1, 0x3fef06fe0a31b715,
	0x3feef1a7373aa9cb, 0x3feedea64c123422, 0x3feece086061892d,
	0x3feebfdad5362a27, 0x3feeb42b569d4f82, 0x3feeab07dd485429,
	0x3feea47eb03a5585, 0x3feea09e667f3bcd, 0x3fee9f75e8ec5f74,
	0x3feea11473eb0187, 0x3feea589994cce13, 0x3feeace5422aa0db,
	0x3feeb737b0cdc5e5, 0x3feec49182a3f090, 0x3feed503b23e255d,
	0x3feee89f995ad3ad, 0x3feeff76f2fb5e47, 0x3fef199bdd85529c,
	0x3fef3720dcef9069, 0x3fef5818dcfba487, 0x3fef7c97337b9b5f,
	0x3fefa4afa2a490da, 0x3fefd0765b6e4540,
};

#define EXPF_INVLN2N 0x1.71547652b82fep+5 /* 32 / ln 2 */
#define EXPF_SHIFT 0x1.8p+52
#define EXPF_C0 0x1.c6af84b912394p-20
#define EXPF_C1 0x1.ebfce50fac4f3p-13
#define EXPF_C2 0x1.62e42ff0c52d6p-6
/* where glibc's FMA and generic builds round differently */
#define EXPF_ODD0 0x1.04845ep+5f
#define EXPF_ODD1 -0x1.f8cbb2p+5f

static void expf_libm(float *x, int32_t n)
{
	for (int32_t i = 0; i < n; i++)
		x[i] = expf(x[i]);
}

#ifdef GME_X86
/* the lanes of odd (a bit each) get libm's expf() of xf */
#define EXPF_FIXUP(x, xf, odd, D, store)              \
	do {                                          \
		float xs[D];                          \
                                                      \
		store(xs, xf);                        \
		for (int u = 0; u < D; u++)           \
			if ((odd) >> u & 1)           \
				(x)[u] = expf(xs[u]); \
	} while (0)

#define AVX512 __attribute__((target("avx512f")))
#define AVX2 __attribute__((target("avx2")))

/* x[0..7] = expf(x[0..7]) */
INLINE AVX512 void expf8_avx512(float *x)
{
	const double *tab = (const double *)exp2f_tab;
	const __m512d shift = _mm512_set1_pd(EXPF_SHIFT);
	__m256 xf = _mm256_loadu_ps(x), sp;
	__m512d z = _mm512_mul_pd(_mm512_cvtps_pd(xf),
				  _mm512_set1_pd(EXPF_INVLN2N));
	__m512d kd = _mm512_add_pd(z, shift), r, p, y, s;
	__m512i ki = _mm512_castpd_si512(kd);
	__m256i top;
	int odd;

	kd = _mm512_sub_pd(kd, shift);
	r = _mm512_sub_pd(z, kd);
	/* tab[ki % 32]: bits 0-3 pick within two tables of 16, bit 4 which */
	s = _mm512_mask_blend_pd(
		_mm512_test_epi64_mask(ki, _mm512_set1_epi64(16)),
		_mm512_permutex2var_pd(_mm512_loadu_pd(tab), ki,
				       _mm512_loadu_pd(tab + 8)),
		_mm512_permutex2var_pd(_mm512_loadu_pd(tab + 16), ki,
				       _mm512_loadu_pd(tab + 24)));
	s = _mm512_castsi512_pd(_mm512_add_epi64(_mm512_castpd_si512(s),
						 _mm512_slli_epi64(ki, 47)));
	/* y = ((C0 r + C1) r^2 + (C2 r + 1)) s */
	p = _mm512_add_pd(_mm512_mul_pd(_mm512_set1_pd(EXPF_C0), r),
			  _mm512_set1_pd(EXPF_C1));
	y = _mm512_add_pd(_mm512_mul_pd(_mm512_set1_pd(EXPF_C2), r),
			  _mm512_set1_pd(1.0));
	y = _mm512_add_pd(_mm512_mul_pd(p, _mm512_mul_pd(r, r)), y);
	_mm256_storeu_ps(x, _mm512_cvtpd_ps(_mm512_mul_pd(y, s)));
	top = _mm256_and_si256(_mm256_srli_epi32(_mm256_castps_si256(xf), 20),
			       _mm256_set1_epi32(0x7ff));
	sp = _mm256_or_ps(
		_mm256_cmp_ps(xf, _mm256_set1_ps(EXPF_ODD0), _CMP_EQ_OQ),
		_mm256_cmp_ps(xf, _mm256_set1_ps(EXPF_ODD1), _CMP_EQ_OQ));
	sp = _mm256_or_ps(sp, _mm256_castsi256_ps(_mm256_cmpgt_epi32(
				      top, _mm256_set1_epi32(0x42a))));
	odd = _mm256_movemask_ps(sp);
	if (__builtin_expect(odd, 0))
		EXPF_FIXUP(x, xf, odd, 8, _mm256_storeu_ps);
}

/* x[0..3] = expf(x[0..3]) */
INLINE AVX2 void expf4_avx2(float *x)
{
	const __m256d shift = _mm256_set1_pd(EXPF_SHIFT);
	__m128 xf = _mm_loadu_ps(x), sp;
	__m256d z = _mm256_mul_pd(_mm256_cvtps_pd(xf),
				  _mm256_set1_pd(EXPF_INVLN2N));
	__m256d kd = _mm256_add_pd(z, shift), r, p, y;
	__m256i ki = _mm256_castpd_si256(kd), t;
	__m128i top;
	int odd;

	kd = _mm256_sub_pd(kd, shift);
	r = _mm256_sub_pd(z, kd);
	t = _mm256_i64gather_epi64((const long long *)exp2f_tab,
				   _mm256_and_si256(ki, _mm256_set1_epi64x(31)),
				   8);
	t = _mm256_add_epi64(t, _mm256_slli_epi64(ki, 47));
	p = _mm256_add_pd(_mm256_mul_pd(_mm256_set1_pd(EXPF_C0), r),
			  _mm256_set1_pd(EXPF_C1));
	y = _mm256_add_pd(_mm256_mul_pd(_mm256_set1_pd(EXPF_C2), r),
			  _mm256_set1_pd(1.0));
	y = _mm256_add_pd(_mm256_mul_pd(p, _mm256_mul_pd(r, r)), y);
	y = _mm256_mul_pd(y, _mm256_castsi256_pd(t));
	_mm_storeu_ps(x, _mm256_cvtpd_ps(y));
	top = _mm_and_si128(_mm_srli_epi32(_mm_castps_si128(xf), 20),
			    _mm_set1_epi32(0x7ff));
	sp = _mm_or_ps(_mm_cmpeq_ps(xf, _mm_set1_ps(EXPF_ODD0)),
		       _mm_cmpeq_ps(xf, _mm_set1_ps(EXPF_ODD1)));
	sp = _mm_or_ps(sp, _mm_castsi128_ps(_mm_cmpgt_epi32(
				   top, _mm_set1_epi32(0x42a))));
	odd = _mm_movemask_ps(sp);
	if (__builtin_expect(odd, 0))
		EXPF_FIXUP(x, xf, odd, 4, _mm_storeu_ps);
}

/* expf_<sfx>(x, n): W lanes at a time, the tail padded with zeros */
#define DEFINE_EXPF(sfx, one, W, attr)                     \
	static attr void expf_##sfx(float *x, int32_t n)   \
	{                                                  \
		float t[W] = { 0 };                        \
		int32_t i = 0;                             \
                                                           \
		for (; i + W <= n; i += W)                 \
			one(x + i);                        \
		if (i == n)                                \
			return;                            \
		memcpy(t, x + i, (n - i) * sizeof(float)); \
		one(t);                                    \
		memcpy(x + i, t, (n - i) * sizeof(float)); \
	}

DEFINE_EXPF(avx512, expf8_avx512, 8, AVX512)
DEFINE_EXPF(avx2, expf4_avx2, 4, AVX2)
#endif /* GME_X86 */

/* attention heads processed side by side (independent sums) */
#define ATT_NH 4

/*
 * DEFINE_ATT_PARTS(name, vt, vtu, W, attr): attention pieces for W lanes
 * of vector type vt (vtu: unaligned), every sum in the scalar code's
 * order, ATT_NH heads side by side.
 *
 * scores_<name>(a, kb, att, o, m): scores of positions o .. o + m - 1
 * (m <= W, and the block has room for o + W: lanes past m are computed
 * from whatever the block holds there and dropped) of one block whose K
 * is kb, into att (stride seq_len per head), for every head.
 *
 * vacc_<name>(a, i): xb of every head, dimensions i .. i + W - 1.
 *
 * DEFINE_SOFTMAX(name, vt, vtu, vti, W, attr), vti: vt's int vector:
 * max_<name>(x, n), the max of x[0..n-1] as the scalar loop finds it: each
 * lane scans its own elements with the same "greater than" starting from
 * x[0], so a NaN is only ever kept when x[0] is one.  (Lanes can disagree
 * on the sign of a zero maximum, which x - max cannot show.)
 * softmax_div_<name>(a): each head's sum of exponentials, in order, and
 * the division by it.
 */
#define DEFINE_ATT_PARTS(name, vt, vtu, W, attr)                               \
	INLINE attr void store_##name(float *p, vt x, int32_t m)               \
	{                                                                      \
		float t[W];                                                    \
                                                                               \
		if (m == W) {                                                  \
			*(vtu *)p = x;                                         \
			return;                                                \
		}                                                              \
		*(vtu *)t = x;                                                 \
		memcpy(p, t, m * sizeof(float));                               \
	}                                                                      \
                                                                               \
	INLINE attr void scores_##name(const struct att_args *a,               \
				       const float *kb, float *att, int32_t o, \
				       int32_t m)                              \
	{                                                                      \
		int32_t hs = a->hs, bs = a->kv->block_size, h = 0;             \
		float scale = sqrtf(hs);                                       \
                                                                               \
		for (; h + ATT_NH <= a->n_heads; h += ATT_NH) {                \
			const float *k[ATT_NH], *q[ATT_NH];                    \
			vt s[ATT_NH];                                          \
                                                                               \
			UNROLL for (int u = 0; u < ATT_NH; u++)                \
			{                                                      \
				k[u] = kb +                                    \
				       (size_t)((h + u) / a->kv_mul) * hs *    \
					       bs +                            \
				       o;                                      \
				q[u] = a->q + (size_t)(h + u) * hs;            \
				s[u] = (vt){ 0 };                              \
			}                                                      \
			for (int32_t i = 0; i < hs; i++)                       \
				UNROLL for (int u = 0; u < ATT_NH; u++)        \
					s[u] +=                                \
					q[u][i] *                              \
					*(const vtu *)(k[u] + (size_t)i * bs); \
			UNROLL for (int u = 0; u < ATT_NH; u++)                \
				store_##name(att + (h + u) * a->seq_len + o,   \
					     s[u] / scale, m);                 \
		}                                                              \
		for (; h < a->n_heads; h++) {                                  \
			const float *k =                                       \
				kb + (size_t)(h / a->kv_mul) * hs * bs + o;    \
			const float *q = a->q + (size_t)h * hs;                \
			vt s = { 0 };                                          \
                                                                               \
			for (int32_t i = 0; i < hs; i++)                       \
				s += q[i] *                                    \
				     *(const vtu *)(k + (size_t)i * bs);       \
			store_##name(att + h * a->seq_len + o, s / scale, m);  \
		}                                                              \
	}                                                                      \
                                                                               \
	INLINE attr void vacc_##name(const struct att_args *a, int32_t i)      \
	{                                                                      \
		const struct gme_kv *kv = a->kv;                               \
		int32_t hs = a->hs, pos = a->pos, bs = kv->block_size, h = 0;  \
                                                                               \
		for (; h + ATT_NH <= a->n_heads; h += ATT_NH) {                \
			const float *p[ATT_NH];                                \
			size_t koff[ATT_NH];                                   \
			vt x[ATT_NH];                                          \
                                                                               \
			UNROLL for (int u = 0; u < ATT_NH; u++)                \
			{                                                      \
				p[u] = a->att + (h + u) * a->seq_len;          \
				koff[u] = (size_t)((h + u) / a->kv_mul) * hs + \
					  i;                                   \
				x[u] = (vt){ 0 };                              \
			}                                                      \
			for (int32_t t0 = 0, b = 0; t0 <= pos;                 \
			     t0 += bs, b++) {                                  \
				int32_t n = pos + 1 - t0 < bs ? pos + 1 - t0 : \
								bs;            \
				const float *v = gme_kv_value(                 \
					kv, a->blocks[b], a->layer, 0);        \
                                                                               \
				for (int32_t t = t0; t < t0 + n;               \
				     t++, v += kv->kv_dim)                     \
					UNROLL for (int u = 0; u < ATT_NH;     \
						    u++) x[u] +=               \
						p[u][t] *                      \
						*(const vtu *)(v + koff[u]);   \
			}                                                      \
			UNROLL for (int u = 0; u < ATT_NH; u++) *              \
				(vtu *)(a->xb + (size_t)(h + u) * hs + i) =    \
				x[u];                                          \
		}                                                              \
		for (; h < a->n_heads; h++) {                                  \
			const float *p = a->att + h * a->seq_len;              \
			size_t koff = (size_t)(h / a->kv_mul) * hs + i;        \
			vt x = { 0 };                                          \
                                                                               \
			for (int32_t t0 = 0, b = 0; t0 <= pos;                 \
			     t0 += bs, b++) {                                  \
				int32_t n = pos + 1 - t0 < bs ? pos + 1 - t0 : \
								bs;            \
				const float *v = gme_kv_value(                 \
					kv, a->blocks[b], a->layer, 0);        \
                                                                               \
				for (int32_t t = t0; t < t0 + n;               \
				     t++, v += kv->kv_dim)                     \
					x += p[t] * *(const vtu *)(v + koff);  \
			}                                                      \
			*(vtu *)(a->xb + (size_t)h * hs + i) = x;              \
		}                                                              \
	}

#define DEFINE_SOFTMAX(name, vt, vtu, vti, W, attr)                            \
	/* each head's sum in order, ATT_NH heads side by side; divide */      \
	INLINE attr void softmax_div_##name(const struct att_args *a)          \
	{                                                                      \
		int32_t n = a->pos + 1, h = 0, i;                              \
		float sum[ATT_NH];                                             \
                                                                               \
		for (; h < a->n_heads; h += ATT_NH) {                          \
			int nh = a->n_heads - h < ATT_NH ? a->n_heads - h :    \
							   ATT_NH;             \
			float *x = a->att + h * a->seq_len;                    \
                                                                               \
			if (nh == ATT_NH) {                                    \
				UNROLL for (int u = 0; u < ATT_NH; u++)        \
					sum[u] = 0.0f;                         \
				for (i = 0; i < n; i++)                        \
					UNROLL for (int u = 0; u < ATT_NH;     \
						    u++) sum[u] +=             \
						x[u * a->seq_len + i];         \
			} else {                                               \
				for (int u = 0; u < nh; u++) {                 \
					sum[u] = 0.0f;                         \
					for (i = 0; i < n; i++)                \
						sum[u] +=                      \
							x[u * a->seq_len + i]; \
				}                                              \
			}                                                      \
			for (int u = 0; u < nh; u++, x += a->seq_len) {        \
				for (i = 0; i + W <= n; i += W)                \
					*(vtu *)(x + i) =                      \
						*(const vtu *)(x + i) /        \
						sum[u];                        \
				for (; i < n; i++)                             \
					x[i] /= sum[u];                        \
			}                                                      \
		}                                                              \
	}                                                                      \
                                                                               \
	INLINE attr float max_##name(const float *x, int32_t n)                \
	{                                                                      \
		float max = x[0];                                              \
		int32_t i = 0;                                                 \
                                                                               \
		if (n >= 2 * W) {                                              \
			vt m;                                                  \
                                                                               \
			for (int u = 0; u < W; u++)                            \
				m[u] = max;                                    \
			for (; i + W <= n; i += W) {                           \
				vt y = *(const vtu *)(x + i);                  \
				vti gt = y > m;                                \
                                                                               \
				m = (vt)(((vti)y & gt) | ((vti)m & ~gt));      \
			}                                                      \
			for (int u = 0; u < W; u++)                            \
				if (m[u] > max)                                \
					max = m[u];                            \
		}                                                              \
		for (; i < n; i++)                                             \
			if (x[i] > max)                                        \
				max = x[i];                                    \
		return max;                                                    \
	}

/* scores, softmax and output of one row: see att_row_scalar() */
#define DEFINE_ATT(sfx, vt, vtu, V, attr)                                      \
	static attr void att_##sfx(const struct att_args *a)                   \
	{                                                                      \
		const struct gme_kv *kv = a->kv;                               \
		int32_t hs = a->hs, pos = a->pos, bs = kv->block_size, i;      \
                                                                               \
		for (int32_t t0 = 0, b = 0; t0 <= pos; t0 += bs, b++) {        \
			int32_t n = pos + 1 - t0 < bs ? pos + 1 - t0 : bs;     \
			const float *kb =                                      \
				gme_kv_keys(kv, a->blocks[b], a->layer);       \
			float *att = a->att + t0;                              \
			int32_t o = 0;                                         \
                                                                               \
			for (; o < n && o + V <= bs; o += V)                   \
				scores_##sfx(a, kb, att, o,                    \
					     n - o < V ? n - o : V);           \
			for (; o < n && o + 4 <= bs; o += 4)                   \
				scores_vec4(a, kb, att, o,                     \
					    n - o < 4 ? n - o : 4);            \
			for (; o < n; o++)                                     \
				scores_one(a, kb, att, o, 1);                  \
		}                                                              \
		for (int32_t h = 0; h < a->n_heads; h++) {                     \
			float *x = a->att + h * a->seq_len;                    \
			float max = max_##sfx(x, pos + 1);                     \
                                                                               \
			for (i = 0; i + V <= pos + 1; i += V)                  \
				*(vtu *)(x + i) = *(const vtu *)(x + i) - max; \
			for (; i <= pos; i++)                                  \
				x[i] -= max;                                   \
			a->expf_n(x, pos + 1);                                 \
		}                                                              \
		softmax_div_##sfx(a);                                          \
		for (i = 0; i + V <= hs; i += V)                               \
			vacc_##sfx(a, i);                                      \
		for (; i + 4 <= hs; i += 4)                                    \
			vacc_vec4(a, i);                                       \
		for (; i < hs; i++)                                            \
			vacc_one(a, i);                                        \
	}

/*
 * DEFINE_MM(sfx, vt, V, NI, attr): mm_<sfx>(out, xt, w, n, d, i0, i1,
 * rows): out (rows, d) = x @ w^T for outputs [i0, i1), rows <= GME_LANES,
 * x given transposed as xt (n, GME_LANES).  A tile of NI outputs x
 * GME_LANES rows is NI * GME_LANES / V vector accumulators; per input
 * element k, one load of xt's row k and a broadcast of each of the NI
 * weights w[i][k].  Lane b of output i sums w[i][k] * x[b][k] over k =
 * 0..n-1 in order, as matmul_range() does.
 */
#define DEFINE_MM(sfx, vt, V, NI, attr)                                        \
	INLINE attr void mm_tile_##sfx(float *out, const float *xt,            \
				       const float *w, int32_t n, int32_t d,   \
				       int32_t i, int32_t rows, const int ni)  \
	{                                                                      \
		vt acc[NI][GME_LANES / V];                                     \
		float t[NI][GME_LANES] __attribute__((aligned(64)));           \
		const float *wr[NI];                                           \
                                                                               \
		UNROLL for (int a = 0; a < ni; a++)                            \
		{                                                              \
			wr[a] = w + (size_t)(i + a) * n;                       \
			UNROLL for (int u = 0; u < GME_LANES / V; u++)         \
				acc[a][u] = (vt){ 0 };                         \
		}                                                              \
		for (int32_t k = 0; k < n; k++) {                              \
			const vt *xk =                                         \
				(const vt *)(xt + (size_t)k * GME_LANES);      \
                                                                               \
			UNROLL for (int a = 0; a < ni; a++)                    \
			{                                                      \
				float wk = wr[a][k];                           \
                                                                               \
				UNROLL for (int u = 0; u < GME_LANES / V; u++) \
					acc[a][u] += wk * xk[u];               \
			}                                                      \
		}                                                              \
		UNROLL for (int a = 0; a < ni; a++)                            \
				UNROLL for (int u = 0; u < GME_LANES / V;      \
					    u++) *                             \
			(vt *)&t[a][u * V] = acc[a][u];                        \
		for (int32_t b = 0; b < rows; b++)                             \
			UNROLL for (int a = 0; a < ni; a++)                    \
				out[(size_t)b * d + i + a] = t[a][b];          \
	}                                                                      \
                                                                               \
	static attr void mm_##sfx(float *out, const float *xt, const float *w, \
				  int32_t n, int32_t d, int32_t i0,            \
				  int32_t i1, int32_t rows)                    \
	{                                                                      \
		int32_t i = i0;                                                \
                                                                               \
		for (; i + NI <= i1; i += NI)                                  \
			mm_tile_##sfx(out, xt, w, n, d, i, rows, NI);          \
		if (NI > 4)                                                    \
			for (; i + 4 <= i1; i += 4)                            \
				mm_tile_##sfx(out, xt, w, n, d, i, rows, 4);   \
		for (; i < i1; i++)                                            \
			mm_tile_##sfx(out, xt, w, n, d, i, rows, 1);           \
	}

/* one lane (the tails), then generic 4-wide vectors: SSE2 on x86-64 */
typedef float v1f;
typedef float v1f_u;
DEFINE_ATT_PARTS(one, v1f, v1f_u, 1, )
DEFINE_ATT_PARTS(vec4, v4f, v4f_u, 4, )
DEFINE_SOFTMAX(vec4, v4f, v4f_u, v4i, 4, )
DEFINE_ATT(vec4, v4f, v4f_u, 4, )
DEFINE_MM(vec4, v4f, 4, 2, )
#ifdef GME_X86
DEFINE_ATT_PARTS(avx2, v8f, v8f_u, 8, AVX2)
DEFINE_SOFTMAX(avx2, v8f, v8f_u, v8i, 8, AVX2)
DEFINE_ATT(avx2, v8f, v8f_u, 8, AVX2)
DEFINE_MM(avx2, v8f, 8, 4, AVX2)
DEFINE_ATT_PARTS(avx512, v16f, v16f_u, 16, AVX512)
DEFINE_SOFTMAX(avx512, v16f, v16f_u, v16i, 16, AVX512)
DEFINE_ATT(avx512, v16f, v16f_u, 16, AVX512)
DEFINE_MM(avx512, v16f, 16, 8, AVX512)
#endif

typedef void (*mm_fn)(float *out, const float *xt, const float *w, int32_t n,
		      int32_t d, int32_t i0, int32_t i1, int32_t rows);

struct gme_kernels {
	int isa;
	const char *name;
	mm_fn mm; /* NULL: matmul_range() */
	int32_t ni; /* outputs per mm tile: tasks split at multiples */
	void (*att)(const struct att_args *a);
	void (*expf_n)(float *x, int32_t n); /* expf_ok() may replace it */
};

static const struct gme_kernels kernels[GME_ISA_COUNT] = {
	[GME_ISA_SCALAR] = { GME_ISA_SCALAR, "scalar", NULL, 4, att_row_scalar,
			     expf_libm },
	[GME_ISA_VEC4] = { GME_ISA_VEC4, "vec4", mm_vec4, 4, att_vec4,
			   expf_libm },
#ifdef GME_X86
	[GME_ISA_AVX2] = { GME_ISA_AVX2, "avx2", mm_avx2, 8, att_avx2,
			   expf_avx2 },
	[GME_ISA_AVX512] = { GME_ISA_AVX512, "avx512", mm_avx512, 8, att_avx512,
			     expf_avx512 },
#endif
};

bool gme_forward_isa_runs(int isa)
{
	switch (isa) {
	case GME_ISA_SCALAR:
	case GME_ISA_VEC4:
		return true;
#ifdef GME_X86
	case GME_ISA_AVX2:
		return __builtin_cpu_supports("avx2");
	case GME_ISA_AVX512:
		return __builtin_cpu_supports("avx512f");
#endif
	default:
		return false;
	}
}

/* whether f(x) is libm's expf(x), bit for bit, on a sample */
static bool expf_ok(void (*f)(float *x, int32_t n))
{
	static const float some[] = {
		EXPF_ODD0, EXPF_ODD1, 0.0f,	 -0.0f,	 1.0f,
		-1.0f,	   88.0f,     -88.0f,	 88.72f, 89.0f,
		-103.0f,   -104.0f,   -150.0f,	 1e-30f, -1e-30f,
		1e-45f,	   INFINITY,  -INFINITY, NAN,	 -NAN,
	};
	float x[GME_LANES * 16], y[GME_LANES * 16];
	int32_t n = sizeof(x) / sizeof(x[0]), i;
	uint32_t u = 0x12345678;

	if (f == expf_libm)
		return true;
	for (i = 0; i < (int32_t)(sizeof(some) / sizeof(some[0])); i++)
		x[i] = some[i];
	for (; i < n; i++) {
		u = u * 1664525u + 1013904223u;
		x[i] = (float)(u >> 8) / 16777216.0f * 200.0f - 100.0f;
	}
	memcpy(y, x, sizeof(x));
	f(y, n);
	for (i = 0; i < n; i++) {
		float want = expf(x[i]);

		if (memcmp(&want, &y[i], sizeof(want)))
			return false;
	}
	return true;
}

int gme_forward_set_isa(struct gme_run_state *s, int isa)
{
	if (isa == GME_ISA_BEST) {
		for (isa = GME_ISA_COUNT - 1; !gme_forward_isa_runs(isa); isa--)
			;
	}
	if (isa < 0 || isa >= GME_ISA_COUNT || !gme_forward_isa_runs(isa))
		return -ENOTSUP;
	s->kern = &kernels[isa];
	s->expf_n = expf_ok(s->kern->expf_n) ? s->kern->expf_n : expf_libm;
	return 0;
}

int gme_forward_isa(const struct gme_run_state *s)
{
	return s->kern->isa;
}

const char *gme_isa_name(int isa)
{
	if (isa < 0 || isa >= GME_ISA_COUNT || !kernels[isa].name)
		return "unknown";
	return kernels[isa].name;
}

/* ---- matmul regions --------------------------------------------------- */

/* Up to three matmuls sharing an input run as one parallel region. */
#define MM_MAX 3

struct mm_job {
	float *out;
	const float *x;
	const float *w;
	int32_t n, d;
};

struct mm_region {
	struct mm_job job[MM_MAX];
	int n_jobs;
	int32_t rows;
	int32_t chunk; /* output rows per task */
	int first_task[MM_MAX + 1];
	const float *xt; /* the input transposed, or NULL: matmul_range() */
	mm_fn mm;
};

/* o[c * GME_LANES + r] = x[r * n + c] for r, c in 0..3 */
static inline void transpose4x4(float *o, const float *x, size_t n)
{
	v4f r0 = *(const v4f_u *)x, r1 = *(const v4f_u *)(x + n);
	v4f r2 = *(const v4f_u *)(x + 2 * n), r3 = *(const v4f_u *)(x + 3 * n);
	v4f a0 = __builtin_shufflevector(r0, r1, 0, 4, 1, 5);
	v4f a1 = __builtin_shufflevector(r0, r1, 2, 6, 3, 7);
	v4f a2 = __builtin_shufflevector(r2, r3, 0, 4, 1, 5);
	v4f a3 = __builtin_shufflevector(r2, r3, 2, 6, 3, 7);

	*(v4f_u *)o = __builtin_shufflevector(a0, a2, 0, 1, 4, 5);
	o += GME_LANES;
	*(v4f_u *)o = __builtin_shufflevector(a0, a2, 2, 3, 6, 7);
	o += GME_LANES;
	*(v4f_u *)o = __builtin_shufflevector(a1, a3, 0, 1, 4, 5);
	o += GME_LANES;
	*(v4f_u *)o = __builtin_shufflevector(a1, a3, 2, 3, 6, 7);
}

/* xt (groups, n, GME_LANES) from x (rows, n), padding rows with zeros */
static void transpose_rows(float *xt, const float *x, int32_t rows, int32_t n)
{
	for (int32_t g = 0; g * GME_LANES < rows; g++) {
		const float *xg = x + (size_t)g * GME_LANES * n;
		float *t = xt + (size_t)g * n * GME_LANES;
		int32_t nr = rows - g * GME_LANES, b = 0, k = 0;

		if (nr > GME_LANES)
			nr = GME_LANES;
		for (; k + 4 <= n; k += 4)
			for (b = 0; b + 4 <= nr; b += 4)
				transpose4x4(t + (size_t)k * GME_LANES + b,
					     xg + (size_t)b * n + k, n);
		for (k = 0; k < n; k++) {
			float *tk = t + (size_t)k * GME_LANES;

			/* what the tiles left: rows b.., or all of k's tail */
			for (int32_t c = k < (n & ~3) ? b : 0; c < nr; c++)
				tk[c] = xg[(size_t)c * n + k];
			for (int32_t c = nr; c < GME_LANES; c++)
				tk[c] = 0.0f;
		}
	}
}

static void mm_task(void *ctx, int task, int tid)
{
	struct mm_region *r = ctx;
	const struct mm_job *j;
	int k = 0;
	int32_t i0, i1;

	(void)tid;
	while (task >= r->first_task[k + 1])
		k++;
	j = &r->job[k];
	i0 = (task - r->first_task[k]) * r->chunk;
	i1 = i0 + r->chunk < j->d ? i0 + r->chunk : j->d;
	if (!r->xt) {
		matmul_range(j->out, j->x, j->w, r->rows, j->n, j->d, i0, i1);
		return;
	}
	for (int32_t g = 0; g * GME_LANES < r->rows; g++) {
		int32_t rows = r->rows - g * GME_LANES;

		r->mm(j->out + (size_t)g * GME_LANES * j->d,
		      r->xt + (size_t)g * j->n * GME_LANES, j->w, j->n, j->d,
		      i0, i1, rows < GME_LANES ? rows : GME_LANES);
	}
}

static void mm_run(struct gme_engine *e, struct mm_region *r)
{
	const struct gme_kernels *kern = e->s.kern;
	int64_t work = 0;
	int nt = e->pool.n_threads;
	int32_t ni = kern->ni;

	/* one row gains nothing from lanes over rows */
	if (kern->mm && r->rows > 1) {
		transpose_rows(e->s.xt, r->job[0].x, r->rows, r->job[0].n);
		r->xt = e->s.xt;
		r->mm = kern->mm;
	} else {
		r->xt = NULL;
		ni = 4;
	}
	/* a multiple of the tile's outputs; about 4 tasks per thread */
	r->chunk = ni;
	for (int k = 0; k < r->n_jobs; k++)
		if (r->job[k].d / (nt * 4) > r->chunk)
			r->chunk = r->job[k].d / (nt * 4);
	r->chunk = (r->chunk + ni - 1) / ni * ni;
	r->first_task[0] = 0;
	for (int k = 0; k < r->n_jobs; k++) {
		r->first_task[k + 1] = r->first_task[k] +
				       (r->job[k].d + r->chunk - 1) / r->chunk;
		work += (int64_t)r->rows * r->job[k].d * r->job[k].n;
	}
	if (r->xt)
		work /= SIMD_WORK_DIV;
	gme_pool_run(&e->pool, mm_task, r, r->first_task[r->n_jobs],
		     work >= e->params.min_parallel_work);
}

static void matmul(struct gme_engine *e, float *out, const float *x,
		   const float *w, int32_t rows, int32_t n, int32_t d)
{
	struct mm_region r = {
		.job[0] = { .out = out, .x = x, .w = w, .n = n, .d = d },
		.n_jobs = 1,
		.rows = rows,
	};

	mm_run(e, &r);
}

/* ---- attention -------------------------------------------------------- */

struct att_ctx {
	struct gme_engine *e;
	int32_t layer;
};

/* task = row */
static void att_task(void *ctx, int row, int tid)
{
	const struct att_ctx *ac = ctx;
	struct gme_engine *e = ac->e;
	const struct gme_config *c = &e->model->config;
	struct gme_run_state *s = &e->s;
	struct att_args a = {
		.kv = &e->kv,
		.layer = ac->layer,
		.n_heads = c->n_heads,
		.kv_mul = c->n_heads / c->n_kv_heads,
		.hs = c->dim / c->n_heads,
		.pos = s->row_pos[row],
		.seq_len = c->seq_len,
		.blocks = s->row_blocks[row],
		.q = s->q + (size_t)row * c->dim,
		.att = s->att + (size_t)tid * c->n_heads * c->seq_len,
		.xb = s->xb + (size_t)row * c->dim,
		.expf_n = s->expf_n,
	};

	s->kern->att(&a);
}

/* ---- the pass --------------------------------------------------------- */

/* llama2.c's pairs (i, i + 1), i % hs giving the frequency, head by head */
static void rope(const struct gme_run_state *s, float *vec, int32_t n,
		 int32_t hs, int32_t pos)
{
	const float *fcr = s->rope_cos + (size_t)pos * (hs / 2);
	const float *fci = s->rope_sin + (size_t)pos * (hs / 2);

	for (int32_t h = 0; h < n; h += hs, vec += hs) {
		for (int32_t f = 0; f < hs / 2; f++) {
			float v0 = vec[2 * f], v1 = vec[2 * f + 1];

			vec[2 * f] = v0 * fcr[f] - v1 * fci[f];
			vec[2 * f + 1] = v0 * fci[f] + v1 * fcr[f];
		}
	}
}

/* rmsnorm() of rows (stride size), four side by side (independent sums) */
static void rmsnorm_rows(float *o, const float *x, const float *weight,
			 int32_t rows, int32_t size)
{
	int32_t r = 0;

	for (; r + 4 <= rows; r += 4) {
		const float *x0 = x + (size_t)r * size, *x1 = x0 + size;
		const float *x2 = x1 + size, *x3 = x2 + size;
		float ss[4] = { 0.0f, 0.0f, 0.0f, 0.0f };

		for (int32_t j = 0; j < size; j++) {
			ss[0] += x0[j] * x0[j];
			ss[1] += x1[j] * x1[j];
			ss[2] += x2[j] * x2[j];
			ss[3] += x3[j] * x3[j];
		}
		for (int u = 0; u < 4; u++) {
			const float *xu = x + (size_t)(r + u) * size;
			float *ou = o + (size_t)(r + u) * size, v = ss[u];

			v /= size;
			v += 1e-5f;
			v = 1.0f / sqrtf(v);
			for (int32_t j = 0; j < size; j++)
				ou[j] = weight[j] * (v * xu[j]);
		}
	}
	for (; r < rows; r++)
		rmsnorm(o + (size_t)r * size, x + (size_t)r * size, weight,
			size);
}

/* hb = silu(hb) * hb2: the exponentials first, then the rest 4-wide */
static void swiglu(const struct gme_run_state *s, float *hb, const float *hb2,
		   size_t n)
{
	float e[64];

	for (size_t i0 = 0; i0 < n; i0 += 64) {
		size_t m = n - i0 < 64 ? n - i0 : 64, j;
		float *h = hb + i0;
		const float *h2 = hb2 + i0;

		for (j = 0; j < m; j++)
			e[j] = -h[j];
		s->expf_n(e, m);
		for (j = 0; j + 4 <= m; j += 4) {
			v4f val = *(const v4f_u *)(h + j);

			val *= (1.0f / (1.0f + *(const v4f_u *)(e + j)));
			val *= *(const v4f_u *)(h2 + j);
			*(v4f_u *)(h + j) = val;
		}
		for (; j < m; j++) {
			float val = h[j];

			val *= (1.0f / (1.0f + e[j]));
			val *= h2[j];
			h[j] = val;
		}
	}
}

void gme_forward(struct gme_engine *e)
{
	const struct gme_config *c = &e->model->config;
	const struct gme_weights *w = &e->model->w;
	struct gme_run_state *s = &e->s;
	struct gme_kv *kv = &e->kv;
	int32_t R = s->n_rows, dim = c->dim, hid = c->hidden_dim;
	int32_t kv_dim = dim * c->n_kv_heads / c->n_heads;
	int32_t hs = dim / c->n_heads, bs = kv->block_size;
	int64_t att_work = 0;

	for (int32_t r = 0; r < R; r++) {
		memcpy(s->x + (size_t)r * dim,
		       w->token_embedding + (size_t)s->row_token[r] * dim,
		       dim * sizeof(float));
		att_work += (int64_t)(s->row_pos[r] + 1) * dim * 2;
	}

	for (int32_t l = 0; l < c->n_layers; l++) {
		size_t lw = (size_t)l * dim * dim;
		size_t lkv = (size_t)l * kv_dim * dim;
		size_t lh = (size_t)l * hid * dim;
		struct att_ctx actx = { .e = e, .layer = l };
		struct mm_region qkv = {
			.job = { { s->q, s->xb, w->wq + lw, dim, dim },
				 { s->k, s->xb, w->wk + lkv, dim, kv_dim },
				 { s->v, s->xb, w->wv + lkv, dim, kv_dim } },
			.n_jobs = 3,
			.rows = R,
		};
		struct mm_region ffn = {
			.job = { { s->hb, s->xb, w->w1 + lh, dim, hid },
				 { s->hb2, s->xb, w->w3 + lh, dim, hid } },
			.n_jobs = 2,
			.rows = R,
		};

		rmsnorm_rows(s->xb, s->x, w->rms_att + (size_t)l * dim, R, dim);
		mm_run(e, &qkv);

		/* RoPE, then K and V into the request's block */
		for (int32_t r = 0; r < R; r++) {
			int32_t pos = s->row_pos[r];
			int32_t blk = s->row_blocks[r][pos / bs];
			float *k = s->k + (size_t)r * kv_dim;
			float *v = s->v + (size_t)r * kv_dim, *kt;

			rope(s, s->q + (size_t)r * dim, dim, hs, pos);
			rope(s, k, kv_dim, hs, pos);
			kt = gme_kv_keys(kv, blk, l) + pos % bs;
			for (int32_t i = 0; i < kv_dim; i++)
				kt[(size_t)i * bs] = k[i];
			memcpy(gme_kv_value(kv, blk, l, pos % bs), v,
			       kv_dim * sizeof(float));
		}

		gme_pool_run(&e->pool, att_task, &actx, R,
			     att_work >= e->params.min_parallel_work);

		matmul(e, s->xb2, s->xb, w->wo + lw, R, dim, dim);
		for (size_t i = 0; i < (size_t)R * dim; i++)
			s->x[i] += s->xb2[i];

		rmsnorm_rows(s->xb, s->x, w->rms_ffn + (size_t)l * dim, R, dim);
		mm_run(e, &ffn);
		swiglu(s, s->hb, s->hb2, (size_t)R * hid);
		matmul(e, s->xb, s->hb, w->w2 + (size_t)l * dim * hid, R, hid,
		       dim);
		for (size_t i = 0; i < (size_t)R * dim; i++)
			s->x[i] += s->xb[i];
	}

	/* logits only for the rows that are sampled */
	for (int32_t o = 0; o < s->n_out; o++)
		rmsnorm(s->xf + (size_t)o * dim,
			s->x + (size_t)s->out_rows[o] * dim, w->rms_final, dim);
	if (s->n_out)
		matmul(e, s->logits, s->xf, w->wcls, s->n_out, dim,
		       c->vocab_size);
}
