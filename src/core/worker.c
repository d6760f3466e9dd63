/*
 * worker: see worker.h. Two singly linked FIFO queues under one mutex; the worker sleeps on
 * a condition variable. Jobs are rare (logins, password changes), so one thread is enough.
 */
#define LOG_TAG "worker"
#include "core/worker.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>

#include "core/log.h"

struct queue {
	struct ipkvm_job *head, *tail;
};

struct ipkvm_worker {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct queue todo, finished;
	bool stopping;
	void (*wake)(void *ctx);
	void *ctx;
};

static void push(struct queue *q, struct ipkvm_job *j)
{
	j->next = NULL;
	if (q->tail)
		q->tail->next = j;
	else
		q->head = j;
	q->tail = j;
}

static struct ipkvm_job *pop(struct queue *q)
{
	struct ipkvm_job *j = q->head;
	if (j) {
		q->head = j->next;
		if (!q->head)
			q->tail = NULL;
	}
	return j;
}

static void *worker_main(void *arg)
{
	struct ipkvm_worker *w = arg;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct ipkvm_job *j = pop(&w->todo);
		if (!j) {
			if (w->stopping)
				break;
			pthread_cond_wait(&w->cond, &w->lock);
			continue;
		}
		pthread_mutex_unlock(&w->lock);
		j->run(j);
		pthread_mutex_lock(&w->lock);
		push(&w->finished, j);
		if (w->wake)
			w->wake(w->ctx);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

struct ipkvm_worker *ipkvm_worker_create(void (*wake)(void *ctx), void *ctx)
{
	struct ipkvm_worker *w = calloc(1, sizeof(*w));
	if (!w)
		return NULL;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->wake = wake;
	w->ctx = ctx;
	if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
		LOG_ERROR("cannot start the worker thread");
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->lock);
		free(w);
		return NULL;
	}
	return w;
}

void ipkvm_worker_submit(struct ipkvm_worker *w, struct ipkvm_job *job)
{
	pthread_mutex_lock(&w->lock);
	push(&w->todo, job);
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

void ipkvm_worker_drain(struct ipkvm_worker *w)
{
	pthread_mutex_lock(&w->lock);
	struct queue done = w->finished;
	w->finished = (struct queue){0};
	pthread_mutex_unlock(&w->lock);
	struct ipkvm_job *j;
	while ((j = pop(&done)))
		j->done(j);
}

void ipkvm_worker_destroy(struct ipkvm_worker *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	w->wake = NULL;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	ipkvm_worker_drain(w);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}
