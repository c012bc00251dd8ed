// SPDX-License-Identifier: GPL-2.0
/*
 * gpumuxctl watch: one line per event of gpumuxd, as it happens: the
 * Manager's signals (TenantAttached, PartitionChanged, TenantGone),
 * PropertiesChanged of every object under /org/gpumux/Scheduler1, and the
 * daemon coming and going (NameOwnerChanged).  Human lines are
 * "TIME EVENT key=value..."; with --json each line is one JSON object.
 * Runs until SIGINT or SIGTERM (exit 0) or until the bus goes away (3).
 */
#include "gpumuxctl.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <systemd/sd-event.h>
#include <time.h>

/* One event being printed. */
struct ev {
	struct ctl_json j;
};

static void ev_begin(struct ev *e, const char *event)
{
	struct timespec ts;
	struct tm tm;
	char buf[64];

	clock_gettime(CLOCK_REALTIME, &ts);
	if (arg_json) {
		ctl_json_init(&e->j, stdout);
		ctl_json_begin_object(&e->j);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(buf + strlen(buf), sizeof(buf) - strlen(buf),
			 ".%06ldZ", ts.tv_nsec / 1000);
		ctl_json_key(&e->j, "time");
		ctl_json_string(&e->j, buf);
		ctl_json_key(&e->j, "usec");
		ctl_json_u64(&e->j, (uint64_t)ts.tv_sec * 1000000 +
					    (uint64_t)ts.tv_nsec / 1000);
		ctl_json_key(&e->j, "event");
		ctl_json_string(&e->j, event);
	} else {
		localtime_r(&ts.tv_sec, &tm);
		strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
		printf("%s.%03ld %s", buf, ts.tv_nsec / 1000000, event);
	}
}

static void ev_end(struct ev *e)
{
	if (arg_json) {
		ctl_json_end_object(&e->j);
		if (ctl_json_finish(&e->j))
			fputs("gpumuxctl: bad JSON event dropped\n", stderr);
	} else {
		putchar('\n');
	}
	fflush(stdout);
}

static void ev_key(struct ev *e, const char *key)
{
	if (arg_json)
		ctl_json_key(&e->j, key);
	else
		printf(" %s=", key);
}

static void ev_str(struct ev *e, const char *key, const char *v)
{
	ev_key(e, key);
	if (arg_json)
		ctl_json_string(&e->j, v);
	else
		ctl_json_escape(stdout, v);
}

/* A word: unquoted in human lines (paths, reasons, masks). */
static void ev_word(struct ev *e, const char *key, const char *v)
{
	ev_key(e, key);
	if (arg_json)
		ctl_json_string(&e->j, v);
	else
		fputs(v, stdout);
}

static void ev_u64(struct ev *e, const char *key, uint64_t v)
{
	ev_key(e, key);
	if (arg_json)
		ctl_json_u64(&e->j, v);
	else
		printf("%llu", (unsigned long long)v);
}

/*
 * A signal's tenant argument: the path (key "tenant", as the signal
 * argument is named) and its id ("tenant_id") in JSON; tenant=ID in
 * human lines.
 */
static void ev_tenant(struct ev *e, const char *path)
{
	uint32_t id = ctl_path_id(path, GM_BUS_TENANT_PREFIX);

	if (arg_json) {
		ev_word(e, "tenant", path);
		ev_u64(e, "tenant_id", id);
	} else if (id) {
		ev_u64(e, "tenant", id);
	} else {
		ev_word(e, "tenant", path);
	}
}

/* The object that sent PropertiesChanged: tenant=N, gpu=N or object=. */
static void ev_object(struct ev *e, const char *path)
{
	uint32_t id = 0;

	if (!arg_json) {
		id = ctl_path_id(path, GM_BUS_TENANT_PREFIX);
		if (id) {
			ev_u64(e, "tenant", id);
			return;
		}
		id = ctl_path_id(path, GM_BUS_GPU_PREFIX);
		if (id) {
			ev_u64(e, "gpu", id);
			return;
		}
	}
	ev_word(e, "object", path);
}

static void ev_mask(struct ev *e, const char *key, const void *bits, size_t len)
{
	char *s = ctl_mask_to_string(bits, len);

	ev_word(e, key, s ? s : "?");
	free(s);
}

/* --- any D-Bus value, for PropertiesChanged and unknown signals --- */

static bool is_basic(char type)
{
	return type && strchr("ynqiuxtdbsogh", type);
}

