// SPDX-License-Identifier: GPL-2.0
/*
 * gpumux: the basic interface: GET_INFO on both kinds of file, features,
 * ENOTTY for unknown command numbers, the uring_cmd envelope (len,
 * reserved, bad pointers) for every command, EFAULT through ioctl for
 * every command, and who may open the control file.
 *
 * Runs inside the VM; every sub-test runs over ioctl and over uring_cmd.
 */
#define _GNU_SOURCE
#include "gmtest.h"

#include <fcntl.h>
#include <grp.h>
#include <liburing.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/capability.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define for_each_path(p) \
	for ((p) = GM_IOCTL; (p) <= GM_URING; (p) = (enum gm_path)((p) + 1))
#define PN(p) gm_path_name[p]

#define ALL_FEATURES                                                         \
	(GPUMUX_F_URING_CMD | GPUMUX_F_EVENTS | GPUMUX_F_SHARED_PARTITIONS | \
	 GPUMUX_F_GRANTS | GPUMUX_F_LIST | GPUMUX_F_FENCE)

/* An address no test maps: the kernel must answer EFAULT. */
#define BAD_PTR ((void *)(uintptr_t)8)

static int ctl;

/*
 * A private ring for uring_cmd submissions gm_cmd() cannot make (a
 * non-zero gpumux_uring_cmd.reserved), and for children after fork(),
 * which must not touch the parent's ring.
 */
static struct io_uring raw_ring;
static int raw_ready;

static void raw_reset(void)
{
	if (raw_ready)
		io_uring_queue_exit(&raw_ring);
	raw_ready = 0;
}

static int raw_cmd(int fd, unsigned int op, void *arg, uint32_t len,
		   uint32_t reserved)
{
	struct gpumux_uring_cmd uc = {
		.addr = (uintptr_t)arg,
		.len = len,
		.reserved = reserved,
	};
	struct io_uring_sqe *sqe;
	struct io_uring_cqe *cqe;
	int ret;

	if (!raw_ready) {
		ret = io_uring_queue_init(8, &raw_ring, 0);
		if (ret < 0)
			return ret;
		raw_ready = 1;
	}
	sqe = io_uring_get_sqe(&raw_ring);
	if (!sqe)
		return -EBUSY;
	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, NULL, 0, 0);
	sqe->cmd_op = op;
	memcpy(sqe->cmd, &uc, sizeof(uc));
	ret = io_uring_submit_and_wait(&raw_ring, 1);
	if (ret < 0)
		return ret;
	ret = io_uring_wait_cqe(&raw_ring, &cqe);
	if (ret < 0)
		return ret;
	ret = cqe->res;
	io_uring_cqe_seen(&raw_ring, cqe);
	return ret;
}

/* A command from a forked child: never the parent's ring. */
static int child_cmd(int fd, unsigned int op, void *arg, size_t len,
		     enum gm_path p)
{
	int ret;

	if (p == GM_URING)
		return raw_cmd(fd, op, arg, len, 0);
	ret = ioctl(fd, op, arg);
	return ret < 0 ? -errno : ret;
}

/* ---- GET_INFO ------------------------------------------------------------ */

static void t_get_info_control(enum gm_path p)
{
	struct gpumux_info info;

	t_begin("get_info/control/%s", PN(p));
	T_EQ(gm_get_info(ctl, &info, p), 0);
	T_EQ(info.version, GPUMUX_VERSION);
	T_EQ(info.file_kind, GPUMUX_FILE_CONTROL);
	T_EQ(info.max_cus, GPUMUX_MAX_CUS);
	T_EQ(info.tenant_id, 0);
	T_ASSERT(info.max_gpus > 0);
	T_ASSERT(info.max_tenants > 0);
	T_ASSERT(info.pinned_limit > 0);
	T_ASSERT(info.pinned_used <= info.pinned_limit);
	T_ASSERT(info.nr_gpus <= info.max_gpus);
	T_ASSERT(info.nr_tenants <= info.max_tenants);
	T_EQ(info.reserved[0] | info.reserved[1] | info.reserved[2] |
		     info.reserved[3],
	     0);
	t_end();
}

