// SPDX-License-Identifier: GPL-2.0
/*
 * llama2.c tokenizer.bin: int32 max_token_length, then per token a float
 * score, an int32 length and that many bytes (no NUL).  Encode and decode
 * follow llama2.c's run.c.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define MAX_TOKEN_LENGTH 4096

struct gme_token_index {
	const char *str;
	int32_t id;
};

struct gme_tokenizer {
	int32_t vocab_size;
	int32_t max_token_length;
	char **vocab; /* (vocab_size) NUL-terminated pieces */
	float *scores; /* (vocab_size) merge scores */
	struct gme_token_index *sorted; /* (vocab_size) by str */
	unsigned char byte_pieces[512]; /* "\xNN\0" for each byte */
};

static int cmp_index(const void *a, const void *b)
{
	const struct gme_token_index *x = a, *y = b;

	return strcmp(x->str, y->str);
}

void gme_tokenizer_free(struct gme_tokenizer *t)
{
	if (!t)
		return;
	if (t->vocab)
		for (int32_t i = 0; i < t->vocab_size; i++)
			free(t->vocab[i]);
	free(t->vocab);
	free(t->scores);
	free(t->sorted);
	free(t);
}

int32_t gme_tokenizer_vocab_size(const struct gme_tokenizer *t)
{
	return t->vocab_size;
}

int gme_tokenizer_load(const char *path, int32_t vocab_size,
		       struct gme_tokenizer **out, char *err, size_t errlen)
{
	struct gme_tokenizer *t;
	int32_t len;
	FILE *f;
	int ret = -EINVAL;

