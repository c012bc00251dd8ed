// SPDX-License-Identifier: GPL-2.0
/*
 * Checkpoint loading: llama2.c "v0" files, mapped read-only.
 *
 * Layout: 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
 * vocab_size, seq_len), then float32 token_embedding, rms_att, wq, wk, wv,
 * wo, rms_ffn, w1, w2, w3, rms_final, freq_cis_real, freq_cis_imag (unused,
 * seq_len * head_size / 2 each) and, when vocab_size < 0, wcls.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* Sanity limits: far above any llama2.c checkpoint, low enough that every
 * size below fits in 64 bits. */
#define MAX_DIM (1 << 16)
#define MAX_HIDDEN (1 << 20)
#define MAX_LAYERS 1024
#define MAX_VOCAB (1 << 24)
#define MAX_SEQ_LEN (1 << 20)

#define HEADER_BYTES (7 * sizeof(int32_t))

void gme_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int check_range(const char *name, int32_t v, int32_t max, char *err,
		       size_t errlen)
{
	if (v <= 0 || v > max) {
		gme_seterr(err, errlen, "%s = %d out of range [1, %d]", name, v,
			   max);
		return -EINVAL;
	}
	return 0;
}

/* Validate the header; fill c and the number of floats the file holds. */
static int parse_header(const int32_t *h, struct gme_config *c,
			uint64_t *n_floats, char *err, size_t errlen)
{
	uint64_t head_size, kv_dim, dim, hid, L, V, S, n, t;
	int ret;

	c->dim = h[0];
	c->hidden_dim = h[1];
	c->n_layers = h[2];
	c->n_heads = h[3];
	c->n_kv_heads = h[4];
	c->shared_classifier = h[5] > 0;
	/* no abs(): INT32_MIN would overflow */
	c->vocab_size = h[5] == INT32_MIN ? 0 : (h[5] < 0 ? -h[5] : h[5]);
	c->seq_len = h[6];

	ret = check_range("dim", c->dim, MAX_DIM, err, errlen);
	ret = ret   ?:
		      check_range("hidden_dim", c->hidden_dim, MAX_HIDDEN, err,
				  errlen);
	ret = ret   ?:
		      check_range("n_layers", c->n_layers, MAX_LAYERS, err,
				  errlen);
	ret = ret ?: check_range("n_heads", c->n_heads, c->dim, err, errlen);
	ret = ret   ?:
		      check_range("n_kv_heads", c->n_kv_heads, c->n_heads, err,
				  errlen);
	ret = ret   ?:
		      check_range("|vocab_size|", c->vocab_size, MAX_VOCAB, err,
				  errlen);
	ret = ret   ?:
		      check_range("seq_len", c->seq_len, MAX_SEQ_LEN, err,
				  errlen);
	if (ret)
		return ret;
	if (c->dim % c->n_heads) {
		gme_seterr(err, errlen, "dim %d not a multiple of n_heads %d",
			   c->dim, c->n_heads);
		return -EINVAL;
	}
	if (c->n_heads % c->n_kv_heads) {
		gme_seterr(err, errlen,
			   "n_heads %d not a multiple of n_kv_heads %d",
			   c->n_heads, c->n_kv_heads);
		return -EINVAL;
	}
	head_size = c->dim / c->n_heads;
	if (head_size % 2) {
		gme_seterr(err, errlen, "head size %llu is odd (RoPE pairs)",
			   (unsigned long long)head_size);
		return -EINVAL;
	}

	dim = c->dim;
	hid = c->hidden_dim;
	L = c->n_layers;
	V = c->vocab_size;
	S = c->seq_len;
	kv_dim = dim * c->n_kv_heads / c->n_heads;

	/* the limits keep each term below 2^62; check the sum anyway */
	n = V * dim; /* token_embedding */
	t = L * (2 * dim /* rms_att, rms_ffn */
		 + 2 * dim * dim /* wq, wo */
		 + 2 * kv_dim * dim /* wk, wv */
		 + 3 * hid * dim); /* w1, w2, w3 */
	if (__builtin_add_overflow(n, t, &n))
		goto overflow;
	t = dim + S * head_size; /* rms_final, freq_cis */
	if (__builtin_add_overflow(n, t, &n))
		goto overflow;
	if (!c->shared_classifier && __builtin_add_overflow(n, V * dim, &n))
		goto overflow;
	if (n > (UINT64_MAX - HEADER_BYTES) / sizeof(float))
		goto overflow;
	*n_floats = n;
	return 0;
overflow:
	gme_seterr(err, errlen, "checkpoint size overflows");
	return -EOVERFLOW;
}

