// SPDX-License-Identifier: GPL-2.0
/*
 * gpumuxctl: control gpumuxd over its D-Bus API, org.gpumux.Scheduler1
 * (daemon/org.gpumux.Scheduler1.xml).  See gpumuxctl(1).
 *
 * This file: the command line, errors and exit statuses, the connection,
 * TENANT arguments, attach and the admin verbs.  list.c has status,
 * tenants and gpus; watch.c has watch.
 */
#define _GNU_SOURCE /* asprintf, strchrnul */
#include "gpumuxctl.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool arg_json;
bool arg_legend = true;
const char *arg_address;
sd_bus *bus;

enum {
	ARG_JSON = 0x100,
	ARG_ADDRESS,
	ARG_NO_LEGEND,
	ARG_NAME,
	ARG_WEIGHT,
	ARG_MIN_CUS,
	ARG_MAX_CUS,
	ARG_PINNED_QUOTA,
	ARG_GPU,
	ARG_FD,
};

static const struct option global_options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "json", no_argument, NULL, ARG_JSON },
	{ "address", required_argument, NULL, ARG_ADDRESS },
	{ "no-legend", no_argument, NULL, ARG_NO_LEGEND },
	{}
};

static bool arg_help;

static void help(void)
{
	printf("Usage: gpumuxctl [OPTIONS...] COMMAND ...\n"
	       "\n"
	       "Control gpumuxd, the GPU sharing daemon (org.gpumux.Scheduler1).\n"
	       "\n"
	       "Commands:\n"
	       "  status                  GPUs, their CU use per tenant, counters (default)\n"
	       "  tenants                 list the tenants\n"
	       "  gpus                    list the GPUs\n"
	       "  attach --name NAME [--weight W] [--min-cus N] [--max-cus N]\n"
	       "         [--pinned-quota BYTES] [--gpu ID] [--fd N] -- COMMAND [ARGS...]\n"
	       "                          become a tenant and run COMMAND holding the lease\n"
	       "                          as fd N (default 3)\n"
	       "  partition TENANT GPU MASK\n"
	       "                          pin TENANT to the CUs in MASK (\"0-15,32-47\") of\n"
	       "                          GPU; MASK \"none\" gives it back to the policy\n"
	       "  weight TENANT W         set a tenant's weight (1..%u)\n"
	       "  limits TENANT MIN MAX   set a tenant's min and max CUs (MAX 0: no cap)\n"
	       "  fence TENANT            take every CU from a tenant\n"
	       "  unfence TENANT          lift a fence\n"
	       "  detach TENANT           end a tenant\n"
	       "  watch                   print events as they happen, until interrupted\n"
	       "  version                 print the versions of gpumuxctl and gpumuxd\n"
	       "\n"
	       "TENANT is a tenant's id, its object path, or its name.\n"
	       "BYTES takes the suffixes K, M, G, T, P, E (powers of 1024).\n"
	       "\n"
	       "Options:\n"
	       "  -h --help               show this help\n"
	       "     --json               machine-readable output (JSON)\n"
	       "     --address ADDR       connect to the bus at ADDR (default: the system\n"
	       "                          bus, or $DBUS_SYSTEM_BUS_ADDRESS)\n"
	       "     --no-legend          no table headers, footers or legends\n"
	       "\n"
	       "Exit status: 0 ok, 1 gpumuxd returned an error, 2 usage error,\n"
	       "3 gpumuxd not running or not reachable, 4 access denied.\n"
	       "See gpumuxctl(1).\n",
	       GM_WEIGHT_MAX);
}

