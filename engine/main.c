// SPDX-License-Identifier: GPL-2.0
/* gpumux-engine: command line front end of the reference engine. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../common/util.h"
#include "attach.h"
#include "ckpt-gen.h"
#include "engine.h"
#include "server.h"

#define EXIT_USAGE 2

static const char usage_text[] =
	"NAME\n"
	"    gpumux-engine - reference CPU inference engine for llama2.c checkpoints\n"
	"\n"
	"SYNOPSIS\n"
	"    gpumux-engine generate --model FILE [--tokenizer FILE] [--prompt TEXT]\n"
	"                  [-n N] [--temperature T] [--top-p P] [--seed S]\n"
	"                  [--threads N] [--ids]\n"
	"    gpumux-engine serve --model FILE [--tokenizer FILE] [--listen ADDR]\n"
	"                  [--threads N] [--max-seqs N] [--max-waiting N]\n"
	"                  [--max-batch-tokens N] [--block-size N] [--kv-blocks N]\n"
	"                  [--max-body BYTES] [--max-connections N]\n"
	"                  [--drain-timeout SEC] [--verbose]\n"
	"                  [--attach NAME [--weight W] [--min-cus N] [--max-cus N]\n"
	"                   [--pinned-quota BYTES]]\n"
	"    gpumux-engine init-random --out DIR [--seed S] [--dim N]\n"
	"                  [--hidden-dim N] [--layers N] [--heads N] [--kv-heads N]\n"
	"                  [--vocab N] [--seq-len N] [--separate-classifier]\n"
	"    gpumux-engine --help\n"
	"\n"
	"DESCRIPTION\n"
	"    generate runs one request through the engine (paged KV cache,\n"
	"    continuous batching scheduler) and prints the generated text, not\n"
	"    the prompt, on stdout.  Throughput goes to stderr.\n"
	"\n"
	"OPTIONS\n"
	"    -m, --model FILE      llama2.c v0 checkpoint (required)\n"
	"    -z, --tokenizer FILE  llama2.c tokenizer.bin; default: tokenizer.bin,\n"
	"                          else tok<vocab_size>.bin, next to the model\n"
	"    -i, --prompt TEXT     prompt (default: empty, i.e. BOS only)\n"
	"    -n, --steps N         tokens to generate (default 256; the model's\n"
	"                          seq_len also ends generation)\n"
	"    -t, --temperature T   0 is greedy (default 1.0)\n"
	"    -p, --top-p P         nucleus sampling in (0, 1); 1 disables it\n"
	"                          (default 0.9)\n"
	"    -s, --seed S          RNG seed, a positive integer (default: time)\n"
	"    -T, --threads N       worker threads (default: all online cores)\n"
	"        --ids             print generated token ids, space separated,\n"
	"                          on one line instead of text (needs no\n"
	"                          tokenizer when there is no prompt)\n"
	"    -h, --help            this text\n"
	"\n"
	"    Generation stops after N tokens, at seq_len, or when the model\n"
	"    samples BOS (token 1), which is not printed.\n"
	"\n"
	"SERVE\n"
	"    serve runs an OpenAI-compatible HTTP server: POST /v1/completions\n"
	"    (prompt, max_tokens, temperature, top_p, seed, stream as\n"
	"    server-sent events), GET /v1/models, GET /health, GET /metrics\n"
	"    (Prometheus text).  It prints one line on stdout once it listens\n"
	"    (\"gpumux-engine: serving MODEL on ADDR ...\", with the port that\n"
	"    was bound for port 0) and exits 0 on SIGTERM or SIGINT after\n"
	"    in-flight requests finish (a second signal cancels them).\n"
	"\n"
	"    -m, --model FILE      llama2.c v0 checkpoint (required)\n"
	"    -z, --tokenizer FILE  as for generate\n"
	"    -l, --listen ADDR     HOST:PORT, [IPV6]:PORT or unix:PATH\n"
	"                          (default 127.0.0.1:8000)\n"
	"    -T, --threads N       compute threads (default: all online cores;\n"
	"                          with --attach: the threads when holding the\n"
	"                          whole GPU, default the CPUs it may run on)\n"
	"        --max-seqs N      requests batched at once (default 64)\n"
	"        --max-waiting N   requests queued beyond those before new ones\n"
	"                          get 429 (default 256)\n"
	"        --max-batch-tokens N  tokens per step, the prefill chunk\n"
	"                          (default 256)\n"
	"        --block-size N    tokens per KV block (default 16)\n"
	"        --kv-blocks N     KV blocks (default: max-seqs full sequences,\n"
	"                          at most 1 GiB)\n"
	"        --max-body BYTES  request body limit, 413 beyond (default 1 MiB)\n"
	"        --max-connections N  open connections (default: max-seqs +\n"
	"                          max-waiting + 32); more are closed at once\n"
	"        --drain-timeout SEC  time in-flight requests get at exit\n"
	"                          (default 10)\n"
	"    -v, --verbose         log every request (and partition change)\n"
	"                          on stderr\n"
	"\n"
	"GPUMUX TENANT\n"
	"    With --attach the server is a tenant of gpumuxd.  Started by\n"
	"    `gpumuxctl attach` ($GPUMUX_LEASE_FD set) it adopts that lease;\n"
	"    otherwise it attaches over D-Bus (the system bus, or\n"
	"    $DBUS_SYSTEM_BUS_ADDRESS) as NAME.  The KV pool is a pinned buffer\n"
	"    of the tenant (smaller than asked when the pinned quota is; at\n"
	"    least one full sequence), the compute threads follow the\n"
	"    partition: threads = max(1, round(T x CUs held / CUs of the GPU)),\n"
	"    T from --threads; with no CUs, or fenced, requests wait (GET\n"
	"    /health says \"fenced\" or \"no_cus\").  Load goes to the daemon\n"
	"    once a second.  On exit the tenant detaches.\n"
	"\n"
	"        --attach NAME     the tenant's name (1..31 printable characters)\n"
	"        --weight W        its share of the CUs, 1..65535 (default 100)\n"
	"        --min-cus N       CUs guaranteed (default 0)\n"
	"        --max-cus N       CUs at most (default: the whole GPU)\n"
	"        --pinned-quota BYTES  pinned memory at most (suffixes K M G T;\n"
	"                          default: the daemon's)\n"
	"\n"
	"INIT-RANDOM\n"
	"    init-random writes DIR/model.bin, a llama2.c checkpoint with\n"
	"    seeded random weights, and DIR/tokenizer.bin for it: a stand-in\n"
	"    model when no real one is at hand (its text is gibberish).  The\n"
	"    same options give the same bytes.  Defaults: dim 64, hidden-dim\n"
	"    192, 4 layers, 8 heads, 4 kv-heads (grouped-query attention),\n"
	"    vocab 512, seq-len 256, shared classifier, seed 1.\n"
	"\n"
	"EXIT STATUS\n"
	"    0 success, 1 runtime error (unreadable or malformed model or\n"
	"    tokenizer, out of memory, cannot listen, cannot attach), 2 bad\n"
	"    command line.\n";

struct cli {
	const char *model;
	const char *tokenizer;
	const char *prompt;
	long steps;
	float temperature;
	float top_p;
	unsigned long long seed;
	int threads;
	bool ids;
};

struct out_state {
	const struct gme_tokenizer *tok;
	bool ids;
	int32_t prev;
	int32_t n;
};

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "gpumux-engine: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\nTry 'gpumux-engine --help'.\n");
	return EXIT_USAGE;
}

/* where every command's option loop ends: --help, and the errors */
static int other_option(int opt, char **argv)
{
	if (opt == 'h') {
		fputs(usage_text, stdout);
		return 0;
	}
	if (opt == ':')
		return usage_error("option '%s' needs an argument",
				   argv[optind - 1]);
	return usage_error("unknown option '%s'", argv[optind - 1]);
}