static void t_features(enum gm_path p)
{
	static const struct {
		const char *name;
		uint64_t bit;
	} f[] = {
		{ "uring_cmd", GPUMUX_F_URING_CMD },
		{ "events", GPUMUX_F_EVENTS },
		{ "shared_partitions", GPUMUX_F_SHARED_PARTITIONS },
		{ "grants", GPUMUX_F_GRANTS },
		{ "list", GPUMUX_F_LIST },
		{ "fence", GPUMUX_F_FENCE },
	};
	struct gpumux_info info;
	size_t i;
	int ret;

	ret = gm_get_info(ctl, &info, p);
	for (i = 0; i < ARRAY_SIZE(f); i++) {
		t_begin("get_info/feature_%s/%s", f[i].name, PN(p));
		T_EQ(ret, 0);
		if (!(info.features & f[i].bit))
			t_fail(__FILE__, __LINE__,
			       "features 0x%llx lack 0x%llx",
			       (unsigned long long)info.features,
			       (unsigned long long)f[i].bit);
		t_end();
	}
}

static void t_get_info_tenant(enum gm_path p)
{
	struct gpumux_info cinfo, info;
	unsigned int id = 0;
	int tfd;

	t_begin("get_info/tenant/%s", PN(p));
	tfd = T_OK(gm_tenant_create(ctl, "uapi-basic", 4, 1 << 20, &id, p));
	if (tfd >= 0) {
		T_EQ(gm_get_info(ctl, &cinfo, p), 0);
		T_EQ(gm_get_info(tfd, &info, p), 0);
		T_EQ(info.version, GPUMUX_VERSION);
		T_EQ(info.file_kind, GPUMUX_FILE_TENANT);
		T_EQ(info.tenant_id, id);
		T_ASSERT(id > 0);
		T_EQ(info.features, cinfo.features);
		T_EQ(info.max_cus, GPUMUX_MAX_CUS);
		T_EQ(info.max_gpus, cinfo.max_gpus);
		T_EQ(info.max_tenants, cinfo.max_tenants);
		T_EQ(info.pinned_limit, cinfo.pinned_limit);
		close(tfd);
	}
	t_end();
}

static void t_get_info_counts(enum gm_path p)
{
	struct gpumux_info a, b, c;
	char ident[64];
	int gpu, tfd;

	t_begin("get_info/counts/%s", PN(p));
	snprintf(ident, sizeof(ident), "test:uapi:%d:counts", getpid());
	T_EQ(gm_get_info(ctl, &a, p), 0);
	gpu = T_OK(gm_gpu_add(ctl, 8, ident, p));
	tfd = T_OK(gm_tenant_create(ctl, "uapi-counts", 4, 0, NULL, p));
	T_EQ(gm_get_info(ctl, &b, p), 0);
	T_EQ(b.nr_gpus, a.nr_gpus + 1);
	T_EQ(b.nr_tenants, a.nr_tenants + 1);
	if (tfd >= 0)
		close(tfd);
	if (gpu > 0)
		T_EQ(gm_gpu_remove(ctl, gpu, p), 0);
	T_EQ(gm_get_info(ctl, &c, p), 0);
	T_EQ(c.nr_gpus, a.nr_gpus);
	T_EQ(c.nr_tenants, a.nr_tenants);
	t_end();
}

static void t_get_info_reserved(enum gm_path p)
{
	struct gpumux_info info;
	unsigned int i;
	int tfd;

	tfd = gm_tenant_create(ctl, "uapi-res", 0, 0, NULL, p);
	for (i = 0; i < 4; i++) {
		t_begin("get_info/reserved%u/%s", i, PN(p));
		memset(&info, 0, sizeof(info));
		info.reserved[i] = 1;
		T_EQ(GM_CMD(ctl, GPUMUX_CMD_GET_INFO, &info, p), -EINVAL);
		memset(&info, 0, sizeof(info));
		info.reserved[i] = 1ULL << 63;
		T_EQ(GM_CMD(ctl, GPUMUX_CMD_GET_INFO, &info, p), -EINVAL);
		T_OK(tfd);
		memset(&info, 0, sizeof(info));
		info.reserved[i] = 1;
		if (tfd >= 0)
			T_EQ(GM_CMD(tfd, GPUMUX_CMD_GET_INFO, &info, p),
			     -EINVAL);
		t_end();
	}
	if (tfd >= 0)
		close(tfd);
}