int usage_error(const char *verb, const char *fmt, ...)
{
	va_list ap;

	fputs("gpumuxctl: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	if (verb)
		fprintf(stderr,
			"Try 'gpumuxctl --help' for the usage of '%s'.\n",
			verb);
	else
		fputs("Try 'gpumuxctl --help' for more information.\n", stderr);
	return CTL_EXIT_USAGE;
}

/* After getopt_long() returned '?': arg is the word it stopped at. */
static int unknown_option(const char *verb, const char *arg)
{
	if (arg[0] == '-' && arg[1] >= '0' && arg[1] <= '9')
		return usage_error(verb, "'%s': negative numbers are invalid",
				   arg);
	if (optopt && arg[1] != '-')
		return usage_error(verb, "unknown option '-%c'", optopt);
	return usage_error(verb, "unknown option '%s'", arg);
}

/*
 * A global option c from getopt_long(), anywhere in argv, for verb (NULL:
 * before the verb): 0, or the exit status of a bad option.
 */
static int global_option(int c, const char *verb, char **argv)
{
	switch (c) {
	case 'h':
		arg_help = true;
		return 0;
	case ARG_JSON:
		arg_json = true;
		return 0;
	case ARG_ADDRESS:
		arg_address = optarg;
		return 0;
	case ARG_NO_LEGEND:
		arg_legend = false;
		return 0;
	case ':':
		return usage_error(verb, "option '%s' needs an argument",
				   argv[optind - 1]);
	default:
		return unknown_option(verb, argv[optind - 1]);
	}
}

int fail(int r, const char *what)
{
	fprintf(stderr, "gpumuxctl: %s: %s\n", what, strerror(-r));
	return CTL_EXIT_ERROR;
}

int report_bus_error(const sd_bus_error *error, int r, const char *what)
{
	const char *name = NULL;
	int code, err = r < 0 ? -r : EIO;

	if (error && sd_bus_error_is_set(error)) {
		name = error->name;
		err = sd_bus_error_get_errno(error);
		if (err <= 0)
			err = r < 0 ? -r : EIO;
	}
	code = ctl_error_exit(name, err);
	if (name && strncmp(name, "System.Error.", 13))
		fprintf(stderr, "gpumuxctl: %s (%s)\n",
			error->message ? error->message : name,
			ctl_error_short(name));
	else
		fprintf(stderr, "gpumuxctl: %s: %s\n", what, strerror(err));

	if (code == CTL_EXIT_UNREACHABLE)
		fputs("gpumuxctl: is gpumuxd running? "
		      "See 'systemctl status gpumuxd'.\n",
		      stderr);
	else if (code == CTL_EXIT_DENIED)
		fputs("gpumuxctl: this needs authorization: run it as root, "
		      "or be allowed " GM_POLKIT_ACTION_MANAGE " by polkit.\n",
		      stderr);
	return code;
}

int bus_connect(void)
{
	int r;

	if (bus)
		return 0;
	if (arg_address) {
		r = sd_bus_new(&bus);
		if (r < 0)
			return fail(r, "cannot allocate a bus connection");
		r = sd_bus_set_address(bus, arg_address);
		if (r >= 0)
			r = sd_bus_set_bus_client(bus, 1);
		if (r >= 0)
			r = sd_bus_start(bus);
	} else {
		r = sd_bus_open_system(&bus);
	}
	if (r < 0) {
		bus = sd_bus_flush_close_unref(bus);
		if (r == -EINVAL && arg_address)
			return usage_error(NULL, "invalid bus address '%s'",
					   arg_address);
		fprintf(stderr, "gpumuxctl: cannot connect to the %s: %s\n",
			arg_address ? "bus" : "system bus", strerror(-r));
		return ctl_error_exit(NULL, -r);
	}
	/* Lets polkit ask for a password when there is someone to ask. */
	sd_bus_set_allow_interactive_authorization(bus, isatty(STDIN_FILENO));
	return 0;
}

/* Calls a Manager method; *reply may be NULL. */
static int manager_call(sd_bus_message **reply, const char *member,
			const char *types, ...)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	va_list ap;
	int r;

	r = bus_connect();
	if (r)
		return r;
	va_start(ap, types);
	r = sd_bus_call_methodv(bus, GM_BUS_NAME, GM_BUS_PATH,
				GM_BUS_IFACE_MANAGER, member, &error, reply,
				types, ap);
	va_end(ap);
	if (r < 0) {
		r = report_bus_error(&error, r, member);
		sd_bus_error_free(&error);
		return r;
	}
	return 0;
}

