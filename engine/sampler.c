// SPDX-License-Identifier: GPL-2.0
/*
 * Sampling as in llama2.c's run.c: argmax, temperature, top-p; its
 * xorshift RNG, one state per request.
 */
#include <math.h>
#include <stdlib.h>

#include "internal.h"

static uint32_t random_u32(uint64_t *state)
{
	*state ^= *state >> 12;
	*state ^= *state << 25;
	*state ^= *state >> 27;
	return (*state * 0x2545F4914F6CDD1Dull) >> 32;
}

static float random_f32(uint64_t *state)
{
	return (random_u32(state) >> 8) / 16777216.0f;
}

static int32_t argmax(const float *p, int32_t n)
{
	int32_t best = 0;

	for (int32_t i = 1; i < n; i++)
		if (p[i] > p[best])
			best = i;
	return best;
}

static void softmax(float *x, int32_t n)
{
	float max = x[0], sum = 0.0f;

	for (int32_t i = 1; i < n; i++)
		if (x[i] > max)
			max = x[i];
	for (int32_t i = 0; i < n; i++) {
		x[i] = expf(x[i] - max);
		sum += x[i];
	}
	for (int32_t i = 0; i < n; i++)
		x[i] /= sum;
}

static int32_t sample_mult(const float *p, int32_t n, float coin)
{
	float cdf = 0.0f;

	for (int32_t i = 0; i < n; i++) {
		cdf += p[i];
		if (coin < cdf)
			return i;
	}
	return n - 1;
}

static int cmp_prob(const void *a, const void *b)
{
	const struct gme_prob *x = a, *y = b;

	if (x->prob > y->prob)
		return -1;
	if (x->prob < y->prob)
		return 1;
	/* ties by index: the order must not depend on qsort's internals */
	return x->index < y->index ? -1 : x->index > y->index;
}

static int32_t sample_topp(const float *p, int32_t n, float top_p,
			   struct gme_prob *idx, float coin)
{
	const float cutoff = (1.0f - top_p) / (n - 1);
	float cum = 0.0f, r;
	int32_t n0 = 0, last;

	for (int32_t i = 0; i < n; i++) {
		if (p[i] >= cutoff) {
			idx[n0].index = i;
			idx[n0].prob = p[i];
			n0++;
		}
	}
	if (!n0)
		return argmax(p, n);
	qsort(idx, n0, sizeof(*idx), cmp_prob);
	last = n0 - 1;
	for (int32_t i = 0; i < n0; i++) {
		cum += idx[i].prob;
		if (cum > top_p) {
			last = i;
			break;
		}
	}
	r = coin * cum;
	cum = 0.0f;
	for (int32_t i = 0; i <= last; i++) {
		cum += idx[i].prob;
		if (r < cum)
			return idx[i].index;
	}
	return idx[last].index;
}

int32_t gme_sample(float *logits, int32_t n, float temperature, float top_p,
		   uint64_t *rng_state, struct gme_prob *probindex)
{
	float coin;

	if (temperature == 0.0f)
		return argmax(logits, n);
	for (int32_t i = 0; i < n; i++)
		logits[i] /= temperature;
	softmax(logits, n);
	coin = random_f32(rng_state);
	if (top_p <= 0.0f || top_p >= 1.0f || n < 2)
		return sample_mult(logits, n, coin);
	return sample_topp(logits, n, top_p, probindex, coin);
}