/* Several control files may be open at once; each is its own file. */
static void t_two_controls(enum gm_path p)
{
	struct gpumux_info info;
	int c2;

	t_begin("open/two_control_files/%s", PN(p));
	c2 = T_OK(gm_open_control(0));
	if (c2 >= 0) {
		T_EQ(gm_get_info(c2, &info, p), 0);
		T_EQ(info.file_kind, GPUMUX_FILE_CONTROL);
		T_EQ(gm_get_info(ctl, &info, p), 0);
		close(c2);
	}
	T_EQ(gm_get_info(ctl, &info, p), 0);
	t_end();
}

/* ---- unknown command numbers --------------------------------------------- */

static void t_unknown(enum gm_path p)
{
	static const struct {
		const char *name;
		unsigned int op;
	} bad[] = {
		{ "nr_0d", _IOWR(GPUMUX_IOC_MAGIC, 0x0d, struct gpumux_info) },
		{ "nr_40", _IOWR(GPUMUX_IOC_MAGIC, 0x40, struct gpumux_info) },
		{ "nr_ff", _IOWR(GPUMUX_IOC_MAGIC, 0xff, struct gpumux_info) },
		{ "magic",
		  _IOWR(GPUMUX_IOC_MAGIC + 1, 0x00, struct gpumux_info) },
		{ "size_u64", _IOWR(GPUMUX_IOC_MAGIC, 0x00, __u64) },
		{ "size_part_set",
		  _IOWR(GPUMUX_IOC_MAGIC, 0x05, struct gpumux_info) },
		{ "size_plus8", _IOC(_IOC_READ | _IOC_WRITE, GPUMUX_IOC_MAGIC,
				     0x00, sizeof(struct gpumux_info) + 8) },
		{ "dir_read",
		  _IOR(GPUMUX_IOC_MAGIC, 0x00, struct gpumux_info) },
		{ "dir_write",
		  _IOW(GPUMUX_IOC_MAGIC, 0x00, struct gpumux_info) },
		{ "dir_none", _IO(GPUMUX_IOC_MAGIC, 0x00) },
		{ "garbage", 0x12345678 },
	};
	static __u64 buf[64] __attribute__((aligned(64)));
	size_t i;
	int tfd;

	tfd = gm_tenant_create(ctl, "uapi-enotty", 0, 0, NULL, p);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		size_t len = _IOC_SIZE(bad[i].op);

		if (len > sizeof(buf))
			len = sizeof(buf);
		t_begin("unknown_cmd/%s/%s", bad[i].name, PN(p));
		memset(buf, 0, sizeof(buf));
		T_EQ(gm_cmd(ctl, bad[i].op, buf, len, p), -ENOTTY);
		T_OK(tfd);
		if (tfd >= 0) {
			memset(buf, 0, sizeof(buf));
			T_EQ(gm_cmd(tfd, bad[i].op, buf, len, p), -ENOTTY);
		}
		t_end();
	}
	if (tfd >= 0)
		close(tfd);
}

/* ---- the envelope of every command --------------------------------------- */

enum on_file { ON_CONTROL, ON_TENANT };

static const struct cmd_ent {
	const char *name;
	unsigned int op;
	size_t size;
	enum on_file on;
} cmds[] = {
	{ "get_info", GPUMUX_CMD_GET_INFO, sizeof(struct gpumux_info),
	  ON_CONTROL },
	{ "gpu_add", GPUMUX_CMD_GPU_ADD, sizeof(struct gpumux_gpu_add),
	  ON_CONTROL },
	{ "gpu_remove", GPUMUX_CMD_GPU_REMOVE, sizeof(struct gpumux_gpu_remove),
	  ON_CONTROL },
	{ "tenant_create", GPUMUX_CMD_TENANT_CREATE,
	  sizeof(struct gpumux_tenant_create), ON_CONTROL },
	{ "tenant_fence", GPUMUX_CMD_TENANT_FENCE,
	  sizeof(struct gpumux_tenant_fence), ON_CONTROL },
	{ "part_set", GPUMUX_CMD_PART_SET, sizeof(struct gpumux_part_set),
	  ON_CONTROL },
	{ "part_ack", GPUMUX_CMD_PART_ACK, sizeof(struct gpumux_part_ack),
	  ON_TENANT },
	{ "buf_alloc", GPUMUX_CMD_BUF_ALLOC, sizeof(struct gpumux_buf_alloc),
	  ON_TENANT },
	{ "buf_free", GPUMUX_CMD_BUF_FREE, sizeof(struct gpumux_buf_free),
	  ON_TENANT },
	{ "grant", GPUMUX_CMD_GRANT, sizeof(struct gpumux_grant), ON_CONTROL },
	{ "grant_revoke", GPUMUX_CMD_GRANT_REVOKE,
	  sizeof(struct gpumux_grant_revoke), ON_CONTROL },
	{ "list", GPUMUX_CMD_LIST, sizeof(struct gpumux_list), ON_CONTROL },
	{ "event_fetch", GPUMUX_CMD_EVENT_FETCH,
	  sizeof(struct gpumux_event_fetch), ON_CONTROL },
	{ "list_tenant", GPUMUX_CMD_LIST, sizeof(struct gpumux_list),
	  ON_TENANT },
	{ "event_fetch_tenant", GPUMUX_CMD_EVENT_FETCH,
	  sizeof(struct gpumux_event_fetch), ON_TENANT },
	{ "get_info_tenant", GPUMUX_CMD_GET_INFO, sizeof(struct gpumux_info),
	  ON_TENANT },
};