/* A basic value as text: numbers, true/false, strings as they are. */
static void basic_text(char type, const union bus_basic *v, char *buf,
		       size_t size)
{
	switch (type) {
	case 'y':
		snprintf(buf, size, "%u", v->y);
		break;
	case 'n':
		snprintf(buf, size, "%d", v->n);
		break;
	case 'q':
		snprintf(buf, size, "%u", v->q);
		break;
	case 'i':
	case 'h':
		snprintf(buf, size, "%d", v->i);
		break;
	case 'u':
		snprintf(buf, size, "%u", v->u);
		break;
	case 'x':
		snprintf(buf, size, "%lld", (long long)v->x);
		break;
	case 't':
		snprintf(buf, size, "%llu", (unsigned long long)v->t);
		break;
	case 'd':
		snprintf(buf, size, "%g", v->d);
		break;
	case 'b':
		snprintf(buf, size, "%s", v->b ? "true" : "false");
		break;
	default:
		buf[0] = '\0';
		break;
	}
}

static void basic_json(struct ctl_json *j, char type, const union bus_basic *v)
{
	switch (type) {
	case 'y':
		ctl_json_u64(j, v->y);
		break;
	case 'n':
		ctl_json_i64(j, v->n);
		break;
	case 'q':
		ctl_json_u64(j, v->q);
		break;
	case 'i':
	case 'h':
		ctl_json_i64(j, v->i);
		break;
	case 'u':
		ctl_json_u64(j, v->u);
		break;
	case 'x':
		ctl_json_i64(j, v->x);
		break;
	case 't':
		ctl_json_u64(j, v->t);
		break;
	case 'd':
		ctl_json_double(j, v->d);
		break;
	case 'b':
		ctl_json_bool(j, v->b);
		break;
	default:
		ctl_json_string(j, v->s);
		break;
	}
}

static void basic_out(struct ev *e, char type, const union bus_basic *v)
{
	char buf[64];

	if (arg_json) {
		basic_json(&e->j, type, v);
	} else if (type == 's') {
		ctl_json_escape(stdout, v->s);
	} else if (type == 'o' || type == 'g') {
		fputs(v->s, stdout);
	} else {
		basic_text(type, v, buf, sizeof(buf));
		fputs(buf, stdout);
	}
}

/*
 * Writes the next value of m (any type).  A byte array is a CU mask (as
 * "0-15") when as_mask, else a list of numbers.  Dictionaries are JSON
 * objects (keys as strings), structs and arrays JSON arrays; in human lines
 * the same with [], {} and k=v.
 */
static int value_out(struct ev *e, sd_bus_message *m, bool as_mask)
{
	const char *contents;
	union bus_basic v;
	bool dict, first = true;
	char type, ctype;
	int r;

	r = sd_bus_message_peek_type(m, &type, &contents);
	if (r <= 0)
		return r < 0 ? r : -EBADMSG;
	if (is_basic(type)) {
		r = sd_bus_message_read_basic(m, type, &v);
		if (r < 0)
			return r;
		basic_out(e, type, &v);
		return 0;
	}
	if (type == 'a' && !strcmp(contents, "y")) {
		const uint8_t *bytes;
		size_t n, i;

		r = sd_bus_message_read_array(m, 'y', (const void **)&bytes,
					      &n);
		if (r < 0)
			return r;
		if (as_mask) {
			char *s = ctl_mask_to_string(
				bytes, n < CTL_MASK_BYTES ? n : CTL_MASK_BYTES);

			if (arg_json)
				ctl_json_string(&e->j, s ? s : "?");
			else
				fputs(s ? s : "?", stdout);
			free(s);
			return 0;
		}
		if (arg_json)
			ctl_json_begin_array(&e->j);
		else
			putchar('[');
		for (i = 0; i < n; i++) {
			if (arg_json)
				ctl_json_u64(&e->j, bytes[i]);
			else
				printf("%s%u", i ? "," : "", bytes[i]);
		}
		if (arg_json)
			ctl_json_end_array(&e->j);
		else
			putchar(']');
		return 0;
	}

	r = sd_bus_message_enter_container(m, type, contents);
	if (r < 0)
		return r;
	if (type == 'v') {
		r = value_out(e, m, as_mask);
		return r < 0 ? r : sd_bus_message_exit_container(m);
	}
	ctype = type;
	dict = type == 'a' && contents[0] == '{';
	if (arg_json) {
		if (dict)
			ctl_json_begin_object(&e->j);
		else
			ctl_json_begin_array(&e->j);
	} else {
		putchar(dict ? '{' : ctype == 'r' ? '(' : '[');
	}
	while ((r = sd_bus_message_peek_type(m, &type, &contents)) > 0) {
		if (!arg_json && !first)
			putchar(',');
		first = false;
		if (dict) {
			char key[64];

			/* A dict entry: a basic key, then any value. */
			r = sd_bus_message_enter_container(m, 'e', contents);
			if (r >= 0)
				r = sd_bus_message_peek_type(m, &type, NULL);
			if (r >= 0)
				r = sd_bus_message_read_basic(m, type, &v);
			if (r < 0)
				return r;
			if (type == 's' || type == 'o' || type == 'g')
				snprintf(key, sizeof(key), "%s", v.s);
			else
				basic_text(type, &v, key, sizeof(key));
			if (arg_json)
				ctl_json_key(&e->j, key);
			else
				printf("%s=", key);
			r = value_out(e, m, false);
			if (r >= 0)
				r = sd_bus_message_exit_container(m);
		} else {
			r = value_out(e, m, false);
		}
		if (r < 0)
			return r;
	}
	if (r < 0)
		return r;
	if (arg_json) {
		if (dict)
			ctl_json_end_object(&e->j);
		else
			ctl_json_end_array(&e->j);
	} else {
		putchar(dict ? '}' : ctype == 'r' ? ')' : ']');
	}
	return sd_bus_message_exit_container(m);
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && !strcmp(s + n - k, suffix);
}

