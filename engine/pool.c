// SPDX-License-Identifier: GPL-2.0
/*
 * A small pthread pool: the caller and n_threads - 1 workers take tasks of
 * one parallel region from a shared counter.  Which thread runs a task never
 * changes what the task computes, so results do not depend on n_threads.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

static void run_tasks(struct gme_pool *p, int tid)
{
	int task;

	while ((task = atomic_fetch_add(&p->next, 1)) < p->n_tasks)
		p->fn(p->ctx, task, tid);
}

static void *worker(void *arg)
{
	struct gme_pool *p = arg;
	unsigned long seen = 0;
	int tid;

	pthread_mutex_lock(&p->lock);
	tid = ++p->active; /* startup: hand out ids 1..n-1 */
	pthread_cond_signal(&p->done);
	for (;;) {
		while (p->gen == seen && !p->stop)
			pthread_cond_wait(&p->wake, &p->lock);
		if (p->stop)
			break;
		seen = p->gen;
		pthread_mutex_unlock(&p->lock);
		run_tasks(p, tid);
		pthread_mutex_lock(&p->lock);
		if (--p->active == 0)
			pthread_cond_signal(&p->done);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int gme_pool_init(struct gme_pool *p, int n_threads)
{
	int i;

	p->n_threads = n_threads < 1 ? 1 : n_threads;
	p->gen = 0;
	p->active = 0;
	p->stop = false;
	atomic_init(&p->next, 0);
	p->threads = calloc(p->n_threads, sizeof(*p->threads));
	if (!p->threads)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	pthread_cond_init(&p->done, NULL);
	for (i = 0; i < p->n_threads - 1; i++) {
		if (pthread_create(&p->threads[i], NULL, worker, p)) {
			p->n_threads = i + 1;
			gme_pool_destroy(p);
			return -EAGAIN;
		}
	}
	/* wait until every worker has its id, then start regions from 0 */
	pthread_mutex_lock(&p->lock);
	while (p->active < p->n_threads - 1)
		pthread_cond_wait(&p->done, &p->lock);
	p->active = 0;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

void gme_pool_destroy(struct gme_pool *p)
{
	if (!p->threads)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	for (int i = 0; i < p->n_threads - 1; i++)
		pthread_join(p->threads[i], NULL);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->wake);
	pthread_cond_destroy(&p->done);
	free(p->threads);
	p->threads = NULL;
}

void gme_pool_run(struct gme_pool *p, gme_task_fn fn, void *ctx, int n_tasks,
		  bool parallel)
{
	if (!parallel || p->n_threads == 1 || n_tasks < 2) {
		for (int task = 0; task < n_tasks; task++)
			fn(ctx, task, 0);
		return;
	}
	pthread_mutex_lock(&p->lock);
	p->fn = fn;
	p->ctx = ctx;
	p->n_tasks = n_tasks;
	atomic_store(&p->next, 0);
	p->active = p->n_threads - 1;
	p->gen++;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);

	run_tasks(p, 0);

	pthread_mutex_lock(&p->lock);
	while (p->active > 0)
		pthread_cond_wait(&p->done, &p->lock);
	pthread_mutex_unlock(&p->lock);
}