#define NR_CMDS ARRAY_SIZE(cmds)

/*
 * gpumux_uring_cmd.len other than the command's size: EINVAL, whatever the
 * (zeroed, and so otherwise also invalid or harmless) struct holds.  The
 * command goes to the file that may issue it, so EPERM cannot mask it.
 */
static void t_uring_len(int tfd)
{
	static __u64 buf[128] __attribute__((aligned(64)));
	static const struct {
		const char *name;
		long delta;
	} lens[] = {
		{ "minus8", -8 }, { "plus8", 8 },      { "minus1", -1 },
		{ "plus1", 1 },	  { "zero", -100000 }, { "huge", 100000 },
	};
	size_t i, j;

	for (i = 0; i < NR_CMDS; i++) {
		for (j = 0; j < ARRAY_SIZE(lens); j++) {
			int fd = cmds[i].on == ON_TENANT ? tfd : ctl;
			long len = (long)cmds[i].size + lens[j].delta;

			if (lens[j].delta == -100000)
				len = 0;
			if (lens[j].delta == 100000)
				len = 1L << 30;
			t_begin("uring_len/%s/%s", cmds[i].name, lens[j].name);
			memset(buf, 0, sizeof(buf));
			T_EQ(gm_cmd(fd, cmds[i].op, buf, (size_t)len, GM_URING),
			     -EINVAL);
			t_end();
		}
	}
}

/* gpumux_uring_cmd.reserved non-zero: EINVAL, for every command. */
static void t_uring_reserved(int tfd)
{
	static __u64 buf[128] __attribute__((aligned(64)));
	struct gpumux_info info;
	size_t i;

	for (i = 0; i < NR_CMDS; i++) {
		int fd = cmds[i].on == ON_TENANT ? tfd : ctl;

		t_begin("uring_reserved/%s", cmds[i].name);
		memset(buf, 0, sizeof(buf));
		T_EQ(raw_cmd(fd, cmds[i].op, buf, cmds[i].size, 1), -EINVAL);
		memset(buf, 0, sizeof(buf));
		T_EQ(raw_cmd(fd, cmds[i].op, buf, cmds[i].size, 1U << 31),
		     -EINVAL);
		t_end();
	}
	/* The private ring itself works: reserved 0 is accepted. */
	t_begin("uring_reserved/zero_ok");
	memset(&info, 0, sizeof(info));
	T_EQ(raw_cmd(ctl, GPUMUX_CMD_GET_INFO, &info, sizeof(info), 0), 0);
	T_EQ(info.file_kind, GPUMUX_FILE_CONTROL);
	t_end();
}

/* A command struct at a bad address: EFAULT, through both paths. */
static void t_efault(int tfd, enum gm_path p)
{
	size_t i;

	for (i = 0; i < NR_CMDS; i++) {
		int fd = cmds[i].on == ON_TENANT ? tfd : ctl;

		t_begin("efault/%s/%s", cmds[i].name, PN(p));
		T_EQ(gm_cmd(fd, cmds[i].op, BAD_PTR, cmds[i].size, p), -EFAULT);
		t_end();
	}
}