/*
 * TENANT: an id, an object path or a name (looked up with ListTenants;
 * a name more than one tenant has is a usage error).  *path is malloc'ed.
 */
static int resolve_tenant(const char *verb, const char *arg, char **path)
{
	sd_bus_message *reply = NULL;
	const char *tpath, *name, *found = NULL;
	uint32_t id, tid, u;
	int matches = 0, b, r;
	char ids[256] = "";
	size_t off = 0;

	switch (ctl_tenant_classify(arg, &id)) {
	case CTL_TENANT_ID:
		if (asprintf(path, GM_BUS_TENANT_PREFIX "/%u", id) < 0)
			return fail(-ENOMEM, "out of memory");
		return 0;
	case CTL_TENANT_PATH:
		*path = strdup(arg);
		return *path ? 0 : fail(-ENOMEM, "out of memory");
	case CTL_TENANT_NAME:
		break;
	default:
		return usage_error(
			verb, "'%s' is not a tenant id, object path or name",
			arg);
	}

	r = manager_call(&reply, "ListTenants", "");
	if (r)
		return r;
	r = sd_bus_message_enter_container(reply, 'a', "(uosuuuub)");
	while (r >= 0) {
		r = sd_bus_message_read(reply, "(uosuuuub)", &tid, &tpath,
					&name, &u, &u, &u, &u, &b);
		if (r <= 0)
			break;
		if (strcmp(name, arg))
			continue;
		matches++;
		found = tpath;
		if (off < sizeof(ids))
			off += (size_t)snprintf(ids + off, sizeof(ids) - off,
						"%s%u", matches > 1 ? ", " : "",
						tid);
	}
	if (r < 0) {
		sd_bus_message_unref(reply);
		return report_bus_error(NULL, r, "ListTenants reply");
	}
	if (matches == 1) {
		*path = strdup(found);
		sd_bus_message_unref(reply);
		return *path ? 0 : fail(-ENOMEM, "out of memory");
	}
	sd_bus_message_unref(reply);
	if (!matches) {
		fprintf(stderr, "gpumuxctl: no tenant is named '%s' (%s)\n",
			arg, ctl_error_short(GM_ERROR_NO_SUCH_TENANT));
		return CTL_EXIT_ERROR;
	}
	return usage_error(verb,
			   "%d tenants are named '%s' (ids %s): give an id",
			   matches, arg, ids);
}

static int parse_u32_arg(const char *verb, const char *what, const char *s,
			 uint32_t *v)
{
	int r = ctl_parse_u32(s, v);

	if (r == -ERANGE)
		return usage_error(verb, "%s '%s' is out of range", what, s);
	if (r)
		return usage_error(verb, "%s '%s' is not a number", what, s);
	return 0;
}

/* --- admin verbs --- */

static int verb_partition(int argc, char **argv)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	sd_bus_message *m = NULL;
	struct mask mask;
	char *path = NULL;
	uint32_t gpu;
	int r;

	(void)argc;
	r = parse_u32_arg(argv[0], "GPU", argv[2], &gpu);
	if (r)
		return r;
	r = ctl_mask_parse(argv[3], mask.bits, &mask.len);
	if (r == -ERANGE)
		return usage_error(argv[0], "CU mask '%s': CUs are 0..%u",
				   argv[3], CTL_MAX_CUS - 1);
	if (r)
		return usage_error(
			argv[0],
			"bad CU mask '%s': expected CUs and ranges like \"0-15,32-47\", or \"none\"",
			argv[3]);
	r = bus_connect();
	if (r)
		return r;
	r = resolve_tenant(argv[0], argv[1], &path);
	if (r)
		return r;

	r = sd_bus_message_new_method_call(bus, &m, GM_BUS_NAME, GM_BUS_PATH,
					   GM_BUS_IFACE_MANAGER,
					   "SetPartition");
	if (r >= 0)
		r = sd_bus_message_append(m, "ou", path, gpu);
	if (r >= 0)
		r = sd_bus_message_append_array(m, 'y', mask.bits, mask.len);
	if (r < 0) {
		r = fail(r, "cannot build SetPartition");
		goto out;
	}
	r = sd_bus_call(bus, m, 0, &error, NULL);
	r = r < 0 ? report_bus_error(&error, r, "SetPartition") : 0;
