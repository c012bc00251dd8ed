// SPDX-License-Identifier: GPL-2.0
/*
 * io_uring corner cases of the uring_cmd path: commands forced to io-wq
 * (IOSQE_ASYNC) must complete, with their result, exactly as inline ones;
 * and a completed command must not fail the commands linked after it.
 */
#include <liburing.h>
#include <string.h>
#include <unistd.h>

#include "gmtest.h"

static void prep_cmd(struct io_uring_sqe *sqe, int fd, unsigned int op,
		     void *arg, size_t len, uint64_t tag)
{
	struct gpumux_uring_cmd uc = { .addr = (uintptr_t)arg, .len = len };

	io_uring_prep_rw(IORING_OP_URING_CMD, sqe, fd, NULL, 0, 0);
	sqe->cmd_op = op;
	memcpy(sqe->cmd, &uc, sizeof(uc));
	sqe->user_data = tag;
}

/* Queue one PART_CHANGED event on the tenant: grow its partition to @n. */
static void make_event(int ctl, unsigned int tid, unsigned int gpu,
		       unsigned int n)
{
	T_OK(gm_part_set_range(ctl, tid, gpu, 0, n, 0, 0, NULL, GM_IOCTL));
}

int main(void)
{
	struct gpumux_event ev[8];
	struct gpumux_event_fetch f;
	struct gpumux_info info;
	long long base[GM_NR_CNT];
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	unsigned int gpu, tid;
	uint64_t tag;
	int ctl, tfd, res, i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	gm_counters_get(base);
	ctl = gm_t_open_control(0);
	if (ctl < 0)
		return t_status();
	gpu = T_OK(gm_gpu_add(ctl, 64, "test:uring:1", GM_IOCTL));
	tfd = T_OK(gm_tenant_create(ctl, "uring", 64, 0, &tid, GM_IOCTL));
	T_OK(io_uring_queue_init(16, &ring, 0));

	/* A fetch that finds events at once, issued from io-wq. */
	t_begin("uring/async_fetch_with_events_completes");
	make_event(ctl, tid, gpu, 2);
	memset(&f, 0, sizeof(f));
	f.addr = (uintptr_t)ev;
	f.capacity = 8;
	sqe = io_uring_get_sqe(&ring);
	prep_cmd(sqe, tfd, GPUMUX_CMD_EVENT_FETCH, &f, sizeof(f), 1);
	sqe->flags |= IOSQE_ASYNC;
	T_EQ(io_uring_submit(&ring), 1);
	res = -1;
	T_EQ(gm_uring_wait(&ring, 5000, &res, &tag), 0);
	T_EQ(res, 1);
	T_EQ(f.count, 1);
	T_EQ(ev[0].type, GPUMUX_EVENT_PART_CHANGED);
	T_EQ(ev[0].tenant_id, tid);
	t_end();

	/* The same inline, with a NOP linked after it. */
	t_begin("uring/fetch_result_does_not_fail_link");
	make_event(ctl, tid, gpu, 2);
	memset(&f, 0, sizeof(f));
	f.addr = (uintptr_t)ev;
	f.capacity = 8;
	sqe = io_uring_get_sqe(&ring);
	prep_cmd(sqe, tfd, GPUMUX_CMD_EVENT_FETCH, &f, sizeof(f), 2);
	sqe->flags |= IOSQE_IO_LINK;
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_nop(sqe);
	sqe->user_data = 3;
	T_EQ(io_uring_submit(&ring), 2);
	for (i = 0; i < 2; i++) {
		res = -1;
		tag = 0;
		T_EQ(gm_uring_wait(&ring, 5000, &res, &tag), 0);
		if (tag == 2)
			T_EQ(res, 1);
		else
			T_EQ(res, 0); /* the NOP ran: not -ECANCELED */
	}
	t_end();

	/* Other commands forced to io-wq complete with their result. */
	t_begin("uring/async_commands_complete");
	for (i = 0; i < 8; i++) {
		memset(&info, 0, sizeof(info));
		sqe = io_uring_get_sqe(&ring);
		prep_cmd(sqe, ctl, GPUMUX_CMD_GET_INFO, &info, sizeof(info),
			 10);
		sqe->flags |= IOSQE_ASYNC;
		T_EQ(io_uring_submit(&ring), 1);
		res = -1;
		T_EQ(gm_uring_wait(&ring, 5000, &res, NULL), 0);
		T_EQ(res, 0);
		T_EQ(info.version, GPUMUX_VERSION);
	}
	t_end();

	io_uring_queue_exit(&ring);
	close(tfd);
	/* The ring lets go of the tenant file in its exit work: wait for it. */
	for (i = 0; i < 100 && gm_gpu_remove(ctl, gpu, GM_IOCTL) == -EBUSY; i++)
		usleep(20 * 1000);
	T_ASSERT(i < 100);
	close(ctl);
	gm_t_leaks(base);
	return t_status();
}