/* A struct that ends on an unmapped page: EFAULT, not a partial read. */
static void t_efault_straddle(enum gm_path p)
{
	struct gpumux_info *info;
	char *map;

	t_begin("efault/get_info_straddle/%s", PN(p));
	map = mmap(NULL, 8192, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	T_ASSERT(map != MAP_FAILED);
	if (map != MAP_FAILED) {
		T_EQ(munmap(map + 4096, 4096), 0);
		info = (struct gpumux_info *)(map + 4096 - 16);
		memset(info, 0, 16);
		T_EQ(gm_cmd(ctl, GPUMUX_CMD_GET_INFO, info, sizeof(*info), p),
		     -EFAULT);
		munmap(map, 4096);
	}
	t_end();
}

/* ---- who may open the control file --------------------------------------- */

static int drop_cap_sys_admin(void)
{
	struct __user_cap_header_struct h = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3];
	int i = CAP_TO_INDEX(CAP_SYS_ADMIN);

	if (syscall(SYS_capget, &h, d))
		return -errno;
	d[i].effective &= ~CAP_TO_MASK(CAP_SYS_ADMIN);
	d[i].permitted &= ~CAP_TO_MASK(CAP_SYS_ADMIN);
	d[i].inheritable &= ~CAP_TO_MASK(CAP_SYS_ADMIN);
	if (syscall(SYS_capset, &h, d))
		return -errno;
	return 0;
}

/*
 * Run @fn in a child process; its exit status is a small code: 0 for
 * success, else the line (mod 256) of the check that failed there.
 * Returns that code, or -1 if the child did not exit normally.
 */
static int in_child(int (*fn)(void *), void *arg)
{
	int st;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		raw_ready = 0; /* the parent's ring is not ours */
		_exit(fn(arg));
	}
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

#define CHILD_CHECK(cond)                                                      \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "child: %s:%d: %s failed\n", __FILE__, \
				__LINE__, #cond);                              \
			return (__LINE__ % 250) + 1;                           \
		}                                                              \
	} while (0)

/* Without CAP_SYS_ADMIN, uid still 0: open must fail with EPERM. */
static int child_nocap_open(void *arg)
{
	int fd;

	(void)arg;
	CHILD_CHECK(drop_cap_sys_admin() == 0);
	fd = open(GPUMUX_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		fprintf(stderr, "child: open without CAP_SYS_ADMIN worked\n");
		return 200;
	}
	if (errno != EPERM) {
		fprintf(stderr, "child: open errno %d, want EPERM\n", errno);
		return 201;
	}
	return 0;
}

static int become_nobody(void)
{
	if (setgroups(0, NULL) || setgid(65534) || setuid(65534))
		return -errno;
	return 0;
}

/* As user nobody: open must fail with EPERM (module) or EACCES (mode). */
static int child_nobody_open(void *arg)
{
	int fd;

	(void)arg;
	CHILD_CHECK(become_nobody() == 0);
	fd = open(GPUMUX_DEVICE_PATH, O_RDWR | O_CLOEXEC);
	if (fd >= 0) {
		fprintf(stderr, "child: open as nobody worked\n");
		return 200;
	}
	if (errno != EPERM && errno != EACCES) {
		fprintf(stderr, "child: open errno %d, want EPERM/EACCES\n",
			errno);
		return 201;
	}
	fd = open(GPUMUX_DEVICE_PATH, O_RDONLY | O_CLOEXEC);
	CHILD_CHECK(fd < 0);
	return 0;
}

struct child_fds {
	int ctl, tfd;
	unsigned int tenant;
	enum gm_path p;
};

/*
 * The capability is checked at open: a control file opened with it keeps
 * working after the opener drops it (the daemon may drop privileges), and
 * a tenant file works for an unprivileged process.
 */
static int child_nocap_use(void *arg)
{
	struct child_fds *c = arg;
	struct gpumux_info info = { 0 };

	CHILD_CHECK(drop_cap_sys_admin() == 0);
	CHILD_CHECK(child_cmd(c->ctl, GPUMUX_CMD_GET_INFO, &info, sizeof(info),
			      c->p) == 0);
	CHILD_CHECK(info.file_kind == GPUMUX_FILE_CONTROL);
	return 0;
}