static bool parse_float(const char *s, float min, float max, float *out)
{
	char *end;
	float v;

	errno = 0;
	v = strtof(s, &end);
	if (errno || end == s || *end || !(v >= min && v <= max))
		return false;
	*out = v;
	return true;
}

/* print a piece as llama2.c does: skip lone unprintable bytes */
static void put_piece(const char *piece)
{
	if (!piece || !piece[0])
		return;
	if (!piece[1]) {
		unsigned char b = piece[0];

		if (!(b >= 0x20 && b < 0x7f) && b != '\n' && b != '\t' &&
		    b != '\r' && b < 0x80)
			return;
	}
	fputs(piece, stdout);
}

static void on_token(void *user, uint64_t id, int32_t token,
		     enum gme_finish_reason fin)
{
	struct out_state *o = user;

	(void)id;
	if (fin == GME_FINISH_STOP)
		return;
	if (o->ids) {
		printf(o->n ? " %d" : "%d", token);
	} else {
		put_piece(gme_tokenizer_decode(o->tok, o->prev, token));
		fflush(stdout);
	}
	o->prev = token;
	o->n++;
}

static int find_tokenizer(const struct cli *c, int32_t vocab, char *buf,
			  size_t len)
{
	char *copy = strdup(c->model);
	const char *dir;

	if (!copy)
		return -ENOMEM;
	dir = dirname(copy);
	snprintf(buf, len, "%s/tokenizer.bin", dir);
	if (access(buf, R_OK)) {
		snprintf(buf, len, "%s/tok%d.bin", dir, vocab);
		if (access(buf, R_OK)) {
			free(copy);
			return -ENOENT;
		}
	}
	free(copy);
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int generate(const struct cli *c)
{
	struct gme_engine_params ep = gme_engine_default_params();
	struct gme_sampling_params sp = gme_sampling_default_params();
	struct out_state out = { .ids = c->ids, .prev = -1 };
	struct gme_tokenizer *tok = NULL;
	struct gme_engine *eng = NULL;
	struct gme_model *model = NULL;
	const struct gme_config *cfg;
	int32_t *prompt = NULL, n_prompt;
	char err[512], path[PATH_MAX];
	int ret = 1, rc, n_first;
	double t0, t1;
	uint64_t id;

	rc = gme_model_load(c->model, &model, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "gpumux-engine: %s\n", err);
		return 1;
	}
	cfg = gme_model_config(model);
	if (c->tokenizer || !c->ids || c->prompt) {
		const char *tp = c->tokenizer;

		if (!tp) {
			if (find_tokenizer(c, cfg->vocab_size, path,
					   sizeof(path))) {
				fprintf(stderr,
					"gpumux-engine: no tokenizer next to %s; use --tokenizer\n",
					c->model);
				goto out;
			}
			tp = path;
		}
		rc = gme_tokenizer_load(tp, cfg->vocab_size, &tok, err,
					sizeof(err));
		if (rc) {
			fprintf(stderr, "gpumux-engine: %s\n", err);
			goto out;
		}
	}
	out.tok = tok;

	n_prompt = 1;
	prompt = malloc(((c->prompt ? strlen(c->prompt) : 0) + 3) *
			sizeof(*prompt));
	if (!prompt) {
		fprintf(stderr, "gpumux-engine: out of memory\n");
		goto out;
	}
	prompt[0] = GME_TOKEN_BOS;
	if (c->prompt) {
		n_prompt = gme_tokenizer_encode(tok, c->prompt, true, false,
						prompt, strlen(c->prompt) + 3);
		if (n_prompt < 0) {
			fprintf(stderr,
				"gpumux-engine: cannot encode prompt: %s\n",
				strerror(-n_prompt));
			goto out;
		}
	}
	if (n_prompt >= cfg->seq_len) {
		fprintf(stderr,
			"gpumux-engine: prompt is %d tokens, the model's seq_len is %d\n",
			n_prompt, cfg->seq_len);
		goto out;
	}
	out.prev = prompt[n_prompt - 1];

	ep.n_threads = c->threads;
	ep.max_seqs = 1;
	ep.on_token = on_token;
	ep.user = &out;
	rc = gme_engine_create(model, &ep, &eng, err, sizeof(err));
	if (rc) {
		fprintf(stderr, "gpumux-engine: %s\n", err);
		goto out;
	}
	sp.temperature = c->temperature;
	sp.top_p = c->top_p;
	sp.seed = c->seed;
	sp.max_new_tokens = c->steps;
	rc = gme_engine_submit(eng, prompt, n_prompt, &sp, &id);
	if (rc) {
		fprintf(stderr, "gpumux-engine: cannot submit: %s\n",
			strerror(-rc));
		goto out;
	}
	/* as llama2.c: the clock starts after the first step (prefill) */
	rc = gme_engine_step(eng, NULL);
	n_first = out.n;
	t0 = now();
	while (rc > 0)
		rc = gme_engine_step(eng, NULL);
	t1 = now();
	printf("\n");
	fflush(stdout);
	fprintf(stderr,
		"%d prompt + %d generated tokens (%d after the first step in %.4f s): %.1f tok/s\n",
		n_prompt, out.n, out.n - n_first, t1 - t0,
		t1 > t0 ? (out.n - n_first) / (t1 - t0) : 0.0);
	ret = 0;
out:
	free(prompt);
	gme_engine_free(eng);
	gme_tokenizer_free(tok);
	gme_model_free(model);
	return ret;
}

