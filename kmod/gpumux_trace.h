/* SPDX-License-Identifier: GPL-2.0 */
/* gpumux tracepoints: partition changes, fences, buffers and grants. */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM gpumux

#if !defined(GPUMUX_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define GPUMUX_TRACE_H

#include <linux/tracepoint.h>

TRACE_EVENT(gpumux_part_change,
	TP_PROTO(u32 tenant, u32 gpu, u64 gen, u32 state, u32 active,
		 u32 target),
	TP_ARGS(tenant, gpu, gen, state, active, target),
	TP_STRUCT__entry(
		__field(u32, tenant)
		__field(u32, gpu)
		__field(u64, gen)
		__field(u32, state)
		__field(u32, active)
		__field(u32, target)
	),
	TP_fast_assign(
		__entry->tenant = tenant;
		__entry->gpu = gpu;
		__entry->gen = gen;
		__entry->state = state;
		__entry->active = active;
		__entry->target = target;
	),
	TP_printk("tenant=%u gpu=%u gen=%llu state=%u active=%u target=%u",
		  __entry->tenant, __entry->gpu, __entry->gen, __entry->state,
		  __entry->active, __entry->target)
);

TRACE_EVENT(gpumux_fence,
	TP_PROTO(u32 tenant, const char *why),
	TP_ARGS(tenant, why),
	TP_STRUCT__entry(
		__field(u32, tenant)
		__string(why, why)
	),
	TP_fast_assign(
		__entry->tenant = tenant;
		__assign_str(why, why);
	),
	TP_printk("tenant=%u why=%s", __entry->tenant, __get_str(why))
);

DECLARE_EVENT_CLASS(gpumux_buf,
	TP_PROTO(u32 buf, u32 tenant, u64 size),
	TP_ARGS(buf, tenant, size),
	TP_STRUCT__entry(
		__field(u32, buf)
		__field(u32, tenant)
		__field(u64, size)
	),
	TP_fast_assign(
		__entry->buf = buf;
		__entry->tenant = tenant;
		__entry->size = size;
	),
	TP_printk("buf=%u tenant=%u size=%llu", __entry->buf, __entry->tenant,
		  __entry->size)
);

DEFINE_EVENT(gpumux_buf, gpumux_buf_alloc,
	TP_PROTO(u32 buf, u32 tenant, u64 size),
	TP_ARGS(buf, tenant, size));

DEFINE_EVENT(gpumux_buf, gpumux_buf_free,
	TP_PROTO(u32 buf, u32 tenant, u64 size),
	TP_ARGS(buf, tenant, size));

TRACE_EVENT(gpumux_grant,
	TP_PROTO(u32 buf, u32 tenant, u32 access, bool revoke),
	TP_ARGS(buf, tenant, access, revoke),
	TP_STRUCT__entry(
		__field(u32, buf)
		__field(u32, tenant)
		__field(u32, access)
		__field(bool, revoke)
	),
	TP_fast_assign(
		__entry->buf = buf;
		__entry->tenant = tenant;
		__entry->access = access;
		__entry->revoke = revoke;
	),
	TP_printk("buf=%u tenant=%u access=%s%s", __entry->buf,
		  __entry->tenant, __entry->access ? "rw" : "ro",
		  __entry->revoke ? " revoked" : "")
);

#endif /* GPUMUX_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE gpumux_trace
#include <trace/define_trace.h>
