// SPDX-License-Identifier: GPL-2.0
/*
 * Host-side check of the gpumux uapi layout: every struct's size and every
 * field's offset, sizes multiples of 8 (same layout for 32- and 64-bit
 * callers), and the command numbers.  Each fact is checked twice: at
 * compile time with _Static_assert and at run time, so a run prints one
 * PASS/FAIL line per fact.  Exits 1 if any check failed.
 *
 * It needs no module and uses none of the in-VM test helpers.
 */
/* First, so that it must stand on its own (its own <linux/ioctl.h>). */
#include <linux/gpumux.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static int failures, checks;

static void check(const char *what, unsigned long long got,
		  unsigned long long want)
{
	checks++;
	if (got == want) {
		printf("PASS: %s\n", what);
		return;
	}
	failures++;
	printf("FAIL: %s: got %llu, want %llu\n", what, got, want);
}

/* Size of struct @T is @n and a multiple of 8. */
#define SIZE(T, n)                                                   \
	do {                                                         \
		_Static_assert(sizeof(struct T) == (n), #T " size"); \
		_Static_assert(sizeof(struct T) % 8 == 0,            \
			       #T " size multiple of 8");            \
		check("size/" #T, sizeof(struct T), (n));            \
		check("size8/" #T, sizeof(struct T) % 8, 0);         \
	} while (0)

/* Field @f of struct @T is at offset @o and is @n bytes long. */
#define FIELD(T, f, o, n)                                                   \
	do {                                                                \
		_Static_assert(offsetof(struct T, f) == (o),                \
			       #T "." #f " offset");                        \
		_Static_assert(sizeof(((struct T *)0)->f) == (n),           \
			       #T "." #f " size");                          \
		check("offset/" #T "." #f, offsetof(struct T, f), (o));     \
		check("fsize/" #T "." #f, sizeof(((struct T *)0)->f), (n)); \
	} while (0)

/* Constant @c has value @v. */
#define CONST(c, v)                                               \
	do {                                                      \
		_Static_assert((c) == (v), #c " value");          \
		check("const/" #c, (unsigned long long)(c), (v)); \
	} while (0)

/* Command @c is _IOWR(GPUMUX_IOC_MAGIC, @nr, struct @T). */
#define CMD(c, nr, T)                                                         \
	do {                                                                  \
		_Static_assert(_IOC_DIR(c) == (_IOC_READ | _IOC_WRITE),       \
			       #c " dir");                                    \
		_Static_assert(_IOC_TYPE(c) == GPUMUX_IOC_MAGIC, #c " type"); \
		_Static_assert(_IOC_NR(c) == (nr), #c " nr");                 \
		_Static_assert(_IOC_SIZE(c) == sizeof(struct T), #c " size"); \
		check("ioc_dir/" #c, _IOC_DIR(c), _IOC_READ | _IOC_WRITE);    \
		check("ioc_type/" #c, _IOC_TYPE(c), GPUMUX_IOC_MAGIC);        \
		check("ioc_nr/" #c, _IOC_NR(c), (nr));                        \
		check("ioc_size/" #c, _IOC_SIZE(c), sizeof(struct T));        \
		check("ioc_full/" #c, (c),                                    \
		      _IOWR(GPUMUX_IOC_MAGIC, (nr), struct T));               \
	} while (0)

static void check_structs(void)
{
	SIZE(gpumux_uring_cmd, 16);
	FIELD(gpumux_uring_cmd, addr, 0, 8);
	FIELD(gpumux_uring_cmd, len, 8, 4);
	FIELD(gpumux_uring_cmd, reserved, 12, 4);

	SIZE(gpumux_info, 88);
	FIELD(gpumux_info, version, 0, 4);
	FIELD(gpumux_info, file_kind, 4, 4);
	FIELD(gpumux_info, features, 8, 8);
	FIELD(gpumux_info, max_cus, 16, 4);
	FIELD(gpumux_info, max_gpus, 20, 4);
	FIELD(gpumux_info, max_tenants, 24, 4);
	FIELD(gpumux_info, tenant_id, 28, 4);
	FIELD(gpumux_info, pinned_limit, 32, 8);
	FIELD(gpumux_info, pinned_used, 40, 8);
	FIELD(gpumux_info, nr_gpus, 48, 4);
	FIELD(gpumux_info, nr_tenants, 52, 4);
	FIELD(gpumux_info, reserved, 56, 32);

	SIZE(gpumux_gpu_add, 96);
	FIELD(gpumux_gpu_add, cus, 0, 4);
	FIELD(gpumux_gpu_add, gpu_id, 4, 4);
	FIELD(gpumux_gpu_add, vram_bytes, 8, 8);
	FIELD(gpumux_gpu_add, ident, 16, GPUMUX_IDENT_LEN);
	FIELD(gpumux_gpu_add, reserved, 80, 16);

	SIZE(gpumux_gpu_remove, 8);
	FIELD(gpumux_gpu_remove, gpu_id, 0, 4);
	FIELD(gpumux_gpu_remove, reserved, 4, 4);

	SIZE(gpumux_tenant_create, 72);
	FIELD(gpumux_tenant_create, name, 0, GPUMUX_NAME_LEN);
	FIELD(gpumux_tenant_create, flags, 32, 4);
	FIELD(gpumux_tenant_create, max_cus, 36, 4);
	FIELD(gpumux_tenant_create, pinned_quota, 40, 8);
	FIELD(gpumux_tenant_create, tenant_id, 48, 4);
	FIELD(gpumux_tenant_create, fd, 52, 4);
	FIELD(gpumux_tenant_create, reserved, 56, 16);

	SIZE(gpumux_tenant_fence, 8);
	FIELD(gpumux_tenant_fence, tenant_id, 0, 4);
	FIELD(gpumux_tenant_fence, flags, 4, 4);

	SIZE(gpumux_part_set, 168);
	FIELD(gpumux_part_set, tenant_id, 0, 4);
	FIELD(gpumux_part_set, gpu_id, 4, 4);
	FIELD(gpumux_part_set, flags, 8, 4);
	FIELD(gpumux_part_set, deadline_ms, 12, 4);
	FIELD(gpumux_part_set, generation, 16, 8);
	FIELD(gpumux_part_set, mask, 24, 8 * GPUMUX_MASK_WORDS);
	FIELD(gpumux_part_set, reserved, 152, 16);

	SIZE(gpumux_part_ack, 16);
	FIELD(gpumux_part_ack, gpu_id, 0, 4);
	FIELD(gpumux_part_ack, reserved, 4, 4);
	FIELD(gpumux_part_ack, generation, 8, 8);

	SIZE(gpumux_part_info, 288);
	FIELD(gpumux_part_info, tenant_id, 0, 4);
	FIELD(gpumux_part_info, gpu_id, 4, 4);
	FIELD(gpumux_part_info, flags, 8, 4);
	FIELD(gpumux_part_info, state, 12, 4);
	FIELD(gpumux_part_info, generation, 16, 8);
	FIELD(gpumux_part_info, deadline_ns, 24, 8);
	FIELD(gpumux_part_info, active, 32, 8 * GPUMUX_MASK_WORDS);
	FIELD(gpumux_part_info, target, 160, 8 * GPUMUX_MASK_WORDS);

	SIZE(gpumux_buf_alloc, 40);
	FIELD(gpumux_buf_alloc, size, 0, 8);
	FIELD(gpumux_buf_alloc, flags, 8, 4);
	FIELD(gpumux_buf_alloc, buf_id, 12, 4);
	FIELD(gpumux_buf_alloc, mmap_offset, 16, 8);
	FIELD(gpumux_buf_alloc, reserved, 24, 16);

	SIZE(gpumux_buf_free, 8);
	FIELD(gpumux_buf_free, buf_id, 0, 4);
	FIELD(gpumux_buf_free, reserved, 4, 4);

	SIZE(gpumux_grant, 16);
	FIELD(gpumux_grant, buf_id, 0, 4);
	FIELD(gpumux_grant, tenant_id, 4, 4);
	FIELD(gpumux_grant, access, 8, 4);
	FIELD(gpumux_grant, reserved, 12, 4);

	SIZE(gpumux_grant_revoke, 8);
	FIELD(gpumux_grant_revoke, buf_id, 0, 4);
	FIELD(gpumux_grant_revoke, tenant_id, 4, 4);

	SIZE(gpumux_gpu_info, 88);
	FIELD(gpumux_gpu_info, gpu_id, 0, 4);
	FIELD(gpumux_gpu_info, cus, 4, 4);
	FIELD(gpumux_gpu_info, vram_bytes, 8, 8);
	FIELD(gpumux_gpu_info, ident, 16, GPUMUX_IDENT_LEN);
	FIELD(gpumux_gpu_info, cus_exclusive, 80, 4);
	FIELD(gpumux_gpu_info, cus_shared, 84, 4);

	SIZE(gpumux_tenant_info, 72);
	FIELD(gpumux_tenant_info, tenant_id, 0, 4);
	FIELD(gpumux_tenant_info, flags, 4, 4);
	FIELD(gpumux_tenant_info, name, 8, GPUMUX_NAME_LEN);
	FIELD(gpumux_tenant_info, max_cus, 40, 4);
	FIELD(gpumux_tenant_info, nr_buffers, 44, 4);
	FIELD(gpumux_tenant_info, pinned_quota, 48, 8);
	FIELD(gpumux_tenant_info, pinned_used, 56, 8);
	FIELD(gpumux_tenant_info, creator_pid, 64, 4);
	FIELD(gpumux_tenant_info, creator_uid, 68, 4);

	SIZE(gpumux_buf_info, 32);
	FIELD(gpumux_buf_info, buf_id, 0, 4);
	FIELD(gpumux_buf_info, owner_id, 4, 4);
	FIELD(gpumux_buf_info, size, 8, 8);
	FIELD(gpumux_buf_info, mmap_offset, 16, 8);
	FIELD(gpumux_buf_info, nr_grants, 24, 4);
	FIELD(gpumux_buf_info, access, 28, 4);

	SIZE(gpumux_grant_info, 16);
	FIELD(gpumux_grant_info, buf_id, 0, 4);
	FIELD(gpumux_grant_info, owner_id, 4, 4);
	FIELD(gpumux_grant_info, tenant_id, 8, 4);
	FIELD(gpumux_grant_info, access, 12, 4);

	SIZE(gpumux_list, 48);
	FIELD(gpumux_list, kind, 0, 4);
	FIELD(gpumux_list, entry_size, 4, 4);
	FIELD(gpumux_list, addr, 8, 8);
	FIELD(gpumux_list, capacity, 16, 4);
	FIELD(gpumux_list, count, 20, 4);
	FIELD(gpumux_list, start_id, 24, 4);
	FIELD(gpumux_list, total, 28, 4);
	FIELD(gpumux_list, reserved, 32, 16);

	SIZE(gpumux_event, 40);
	FIELD(gpumux_event, type, 0, 4);
	FIELD(gpumux_event, tenant_id, 4, 4);
	FIELD(gpumux_event, gpu_id, 8, 4);
	FIELD(gpumux_event, buf_id, 12, 4);
	FIELD(gpumux_event, generation, 16, 8);
	FIELD(gpumux_event, arg, 24, 8);
	FIELD(gpumux_event, timestamp_ns, 32, 8);

	SIZE(gpumux_event_fetch, 32);
	FIELD(gpumux_event_fetch, addr, 0, 8);
	FIELD(gpumux_event_fetch, capacity, 8, 4);
	FIELD(gpumux_event_fetch, count, 12, 4);
	FIELD(gpumux_event_fetch, reserved, 16, 16);
}

static void check_constants(void)
{
	CONST(GPUMUX_VERSION, 1);
	CONST(GPUMUX_MAX_CUS, 1024);
	CONST(GPUMUX_MASK_WORDS, 16);
	CONST(GPUMUX_MASK_WORDS * 64, GPUMUX_MAX_CUS);
	CONST(GPUMUX_IDENT_LEN, 64);
	CONST(GPUMUX_NAME_LEN, 32);
	CONST(GPUMUX_MAX_GPUS, 64);
	CONST(GPUMUX_IOC_MAGIC, 0xB8);

	CONST(GPUMUX_F_URING_CMD, 1ULL << 0);
	CONST(GPUMUX_F_EVENTS, 1ULL << 1);
	CONST(GPUMUX_F_SHARED_PARTITIONS, 1ULL << 2);
	CONST(GPUMUX_F_GRANTS, 1ULL << 3);
	CONST(GPUMUX_F_LIST, 1ULL << 4);
	CONST(GPUMUX_F_FENCE, 1ULL << 5);

	CONST(GPUMUX_FILE_CONTROL, 1);
	CONST(GPUMUX_FILE_TENANT, 2);
	CONST(GPUMUX_TENANT_CLOEXEC, 1);
	CONST(GPUMUX_FENCE_CLEAR, 1);
	CONST(GPUMUX_PART_EXCLUSIVE, 0);
	CONST(GPUMUX_PART_SHARED, 1);
	CONST(GPUMUX_PART_STABLE, 0);
	CONST(GPUMUX_PART_REVOKING, 1);
	CONST(GPUMUX_PART_GROWING, 2);
	CONST(GPUMUX_ACCESS_RO, 0);
	CONST(GPUMUX_ACCESS_RW, 1);
	CONST(GPUMUX_TENANT_FENCED, 1);

	CONST(GPUMUX_LIST_GPUS, 1);
	CONST(GPUMUX_LIST_TENANTS, 2);
	CONST(GPUMUX_LIST_PARTITIONS, 3);
	CONST(GPUMUX_LIST_BUFFERS, 4);
	CONST(GPUMUX_LIST_GRANTS, 5);

	CONST(GPUMUX_EVENT_TENANT_GONE, 1);
	CONST(GPUMUX_EVENT_PART_ACKED, 2);
	CONST(GPUMUX_EVENT_PART_FENCED, 3);
	CONST(GPUMUX_EVENT_PART_GRANTED, 4);
	CONST(GPUMUX_EVENT_PART_CHANGED, 5);
	CONST(GPUMUX_EVENT_FENCED, 6);
	CONST(GPUMUX_EVENT_GRANT_REVOKED, 7);
	CONST(GPUMUX_EVENT_GRANT_ADDED, 8);
	CONST(GPUMUX_EVENT_OVERFLOW, 9);
}

static void check_commands(void)
{
	static const struct {
		const char *name;
		unsigned int cmd;
	} cmds[] = {
#define C(x) { #x, x }
		C(GPUMUX_CMD_GET_INFO),	    C(GPUMUX_CMD_GPU_ADD),
		C(GPUMUX_CMD_GPU_REMOVE),   C(GPUMUX_CMD_TENANT_CREATE),
		C(GPUMUX_CMD_TENANT_FENCE), C(GPUMUX_CMD_PART_SET),
		C(GPUMUX_CMD_PART_ACK),	    C(GPUMUX_CMD_BUF_ALLOC),
		C(GPUMUX_CMD_BUF_FREE),	    C(GPUMUX_CMD_GRANT),
		C(GPUMUX_CMD_GRANT_REVOKE), C(GPUMUX_CMD_LIST),
		C(GPUMUX_CMD_EVENT_FETCH),
#undef C
	};
	const size_t n = ARRAY_SIZE(cmds);
	char what[128];
	size_t i, j;

	CMD(GPUMUX_CMD_GET_INFO, 0x00, gpumux_info);
	CMD(GPUMUX_CMD_GPU_ADD, 0x01, gpumux_gpu_add);
	CMD(GPUMUX_CMD_GPU_REMOVE, 0x02, gpumux_gpu_remove);
	CMD(GPUMUX_CMD_TENANT_CREATE, 0x03, gpumux_tenant_create);
	CMD(GPUMUX_CMD_TENANT_FENCE, 0x04, gpumux_tenant_fence);
	CMD(GPUMUX_CMD_PART_SET, 0x05, gpumux_part_set);
	CMD(GPUMUX_CMD_PART_ACK, 0x06, gpumux_part_ack);
	CMD(GPUMUX_CMD_BUF_ALLOC, 0x07, gpumux_buf_alloc);
	CMD(GPUMUX_CMD_BUF_FREE, 0x08, gpumux_buf_free);
	CMD(GPUMUX_CMD_GRANT, 0x09, gpumux_grant);
	CMD(GPUMUX_CMD_GRANT_REVOKE, 0x0a, gpumux_grant_revoke);
	CMD(GPUMUX_CMD_LIST, 0x0b, gpumux_list);
	CMD(GPUMUX_CMD_EVENT_FETCH, 0x0c, gpumux_event_fetch);

	/*
	 * Distinct numbers, and distinct _IOC_NR too (so a dispatcher keyed
	 * on the number alone cannot confuse two commands).
	 */
	for (i = 0; i < n; i++) {
		for (j = i + 1; j < n; j++) {
			snprintf(what, sizeof(what), "distinct/%s/%s",
				 cmds[i].name, cmds[j].name);
			check(what, cmds[i].cmd == cmds[j].cmd, 0);
			snprintf(what, sizeof(what), "distinct_nr/%s/%s",
				 cmds[i].name, cmds[j].name);
			check(what,
			      _IOC_NR(cmds[i].cmd) == _IOC_NR(cmds[j].cmd), 0);
		}
	}
}

/* Every feature bit, event type and list kind is distinct. */
static void check_distinct(void)
{
	static const unsigned long long features[] = {
		GPUMUX_F_URING_CMD, GPUMUX_F_EVENTS, GPUMUX_F_SHARED_PARTITIONS,
		GPUMUX_F_GRANTS,    GPUMUX_F_LIST,   GPUMUX_F_FENCE,
	};
	unsigned long long seen = 0;
	char what[64];
	size_t i;

	for (i = 0; i < ARRAY_SIZE(features); i++) {
		snprintf(what, sizeof(what), "feature_single_bit/%zu", i);
		check(what, __builtin_popcountll(features[i]), 1);
		snprintf(what, sizeof(what), "feature_distinct/%zu", i);
		check(what, !!(seen & features[i]), 0);
		seen |= features[i];
	}
}

int main(void)
{
	check_structs();
	check_constants();
	check_commands();
	check_distinct();
	printf("%s: %d checks, %d failed\n", failures ? "FAIL" : "OK", checks,
	       failures);
	return failures ? 1 : 0;
}