static int child_nobody_tenant(void *arg)
{
	struct child_fds *c = arg;
	struct gpumux_info info = { 0 };
	struct gpumux_buf_alloc a = { .size = 4096 };
	struct gpumux_buf_free f = { 0 };

	CHILD_CHECK(become_nobody() == 0);
	CHILD_CHECK(child_cmd(c->tfd, GPUMUX_CMD_GET_INFO, &info, sizeof(info),
			      c->p) == 0);
	CHILD_CHECK(info.file_kind == GPUMUX_FILE_TENANT);
	CHILD_CHECK(info.tenant_id == c->tenant);
	CHILD_CHECK(child_cmd(c->tfd, GPUMUX_CMD_BUF_ALLOC, &a, sizeof(a),
			      c->p) == 0);
	f.buf_id = a.buf_id;
	CHILD_CHECK(child_cmd(c->tfd, GPUMUX_CMD_BUF_FREE, &f, sizeof(f),
			      c->p) == 0);
	return 0;
}

static void t_open_perm(void)
{
	int r;

	t_begin("open/needs_cap_sys_admin");
	r = in_child(child_nocap_open, NULL);
	if (r == 200)
		t_fail(__FILE__, __LINE__,
		       "uid 0 without CAP_SYS_ADMIN opened the control file");
	else if (r == 201)
		t_fail(__FILE__, __LINE__,
		       "open without CAP_SYS_ADMIN: errno not EPERM (see stderr)");
	else
		T_EQ(r, 0);
	t_end();

	t_begin("open/nobody_refused");
	r = in_child(child_nobody_open, NULL);
	if (r == 200)
		t_fail(__FILE__, __LINE__,
		       "user nobody opened the control file");
	else
		T_EQ(r, 0);
	t_end();
}

static void t_use_without_cap(enum gm_path p)
{
	struct child_fds c = { .ctl = ctl, .p = p };

	t_begin("open/control_fd_works_after_cap_drop/%s", PN(p));
	T_EQ(in_child(child_nocap_use, &c), 0);
	t_end();

	t_begin("open/tenant_fd_works_unprivileged/%s", PN(p));
	c.tfd = T_OK(
		gm_tenant_create(ctl, "uapi-nobody", 0, 1 << 20, &c.tenant, p));
	if (c.tfd >= 0) {
		T_EQ(in_child(child_nobody_tenant, &c), 0);
		close(c.tfd);
	}
	t_end();
}

/* The control file has nothing to map. */
static void t_control_mmap(void)
{
	void *m;

	t_begin("mmap/control_refused");
	m = mmap(NULL, 4096, PROT_READ, MAP_SHARED, ctl, 0);
	T_ASSERT(m == MAP_FAILED);
	if (m != MAP_FAILED)
		munmap(m, 4096);
	t_end();
}

/* ---- debugfs ------------------------------------------------------------- */

static void t_debugfs_counters(void)
{
	static const char *const names[] = {
		"tenants", "buffers",	   "pages", "pinned_bytes",
		"grants",  "pending_cmds", "gpus",  "events_dropped",
	};
	size_t i;

	for (i = 0; i < ARRAY_SIZE(names); i++) {
		t_begin("debugfs/counter_%s", names[i]);
		T_ASSERT(gm_counter(names[i]) >= 0);
		t_end();
	}
}

