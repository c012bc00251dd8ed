// SPDX-License-Identifier: GPL-2.0
/*
 * gpumuxd: main, the context, the event loop.  See gpumuxd.h for the parts
 * and gpumuxd(8) for the options.
 */
#include "gpumuxd.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <systemd/sd-daemon.h>

#include "bus-api.h"

bool gm_verbose;

void gm_log(int prio, const char *fmt, ...)
{
	va_list ap;

	static int journal = -1;

	/* Under systemd, "<N>" prefixes file each line at its priority. */
	if (journal < 0)
		journal = getenv("JOURNAL_STREAM") != NULL;
	if (journal)
		fprintf(stderr, "<%d>", prio);
	else
		fprintf(stderr, "gpumuxd: %s",
			prio <= 3 ? "error: " :
			prio == 4 ? "warning: " :
				    "");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int on_kmod(sd_event_source *s, int fd, uint32_t revents, void *data)
{
	struct gm_ctx *ctx = data;
	int n, ret;

	(void)s;
	(void)fd;
	(void)revents;
	n = gm_kmod_reap(&ctx->kmod);
	if (n < 0 && n != -ECANCELED) {
		gm_warn("module event fetch: %s", strerror(-n));
		/* A fetch that fails at once, again and again: give up. */
		if (++ctx->fetch_failures > 20) {
			gm_err("module event fetch keeps failing: exiting");
			return sd_event_exit(ctx->event, EXIT_FAILURE);
		}
	} else {
		ctx->fetch_failures = 0;
	}
	if (n > 0)
		gm_handle_events(ctx, ctx->kmod.events, (size_t)n);
	ret = gm_kmod_arm(&ctx->kmod);
	if (ret < 0) {
		gm_err("arming the module event fetch: %s: exiting",
		       strerror(-ret));
		return sd_event_exit(ctx->event, EXIT_FAILURE);
	}
	return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si,
		     void *data)
{
	struct gm_ctx *ctx = data;

	(void)s;
	gm_info("signal %u: stopping", si->ssi_signo);
	sd_notify(0, "STOPPING=1");
	return sd_event_exit(ctx->event, 0);
}

static void notify_status(struct gm_ctx *ctx)
{
	size_t i, live = 0;

	for (i = 0; i < ctx->nr_tenants; i++)
		live += !ctx->tenants[i]->detached;
	sd_notifyf(0, "STATUS=%zu tenant(s) on %zu GPU(s), policy %s", live,
		   ctx->nr_gpus, ctx->policy.ops->name);
}

static int on_status_timer(sd_event_source *s, uint64_t usec, void *data)
{
	notify_status(data);
	sd_event_source_set_time(s, usec + 5 * 1000000ULL);
	return 0;
}

static void ctx_free(struct gm_ctx *ctx)
{
	size_t i;

	gm_auth_cancel_all(ctx);
	if (ctx->bus) {
		sd_bus_flush(ctx->bus);
		sd_bus_flush_close_unref(ctx->bus);
	}
	sd_event_source_unref(ctx->kmod_src);
	sd_event_source_unref(ctx->rebalance_timer);
	gm_kmod_close(&ctx->kmod);
	if (ctx->policy.ops)
		gpumux_policy_fini(&ctx->policy);
	for (i = 0; i < ctx->nr_tenants; i++)
		free(ctx->tenants[i]);
	free(ctx->tenants);
	free(ctx->parts);
	free(ctx->gpus);
	sd_event_unref(ctx->event);
}

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: gpumuxd [OPTIONS]\n"
		"The gpumux scheduler daemon: serves org.gpumux.Scheduler1 on the system bus\n"
		"(DBUS_SYSTEM_BUS_ADDRESS selects another bus) and drives /dev/gpumux.\n\n"
		"  -c, --config FILE     configuration (default /etc/gpumux/gpumuxd.conf)\n"
		"  -d, --device PATH     the module's control file (default /dev/gpumux)\n"
		"  -s, --state-dir DIR   tenant metadata kept across restarts (default /run/gpumux)\n"
		"  -p, --policy NAME     CU policy, overrides the configuration\n"
		"      --no-drm          do not discover GPUs with libdrm\n"
		"      --list-policies   print the policies and exit\n"
		"  -v, --verbose         debug messages\n"
		"  -V, --version         print the version and exit\n"
		"  -h, --help            this text\n");
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "device", required_argument, NULL, 'd' },
		{ "state-dir", required_argument, NULL, 's' },
		{ "policy", required_argument, NULL, 'p' },
		{ "no-drm", no_argument, NULL, 'D' },
		{ "list-policies", no_argument, NULL, 'L' },
		{ "verbose", no_argument, NULL, 'v' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	struct gm_ctx ctx = {
		.config_path = "/etc/gpumux/gpumuxd.conf",
		.device = "/dev/gpumux",
		.state_dir = "/run/gpumux",
	};
	const char *policy = NULL;
	sd_event_source *status = NULL;
	bool no_drm = false;
	char err[512];
	sigset_t mask;
	uint64_t now;
	int c, ret;
	size_t i;

	ctx.kmod.fd = ctx.kmod.efd = -1;
	while ((c = getopt_long(argc, argv, "c:d:s:p:vVh", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			ctx.config_path = optarg;
			break;
		case 'd':
			ctx.device = optarg;
			break;
		case 's':
			ctx.state_dir = optarg;
			break;
		case 'p':
			policy = optarg;
			break;
		case 'D':
			no_drm = true;
			break;
		case 'L':
			for (i = 0; gpumux_policy_nth(i); i++)
				printf("%-12s %s\n", gpumux_policy_nth(i)->name,
				       gpumux_policy_nth(i)->description);
			return 0;
		case 'v':
			gm_verbose = true;
			break;
		case 'V':
			printf("gpumuxd %s\n", GPUMUXD_VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "gpumuxd: unexpected argument '%s'\n",
			argv[optind]);
		usage(stderr);
		return 2;
	}

	gm_config_defaults(&ctx.conf);
	ret = gm_config_load(&ctx.conf, ctx.config_path, err, sizeof(err));
	if (ret < 0) {
		gm_err("%s: %s", ctx.config_path, err);
		return 1;
	}
	if (no_drm)
		ctx.conf.drm = false;
	if (policy)
		snprintf(ctx.conf.policy, sizeof(ctx.conf.policy), "%s",
			 policy);
	ret = gpumux_policy_init(&ctx.policy, ctx.conf.policy);
	if (ret < 0) {
		gm_err("policy '%s': %s (--list-policies lists them)",
		       ctx.conf.policy, strerror(-ret));
		return 1;
	}

	ret = gm_kmod_open(&ctx.kmod, ctx.device);
	if (ret < 0) {
		gm_err("%s: %s%s", ctx.device, strerror(-ret),
		       ret == -ENOENT ? " (is gpumux.ko loaded?)" :
		       ret == -EPROTONOSUPPORT ?
					" (module uapi version differs)" :
					"");
		goto out;
	}
	gm_info("gpumuxd %s: module uapi %u, features 0x%llx, policy %s",
		GPUMUXD_VERSION, ctx.kmod.info.version,
		(unsigned long long)ctx.kmod.info.features,
		ctx.policy.ops->name);

	ret = sd_event_default(&ctx.event);
	if (ret < 0)
		goto out;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	if ((ret = sd_event_add_signal(ctx.event, NULL, SIGTERM, on_signal,
				       &ctx)) < 0 ||
	    (ret = sd_event_add_signal(ctx.event, NULL, SIGINT, on_signal,
				       &ctx)) < 0)
		goto out;
	/* Pings the watchdog itself when WATCHDOG_USEC is set. */
	sd_event_set_watchdog(ctx.event, true);

	/*
	 * The name first: a second daemon stops here, before it touches the
	 * module or the state file.  Calls wait in the queue until the loop
	 * runs, after the adoption.
	 */
	ret = gm_bus_setup(&ctx);
	if (ret < 0)
		goto out;
	ret = gm_gpus_setup(&ctx);
	if (ret < 0) {
		gm_err("no GPU could be registered: %s", strerror(-ret));
		goto out;
	}
	ret = gm_adopt(&ctx);
	if (ret < 0) {
		gm_err("reading the module's tenants: %s", strerror(-ret));
		goto out;
	}
	ret = sd_event_add_io(ctx.event, &ctx.kmod_src, ctx.kmod.efd, EPOLLIN,
			      on_kmod, &ctx);
	if (ret < 0)
		goto out;
	ret = gm_kmod_arm(&ctx.kmod);
	if (ret < 0) {
		gm_err("arming the module event fetch: %s", strerror(-ret));
		goto out;
	}
	/* Adopted tenants get their shares (unchanged ones are not moved). */
	gm_rebalance(&ctx);

	sd_event_now(ctx.event, CLOCK_MONOTONIC, &now);
	sd_event_add_time(ctx.event, &status, CLOCK_MONOTONIC, now, 0,
			  on_status_timer, &ctx);
	if (status)
		sd_event_source_set_enabled(status, SD_EVENT_ON);
	gm_info("serving %s: %zu GPU(s), %zu tenant(s) adopted", GM_BUS_NAME,
		ctx.nr_gpus, (size_t)ctx.counters.adopted);
	sd_notify(0, "READY=1");
	notify_status(&ctx);

	ret = sd_event_loop(ctx.event);
	if (ret < 0)
		gm_err("event loop: %s", strerror(-ret));
	else if (ret)
		ret = -EIO;
	gm_state_save(&ctx);
out:
	sd_event_source_unref(status);
	ctx_free(&ctx);
	return ret < 0 ? 1 : 0;
}