static int bad_message(sd_bus_message *m, int r)
{
	fprintf(stderr, "gpumuxctl: cannot read %s.%s: %s\n",
		sd_bus_message_get_interface(m) ?: "?",
		sd_bus_message_get_member(m) ?: "?", strerror(-r));
	if (!arg_json)
		putchar('\n');
	fflush(stdout);
	return 0;
}

/* --- handlers --- */

static int on_manager_signal(sd_bus_message *m, void *userdata,
			     sd_bus_error *error)
{
	const char *member = sd_bus_message_get_member(m);
	const char *path, *name, *reason;
	const void *target, *active;
	size_t tlen, alen;
	uint64_t gen;
	uint32_t gpu;
	struct ev e;
	int r, i;

	(void)userdata;
	(void)error;
	if (!strcmp(member, "TenantAttached")) {
		r = sd_bus_message_read(m, "os", &path, &name);
		if (r < 0)
			return bad_message(m, r);
		ev_begin(&e, member);
		ev_tenant(&e, path);
		ev_str(&e, "name", name);
	} else if (!strcmp(member, "TenantGone")) {
		r = sd_bus_message_read(m, "oss", &path, &name, &reason);
		if (r < 0)
			return bad_message(m, r);
		ev_begin(&e, member);
		ev_tenant(&e, path);
		ev_str(&e, "name", name);
		ev_word(&e, "reason", reason);
	} else if (!strcmp(member, "PartitionChanged")) {
		r = sd_bus_message_read(m, "out", &path, &gpu, &gen);
		if (r >= 0)
			r = sd_bus_message_read_array(m, 'y', &target, &tlen);
		if (r >= 0)
			r = sd_bus_message_read_array(m, 'y', &active, &alen);
		if (r < 0)
			return bad_message(m, r);
		if (tlen > CTL_MASK_BYTES)
			tlen = CTL_MASK_BYTES;
		if (alen > CTL_MASK_BYTES)
			alen = CTL_MASK_BYTES;
		ev_begin(&e, member);
		ev_tenant(&e, path);
		ev_u64(&e, "gpu", gpu);
		ev_u64(&e, "generation", gen);
		ev_mask(&e, "target", target, tlen);
		ev_mask(&e, "active", active, alen);
		ev_u64(&e, "target_cus", ctl_mask_count(target, tlen));
		ev_u64(&e, "active_cus", ctl_mask_count(active, alen));
	} else {
		/* A signal newer than this gpumuxctl: its arguments. */
		char key[16];

		ev_begin(&e, member);
		for (i = 0;; i++) {
			r = sd_bus_message_at_end(m, false);
			if (r)
				break;
			snprintf(key, sizeof(key), "arg%d", i);
			ev_key(&e, key);
			r = value_out(&e, m, false);
			if (r < 0) {
				e.j.err = r;
				break;
			}
		}
	}
	ev_end(&e);
	return 0;
}

