/*
 * worker: one background thread for work that must not stall the event loop (password
 * hashing: yescrypt costs ~15 ms on x86 and several times that on a Pi, during which no
 * frame or key would move).
 *
 * A job's run() executes on the worker thread and touches only the job's own fields; its
 * done() executes later on the main thread, from ipkvm_worker_drain(), which the main loop
 * calls when woken through the wake callback (lws_cancel_service in the daemon).
 */
#ifndef IPKVM_CORE_WORKER_H
#define IPKVM_CORE_WORKER_H

struct ipkvm_job {
	void (*run)(struct ipkvm_job *job);  /* worker thread */
	void (*done)(struct ipkvm_job *job); /* main thread; owns and frees the job */
	struct ipkvm_job *next;
};

struct ipkvm_worker;

struct ipkvm_worker *ipkvm_worker_create(void (*wake)(void *ctx), void *ctx);
/* Finishes queued jobs, calls their done() and joins the thread. */
void ipkvm_worker_destroy(struct ipkvm_worker *w);
void ipkvm_worker_submit(struct ipkvm_worker *w, struct ipkvm_job *job);
/* Calls done() of every finished job, in submission order. Main thread only. */
void ipkvm_worker_drain(struct ipkvm_worker *w);

#endif
