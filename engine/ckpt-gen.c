// SPDX-License-Identifier: GPL-2.0
/*
 * Seeded random llama2.c v0 checkpoints and a tokenizer for them.
 *
 * v0 layout: 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
 * vocab_size, negative for a separate classifier, seq_len), then float32
 * token_embedding (vocab, dim), rms_att (L, dim), wq (L, dim, dim), wk and
 * wv (L, kv_dim, dim), wo (L, dim, dim), rms_ffn (L, dim), w1 (L, hidden,
 * dim), w2 (L, dim, hidden), w3 (L, hidden, dim), rms_final (dim), the
 * unused freq_cis_real and _imag (seq_len, head_size / 2 each), and wcls
 * (vocab, dim) when not shared.  Every float is drawn in file order from
 * one xorshift stream, so the bytes depend on the config and seed only.
 * With a vocabulary of 259 tokens or more (one that has gme_tokenizer_write()'s
 * byte tokens 3..258) the embedding and classifier rows of the byte tokens
 * are scaled by 1/16: they are then rarely sampled, and the text is made of
 * printable pieces rather than stray bytes.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ckpt-gen.h"
#include "internal.h"

#define MAX_WEIGHT_BYTES ((uint64_t)4 << 30)
#define MAX_VOCAB 16384

struct gme_config gme_ckpt_default_config(void)
{
	return (struct gme_config){
		.dim = 64,
		.hidden_dim = 192,
		.n_layers = 4,
		.n_heads = 8,
		.n_kv_heads = 4,
		.vocab_size = 512,
		.seq_len = 256,
		.shared_classifier = 1,
	};
}

uint64_t gme_ckpt_floats(const struct gme_config *c)
{
	uint64_t dim = c->dim, hid = c->hidden_dim, L = c->n_layers;
	uint64_t V = c->vocab_size;
	uint64_t hs = dim / c->n_heads, kv = dim * c->n_kv_heads / c->n_heads;
	uint64_t n = V * dim + L * dim * 2 + L * dim * dim * 2 +
		     L * kv * dim * 2 + L * hid * dim * 3 + dim +
		     (uint64_t)c->seq_len * hs;

	if (!c->shared_classifier)
		n += V * dim;
	return n;
}

int gme_ckpt_check(const struct gme_config *c, char *err, size_t errlen)
{
	const int32_t lim = 1 << 20;

	if (c->dim <= 0 || c->hidden_dim <= 0 || c->n_layers <= 0 ||
	    c->n_heads <= 0 || c->n_kv_heads <= 0 || c->vocab_size <= 0 ||
	    c->seq_len <= 0 || c->dim > lim || c->hidden_dim > lim ||
	    c->n_layers > 4096 || c->vocab_size > lim || c->seq_len > lim) {
		gme_seterr(
			err, errlen,
			"sizes must be positive (and at most %d, layers 4096)",
			lim);
		return -EINVAL;
	}
	if (c->n_kv_heads > c->n_heads || c->n_heads % c->n_kv_heads) {
		gme_seterr(err, errlen,
			   "n_heads (%d) must be a multiple of n_kv_heads (%d)",
			   c->n_heads, c->n_kv_heads);
		return -EINVAL;
	}
	if (c->dim % c->n_heads || (c->dim / c->n_heads) % 2) {
		gme_seterr(
			err, errlen,
			"dim (%d) must be n_heads (%d) times an even head size",
			c->dim, c->n_heads);
		return -EINVAL;
	}
	if (gme_ckpt_floats(c) > MAX_WEIGHT_BYTES / sizeof(float)) {
		gme_seterr(err, errlen, "the weights would exceed %llu GiB",
			   (unsigned long long)(MAX_WEIGHT_BYTES >> 30));
		return -EINVAL;
	}
	return 0;
}

/* ---- writing a file whole --------------------------------------------- */

struct out {
	FILE *f;
	char tmp[4096];
	int err; /* first -errno */
};

static int out_open(struct out *o, const char *path, char *err, size_t errlen)
{
	int fd;

	o->err = 0;
	if ((size_t)snprintf(o->tmp, sizeof(o->tmp), "%s.XXXXXX", path) >=
	    sizeof(o->tmp)) {
		gme_seterr(err, errlen, "%s: path too long", path);
		return -ENAMETOOLONG;
	}
	fd = mkstemp(o->tmp);
	if (fd < 0 || !(o->f = fdopen(fd, "wb"))) {
		int e = errno;

		if (fd >= 0) {
			close(fd);
			unlink(o->tmp);
		}
		gme_seterr(err, errlen, "%s: %s", path, strerror(e));
		return -e;
	}
	return 0;
}