static int on_properties_changed(sd_bus_message *m, void *userdata,
				 sd_bus_error *error)
{
	const char *iface, *name;
	struct ev e;
	int r;

	(void)userdata;
	(void)error;
	r = sd_bus_message_read(m, "s", &iface);
	if (r < 0)
		return bad_message(m, r);
	ev_begin(&e, "PropertiesChanged");
	ev_object(&e, sd_bus_message_get_path(m));
	ev_word(&e, "interface", arg_json ? iface : ctl_error_short(iface));
	if (arg_json) {
		ctl_json_key(&e.j, "changed");
		ctl_json_begin_object(&e.j);
	}
	r = sd_bus_message_enter_container(m, 'a', "{sv}");
	while (r >= 0 &&
	       (r = sd_bus_message_enter_container(m, 'e', "sv")) > 0) {
		r = sd_bus_message_read(m, "s", &name);
		if (r < 0)
			break;
		ev_key(&e, name);
		r = value_out(&e, m, ends_with(name, "Mask"));
		if (r >= 0)
			r = sd_bus_message_exit_container(m);
	}
	if (r >= 0)
		r = sd_bus_message_exit_container(m);
	if (arg_json) {
		ctl_json_end_object(&e.j);
		ctl_json_key(&e.j, "invalidated");
		ctl_json_begin_array(&e.j);
	}
	if (r >= 0)
		r = sd_bus_message_enter_container(m, 'a', "s");
	while (r >= 0 && (r = sd_bus_message_read(m, "s", &name)) > 0) {
		if (arg_json)
			ctl_json_string(&e.j, name);
		else
			printf(" %s=(invalidated)", name);
	}
	if (arg_json)
		ctl_json_end_array(&e.j);
	if (r < 0) {
		e.j.err = r;
		fprintf(stderr,
			"gpumuxctl: cannot read PropertiesChanged: %s\n",
			strerror(-r));
	}
	ev_end(&e);
	return 0;
}

static int on_name_owner_changed(sd_bus_message *m, void *userdata,
				 sd_bus_error *error)
{
	const char *name, *old, *new;
	struct ev e;
	int r;

	(void)userdata;
	(void)error;
	r = sd_bus_message_read(m, "sss", &name, &old, &new);
	if (r < 0)
		return bad_message(m, r);
	if (strcmp(name, GM_BUS_NAME))
		return 0;
	ev_begin(&e, *new ? "DaemonStarted" : "DaemonStopped");
	ev_word(&e, "owner", *new ? new : old);
	ev_end(&e);
	return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si,
		     void *userdata)
{
	(void)si;
	(void)userdata;
	return sd_event_exit(sd_event_source_get_event(s), 0);
}

int verb_watch(int argc, char **argv)
{
	static const char props_match[] =
		"type='signal',sender='" GM_BUS_NAME "',"
		"interface='org.freedesktop.DBus.Properties',"
		"member='PropertiesChanged',path_namespace='" GM_BUS_PATH "'";
	static const char owner_match[] =
		"type='signal',sender='org.freedesktop.DBus',"
		"path='/org/freedesktop/DBus',"
		"interface='org.freedesktop.DBus',member='NameOwnerChanged',"
		"arg0='" GM_BUS_NAME "'";
	struct manager_info mi;
	sd_event *event = NULL;
	sigset_t ss;
	int r;

	(void)argc;
	(void)argv;
	sigemptyset(&ss);
	sigaddset(&ss, SIGINT);
	sigaddset(&ss, SIGTERM);
	if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0)
		return fail(-errno, "cannot block signals");

	r = bus_connect();
	if (r)
		return r;
	r = sd_event_default(&event);
	if (r >= 0)
		r = sd_event_add_signal(event, NULL, SIGINT, on_signal, NULL);
	if (r >= 0)
		r = sd_event_add_signal(event, NULL, SIGTERM, on_signal, NULL);
	if (r >= 0)
		r = sd_bus_attach_event(bus, event, SD_EVENT_PRIORITY_NORMAL);
	if (r >= 0)
		r = sd_bus_set_exit_on_disconnect(bus, 1);
	if (r < 0) {
		r = fail(r, "cannot set up the event loop");
		goto out;
	}

	/* Subscribe first, then look: nothing is missed in between. */
	r = sd_bus_match_signal(bus, NULL, GM_BUS_NAME, GM_BUS_PATH,
				GM_BUS_IFACE_MANAGER, NULL, on_manager_signal,
				NULL);
	if (r >= 0)
		r = sd_bus_add_match(bus, NULL, props_match,
				     on_properties_changed, NULL);
	if (r >= 0)
		r = sd_bus_add_match(bus, NULL, owner_match,
				     on_name_owner_changed, NULL);
	if (r < 0) {
		r = report_bus_error(NULL, r, "cannot subscribe to signals");
		goto out;
	}
	r = get_manager(&mi);
	if (r)
		goto out;
	fprintf(stderr, "Watching gpumuxd %s (Ctrl-C to stop).\n",
		mi.version ? mi.version : "?");
	manager_info_free(&mi);

	r = sd_event_loop(event);
	if (r < 0) {
		r = fail(r, "event loop");
	} else if (r > 0) {
		fputs("gpumuxctl: lost the connection to the bus\n", stderr);
		r = CTL_EXIT_UNREACHABLE;
	}
out:
	if (bus)
		sd_bus_detach_event(bus);
	sd_event_unref(event);
	return r;
}
