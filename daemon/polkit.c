// SPDX-License-Identifier: GPL-2.0
/*
 * Authorization of the admin methods, as systemd's services do it: root is
 * always allowed; anyone else is asked about to polkit
 * (org.freedesktop.PolicyKit1.Authority.CheckAuthorization for action
 * org.gpumux.Scheduler1.manage, subject the caller's bus name),
 * asynchronously: the method returns without a reply, and when polkit
 * answers yes the method is called again with the same message, which this
 * time is let through.  When polkit is not on the bus, or fails, the answer
 * is no: a non-root caller is never let through by default.
 */
#include "gpumuxd.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bus-api.h"

struct gm_pending_auth {
	struct gm_pending_auth *next;
	struct gm_ctx *ctx;
	sd_bus_message *request; /* the method call, referenced */
	sd_bus_message_handler_t handler;
	sd_bus_slot *slot; /* the CheckAuthorization call */
	bool answered, authorized;
};

int gm_sender_creds(sd_bus_message *m, uid_t *uid, pid_t *pid)
{
	sd_bus_creds *c = NULL;
	int ret;

	/*
	 * What the bus driver vouches for; no AUGMENT (a /proc read, which
	 * fails once the caller has exited).
	 */
	ret = sd_bus_query_sender_creds(
		m, SD_BUS_CREDS_EUID | SD_BUS_CREDS_UID | SD_BUS_CREDS_PID, &c);
	if (ret < 0)
		return ret;
	ret = sd_bus_creds_get_euid(c, uid);
	if (ret < 0)
		ret = sd_bus_creds_get_uid(c, uid);
	if (ret >= 0 && pid && sd_bus_creds_get_pid(c, pid) < 0)
		*pid = 0;
	sd_bus_creds_unref(c);
	return ret < 0 ? ret : 0;
}

static void auth_free(struct gm_ctx *ctx, struct gm_pending_auth *a)
{
	struct gm_pending_auth **pp;

	for (pp = &ctx->auths; *pp; pp = &(*pp)->next) {
		if (*pp == a) {
			*pp = a->next;
			break;
		}
	}
	sd_bus_slot_unref(a->slot);
	sd_bus_message_unref(a->request);
	free(a);
}

static int on_polkit_reply(sd_bus_message *reply, void *data,
			   sd_bus_error *ret_error)
{
	struct gm_pending_auth *a = data;
	struct gm_ctx *ctx = a->ctx;
	sd_bus_error error = SD_BUS_ERROR_NULL;
	int authorized = 0, challenge = 0, ret;

	(void)ret_error;
	a->answered = true;
	if (sd_bus_message_is_method_error(reply, NULL)) {
		const sd_bus_error *e = sd_bus_message_get_error(reply);

		sd_bus_reply_method_errorf(
			a->request, GM_ERROR_ACCESS_DENIED,
			"Not authorized for %s: only root, as polkit cannot be asked (%s)",
			GM_POLKIT_ACTION_MANAGE,
			e && e->message ? e->message : "error");
		auth_free(ctx, a);
		return 0;
	}
	/* (bba{ss}): is_authorized, is_challenge, details */
	ret = sd_bus_message_enter_container(reply, 'r', "bba{ss}");
	if (ret >= 0)
		ret = sd_bus_message_read(reply, "bb", &authorized, &challenge);
	if (ret < 0) {
		gm_warn("polkit: malformed reply: %s: denying", strerror(-ret));
		authorized = 0;
	}
	a->authorized = authorized;
	if (!authorized) {
		sd_bus_reply_method_errorf(
			a->request, GM_ERROR_ACCESS_DENIED,
			"Not authorized for %s%s", GM_POLKIT_ACTION_MANAGE,
			challenge ? " (authentication required)" : "");
		auth_free(ctx, a);
		return 0;
	}
	/* Call the method again; gm_auth_admin() lets it through now. */
	sd_bus_message_rewind(a->request, true);
	ret = a->handler(a->request, ctx, &error);
	if (ret < 0 || sd_bus_error_is_set(&error)) {
		if (!sd_bus_error_is_set(&error))
			sd_bus_error_set_errno(&error, ret);
		sd_bus_reply_method_error(a->request, &error);
	}
	sd_bus_error_free(&error);
	auth_free(ctx, a);
	return 0;
}

int gm_auth_admin(struct gm_ctx *ctx, sd_bus_message *m,
		  sd_bus_message_handler_t handler, sd_bus_error *error)
{
	struct gm_pending_auth *a;
	const char *sender;
	uid_t uid;
	int ret;

	/* The second call, polkit having said yes. */
	for (a = ctx->auths; a; a = a->next)
		if (a->request == m && a->answered && a->authorized)
			return 1;

	ret = gm_sender_creds(m, &uid, NULL);
	if (ret < 0)
		return sd_bus_error_setf(error, GM_ERROR_ACCESS_DENIED,
					 "Cannot tell who the caller is: %s",
					 strerror(-ret));
	if (uid == 0)
		return 1;
	sender = sd_bus_message_get_sender(m);
	if (!sender)
		return sd_bus_error_setf(error, GM_ERROR_ACCESS_DENIED,
					 "Not authorized: no sender");

	a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	a->ctx = ctx;
	a->handler = handler;
	a->request = sd_bus_message_ref(m);
	/*
	 * CheckAuthorization(subject (sa{sv}), action_id s, details a{ss},
	 * flags u, cancellation_id s); flag 1 allows interaction when the
	 * caller allowed it.
	 */
	ret = sd_bus_call_method_async(
		sd_bus_message_get_bus(m), &a->slot,
		"org.freedesktop.PolicyKit1",
		"/org/freedesktop/PolicyKit1/Authority",
		"org.freedesktop.PolicyKit1.Authority", "CheckAuthorization",
		on_polkit_reply, a, "(sa{sv})sa{ss}us", "system-bus-name", 1,
		"name", "s", sender, GM_POLKIT_ACTION_MANAGE, 0,
		(uint32_t)(sd_bus_message_get_allow_interactive_authorization(
				   m) > 0 ?
				   1 :
				   0),
		"");
	if (ret < 0) {
		sd_bus_message_unref(a->request);
		free(a);
		return sd_bus_error_setf(error, GM_ERROR_ACCESS_DENIED,
					 "Not authorized: polkit: %s",
					 strerror(-ret));
	}
	a->next = ctx->auths;
	ctx->auths = a;
	return 0;
}

void gm_auth_cancel_all(struct gm_ctx *ctx)
{
	while (ctx->auths)
		auth_free(ctx, ctx->auths);
}