/* One line of each kind, in the documented format. */
static void t_debugfs_state(void)
{
	char ident[64], prefix[64], line[1024], want[512];
	unsigned int tid = 0, uid = 0, buf = 0;
	struct gpumux_grant g = { 0 };
	int gpu, tfd, ufd;

	t_begin("debugfs/state_lines");
	snprintf(ident, sizeof(ident), "test:uapi:%d:state", getpid());
	gpu = T_OK(gm_gpu_add(ctl, 48, ident, GM_IOCTL));
	tfd = T_OK(gm_tenant_create(ctl, "uapi-state", 40, 1 << 20, &tid,
				    GM_IOCTL));
	ufd = T_OK(gm_tenant_create(ctl, "uapi-state2", 0, 0, &uid, GM_IOCTL));
	if (gpu < 0 || tfd < 0 || ufd < 0)
		goto out;
	T_EQ(gm_part_set_range(ctl, tid, gpu, 0, 16, 0, 0, NULL, GM_IOCTL), 0);
	T_EQ(gm_part_set_range(ctl, tid, gpu, 32, 1, 0, 0, NULL, GM_IOCTL),
	     -EINVAL); /* would revoke 0-15 with no deadline */
	{
		struct gpumux_part_set s = {
			.tenant_id = tid,
			.gpu_id = gpu,
			.mask = { 0x10000ffffULL },
		};

		T_EQ(GM_CMD(ctl, GPUMUX_CMD_PART_SET, &s, GM_IOCTL), 0);
	}
	T_EQ(gm_buf_alloc(tfd, 8192, &buf, NULL, GM_IOCTL), 0);
	g.buf_id = buf;
	g.tenant_id = uid;
	g.access = GPUMUX_ACCESS_RW;
	T_EQ(GM_CMD(ctl, GPUMUX_CMD_GRANT, &g, GM_IOCTL), 0);

	snprintf(prefix, sizeof(prefix), "gpu %d ", gpu);
	snprintf(want, sizeof(want), "gpu %d cus=48 vram=%llu ident=%s", gpu,
		 1ULL << 34, ident);
	T_EQ(gm_state_line(prefix, line, sizeof(line)), 0);
	if (strcmp(line, want))
		t_fail(__FILE__, __LINE__, "'%s', want '%s'", line, want);

	snprintf(prefix, sizeof(prefix), "tenant %u ", tid);
	snprintf(
		want, sizeof(want),
		"tenant %u name=uapi-state fenced=0 max_cus=40 quota=%u used=8192 buffers=1",
		tid, 1 << 20);
	T_EQ(gm_state_line(prefix, line, sizeof(line)), 0);
	if (strcmp(line, want))
		t_fail(__FILE__, __LINE__, "'%s', want '%s'", line, want);

	snprintf(prefix, sizeof(prefix), "part %u %d ", tid, gpu);
	T_EQ(gm_state_line(prefix, line, sizeof(line)), 0);
	if (!strstr(line, " flags=0 state=stable gen=") ||
	    !strstr(line, " active=0-15,32 target=0-15,32"))
		t_fail(__FILE__, __LINE__, "'%s'", line);

	snprintf(prefix, sizeof(prefix), "buf %u ", buf);
	snprintf(want, sizeof(want), "buf %u owner=%u size=8192 grants=1", buf,
		 tid);
	T_EQ(gm_state_line(prefix, line, sizeof(line)), 0);
	if (strcmp(line, want))
		t_fail(__FILE__, __LINE__, "'%s', want '%s'", line, want);

	snprintf(prefix, sizeof(prefix), "grant %u %u ", buf, uid);
	snprintf(want, sizeof(want), "grant %u %u access=rw", buf, uid);
	T_EQ(gm_state_line(prefix, line, sizeof(line)), 0);
	if (strcmp(line, want))
		t_fail(__FILE__, __LINE__, "'%s', want '%s'", line, want);
out:
	if (tfd >= 0)
		close(tfd);
	if (ufd >= 0)
		close(ufd);
	if (gpu > 0)
		T_EQ(gm_gpu_remove(ctl, gpu, GM_IOCTL), 0);
	t_end();
}

/* ---- leak check ---------------------------------------------------------- */

int main(void)
{
	long long base[GM_NR_CNT];
	enum gm_path p;
	int tfd;

	setvbuf(stdout, NULL, _IOLBF, 0);
	t_begin("open/control");
	ctl = gm_open_control(0);
	if (ctl < 0) {
		t_fail(__FILE__, __LINE__, "open %s: %s", GPUMUX_DEVICE_PATH,
		       strerror(-ctl));
		t_end();
		return 1;
	}
	t_end();
	gm_counters_get(base);

	for_each_path(p) {
		t_get_info_control(p);
		t_features(p);
		t_get_info_tenant(p);
		t_get_info_counts(p);
		t_get_info_reserved(p);
		t_two_controls(p);
		t_unknown(p);
		t_efault_straddle(p);
		t_use_without_cap(p);
	}

	tfd = gm_tenant_create(ctl, "uapi-envelope", 0, 1 << 20, NULL,
			       GM_IOCTL);
	t_begin("setup/envelope_tenant");
	T_OK(tfd);
	t_end();
	if (tfd >= 0) {
		t_uring_len(tfd);
		t_uring_reserved(tfd);
		for_each_path(p)
			t_efault(tfd, p);
		close(tfd);
	}
	t_open_perm();
	t_control_mmap();
	t_debugfs_counters();
	t_debugfs_state();
	raw_reset();
	gm_t_leaks(base);
	close(ctl);
	return t_status();
}