static void map_weights(struct gme_model *m, const float *p)
{
	const struct gme_config *c = &m->config;
	struct gme_weights *w = &m->w;
	size_t dim = c->dim, hid = c->hidden_dim, L = c->n_layers;
	size_t head_size = dim / c->n_heads;
	size_t kv_dim = dim * c->n_kv_heads / c->n_heads;

	w->token_embedding = p;
	p += (size_t)c->vocab_size * dim;
	w->rms_att = p;
	p += L * dim;
	w->wq = p;
	p += L * dim * dim;
	w->wk = p;
	p += L * kv_dim * dim;
	w->wv = p;
	p += L * kv_dim * dim;
	w->wo = p;
	p += L * dim * dim;
	w->rms_ffn = p;
	p += L * dim;
	w->w1 = p;
	p += L * hid * dim;
	w->w2 = p;
	p += L * dim * hid;
	w->w3 = p;
	p += L * hid * dim;
	w->rms_final = p;
	p += dim;
	p += (size_t)c->seq_len * head_size / 2; /* freq_cis_real */
	p += (size_t)c->seq_len * head_size / 2; /* freq_cis_imag */
	w->wcls = c->shared_classifier ? w->token_embedding : p;
}

int gme_model_load(const char *path, struct gme_model **out, char *err,
		   size_t errlen)
{
	struct gme_model *m;
	int32_t header[7];
	char why[128];
	uint64_t n_floats, want;
	struct stat st;
	ssize_t got;
	int fd, ret;

	*out = NULL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		ret = -errno;
		gme_seterr(err, errlen, "%s: %s", path, strerror(errno));
		return ret;
	}
	if (fstat(fd, &st) < 0) {
		ret = -errno;
		gme_seterr(err, errlen, "%s: %s", path, strerror(errno));
		goto err_close;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < HEADER_BYTES) {
		gme_seterr(err, errlen,
			   "%s: not a checkpoint (%lld bytes, header is %zu)",
			   path, (long long)st.st_size, HEADER_BYTES);
		ret = -EINVAL;
		goto err_close;
	}
	got = pread(fd, header, sizeof(header), 0);
	if (got != (ssize_t)sizeof(header)) {
		ret = got < 0 ? -errno : -EINVAL;
		gme_seterr(err, errlen, "%s: short read of the header", path);
		goto err_close;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		ret = -ENOMEM;
		gme_seterr(err, errlen, "out of memory");
		goto err_close;
	}
	ret = parse_header(header, &m->config, &n_floats, why, sizeof(why));
	if (ret) {
		gme_seterr(err, errlen, "%s: bad header: %s", path, why);
		goto err_free;
	}
	want = HEADER_BYTES + n_floats * sizeof(float);
	if ((uint64_t)st.st_size != want) {
		gme_seterr(err, errlen,
			   "%s: file is %lld bytes but its header implies %llu",
			   path, (long long)st.st_size,
			   (unsigned long long)want);
		ret = -EINVAL;
		goto err_free;
	}
	if (want > SIZE_MAX) {
		gme_seterr(err, errlen, "%s: too large to map", path);
		ret = -EOVERFLOW;
		goto err_free;
	}
	m->map_size = want;
	m->map = mmap(NULL, m->map_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (m->map == MAP_FAILED) {
		ret = -errno;
		gme_seterr(err, errlen, "%s: mmap: %s", path, strerror(errno));
		goto err_free;
	}
	close(fd);
	map_weights(m, (const float *)((const char *)m->map + HEADER_BYTES));
	*out = m;
	return 0;

err_free:
	free(m);
err_close:
	close(fd);
	return ret;
}

void gme_model_free(struct gme_model *m)
{
	if (!m)
		return;
	munmap(m->map, m->map_size);
	free(m);
}

const struct gme_config *gme_model_config(const struct gme_model *m)
{
	return &m->config;
}
