// SPDX-License-Identifier: GPL-2.0
/*
 * gpumux-gateway: the command line.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gateway.h"

static const char usage[] =
	"usage: gpumux-gateway --engine URL [--engine URL ...] [options]\n"
	"\n"
	"An OpenAI-compatible front door for gpumux engines: the engine's API\n"
	"(POST /v1/completions, streaming included; GET /v1/models, /health,\n"
	"/metrics), each request placed on an engine by a gpumux global\n"
	"scheduler policy from the loads the engines' /metrics show.\n"
	"\n"
	"    -e, --engine URL        an engine: http://HOST:PORT or unix:PATH\n"
	"                            (repeat for each, up to 64)\n"
	"    -l, --listen ADDR       HOST:PORT, [V6]:PORT or unix:PATH; port 0\n"
	"                            picks one (default 127.0.0.1:8080)\n"
	"    -p, --policy NAME       llumnix (default), roundrobin, leastload\n"
	"        --poll-ms N         poll each engine's /metrics every N ms (50)\n"
	"        --stale-ms N        an engine whose last poll is older gets\n"
	"                            nothing (default max(250, 5 x poll-ms))\n"
	"        --poll-timeout-ms N a poll that takes longer fails (1000)\n"
	"        --connect-timeout-ms N  (1000)\n"
	"        --upstream-timeout SEC  an engine silent this long has failed\n"
	"                            the request (600)\n"
	"        --queue-timeout-ms N  how long a request waits when every\n"
	"                            engine is busy or stale (5000), then 503\n"
	"        --max-body BYTES    larger request bodies get 413 (1 MiB)\n"
	"        --max-connections N (1024)\n"
	"        --drain-timeout SEC at SIGTERM, time in-flight requests get (10)\n"
	"        --admin             POST /admin/reattach (the migration hook)\n"
	"    -v, --verbose\n"
	"    -h, --help\n"
	"\n"
	"Prints \"gpumux-gateway: serving on ADDR (...)\" when ready.  Exit status:\n"
	"0 after SIGTERM/SIGINT, 1 runtime error, 2 bad usage.\n";

static int bad(const char *opt, const char *arg)
{
	fprintf(stderr, "gpumux-gateway: bad value '%s' for %s\n", arg, opt);
	return 2;
}

int main(int argc, char **argv)
{
	enum {
		O_POLL = 256,
		O_STALE,
		O_POLL_TIMEOUT,
		O_CONNECT_TIMEOUT,
		O_UPSTREAM_TIMEOUT,
		O_QUEUE_TIMEOUT,
		O_MAX_BODY,
		O_MAX_CONN,
		O_DRAIN,
		O_ADMIN,
	};
	static const struct option lopts[] = {
		{ "engine", required_argument, NULL, 'e' },
		{ "listen", required_argument, NULL, 'l' },
		{ "policy", required_argument, NULL, 'p' },
		{ "poll-ms", required_argument, NULL, O_POLL },
		{ "stale-ms", required_argument, NULL, O_STALE },
		{ "poll-timeout-ms", required_argument, NULL, O_POLL_TIMEOUT },
		{ "connect-timeout-ms", required_argument, NULL,
		  O_CONNECT_TIMEOUT },
		{ "upstream-timeout", required_argument, NULL,
		  O_UPSTREAM_TIMEOUT },
		{ "queue-timeout-ms", required_argument, NULL,
		  O_QUEUE_TIMEOUT },
		{ "max-body", required_argument, NULL, O_MAX_BODY },
		{ "max-connections", required_argument, NULL, O_MAX_CONN },
		{ "drain-timeout", required_argument, NULL, O_DRAIN },
		{ "admin", no_argument, NULL, O_ADMIN },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *engines[GW_MAX_ENGINES];
	struct gw_options o = {
		.listen = "127.0.0.1:8080",
		.engines = engines,
		.policy = "llumnix",
		.poll_ms = 50,
		.stale_ms = -1,
		.poll_timeout_ms = 1000,
		.connect_timeout_ms = 1000,
		.upstream_timeout_ms = 600 * 1000,
		.queue_timeout_ms = 5000,
		.max_body = 1 << 20,
		.max_connections = 1024,
		.drain_timeout = 10,
	};
	struct gw_endpoint ep;
	char err[320];
	long v;
	int c;

	while ((c = getopt_long(argc, argv, "e:l:p:vh", lopts, NULL)) != -1) {
		switch (c) {
		case 'e':
			if (gw_endpoint_parse(optarg, &ep, err, sizeof(err))) {
				fprintf(stderr, "gpumux-gateway: %s\n", err);
				return 2;
			}
			if (o.n_engines == GW_MAX_ENGINES) {
				fprintf(stderr,
					"gpumux-gateway: at most %d engines\n",
					GW_MAX_ENGINES);
				return 2;
			}
			engines[o.n_engines++] = optarg;
			break;
		case 'l':
			o.listen = optarg;
			break;
		case 'p':
			if (!gpumux_gsched_find(optarg)) {
				fprintf(stderr,
					"gpumux-gateway: no policy '%s' (llumnix, roundrobin, leastload)\n",
					optarg);
				return 2;
			}
			o.policy = optarg;
			break;
		case O_POLL:
			if (!cm_parse_long(optarg, 1, 60000, &v))
				return bad("--poll-ms", optarg);
			o.poll_ms = v;
			break;
		case O_STALE:
			if (!cm_parse_long(optarg, 1, 3600000, &v))
				return bad("--stale-ms", optarg);
			o.stale_ms = v;
			break;
		case O_POLL_TIMEOUT:
			if (!cm_parse_long(optarg, 1, 600000, &v))
				return bad("--poll-timeout-ms", optarg);
			o.poll_timeout_ms = v;
			break;
		case O_CONNECT_TIMEOUT:
			if (!cm_parse_long(optarg, 1, 600000, &v))
				return bad("--connect-timeout-ms", optarg);
			o.connect_timeout_ms = v;
			break;
		case O_UPSTREAM_TIMEOUT:
			if (!cm_parse_long(optarg, 1, 86400, &v))
				return bad("--upstream-timeout", optarg);
			o.upstream_timeout_ms = v * 1000;
			break;
		case O_QUEUE_TIMEOUT:
			if (!cm_parse_long(optarg, 0, 600000, &v))
				return bad("--queue-timeout-ms", optarg);
			o.queue_timeout_ms = v;
			break;
		case O_MAX_BODY:
			if (!cm_parse_long(optarg, 1, INT_MAX, &v))
				return bad("--max-body", optarg);
			o.max_body = v;
			break;
		case O_MAX_CONN:
			if (!cm_parse_long(optarg, 1, 65536, &v))
				return bad("--max-connections", optarg);
			o.max_connections = v;
			break;
		case O_DRAIN:
			if (!cm_parse_long(optarg, 0, 3600, &v))
				return bad("--drain-timeout", optarg);
			o.drain_timeout = v;
			break;
		case O_ADMIN:
			o.admin = true;
			break;
		case 'v':
			o.verbose = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return 0;
		default:
			fputs(usage, stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "gpumux-gateway: unexpected argument '%s'\n",
			argv[optind]);
		return 2;
	}
	if (!o.n_engines) {
		fprintf(stderr, "gpumux-gateway: give at least one --engine\n");
		fputs(usage, stderr);
		return 2;
	}
	if (o.stale_ms < 0)
		o.stale_ms = o.poll_ms * 5 > 250 ? o.poll_ms * 5 : 250;
	return gw_serve(&o);
}