/* BYTES with an optional K, M, G or T suffix (powers of 1024) */
static bool parse_bytes(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;
	int shift = 0;

	errno = 0;
	if (*s == '-')
		return false;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		return false;
	switch (*end) {
	case 'K':
	case 'k':
		shift = 10;
		end++;
		break;
	case 'M':
	case 'm':
		shift = 20;
		end++;
		break;
	case 'G':
	case 'g':
		shift = 30;
		end++;
		break;
	case 'T':
	case 't':
		shift = 40;
		end++;
		break;
	}
	if (*end || !v || v > (UINT64_MAX >> shift))
		return false;
	*out = (uint64_t)v << shift;
	return true;
}

enum {
	OPT_WEIGHT = 1000,
	OPT_MIN_CUS,
	OPT_MAX_CUS,
	OPT_PINNED_QUOTA,
};

static int serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "tokenizer", required_argument, NULL, 'z' },
		{ "listen", required_argument, NULL, 'l' },
		{ "threads", required_argument, NULL, 'T' },
		{ "max-seqs", required_argument, NULL, 'S' },
		{ "max-waiting", required_argument, NULL, 'W' },
		{ "max-batch-tokens", required_argument, NULL, 'B' },
		{ "block-size", required_argument, NULL, 'K' },
		{ "kv-blocks", required_argument, NULL, 'N' },
		{ "max-body", required_argument, NULL, 'Y' },
		{ "max-connections", required_argument, NULL, 'C' },
		{ "drain-timeout", required_argument, NULL, 'D' },
		{ "attach", required_argument, NULL, 'A' },
		{ "weight", required_argument, NULL, OPT_WEIGHT },
		{ "min-cus", required_argument, NULL, OPT_MIN_CUS },
		{ "max-cus", required_argument, NULL, OPT_MAX_CUS },
		{ "pinned-quota", required_argument, NULL, OPT_PINNED_QUOTA },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct gms_options o = gms_default_options();
	struct gma_options ao = { 0 };
	struct gms_host_ops *host = NULL;
	struct cli c = { 0 };
	bool tenant_opts = false;
	char path[PATH_MAX];
	struct gme_model *m;
	char err[512];
	int opt, ret;
	float f;
	long v;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":m:z:l:T:vh", opts, NULL)) !=
	       -1) {
		switch (opt) {
		case 'm':
			o.model_path = optarg;
			break;
		case 'z':
			o.tokenizer_path = optarg;
			break;
		case 'l':
			o.listen = optarg;
			break;
		case 'T':
			if (!cm_parse_long(optarg, 1, 1024, &v))
				return usage_error(
					"bad --threads '%s' (1..1024)", optarg);
			o.n_threads = v;
			break;
		case 'S':
			if (!cm_parse_long(optarg, 1, 65536, &v))
				return usage_error(
					"bad --max-seqs '%s' (1..65536)",
					optarg);
			o.max_seqs = v;
			break;
		case 'W':
			if (!cm_parse_long(optarg, 0, 1 << 20, &v))
				return usage_error("bad --max-waiting '%s'",
						   optarg);
			o.max_waiting = v;
			break;
		case 'B':
			if (!cm_parse_long(optarg, 1, 1 << 20, &v))
				return usage_error(
					"bad --max-batch-tokens '%s'", optarg);
			o.max_batch_tokens = v;
			break;
		case 'K':
			if (!cm_parse_long(optarg, 1, 1 << 20, &v))
				return usage_error("bad --block-size '%s'",
						   optarg);
			o.block_size = v;
			break;
		case 'N':
			if (!cm_parse_long(optarg, 1, INT32_MAX, &v))
				return usage_error("bad --kv-blocks '%s'",
						   optarg);
			o.kv_blocks = v;
			break;
		case 'Y':
			if (!cm_parse_long(optarg, 1, 1L << 30, &v))
				return usage_error(
					"bad --max-body '%s' (1..2^30)",
					optarg);
			o.max_body = v;
			break;
		case 'C':
			if (!cm_parse_long(optarg, 1, 1 << 16, &v))
				return usage_error("bad --max-connections '%s'",
						   optarg);
			o.max_connections = v;
			break;
		case 'D':
			if (!parse_float(optarg, 0.0f, 86400.0f, &f))
				return usage_error("bad --drain-timeout '%s'",
						   optarg);
			o.drain_timeout = f;
			break;
		case 'A':
			if (!*optarg || strlen(optarg) > 31)
				return usage_error(
					"bad --attach '%s' (1..31 characters)",
					optarg);
			for (const char *p = optarg; *p; p++)
				if (*p < 0x20 || *p > 0x7e)
					return usage_error(
						"bad --attach '%s' (printable characters only)",
						optarg);
			ao.name = optarg;
			break;
		case OPT_WEIGHT:
			if (!cm_parse_long(optarg, 1, 65535, &v))
				return usage_error(
					"bad --weight '%s' (1..65535)", optarg);
			ao.weight = v;
			tenant_opts = true;
			break;
		case OPT_MIN_CUS:
		case OPT_MAX_CUS:
			if (!cm_parse_long(optarg, 0, 1024, &v))
				return usage_error(
					"bad CU count '%s' (0..1024)", optarg);
			if (opt == OPT_MIN_CUS)
				ao.min_cus = v;
			else
				ao.max_cus = v;
			tenant_opts = true;
			break;
		case OPT_PINNED_QUOTA:
			if (!parse_bytes(optarg, &ao.pinned_quota))
				return usage_error("bad --pinned-quota '%s'",
						   optarg);
			tenant_opts = true;
			break;
		case 'v':
			o.verbose = true;
			break;
		default:
			return other_option(opt, argv);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!o.model_path)
		return usage_error("%s", "--model is required");
	if (tenant_opts && !ao.name)
		return usage_error(
			"%s",
			"--weight, --min-cus, --max-cus and --pinned-quota need --attach");
	if (ao.max_cus && ao.min_cus > ao.max_cus)
		return usage_error("%s", "--min-cus is more than --max-cus");
	if (!o.tokenizer_path) {
		/* the vocabulary size names the tokenizer: peek at the model */
		if (gme_model_load(o.model_path, &m, err, sizeof(err))) {
			fprintf(stderr, "gpumux-engine: %s\n", err);
			return 1;
		}
		c.model = o.model_path;
		v = find_tokenizer(&c, gme_model_config(m)->vocab_size, path,
				   sizeof(path));
		gme_model_free(m);
		if (v) {
			fprintf(stderr,
				"gpumux-engine: no tokenizer next to %s; use --tokenizer\n",
				o.model_path);
			return 1;
		}
		o.tokenizer_path = path;
	}
	if (ao.name) {
		ao.cpus = o.n_threads;
		ao.verbose = o.verbose;
		if (gma_host_new(&ao, &host)) {
			fprintf(stderr, "gpumux-engine: out of memory\n");
			return 1;
		}
		o.host = host;
	}
	ret = gms_serve(&o) ? 1 : 0;
	gma_host_free(host);
	return ret;
}