	*out = NULL;
	if (vocab_size <= 0) {
		gme_seterr(err, errlen, "bad vocab_size %d", vocab_size);
		return -EINVAL;
	}
	f = fopen(path, "rb");
	if (!f) {
		ret = -errno;
		gme_seterr(err, errlen, "%s: %s", path, strerror(errno));
		return ret;
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		goto nomem;
	t->vocab_size = vocab_size;
	t->vocab = calloc(vocab_size, sizeof(*t->vocab));
	t->scores = calloc(vocab_size, sizeof(*t->scores));
	t->sorted = calloc(vocab_size, sizeof(*t->sorted));
	if (!t->vocab || !t->scores || !t->sorted)
		goto nomem;
	for (int i = 0; i < 256; i++) {
		t->byte_pieces[i * 2] = (unsigned char)i;
		t->byte_pieces[i * 2 + 1] = '\0';
	}
	if (fread(&t->max_token_length, sizeof(int32_t), 1, f) != 1) {
		gme_seterr(err, errlen, "%s: truncated header", path);
		goto err;
	}
	if (t->max_token_length <= 0 ||
	    t->max_token_length > MAX_TOKEN_LENGTH) {
		gme_seterr(err, errlen, "%s: max_token_length %d out of range",
			   path, t->max_token_length);
		goto err;
	}
	for (int32_t i = 0; i < vocab_size; i++) {
		if (fread(&t->scores[i], sizeof(float), 1, f) != 1 ||
		    fread(&len, sizeof(int32_t), 1, f) != 1) {
			gme_seterr(err, errlen, "%s: truncated at token %d",
				   path, i);
			goto err;
		}
		if (len < 0 || len > t->max_token_length) {
			gme_seterr(err, errlen,
				   "%s: token %d has length %d (max %d)", path,
				   i, len, t->max_token_length);
			goto err;
		}
		t->vocab[i] = malloc((size_t)len + 1);
		if (!t->vocab[i])
			goto nomem;
		if (fread(t->vocab[i], 1, len, f) != (size_t)len) {
			gme_seterr(err, errlen, "%s: truncated at token %d",
				   path, i);
			goto err;
		}
		t->vocab[i][len] = '\0';
		if (strlen(t->vocab[i]) != (size_t)len) {
			gme_seterr(err, errlen, "%s: token %d contains NUL",
				   path, i);
			goto err;
		}
		t->sorted[i].str = t->vocab[i];
		t->sorted[i].id = i;
	}
	if (fgetc(f) != EOF) {
		gme_seterr(
			err, errlen,
			"%s: trailing data after %d tokens (vocab mismatch?)",
			path, vocab_size);
		goto err;
	}
	qsort(t->sorted, vocab_size, sizeof(*t->sorted), cmp_index);
	fclose(f);
	*out = t;
	return 0;

nomem:
	gme_seterr(err, errlen, "out of memory");
	ret = -ENOMEM;
err:
	fclose(f);
	gme_tokenizer_free(t);
	return ret;
}

static int32_t str_lookup(const struct gme_tokenizer *t, const char *str)
{
	struct gme_token_index key = { .str = str };
	struct gme_token_index *res;

	res = bsearch(&key, t->sorted, t->vocab_size, sizeof(*t->sorted),
		      cmp_index);
	return res ? res->id : -1;
}

/* <0xXX> byte fallback tokens are ids 3..258, as in llama2.c */
static int32_t byte_token(const struct gme_tokenizer *t, unsigned char c)
{
	int32_t id = (int32_t)c + 3;

	return id < t->vocab_size ? id : 0;
}

int gme_tokenizer_encode(const struct gme_tokenizer *t, const char *text,
			 bool bos, bool eos, int32_t *tokens,
			 int32_t max_tokens)
{
	size_t cap, str_len = 0;
	int32_t n = 0;
	char *buf;

	if (!t || !text || !tokens || max_tokens < 0)
		return -EINVAL;
	cap = (size_t)t->max_token_length * 2 + 3;
	buf = malloc(cap);
	if (!buf)
		return -ENOMEM;

#define PUSH(id)                     \
	do {                         \
		if (n >= max_tokens) \
			goto nospc;  \
		tokens[n++] = (id);  \
	} while (0)

	if (bos)
		PUSH(GME_TOKEN_BOS);
	if (text[0] != '\0') {
		int32_t prefix = str_lookup(t, " ");

		if (prefix >= 0)
			PUSH(prefix);
	}
	for (const char *c = text; *c != '\0'; c++) {
		int32_t id;

		/* start of a UTF-8 codepoint: reset */
		if ((*c & 0xC0) != 0x80)
			str_len = 0;
		buf[str_len++] = *c;
		buf[str_len] = '\0';
		if ((c[1] & 0xC0) == 0x80 && str_len < 4)
			continue;
		id = str_lookup(t, buf);
		if (id >= 0) {
			PUSH(id);
		} else {
			for (size_t i = 0; i < str_len; i++)
				PUSH(byte_token(t, (unsigned char)buf[i]));
		}
		str_len = 0;
	}

	/* merge the best-scoring consecutive pair until none merges */
	for (;;) {
		float best_score = -1e10f;
		int32_t best_id = -1, best_idx = -1;

		for (int32_t i = 0; i < n - 1; i++) {
			const char *a = t->vocab[tokens[i]];
			const char *b = t->vocab[tokens[i + 1]];
			size_t la = strlen(a), lb = strlen(b);
			int32_t id;

			if (la + lb + 1 > cap)
				continue;
			memcpy(buf, a, la);
			memcpy(buf + la, b, lb + 1);
			id = str_lookup(t, buf);
			if (id >= 0 && t->scores[id] > best_score) {
				best_score = t->scores[id];
				best_id = id;
				best_idx = i;
			}
		}
		if (best_idx < 0)
			break;
		tokens[best_idx] = best_id;
		for (int32_t i = best_idx + 1; i < n - 1; i++)
			tokens[i] = tokens[i + 1];
		n--;
	}
	if (eos)
		PUSH(GME_TOKEN_EOS);
#undef PUSH
	free(buf);
	return n;

nospc:
	free(buf);
	return -ENOSPC;
}

const char *gme_tokenizer_decode(const struct gme_tokenizer *t,
				 int32_t prev_token, int32_t token)
{
	const char *piece;
	unsigned int byte;
	char tail;

	if (token < 0 || token >= t->vocab_size)
		return NULL;
	piece = t->vocab[token];
	/* after BOS, sentencepiece strips the leading whitespace */
	if (prev_token == GME_TOKEN_BOS && piece[0] == ' ')
		piece++;
	if (strlen(piece) == 6 &&
	    sscanf(piece, "<0x%02X%c", &byte, &tail) == 2 && tail == '>')
		piece = (const char *)t->byte_pieces + byte * 2;
	return piece;
}