static void out_put(struct out *o, const void *p, size_t n)
{
	if (!o->err && n && fwrite(p, 1, n, o->f) != n)
		o->err = -(errno ? errno : EIO);
}

/* close, 0644, rename into place; or remove the temporary file */
static int out_close(struct out *o, const char *path, char *err, size_t errlen)
{
	if (!o->err && fflush(o->f))
		o->err = -errno;
	if (!o->err && fchmod(fileno(o->f), 0644))
		o->err = -errno;
	if (fclose(o->f) && !o->err)
		o->err = -errno;
	if (!o->err && rename(o->tmp, path))
		o->err = -errno;
	if (o->err) {
		unlink(o->tmp);
		gme_seterr(err, errlen, "%s: %s", path, strerror(-o->err));
	}
	return o->err;
}

/* ---- the checkpoint --------------------------------------------------- */

static uint32_t xs32(uint64_t *s)
{
	*s ^= *s >> 12;
	*s ^= *s << 25;
	*s ^= *s >> 27;
	return (*s * 0x2545F4914F6CDD1Dull) >> 32;
}

/* uniform in [-1, 1), 24 bits */
static float uniform(uint64_t *s)
{
	return (xs32(s) >> 8) / 16777216.0f * 2.0f - 1.0f;
}

int gme_ckpt_write(const char *path, const struct gme_config *c, uint64_t seed,
		   char *err, size_t errlen)
{
	uint64_t s = seed ? seed : 1, n = gme_ckpt_floats(c);
	uint64_t dim = c->dim, L = c->n_layers, V = c->vocab_size;
	uint64_t kv = dim * c->n_kv_heads / c->n_heads;
	/* offsets of the RMS norm weights, which get values near 1 */
	uint64_t rms_att = V * dim;
	uint64_t rms_ffn =
		rms_att + L * dim + L * dim * dim * 2 + L * kv * dim * 2;
	uint64_t rms_final = rms_ffn + L * dim + L * c->hidden_dim * dim * 3;
	/* the separate classifier, last; n (never reached) when shared */
	uint64_t wcls = c->shared_classifier ? n : n - V * dim;
	/* a vocabulary with byte tokens, as gme_tokenizer_write() makes */
	bool bytes = V >= 259;
	int32_t header[7] = { c->dim,	  c->hidden_dim, c->n_layers,
			      c->n_heads, c->n_kv_heads, c->vocab_size,
			      c->seq_len };
	float buf[1024];
	struct out o;
	size_t k = 0;
	int ret;

	ret = gme_ckpt_check(c, err, errlen);
	if (ret)
		return ret;
	if (!c->shared_classifier)
		header[5] = -c->vocab_size;
	ret = out_open(&o, path, err, errlen);
	if (ret)
		return ret;
	out_put(&o, header, sizeof(header));
	for (uint64_t i = 0; i < n && !o.err; i++) {
		float v = uniform(&s) * 0.3f;

		if ((i >= rms_att && i < rms_att + L * dim) ||
		    (i >= rms_ffn && i < rms_ffn + L * dim) ||
		    (i >= rms_final && i < rms_final + dim))
			v = 1.0f + v;
		else if (bytes &&
			 ((i >= 3 * dim && i < 259 * dim) ||
			  (i >= wcls + 3 * dim && i < wcls + 259 * dim)))
			v *= 1.0f / 16; /* byte tokens: rarely sampled */
		buf[k++] = v;
		if (k == sizeof(buf) / sizeof(buf[0]) || i + 1 == n) {
			out_put(&o, buf, k * sizeof(buf[0]));
			k = 0;
		}
	}
	return out_close(&o, path, err, errlen);
}

/* ---- the tokenizer ---------------------------------------------------- */

/*
 * Common words of children's stories, each with a leading space (as BPE
 * sees a word after a space).  The tokenizer holds every prefix of each
 * (" t", " th", " the"), so that BPE merges can reach the whole word.
 */
static const char *const words[] = {
	" the",	 " and",  " was",   " she",    " her",	" his",	  " they",
	" that", " with", " for",   " you",    " said", " day",	  " time",
	" once", " upon", " there", " little", " big",	" happy", " friend",
	" play", " saw",  " went",  " mom",    " one",	" very",  " wanted",
	" like", " toy",  " tree",  " ball",   " park", " dog",	  " cat",
	" bird", " sun",  " home",  " had",    " not",	" all",	  " but",
	" were", " what", " could", " fun",    " help", " look",  " lily",
	" tim",	 " ben",  " sam",   " sky",    " run",	" red",	  " blue",
	" good", " new",  " then",  " when",
};

