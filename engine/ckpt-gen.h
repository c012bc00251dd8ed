/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Seeded random llama2.c checkpoints and a matching tokenizer (ckpt-gen.c):
 * what `gpumux-engine init-random` writes when no real model is at hand,
 * and what the engine tests load.  The output depends only on the config
 * and the seed: the same arguments give the same bytes on every machine.
 * Functions return 0 or -errno, with a reason in err.
 */
#ifndef GPUMUX_ENGINE_CKPT_GEN_H
#define GPUMUX_ENGINE_CKPT_GEN_H

#include <stddef.h>
#include <stdint.h>

#include "engine.h"

/*
 * A small model (about 240K parameters, 1 MB): dim 64, hidden 192,
 * 4 layers, 8 query heads over 4 KV heads (GQA), vocab 512, seq_len 256,
 * shared classifier.
 */
struct gme_config gme_ckpt_default_config(void);

/*
 * -EINVAL (with the reason) unless c describes a model the engine can
 * run: positive sizes, n_heads a multiple of n_kv_heads, dim a multiple
 * of n_heads with an even head size, at most 4 GiB of weights.
 */
int gme_ckpt_check(const struct gme_config *c, char *err, size_t errlen);

/* Floats after the 7-int header of a v0 checkpoint with config c. */
uint64_t gme_ckpt_floats(const struct gme_config *c);

/*
 * Write a v0 checkpoint with config c and weights drawn from an xorshift
 * generator seeded with seed (0 counts as 1): uniform in [-0.3, 0.3),
 * RMS norm weights in [0.7, 1.3), the rows of byte tokens 3..258 (when
 * vocab_size >= 259) 16 times smaller.  A separate classifier is written when
 * !c->shared_classifier (negative vocab_size in the header).  The file is
 * written next to path and renamed into place.  -EINVAL (see
 * gme_ckpt_check()), or -errno from the file system.
 */
int gme_ckpt_write(const char *path, const struct gme_config *c, uint64_t seed,
		   char *err, size_t errlen);

/*
 * Write a llama2.c tokenizer.bin of vocab_size tokens: <unk>, <s>, </s>,
 * the 256 byte tokens <0x00>..<0xFF>, then printable ASCII characters,
 * " x" pairs, common words, letter pairs and triples, in that order,
 * scored so that earlier pieces merge first.  The same vocab_size gives
 * the same bytes.  -EINVAL when vocab_size is outside 259..16384.
 */
int gme_tokenizer_write(const char *path, int32_t vocab_size, char *err,
			size_t errlen);

#endif /* GPUMUX_ENGINE_CKPT_GEN_H */