out:
	sd_bus_error_free(&error);
	sd_bus_message_unref(m);
	free(path);
	return r;
}

static int verb_weight(int argc, char **argv)
{
	uint32_t w;
	char *path;
	int r;

	(void)argc;
	r = parse_u32_arg(argv[0], "weight", argv[2], &w);
	if (!r)
		r = resolve_tenant(argv[0], argv[1], &path);
	if (r)
		return r;
	r = manager_call(NULL, "SetWeight", "ou", path, w);
	free(path);
	return r;
}

static int verb_limits(int argc, char **argv)
{
	uint32_t min, max;
	char *path;
	int r;

	(void)argc;
	r = parse_u32_arg(argv[0], "MIN", argv[2], &min);
	if (!r)
		r = parse_u32_arg(argv[0], "MAX", argv[3], &max);
	if (!r)
		r = resolve_tenant(argv[0], argv[1], &path);
	if (r)
		return r;
	r = manager_call(NULL, "SetLimits", "ouu", path, min, max);
	free(path);
	return r;
}

static int verb_fence(int argc, char **argv)
{
	char *path;
	int r;

	(void)argc;
	r = resolve_tenant(argv[0], argv[1], &path);
	if (r)
		return r;
	r = manager_call(NULL, "Fence", "ob", path,
			 strcmp(argv[0], "unfence") != 0);
	free(path);
	return r;
}

static int verb_detach(int argc, char **argv)
{
	char *path;
	int r;

	(void)argc;
	r = resolve_tenant(argv[0], argv[1], &path);
	if (r)
		return r;
	r = manager_call(NULL, "Detach", "o", path);
	free(path);
	return r;
}

/* --- version --- */

static int verb_version(int argc, char **argv)
{
	sd_bus_error error = SD_BUS_ERROR_NULL;
	sd_bus_message *m = NULL, *reply = NULL;
	const char *version = NULL;
	int r;

	(void)argc;
	(void)argv;
	/* The daemon's version if it runs; never starts it. */
	if (!bus_connect()) {
		r = sd_bus_message_new_method_call(bus, &m, GM_BUS_NAME,
						   GM_BUS_PATH,
						   PROPERTIES_IFACE, "Get");
		if (r >= 0)
			r = sd_bus_message_append(m, "ss", GM_BUS_IFACE_MANAGER,
						  "Version");
		if (r >= 0)
			r = sd_bus_message_set_auto_start(m, 0);
		if (r >= 0)
			r = sd_bus_call(bus, m, 0, &error, &reply);
		if (r >= 0)
			r = sd_bus_message_read(reply, "v", "s", &version);
		if (r < 0)
			version = NULL;
	}

	if (arg_json) {
		struct ctl_json j;

		ctl_json_init(&j, stdout);
		ctl_json_begin_object(&j);
		ctl_json_key(&j, "gpumuxctl");
		ctl_json_string(&j, GPUMUXCTL_VERSION);
		ctl_json_key(&j, "gpumuxd");
		if (version)
			ctl_json_string(&j, version);
		else
			ctl_json_null(&j);
		ctl_json_end_object(&j);
		r = ctl_json_finish(&j);
	} else {
		printf("gpumuxctl %s\n", GPUMUXCTL_VERSION);
		if (version)
			printf("gpumuxd %s\n", version);
		else
			printf("gpumuxd not reachable%s%s\n",
			       sd_bus_error_is_set(&error) ? ": " : "",
			       sd_bus_error_is_set(&error) ? error.message :
							     "");
		r = 0;
	}
	sd_bus_error_free(&error);
	sd_bus_message_unref(reply);
	sd_bus_message_unref(m);
	return r ? fail(r, "cannot write the output") : 0;
}

/* --- attach --- */