static int init_random(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "out", required_argument, NULL, 'o' },
		{ "seed", required_argument, NULL, 's' },
		{ "dim", required_argument, NULL, 'd' },
		{ "hidden-dim", required_argument, NULL, 'H' },
		{ "layers", required_argument, NULL, 'L' },
		{ "heads", required_argument, NULL, 'E' },
		{ "kv-heads", required_argument, NULL, 'K' },
		{ "vocab", required_argument, NULL, 'V' },
		{ "seq-len", required_argument, NULL, 'S' },
		{ "separate-classifier", no_argument, NULL, 'C' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct gme_config cfg = gme_ckpt_default_config();
	const char *out = NULL;
	unsigned long long seed = 1;
	char path[PATH_MAX], err[512];
	char *end;
	int32_t *field;
	long v;
	int opt;

	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":o:s:h", opts, NULL)) != -1) {
		field = NULL;
		switch (opt) {
		case 'o':
			out = optarg;
			break;
		case 's':
			errno = 0;
			seed = strtoull(optarg, &end, 10);
			if (errno || end == optarg || *end || *optarg == '-')
				return usage_error("bad --seed '%s'", optarg);
			break;
		case 'd':
			field = &cfg.dim;
			break;
		case 'H':
			field = &cfg.hidden_dim;
			break;
		case 'L':
			field = &cfg.n_layers;
			break;
		case 'E':
			field = &cfg.n_heads;
			break;
		case 'K':
			field = &cfg.n_kv_heads;
			break;
		case 'V':
			field = &cfg.vocab_size;
			break;
		case 'S':
			field = &cfg.seq_len;
			break;
		case 'C':
			cfg.shared_classifier = 0;
			break;
		default:
			return other_option(opt, argv);
		}
		if (field) {
			if (!cm_parse_long(optarg, 1, 1 << 20, &v))
				return usage_error("bad size '%s' (1..2^20)",
						   optarg);
			*field = v;
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!out)
		return usage_error("%s", "--out DIR is required");
	if (strlen(out) > PATH_MAX - 32)
		return usage_error("%s", "--out: path too long");
	if (gme_ckpt_check(&cfg, err, sizeof(err)))
		return usage_error("bad model shape: %s", err);
	if (cfg.vocab_size < 259 || cfg.vocab_size > 16384)
		return usage_error(
			"%s",
			"--vocab must be in 259..16384 (the tokenizer's byte tokens)");
	if (mkdir(out, 0755) && errno != EEXIST) {
		fprintf(stderr, "gpumux-engine: %s: %s\n", out,
			strerror(errno));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/model.bin", out);
	if (gme_ckpt_write(path, &cfg, seed, err, sizeof(err))) {
		fprintf(stderr, "gpumux-engine: %s\n", err);
		return 1;
	}
	snprintf(path, sizeof(path), "%s/tokenizer.bin", out);
	if (gme_tokenizer_write(path, cfg.vocab_size, err, sizeof(err))) {
		fprintf(stderr, "gpumux-engine: %s\n", err);
		return 1;
	}
	printf("%s/model.bin: dim %d, hidden %d, %d layers, %d heads, %d kv heads, vocab %d, seq_len %d, %s classifier, seed %llu (%llu floats)\n"
	       "%s/tokenizer.bin: %d tokens\n",
	       out, cfg.dim, cfg.hidden_dim, cfg.n_layers, cfg.n_heads,
	       cfg.n_kv_heads, cfg.vocab_size, cfg.seq_len,
	       cfg.shared_classifier ? "shared" : "separate", seed,
	       (unsigned long long)gme_ckpt_floats(&cfg), out, cfg.vocab_size);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "model", required_argument, NULL, 'm' },
		{ "tokenizer", required_argument, NULL, 'z' },
		{ "prompt", required_argument, NULL, 'i' },
		{ "steps", required_argument, NULL, 'n' },
		{ "temperature", required_argument, NULL, 't' },
		{ "top-p", required_argument, NULL, 'p' },
		{ "seed", required_argument, NULL, 's' },
		{ "threads", required_argument, NULL, 'T' },
		{ "ids", no_argument, NULL, 'I' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	struct cli c = {
		.steps = 256,
		.temperature = 1.0f,
		.top_p = 0.9f,
		.seed = (unsigned long long)time(NULL),
	};
	long v;
	int opt;

	if (argc >= 2 && (!strcmp(argv[1], "--help") ||
			  !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))) {
		fputs(usage_text, stdout);
		return 0;
	}
	if (argc < 2)
		return usage_error("%s", "missing command");
	if (!strcmp(argv[1], "serve"))
		return serve(argc - 1, argv + 1);
	if (!strcmp(argv[1], "init-random"))
		return init_random(argc - 1, argv + 1);
	if (strcmp(argv[1], "generate"))
		return usage_error("unknown command '%s'", argv[1]);
	argv++;
	argc--;
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":m:z:i:n:t:p:s:T:h", opts,
				  NULL)) != -1) {
		switch (opt) {
		case 'm':
			c.model = optarg;
			break;
		case 'z':
			c.tokenizer = optarg;
			break;
		case 'i':
			c.prompt = optarg;
			break;
		case 'n':
			if (!cm_parse_long(optarg, 0, INT32_MAX, &c.steps))
				return usage_error("bad -n '%s'", optarg);
			break;
		case 't':
			if (!parse_float(optarg, 0.0f, 1e6f, &c.temperature))
				return usage_error("bad --temperature '%s'",
						   optarg);
			break;
		case 'p':
			if (!parse_float(optarg, 0.0f, 1.0f, &c.top_p))
				return usage_error("bad --top-p '%s' (0..1)",
						   optarg);
			break;
		case 's':
			if (!cm_parse_long(optarg, 1, LONG_MAX, &v))
				return usage_error("bad --seed '%s'", optarg);
			c.seed = v;
			break;
		case 'T':
			if (!cm_parse_long(optarg, 1, 1024, &v))
				return usage_error(
					"bad --threads '%s' (1..1024)", optarg);
			c.threads = v;
			break;
		case 'I':
			c.ids = true;
			break;
		default:
			return other_option(opt, argv);
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (!c.model)
		return usage_error("%s", "--model is required");
	return generate(&c);
}