#define N_WORDS ((int)(sizeof(words) / sizeof(words[0])))
#define PIECE_MAX 16

/* true when one of words[0, upto) starts with the n bytes at p */
static bool word_prefix(int upto, const char *p, size_t n)
{
	for (int k = 0; k < upto; k++)
		if (strlen(words[k]) >= n && !memcmp(words[k], p, n))
			return true;
	return false;
}

/*
 * The pieces after the 259 special and byte tokens, in score order, into
 * out[0, n): printable ASCII characters, " a".." z", the prefixes of
 * words[] of 3 or more bytes, "aa".."zz", the other " aa".." zz",
 * "aaa".."zzz".  No piece appears twice.  n <= MAX_VOCAB - 259, fewer than
 * there are.
 */
static void gen_pieces(char (*out)[PIECE_MAX], int32_t n)
{
	char p[PIECE_MAX];
	int32_t k = 0;

#define EMIT()                                  \
	do {                                    \
		if (k == n)                     \
			return;                 \
		memcpy(out[k++], p, sizeof(p)); \
	} while (0)

	memset(p, 0, sizeof(p));
	for (int c = 0x20; c < 0x7f; c++) {
		p[0] = (char)c;
		EMIT();
	}
	p[0] = ' ';
	for (int a = 0; a < 26; a++) {
		p[1] = (char)('a' + a);
		EMIT();
	}
	for (int w = 0; w < N_WORDS; w++) {
		size_t len = strlen(words[w]);

		for (size_t l = 3; l <= len; l++) {
			if (word_prefix(w, words[w], l))
				continue;
			memset(p, 0, sizeof(p));
			memcpy(p, words[w], l);
			EMIT();
		}
	}
	memset(p, 0, sizeof(p));
	for (int i = 0; i < 26 * 26; i++) {
		p[0] = (char)('a' + i / 26);
		p[1] = (char)('a' + i % 26);
		EMIT();
	}
	p[0] = ' ';
	for (int i = 0; i < 26 * 26; i++) {
		p[1] = (char)('a' + i / 26);
		p[2] = (char)('a' + i % 26);
		if (!word_prefix(N_WORDS, p, 3))
			EMIT();
	}
	for (int i = 0; i < 26 * 26 * 26; i++) {
		p[0] = (char)('a' + i / 676);
		p[1] = (char)('a' + i / 26 % 26);
		p[2] = (char)('a' + i % 26);
		EMIT();
	}
#undef EMIT
}

static void put_token(struct out *o, float score, const char *s)
{
	int32_t len = strlen(s);

	out_put(o, &score, sizeof(score));
	out_put(o, &len, sizeof(len));
	out_put(o, s, len);
}

int gme_tokenizer_write(const char *path, int32_t vocab_size, char *err,
			size_t errlen)
{
	char(*pieces)[PIECE_MAX];
	int32_t max_len = 6; /* "<0xFF>" */
	int32_t n = vocab_size - 259;
	char piece[PIECE_MAX];
	struct out o;
	int ret;

	if (vocab_size < 259 || vocab_size > MAX_VOCAB) {
		gme_seterr(err, errlen,
			   "vocab_size %d: the tokenizer needs 259..%d tokens",
			   vocab_size, MAX_VOCAB);
		return -EINVAL;
	}
	pieces = calloc(n ? n : 1, sizeof(*pieces));
	if (!pieces) {
		gme_seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	gen_pieces(pieces, n);
	for (int32_t i = 0; i < n; i++)
		if ((int32_t)strlen(pieces[i]) > max_len)
			max_len = strlen(pieces[i]);
	ret = out_open(&o, path, err, errlen);
	if (ret) {
		free(pieces);
		return ret;
	}
	out_put(&o, &max_len, sizeof(max_len));
	put_token(&o, 0.0f, "<unk>");
	put_token(&o, 0.0f, "<s>");
	put_token(&o, 0.0f, "</s>");
	for (int i = 0; i < 256; i++) {
		snprintf(piece, sizeof(piece), "<0x%02X>", i);
		put_token(&o, 0.0f, piece);
	}
	for (int32_t i = 0; i < n; i++)
		put_token(&o, -(float)i, pieces[i]);
	free(pieces);
	return out_close(&o, path, err, errlen);
}