/*
 * Where execvp() would find cmd: a malloc'ed path, or NULL with errno set
 * (ENOENT: not found; EACCES: found but not executable).
 */
static char *find_command(const char *cmd)
{
	const char *p, *end, *env = getenv("PATH");
	int err = ENOENT;
	struct stat st;
	char *path;

	if (strchr(cmd, '/')) {
		if (access(cmd, X_OK))
			return NULL;
		return strdup(cmd);
	}
	if (!env)
		env = "/usr/local/bin:/usr/bin:/bin";
	for (p = env;; p = end + 1) {
		size_t n;

		end = strchrnul(p, ':');
		n = (size_t)(end - p);
		if (asprintf(&path, "%.*s%s%s", (int)n, p, n ? "/" : "", cmd) <
		    0)
			return NULL;
		if (!stat(path, &st) && S_ISREG(st.st_mode)) {
			if (!access(path, X_OK))
				return path;
			err = EACCES;
		}
		free(path);
		if (!*end)
			break;
	}
	errno = err;
	return NULL;
}

struct attach_opts {
	const char *name;
	bool weight_set, min_set, max_set, quota_set, gpu_set;
	uint32_t weight, min_cus, max_cus, gpu;
	uint64_t quota;
	int fd;
};

static int append_u32(sd_bus_message *m, const char *key, uint32_t v)
{
	return sd_bus_message_append(m, "{sv}", key, "u", v);
}

static int build_attach(sd_bus_message *m, const struct attach_opts *o)
{
	int r;

	r = sd_bus_message_open_container(m, 'a', "{sv}");
	if (r >= 0)
		r = sd_bus_message_append(m, "{sv}", GM_OPT_NAME, "s", o->name);
	if (r >= 0 && o->weight_set)
		r = append_u32(m, GM_OPT_WEIGHT, o->weight);
	if (r >= 0 && o->min_set)
		r = append_u32(m, GM_OPT_MIN_CUS, o->min_cus);
	if (r >= 0 && o->max_set)
		r = append_u32(m, GM_OPT_MAX_CUS, o->max_cus);
	if (r >= 0 && o->quota_set)
		r = sd_bus_message_append(m, "{sv}", GM_OPT_PINNED_QUOTA, "t",
					  o->quota);
	if (r >= 0 && o->gpu_set)
		r = append_u32(m, GM_OPT_GPU, o->gpu);
	if (r >= 0)
		r = sd_bus_message_close_container(m);
	return r;
}

static int parse_attach(int argc, char **argv, struct attach_opts *o)
{
	static const struct option options[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "json", no_argument, NULL, ARG_JSON },
		{ "address", required_argument, NULL, ARG_ADDRESS },
		{ "no-legend", no_argument, NULL, ARG_NO_LEGEND },
		{ "name", required_argument, NULL, ARG_NAME },
		{ "weight", required_argument, NULL, ARG_WEIGHT },
		{ "min-cus", required_argument, NULL, ARG_MIN_CUS },
		{ "max-cus", required_argument, NULL, ARG_MAX_CUS },
		{ "pinned-quota", required_argument, NULL, ARG_PINNED_QUOTA },
		{ "gpu", required_argument, NULL, ARG_GPU },
		{ "fd", required_argument, NULL, ARG_FD },
		{}
	};
	uint32_t fd;
	int c, r;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", options, NULL)) >= 0) {
		r = 0;
		switch (c) {
		case ARG_NAME:
			if (!*optarg || strlen(optarg) > GM_NAME_MAX)
				return usage_error("attach",
						   "--name: 1 to %d characters",
						   GM_NAME_MAX);
			o->name = optarg;
			break;
		case ARG_WEIGHT:
			r = parse_u32_arg("attach", "--weight", optarg,
					  &o->weight);
			o->weight_set = true;
			break;
		case ARG_MIN_CUS:
			r = parse_u32_arg("attach", "--min-cus", optarg,
					  &o->min_cus);
			o->min_set = true;
			break;
		case ARG_MAX_CUS:
			r = parse_u32_arg("attach", "--max-cus", optarg,
					  &o->max_cus);
			o->max_set = true;
			break;
		case ARG_PINNED_QUOTA:
			r = ctl_parse_bytes(optarg, &o->quota);
			if (r == -ERANGE)
				return usage_error(
					"attach",
					"--pinned-quota '%s' is too large",
					optarg);
			if (r)
				return usage_error(
					"attach",
					"--pinned-quota '%s': expected bytes, e.g. 512M or 4G",
					optarg);
			o->quota_set = true;
			break;
		case ARG_GPU:
			r = parse_u32_arg("attach", "--gpu", optarg, &o->gpu);
			o->gpu_set = true;
			break;
		case ARG_FD:
			r = parse_u32_arg("attach", "--fd", optarg, &fd);
			if (!r && (fd < 3 || fd > INT16_MAX))
				return usage_error("attach",
						   "--fd %s: expected 3..%d",
						   optarg, INT16_MAX);
			o->fd = (int)fd;
			break;
		default:
			r = global_option(c, "attach", argv);
			break;
		}
		if (r)
			return r;
	}
	return 0;
}

