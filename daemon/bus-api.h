/* SPDX-License-Identifier: GPL-2.0 */
/*
 * org.gpumux.Scheduler1: names shared by gpumuxd, gpumuxctl and libgpumux.
 * The interfaces themselves are in org.gpumux.Scheduler1.xml; the man page
 * org.gpumux.Scheduler1(5) documents them.
 */
#ifndef GPUMUX_BUS_API_H
#define GPUMUX_BUS_API_H

#define GM_BUS_NAME "org.gpumux.Scheduler1"
#define GM_BUS_PATH "/org/gpumux/Scheduler1"
#define GM_BUS_GPU_PREFIX GM_BUS_PATH "/gpu"
#define GM_BUS_TENANT_PREFIX GM_BUS_PATH "/tenant"
#define GM_BUS_IFACE_MANAGER GM_BUS_NAME ".Manager"
#define GM_BUS_IFACE_GPU GM_BUS_NAME ".GPU"
#define GM_BUS_IFACE_TENANT GM_BUS_NAME ".Tenant"

/* polkit action of the admin methods (and of Detach of others' tenants). */
#define GM_POLKIT_ACTION_MANAGE GM_BUS_NAME ".manage"

/*
 * Errors, each with the errno sd_bus_error_get_errno() maps it to
 * (GM_BUS_ERROR_MAP_ENTRIES below).
 */
#define GM_ERROR_PREFIX GM_BUS_NAME ".Error."
#define GM_ERROR_INVALID_OPTION GM_ERROR_PREFIX "InvalidOption" /* EINVAL */
#define GM_ERROR_INVALID_VALUE GM_ERROR_PREFIX "InvalidValue" /* ERANGE */
#define GM_ERROR_NO_SUCH_TENANT GM_ERROR_PREFIX "NoSuchTenant" /* ESRCH */
#define GM_ERROR_NO_SUCH_GPU GM_ERROR_PREFIX "NoSuchGPU" /* ENODEV */
#define GM_ERROR_NOT_OWNER GM_ERROR_PREFIX "NotOwner" /* EPERM */
#define GM_ERROR_ACCESS_DENIED GM_ERROR_PREFIX "AccessDenied" /* EACCES */
#define GM_ERROR_NO_CAPACITY GM_ERROR_PREFIX "NoCapacity" /* ENOSPC */
#define GM_ERROR_QUOTA_EXCEEDED GM_ERROR_PREFIX "QuotaExceeded" /* EDQUOT */
#define GM_ERROR_TOO_MANY_TENANTS GM_ERROR_PREFIX "TooManyTenants" /* EUSERS */
#define GM_ERROR_BUSY GM_ERROR_PREFIX "Busy" /* EBUSY */
#define GM_ERROR_MODULE GM_ERROR_PREFIX "ModuleFailed" /* EIO */

/*
 * The same pairs as sd_bus_error_map entries, for the daemon's and
 * libgpumux's maps (needs <errno.h> and <systemd/sd-bus.h>):
 *	static const sd_bus_error_map m[] = { GM_BUS_ERROR_MAP_ENTRIES,
 *					      SD_BUS_ERROR_MAP_END };
 */
#define GM_BUS_ERROR_MAP_ENTRIES                                     \
	SD_BUS_ERROR_MAP(GM_ERROR_INVALID_OPTION, EINVAL),           \
		SD_BUS_ERROR_MAP(GM_ERROR_INVALID_VALUE, ERANGE),    \
		SD_BUS_ERROR_MAP(GM_ERROR_NO_SUCH_TENANT, ESRCH),    \
		SD_BUS_ERROR_MAP(GM_ERROR_NO_SUCH_GPU, ENODEV),      \
		SD_BUS_ERROR_MAP(GM_ERROR_NOT_OWNER, EPERM),         \
		SD_BUS_ERROR_MAP(GM_ERROR_ACCESS_DENIED, EACCES),    \
		SD_BUS_ERROR_MAP(GM_ERROR_NO_CAPACITY, ENOSPC),      \
		SD_BUS_ERROR_MAP(GM_ERROR_QUOTA_EXCEEDED, EDQUOT),   \
		SD_BUS_ERROR_MAP(GM_ERROR_TOO_MANY_TENANTS, EUSERS), \
		SD_BUS_ERROR_MAP(GM_ERROR_BUSY, EBUSY),              \
		SD_BUS_ERROR_MAP(GM_ERROR_MODULE, EIO)

/* Attach options (a{sv} keys) and their limits. */
#define GM_OPT_NAME "name" /* s */
#define GM_OPT_WEIGHT "weight" /* u */
#define GM_OPT_MIN_CUS "min_cus" /* u */
#define GM_OPT_MAX_CUS "max_cus" /* u */
#define GM_OPT_PINNED_QUOTA "pinned_quota" /* t */
#define GM_OPT_GPU "gpu" /* u */

#define GM_WEIGHT_DEFAULT 100
#define GM_WEIGHT_MAX 65535
#define GM_NAME_MAX 31 /* characters; the module's GPUMUX_NAME_LEN - 1 */

/* ReportLoad keys. */
#define GM_LOAD_RUNNING "running" /* u */
#define GM_LOAD_WAITING "waiting" /* u */
#define GM_LOAD_KV_USED "kv_blocks_used" /* u */
#define GM_LOAD_KV_TOTAL "kv_blocks_total" /* u */
#define GM_LOAD_TOKENS_PER_S "tokens_per_s" /* d */

/* TenantGone reasons. */
#define GM_GONE_EXITED "exited"
#define GM_GONE_DETACHED "detached"

#endif /* GPUMUX_BUS_API_H */