/*
 * attach: Attach, then exec COMMAND in place of gpumuxctl with the lease
 * as fd N.  The process that holds the lease is the command itself: when
 * it exits the lease is closed and the tenant ends; its exit status is
 * the command's.
 */
static int verb_attach(int argc, char **argv)
{
	struct attach_opts o = { .fd = 3 };
	sd_bus_error error = SD_BUS_ERROR_NULL;
	sd_bus_message *m = NULL, *reply = NULL;
	char *cmd = NULL, *tenant = NULL, buf[16];
	const char *path;
	int r, fd, lease = -1;

	r = parse_attach(argc, argv, &o);
	if (r || arg_help)
		return r;
	if (!o.name)
		return usage_error("attach", "attach needs --name NAME");
	if (optind >= argc)
		return usage_error(
			"attach",
			"attach needs a command to run: attach --name NAME -- COMMAND [ARGS...]");

	cmd = find_command(argv[optind]);
	if (!cmd) {
		r = errno;
		fprintf(stderr, "gpumuxctl: %s: %s\n", argv[optind],
			r == ENOENT ? "command not found" : strerror(r));
		return r == ENOENT ? 127 : 126;
	}

	r = bus_connect();
	if (r)
		goto out;
	r = sd_bus_message_new_method_call(bus, &m, GM_BUS_NAME, GM_BUS_PATH,
					   GM_BUS_IFACE_MANAGER, "Attach");
	if (r >= 0)
		r = build_attach(m, &o);
	if (r < 0) {
		r = fail(r, "cannot build Attach");
		goto out;
	}
	r = sd_bus_call(bus, m, 0, &error, &reply);
	if (r < 0) {
		r = report_bus_error(&error, r, "Attach");
		goto out;
	}
	r = sd_bus_message_read(reply, "oh", &path, &fd);
	if (r < 0) {
		r = report_bus_error(NULL, r, "Attach reply");
		goto out;
	}
	tenant = strdup(path);
	/* The reply owns fd: take a copy, then drop the reply and the bus. */
	lease = fcntl(fd, F_DUPFD_CLOEXEC, 3);
	if (!tenant || lease < 0) {
		r = fail(tenant ? -errno : -ENOMEM, "cannot keep the lease");
		goto out;
	}
	reply = sd_bus_message_unref(reply);
	m = sd_bus_message_unref(m);
	bus = sd_bus_flush_close_unref(bus);

	if (lease == o.fd) {
		r = fcntl(lease, F_SETFD, 0);
	} else {
		r = dup2(lease, o.fd);
		close(lease);
	}
	lease = -1;
	if (r < 0) {
		r = fail(-errno, "cannot pass the lease");
		goto out;
	}
	snprintf(buf, sizeof(buf), "%d", o.fd);
	if (setenv("GPUMUX_LEASE_FD", buf, 1) ||
	    setenv("GPUMUX_TENANT", tenant, 1)) {
		r = fail(-errno, "cannot set the environment");
		goto out;
	}
	fflush(NULL);
	execv(cmd, argv + optind);
	r = errno;
	fprintf(stderr, "gpumuxctl: cannot run %s: %s\n", argv[optind],
		strerror(r));
	r = r == ENOENT ? 127 : 126;
out:
	if (lease >= 0)
		close(lease);
	sd_bus_error_free(&error);
	sd_bus_message_unref(reply);
	sd_bus_message_unref(m);
	free(tenant);
	free(cmd);
	return r;
}

/* --- the command line --- */

struct verb {
	const char *name;
	const char *args; /* the usage after the name */
	int min_args, max_args; /* positional, after the name */
	int (*run)(int argc, char **argv);
};

static const struct verb verbs[] = {
	{ "status", "", 0, 0, verb_status },
	{ "tenants", "", 0, 0, verb_tenants },
	{ "gpus", "", 0, 0, verb_gpus },
	{ "attach", "--name NAME [OPTIONS] -- COMMAND [ARGS...]", -1, -1,
	  verb_attach },
	{ "partition", "TENANT GPU MASK", 3, 3, verb_partition },
	{ "weight", "TENANT W", 2, 2, verb_weight },
	{ "limits", "TENANT MIN MAX", 3, 3, verb_limits },
	{ "fence", "TENANT", 1, 1, verb_fence },
	{ "unfence", "TENANT", 1, 1, verb_fence },
	{ "detach", "TENANT", 1, 1, verb_detach },
	{ "watch", "", 0, 0, verb_watch },
	{ "version", "", 0, 0, verb_version },
};

/* Global options anywhere among a verb's arguments (but after "--"). */
static int parse_verb_args(const struct verb *v, int argc, char **argv,
			   int *nargs)
{
	int c, r;

	optind = 0;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", global_options, NULL)) >= 0) {
		r = global_option(c, v->name, argv);
		if (r)
			return r;
	}
	*nargs = argc - optind;
	if (arg_help)
		return 0;
	if (*nargs < v->min_args || *nargs > v->max_args) {
		fprintf(stderr, "gpumuxctl: %s: %s arguments\n", v->name,
			*nargs < v->min_args ? "missing" : "too many");
		fprintf(stderr, "Usage: gpumuxctl %s%s%s\n", v->name,
			*v->args ? " " : "", v->args);
		return CTL_EXIT_USAGE;
	}
	return 0;
}

int main(int argc, char *argv[])
{
	const struct verb *v = NULL;
	int c, r, nargs = 0;
	size_t i;

	opterr = 0;
	while ((c = getopt_long(argc, argv, "+:h", global_options, NULL)) >=
	       0) {
		r = global_option(c, NULL, argv);
		if (r)
			return r;
	}
	if (arg_help) {
		help();
		return 0;
	}

	if (optind < argc && !strcmp(argv[optind], "help")) {
		help();
		return 0;
	}
	if (optind >= argc) {
		v = &verbs[0];
	} else {
		for (i = 0; i < ARRAY_SIZE(verbs); i++)
			if (!strcmp(argv[optind], verbs[i].name))
				v = &verbs[i];
		if (!v)
			return usage_error(NULL, "unknown command '%s'",
					   argv[optind]);
	}

	/* Unbuffered-ish output for pipes: watch prints as events come. */
	setvbuf(stdout, NULL, _IOLBF, 0);

	if (optind >= argc) {
		argc = 1;
		argv = (char *[]){ "status", NULL };
	} else {
		argc -= optind;
		argv += optind;
	}
	if (v->min_args < 0) {
		r = v->run(argc, argv);
	} else {
		r = parse_verb_args(v, argc, argv, &nargs);
		if (r)
			goto out;
		if (arg_help) {
			help();
			goto out;
		}
		/* The arguments left after the options, verb name first. */
		argv += optind - 1;
		argv[0] = (char *)v->name;
		r = v->run(nargs + 1, argv);
	}
	if (!r && arg_help)
		help();
out:
	bus = sd_bus_flush_close_unref(bus);
	return r;
}
