/*
 * test_video: the pipeline of video.c driven by a fake source: what gets encoded (changed
 * frames only, at most max_fps, a skipped change still delivered), image order, the
 * placeholder when the source has no signal, and reopening after a device error. Every test
 * runs twice: with a source that gives its frames away, and with one that lends them (as the
 * V4L2 source lends driver buffers) and scribbles over each when it is handed back, so a
 * pipeline that kept a lent frame instead of a copy shows garbage; each lent frame must be
 * handed back before the next is taken.
 *
 * Time is the test's: the pipeline reads a fake clock that only advance() moves, so the rate
 * limit, held-back changes and back-off are decided by the test, not by the machine's load.
 * Nothing sleeps: where the test waits for the pipeline's threads it waits for an event (the
 * source was polled, an image was published) with a bound, and "nothing happened" is checked
 * once the capture thread has handled everything and the encoders are idle.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>
#include <turbojpeg.h>

#include "core/log.h"
#include "video/h264_stream.h"
#include "video/jpeg.h"
#include "video/video.h"

#define WAIT_BOUND_MS 5000 /* how long any wait for the pipeline may take before it fails */
#define IDLE_NAP_MS   200  /* video.c: the capture pace while nobody watches */
#define BACKOFF_MS    250  /* video.c: the first reopen delay */

/* The pipeline's clock: starts far from zero (0 means "never" for the rate limit). */
static _Atomic int64_t clock_us = 1000000000;

static int64_t fake_now(void *ctx)
{
	(void)ctx;
	return atomic_load(&clock_us);
}

/* Something happened on a pipeline thread: the source was opened, polled or read, or an
 * image was published. Waiters re-check their condition. */
static pthread_mutex_t ev_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ev_cond = PTHREAD_COND_INITIALIZER;
static uint64_t ev_gen;

static void event(void)
{
	pthread_mutex_lock(&ev_lock);
	ev_gen++;
	pthread_cond_broadcast(&ev_cond);
	pthread_mutex_unlock(&ev_lock);
}

/* Waits until pred() holds, for at most WAIT_BOUND_MS. The condition is re-checked at every
 * event and, in case one is missed (a state set just after its event), every 10 ms. */
static bool wait_until(bool (*pred)(void *arg), void *arg)
{
	struct timespec end;
	clock_gettime(CLOCK_MONOTONIC, &end);
	int64_t end_ns =
	    (int64_t)end.tv_sec * 1000000000 + end.tv_nsec + (int64_t)WAIT_BOUND_MS * 1000000;
	for (;;) {
		pthread_mutex_lock(&ev_lock);
		uint64_t gen = ev_gen;
		pthread_mutex_unlock(&ev_lock);
		if (pred(arg))
			return true;
		struct timespec now;
		clock_gettime(CLOCK_MONOTONIC, &now);
		int64_t now_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
		if (now_ns >= end_ns)
			return pred(arg);
		struct timespec until; /* the condition variable's clock is CLOCK_REALTIME */
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 10000000;
		if (until.tv_nsec >= 1000000000) {
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_mutex_lock(&ev_lock);
		while (ev_gen == gen &&
		       pthread_cond_timedwait(&ev_cond, &ev_lock, &until) != ETIMEDOUT)
			;
		pthread_mutex_unlock(&ev_lock);
	}
}

/* A source whose frames the test pushes: push() makes the fd readable. */
struct fake {
	struct ipkvm_source src;
	int efd;
	pthread_mutex_t lock;
	struct ipkvm_frame *pending;
	int opens, fail_opens, fail_next;
	bool is_open;
	int destroyed;
	uint64_t polls; /* fd() calls: the capture thread is at the top of its loop */
	enum ipkvm_signal state;
	/* Lending (the second run of every test): next() lends the pushed frame as a V4L2
	 * source lends a driver buffer; release() scribbles over it before freeing it, so a
	 * pipeline that kept a pointer into a lent frame would show garbage. */
	struct ipkvm_frame view, *lent;
	int lends, releases;
	bool next_while_lent;
};

/* Whether the fake source lends its frames (set per group of tests, see main). */
static bool lend_mode;

static int f_open(struct ipkvm_source *s)
{
	struct fake *f = s->priv;
	pthread_mutex_lock(&f->lock);
	f->opens++;
	int r = f->fail_opens > 0 ? (f->fail_opens--, -ENODEV) : 0;
	f->is_open = r == 0;
	pthread_mutex_unlock(&f->lock);
	event();
	return r;
}
static int f_start(struct ipkvm_source *s)
{
	return 0;
}
static int f_fd(struct ipkvm_source *s)
{
	struct fake *f = s->priv;
	pthread_mutex_lock(&f->lock);
	f->polls++;
	pthread_mutex_unlock(&f->lock);
	event();
	return f->efd;
}
static int f_next(struct ipkvm_source *s, struct ipkvm_frame **out)
{
	struct fake *f = s->priv;
	uint64_t n;
	ssize_t r = read(f->efd, &n, sizeof(n));
	(void)r;
	pthread_mutex_lock(&f->lock);
	int ret = -EAGAIN;
	if (f->fail_next) {
		f->fail_next = 0;
		ret = -ENODEV;
	} else if (f->pending && lend_mode) {
		if (f->lent)
			f->next_while_lent = true;
		/* the "driver buffer": a copy of its own (the test may hold the pushed frame) */
		struct ipkvm_frame *p = f->pending;
		f->lent = ipkvm_frame_new(p->format, p->width, p->height, p->size);
		assert_non_null(f->lent);
		memcpy(f->lent->data, p->data, p->size);
		f->lent->size = p->size;
		f->lent->ts_us = p->ts_us;
		f->lent->seq = p->seq;
		ipkvm_frame_unref(p);
		f->pending = NULL;
		f->view = *f->lent;
		atomic_init(&f->view.refs, 0);
		f->view.borrowed = true;
		f->lends++;
		*out = &f->view;
		ret = 0;
	} else if (f->pending) {
		*out = f->pending;
		f->pending = NULL;
		ret = 0;
	}
	pthread_mutex_unlock(&f->lock);
	event();
	return ret;
}
static void f_release(struct ipkvm_source *s, struct ipkvm_frame *fr)
{
	struct fake *f = s->priv;
	pthread_mutex_lock(&f->lock);
	assert_ptr_equal(fr, &f->view);
	assert_non_null(f->lent);
	memset(f->lent->data, 0xa5, f->lent->capacity);
	ipkvm_frame_unref(f->lent);
	f->lent = NULL;
	f->releases++;
	pthread_mutex_unlock(&f->lock);
}
static void f_stop(struct ipkvm_source *s)
{
}
static void f_close(struct ipkvm_source *s)
{
	struct fake *f = s->priv;
	pthread_mutex_lock(&f->lock);
	f->is_open = false;
	pthread_mutex_unlock(&f->lock);
}
static void f_signal(struct ipkvm_source *s, struct ipkvm_signal_info *out)
{
	struct fake *f = s->priv;
	pthread_mutex_lock(&f->lock);
	out->state = f->is_open ? f->state : IPKVM_SIGNAL_NO_DEVICE;
	out->width = 64;
	out->height = 32;
	snprintf(out->reason, sizeof(out->reason), "%s",
		 out->state == IPKVM_SIGNAL_OK ? "" : "fake says no");
	pthread_mutex_unlock(&f->lock);
}
static void f_destroy(struct ipkvm_source *s)
{
	((struct fake *)s->priv)->destroyed++;
}

static const struct ipkvm_source_ops fake_ops = {
    .name = "fake",
    .open = f_open,
    .start = f_start,
    .fd = f_fd,
    .next = f_next,
    .release = f_release,
    .stop = f_stop,
    .close = f_close,
    .signal = f_signal,
    .destroy = f_destroy,
};

/* What the wake callback saw: every published image's seq, in order. */
struct seen {
	pthread_mutex_t lock;
	struct ipkvm_video *v;
	uint64_t seqs[4096];
	size_t n;
	bool backwards;
};

/* Workers wake at once: the latest image is read under the test's lock, so that what one
 * read is recorded before another reads (a read then a wait for the lock would let a newer
 * image be recorded first, and look like the pipeline going backwards). */
static void on_wake(void *ctx)
{
	struct seen *s = ctx;
	struct ipkvm_video_image img;
	pthread_mutex_lock(&s->lock);
	if (!s->v || !ipkvm_video_latest(s->v, &img)) {
		pthread_mutex_unlock(&s->lock);
		return;
	}
	if (s->n && img.seq < s->seqs[s->n - 1])
		s->backwards = true;
	if (s->n < 4096 && (!s->n || img.seq != s->seqs[s->n - 1]))
		s->seqs[s->n++] = img.seq;
	pthread_mutex_unlock(&s->lock);
	ipkvm_video_image_release(&img);
	event();
}

static struct fake fk;
static struct seen seen;

/* The threads the images' wake was called from, and the H.264 wake's calls and thread. */
static pthread_t image_wakers[64];
static _Atomic size_t n_image_wakers;
static _Atomic int h264_wakes;
static pthread_t h264_waker;

static void on_h264_wake(void *ctx)
{
	assert_ptr_equal(ctx, &seen); /* create's ctx */
	h264_waker = pthread_self();
	atomic_fetch_add(&h264_wakes, 1);
	event();
}

static void on_image_wake(void *ctx)
{
	size_t i = atomic_fetch_add(&n_image_wakers, 1);
	if (i < 64)
		image_wakers[i] = pthread_self();
	on_wake(ctx);
}

static void make_cfg(struct ipkvm_video_config *cfg, int max_fps, unsigned workers)
{
	memset(&fk, 0, sizeof(fk));
	memset(&seen, 0, sizeof(seen));
	pthread_mutex_init(&fk.lock, NULL);
	pthread_mutex_init(&seen.lock, NULL);
	fk.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	fk.src.ops = &fake_ops;
	fk.src.priv = &fk;
	fk.state = IPKVM_SIGNAL_OK;
	*cfg = (struct ipkvm_video_config){
	    .src = &fk.src,
	    .quality = 80,
	    .max_fps = max_fps,
	    .workers = workers,
	    .now_us = fake_now,
	};
}

/* A video on the fake source (the caller's source, as the virtual target's is). */
static struct ipkvm_video *make(int max_fps, unsigned workers)
{
	struct ipkvm_video_config cfg;
	make_cfg(&cfg, max_fps, workers);
	char err[128];
	struct ipkvm_video *v = ipkvm_video_create(&cfg, on_wake, &seen, err, sizeof(err));
	assert_non_null(v);
	seen.v = v;
	return v;
}

static void finish(struct ipkvm_video *v)
{
	seen.v = NULL;
	ipkvm_video_destroy(v);
	pthread_mutex_lock(&fk.lock);
	ipkvm_frame_unref(fk.pending);
	fk.pending = NULL;
	/* every lent frame was handed back, each before the next was taken */
	assert_null(fk.lent);
	assert_int_equal(fk.releases, fk.lends);
	assert_false(fk.next_while_lent);
	pthread_mutex_unlock(&fk.lock);
	close(fk.efd);
}

/* Moves the pipeline's clock. kick: wake the capture thread to look at it, as a timer
 * firing would (without, only the next frame or event sees the new time). */
static void advance(struct ipkvm_video *v, int64_t ms, bool kick)
{
	atomic_fetch_add(&clock_us, ms * 1000);
	if (kick)
		ipkvm_video_kick(v);
}

static bool frame_taken(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&fk.lock);
	bool taken = fk.pending == NULL;
	pthread_mutex_unlock(&fk.lock);
	return taken;
}

/* Pushes a 64x32 YUYV frame filled with value, captured now, and waits until the source
 * took it. */
static void push_frame(struct ipkvm_frame *f)
{
	f->ts_us = fake_now(NULL);
	pthread_mutex_lock(&fk.lock);
	ipkvm_frame_unref(fk.pending);
	fk.pending = f;
	pthread_mutex_unlock(&fk.lock);
	uint64_t one = 1;
	assert_int_equal(write(fk.efd, &one, sizeof(one)), sizeof(one));
	if (!wait_until(frame_taken, NULL))
		fail_msg("the capture thread did not take the frame");
}

static void push(uint8_t value)
{
	struct ipkvm_frame *f = ipkvm_frame_new(IPKVM_FMT_YUYV, 64, 32, 0);
	assert_non_null(f);
	memset(f->data, value, f->size);
	push_frame(f);
}

static size_t published(void)
{
	pthread_mutex_lock(&seen.lock);
	size_t n = seen.n;
	pthread_mutex_unlock(&seen.lock);
	return n;
}

static bool published_at_least(void *arg)
{
	return published() >= *(size_t *)arg;
}

static void wait_published(size_t n)
{
	wait_until(published_at_least, &n);
}

struct quiet {
	struct ipkvm_video *v;
	uint64_t polls; /* fd() calls before the kick */
};

static bool is_quiet(void *arg)
{
	struct quiet *q = arg;
	pthread_mutex_lock(&fk.lock);
	bool looped = fk.polls > q->polls;
	pthread_mutex_unlock(&fk.lock);
	return looped && ipkvm_video_test_encoders_idle(q->v);
}

/* Waits until the pipeline has done all it will do at the current time: the capture thread
 * is woken (without moving the clock), has handled every frame it took and is back at the top
 * of its loop, and every frame it handed to the encoders has been published. What is not
 * published then is not published at all until the clock moves or a frame comes. */
static void settle(struct ipkvm_video *v)
{
	struct quiet q = {.v = v};
	pthread_mutex_lock(&fk.lock);
	q.polls = fk.polls;
	pthread_mutex_unlock(&fk.lock);
	ipkvm_video_kick(v);
	if (!wait_until(is_quiet, &q))
		fail_msg("the pipeline did not settle");
}

static void test_only_changed_frames_are_encoded(void **state)
{
	struct ipkvm_video *v = make(240, 1);
	assert_int_equal(ipkvm_video_start(v), 0);
	ipkvm_video_watch(v, 1);
	push(10);
	wait_published(1);
	settle(v);
	assert_int_equal(published(), 1);
	for (int i = 0; i < 5; i++) {
		advance(v, 6, false); /* past the 240 fps interval */
		push(10);	      /* the same picture: nothing to encode */
	}
	settle(v);
	assert_int_equal(published(), 1);
	advance(v, 6, false);
	push(20); /* a change */
	wait_published(2);
	settle(v);
	assert_int_equal(published(), 2);
	struct ipkvm_video_status st;
	ipkvm_video_status(v, &st);
	assert_int_equal(st.watchers, 1);
	finish(v);
}

static void test_nothing_encoded_without_watchers(void **state)
{
	struct ipkvm_video *v = make(240, 1);
	assert_int_equal(ipkvm_video_start(v), 0);
	push(1);
	advance(v, IDLE_NAP_MS, true); /* the capture thread naps between frames: wake it */
	push(2);
	advance(v, IDLE_NAP_MS, true);
	settle(v);
	assert_int_equal(published(), 0);
	struct ipkvm_frame *raw = ipkvm_video_latest_raw(v);
	assert_non_null(raw); /* captured all the same: the signal stays fresh */
	assert_int_equal(raw->data[0], 2);
	ipkvm_frame_unref(raw);
	ipkvm_video_request_image(v); /* a snapshot asks */
	push(2);
	wait_published(1);
	settle(v);
	assert_int_equal(published(), 1);
	finish(v);
}

static void test_max_fps_skip_still_delivers_the_change(void **state)
{
	struct ipkvm_video *v = make(2, 1); /* one image per 500 ms at most */
	assert_int_equal(ipkvm_video_start(v), 0);
	ipkvm_video_watch(v, 1);
	push(1);
	wait_published(1);
	advance(v, 30, false);
	push(2); /* too soon: skipped, but owed */
	settle(v);
	assert_int_equal(published(), 1);
	advance(v, 490, false); /* 520 ms after the first, and no timer told */
	push(2);		/* unchanged now, but carries the owed change */
	wait_published(2);
	settle(v);
	assert_int_equal(published(), 2);
	struct ipkvm_frame *raw = ipkvm_video_latest_raw(v);
	assert_int_equal(raw->data[0], 2);
	ipkvm_frame_unref(raw);
	finish(v);
}

/* A source that sends only changes (the virtual target): a change held back by max_fps is
 * sent by the capture loop's own timer, with no later frame to carry it. */
static void test_held_back_change_sent_without_another_frame(void **state)
{
	struct ipkvm_video *v = make(5, 1); /* one image per 200 ms at most */
	assert_int_equal(ipkvm_video_start(v), 0);
	ipkvm_video_watch(v, 1);
	push(1);
	wait_published(1);
	advance(v, 20, false);
	push(2); /* too soon, and the source sends nothing after it */
	settle(v);
	assert_int_equal(published(), 1);
	advance(v, 150, true); /* 170 ms: the interval less its quarter of slack is 150 ms */
	wait_published(2);
	settle(v);
	assert_int_equal(published(), 2);
	struct ipkvm_video_image img;
	assert_true(ipkvm_video_latest(v, &img));
	struct ipkvm_frame *raw = ipkvm_video_latest_raw(v);
	assert_int_equal(raw->data[0], 2);
	assert_int_equal(img.seq, raw->seq); /* the image is of the held-back frame */
	ipkvm_frame_unref(raw);
	ipkvm_video_image_release(&img);
	finish(v);
}

/* ... and a snapshot request with nobody watching is answered from the last frame, under a
 * new image number (snapshots wait for an image newer than the last one). */
static void test_request_answered_from_last_frame(void **state)
{
	struct ipkvm_video *v = make(240, 1);
	assert_int_equal(ipkvm_video_start(v), 0);
	push(9);
	advance(v, 30, false);
	settle(v);
	assert_int_equal(published(), 0);
	ipkvm_video_request_image(v);
	wait_published(1);
	settle(v);
	assert_int_equal(published(), 1);
	struct ipkvm_video_image first;
	assert_true(ipkvm_video_latest(v, &first));
	ipkvm_video_request_image(v); /* again: a newer image of the same picture */
	wait_published(2);
	settle(v);
	assert_int_equal(published(), 2);
	struct ipkvm_video_image second;
	assert_true(ipkvm_video_latest(v, &second));
	assert_true(second.seq > first.seq);
	assert_int_equal(second.width, 64);
	ipkvm_video_image_release(&first);
	ipkvm_video_image_release(&second);
	finish(v);
}

static void test_images_never_go_backwards(void **state)
{
	struct ipkvm_video *v = make(240, 4); /* four workers race */
	assert_int_equal(ipkvm_video_start(v), 0);
	ipkvm_video_watch(v, 1);
	for (int i = 0; i < 200; i++) {
		if (i % 2)
			advance(v, 5, false); /* every other frame is past the interval */
		push((uint8_t)(i + 1));
	}
	settle(v);
	pthread_mutex_lock(&seen.lock);
	assert_false(seen.backwards);
	assert_true(seen.n >= 2);
	for (size_t i = 1; i < seen.n; i++)
		assert_true(seen.seqs[i] > seen.seqs[i - 1]);
	pthread_mutex_unlock(&seen.lock);
	finish(v);
}

static void test_placeholder_then_recovery(void **state)
{
	struct ipkvm_video *v = make(240, 1);
	fk.state = IPKVM_SIGNAL_NO_SIGNAL;
	assert_int_equal(ipkvm_video_start(v), 0);
	wait_published(1);
	struct ipkvm_video_image img;
	assert_true(ipkvm_video_latest(v, &img));
	assert_true(img.placeholder);
	unsigned w, h;
	assert_int_equal(ipkvm_jpeg_size(img.part->data + img.jpeg_offset,
					 img.part->len - img.jpeg_offset, &w, &h),
			 0);
	assert_int_equal(w, 1280);
	assert_int_equal(h, 720);
	ipkvm_video_image_release(&img);
	struct ipkvm_video_status st;
	ipkvm_video_status(v, &st);
	assert_int_equal(st.signal.state, IPKVM_SIGNAL_NO_SIGNAL);
	assert_string_equal(st.signal.reason, "fake says no");

	pthread_mutex_lock(&fk.lock);
	fk.state = IPKVM_SIGNAL_OK;
	pthread_mutex_unlock(&fk.lock);
	ipkvm_video_watch(v, 1);
	push(7);
	wait_published(2);
	assert_true(ipkvm_video_latest(v, &img));
	assert_false(img.placeholder);
	assert_int_equal(img.width, 64);
	ipkvm_video_image_release(&img);
	finish(v);
}

static bool opened(void *arg)
{
	pthread_mutex_lock(&fk.lock);
	bool r = fk.opens >= *(int *)arg;
	pthread_mutex_unlock(&fk.lock);
	return r;
}

static bool signal_ok(void *arg)
{
	struct ipkvm_video_status st;
	ipkvm_video_status(arg, &st);
	return st.signal.state == IPKVM_SIGNAL_OK;
}

static void test_reopen_after_device_loss(void **state)
{
	struct ipkvm_video *v = make(240, 1);
	fk.fail_opens = 1; /* first open fails: no device */
	assert_int_equal(ipkvm_video_start(v), 0);
	ipkvm_video_watch(v, 1);
	wait_published(1); /* the no-device placeholder */
	struct ipkvm_video_image img;
	assert_true(ipkvm_video_latest(v, &img));
	assert_true(img.placeholder);
	ipkvm_video_image_release(&img);
	advance(v, BACKOFF_MS, true);
	wait_until(signal_ok, v);
	struct ipkvm_video_status st;
	ipkvm_video_status(v, &st);
	assert_int_equal(st.signal.state, IPKVM_SIGNAL_OK); /* reopened after back-off */
	pthread_mutex_lock(&fk.lock);
	fk.fail_next = 1;
	int opens = fk.opens;
	pthread_mutex_unlock(&fk.lock);
	uint64_t one = 1;
	assert_int_equal(write(fk.efd, &one, sizeof(one)), sizeof(one));
	int more = opens + 1;
	wait_until(opened, &more);
	pthread_mutex_lock(&fk.lock);
	assert_true(fk.opens > opens); /* the failed device was reopened */
	pthread_mutex_unlock(&fk.lock);
	size_t before = published();
	push(99);
	wait_published(before + 1);
	assert_true(published() > before);
	finish(v);
}

/* The caller's source belongs to the video from create on: destroyed with it, and by create
 * itself when the settings are refused. Its name is the one the status reports. */
static bool h264_woke(void *arg)
{
	(void)arg;
	return atomic_load(&h264_wakes) > 0;
}

/* New access units wake the H.264 consumer through its own wake, from the H.264 thread; the
 * images' wake is never called from there (the main loop would wake the MJPEG streams for
 * nothing). */
static void test_h264_has_its_own_wake(void **state)
{
	struct ipkvm_video_config cfg;
	make_cfg(&cfg, 240, 1);
	cfg.h264 = (struct ipkvm_h264_config){.backend = "software"};
	cfg.h264_wake = on_h264_wake;
	atomic_store(&h264_wakes, 0);
	atomic_store(&n_image_wakers, 0);
	char err[128];
	struct ipkvm_video *v = ipkvm_video_create(&cfg, on_image_wake, &seen, err, sizeof(err));
	assert_non_null(v);
	seen.v = v;
	struct ipkvm_h264_stream *h = ipkvm_video_h264(v);
	assert_non_null(h);
	assert_int_equal(ipkvm_video_start(v), 0);
	ipkvm_video_watch(v, 1);
	ipkvm_h264_stream_watch(h, 1);
	push(10);
	wait_published(1);
	if (!wait_until(h264_woke, NULL))
		fail_msg("no H.264 wake");
	uint64_t key = 0;
	assert_true(ipkvm_h264_stream_newest(h, &key) >= 1); /* the wake announced a unit */
	settle(v);
	size_t n = atomic_load(&n_image_wakers);
	assert_true(n >= 1 && n <= 64);
	for (size_t i = 0; i < n; i++)
		assert_false(pthread_equal(image_wakers[i], h264_waker));
	ipkvm_h264_stream_watch(h, -1);
	finish(v);
}

/* Counts the markers FF xx of a JPEG's scan (after SOS) with xx in lo..hi. */
static unsigned scan_markers(const uint8_t *d, size_t len, uint8_t lo, uint8_t hi)
{
	size_t p = 2;
	while (p + 4 <= len && !(d[p] == 0xFF && d[p + 1] == 0xDA))
		p += 2 + ((size_t)d[p + 2] << 8 | d[p + 3]);
	unsigned n = 0;
	for (; p + 1 < len; p++)
		if (d[p] == 0xFF && d[p + 1] >= lo && d[p + 1] <= hi)
			n++;
	return n;
}

static bool has_dri(const uint8_t *d, size_t len)
{
	size_t p = 2;
	while (p + 4 <= len && d[p] == 0xFF && d[p + 1] != 0xDA) {
		if (d[p + 1] == 0xDD)
			return true;
		p += 2 + ((size_t)d[p + 2] << 8 | d[p + 3]);
	}
	return false;
}

static uint8_t *decode_rgb(const uint8_t *jpeg, size_t len, int w, int h)
{
	tjhandle d = tjInitDecompress();
	assert_non_null(d);
	int dw, dh, samp, cs;
	assert_int_equal(tjDecompressHeader3(d, jpeg, len, &dw, &dh, &samp, &cs), 0);
	assert_int_equal(dw, w);
	assert_int_equal(dh, h);
	uint8_t *rgb = malloc((size_t)w * h * 3);
	assert_non_null(rgb);
	assert_int_equal(tjDecompress2(d, jpeg, len, rgb, w, 0, h, TJPF_RGB, 0), 0);
	tjDestroy(d);
	return rgb;
}

/* strips = 3 with two workers: a 64x40 frame (five 8-row MCU rows: strips of 16, 16 and 8
 * rows) is published as one JPEG with a restart interval and RST0, RST1, which decodes to
 * the pixels of a single-piece encode of the same frame. */
static void test_strips_publish_one_joined_image(void **state)
{
	struct ipkvm_video_config cfg;
	make_cfg(&cfg, 240, 2);
	cfg.strips = 3;
	char err[128];
	struct ipkvm_video *v = ipkvm_video_create(&cfg, on_wake, &seen, err, sizeof(err));
	assert_non_null(v);
	seen.v = v;
	assert_int_equal(ipkvm_video_start(v), 0);
	ipkvm_video_watch(v, 1);

	struct ipkvm_frame *f = ipkvm_frame_new(IPKVM_FMT_YUYV, 64, 40, 0);
	assert_non_null(f);
	for (size_t i = 0; i < f->size; i++)
		f->data[i] = (uint8_t)(i * 7 + (i >> 7) * 13); /* detail in every block */
	push_frame(ipkvm_frame_ref(f));
	wait_published(1);
	settle(v);
	struct ipkvm_video_image img;
	assert_true(ipkvm_video_latest(v, &img));
	const uint8_t *jpeg = img.part->data + img.jpeg_offset;
	size_t len = img.part->len - img.jpeg_offset;
	assert_true(has_dri(jpeg, len));
	assert_int_equal(scan_markers(jpeg, len, 0xD0, 0xD7), 2);
	assert_int_equal(scan_markers(jpeg, len, 0xD9, 0xD9), 1);
	assert_int_equal(img.width, 64);
	assert_int_equal(img.height, 40);
	struct ipkvm_video_status st;
	ipkvm_video_status(v, &st);
	assert_int_equal(st.strips, 3);
	assert_int_equal(st.workers, 2);

	struct ipkvm_jpeg *j = ipkvm_jpeg_create();
	struct ipkvm_buf *whole = NULL;
	assert_int_equal(ipkvm_jpeg_encode(j, f, 80, false, &whole), 0);
	assert_false(has_dri(whole->data, whole->len));
	uint8_t *want = decode_rgb(whole->data, whole->len, 64, 40);
	uint8_t *got = decode_rgb(jpeg, len, 64, 40);
	assert_memory_equal(got, want, 64 * 40 * 3);
	free(want);
	free(got);
	ipkvm_buf_unref(whole);
	ipkvm_jpeg_destroy(j);
	ipkvm_video_image_release(&img);
	ipkvm_frame_unref(f);
	finish(v);

	/* strips = 1: whole frames, no restart markers */
	make_cfg(&cfg, 240, 2);
	cfg.strips = 1;
	v = ipkvm_video_create(&cfg, on_wake, &seen, err, sizeof(err));
	assert_non_null(v);
	seen.v = v;
	assert_int_equal(ipkvm_video_start(v), 0);
	ipkvm_video_watch(v, 1);
	push(40);
	wait_published(1);
	assert_true(ipkvm_video_latest(v, &img));
	assert_false(has_dri(img.part->data + img.jpeg_offset, img.part->len - img.jpeg_offset));
	ipkvm_video_image_release(&img);
	finish(v);

	/* more than the maximum is refused */
	make_cfg(&cfg, 240, 2);
	cfg.strips = IPKVM_JPEG_MAX_STRIPS + 1;
	assert_null(ipkvm_video_create(&cfg, on_wake, &seen, err, sizeof(err)));
	assert_non_null(strstr(err, "strips"));
	close(fk.efd);
}

/* MJPEG from the device is passed through as one piece, whatever the strips: the image is
 * the device's JPEG byte for byte. */
static void test_mjpeg_passes_through_with_strips(void **state)
{
	struct ipkvm_video_config cfg;
	make_cfg(&cfg, 240, 2);
	cfg.strips = 4;
	char err[128];
	struct ipkvm_video *v = ipkvm_video_create(&cfg, on_wake, &seen, err, sizeof(err));
	assert_non_null(v);
	seen.v = v;
	assert_int_equal(ipkvm_video_start(v), 0);
	ipkvm_video_watch(v, 1);

	struct ipkvm_frame *raw = ipkvm_frame_new(IPKVM_FMT_YUYV, 64, 64, 0);
	assert_non_null(raw);
	for (size_t i = 0; i < raw->size; i++)
		raw->data[i] = (uint8_t)(i * 5 + (i >> 7) * 3);
	struct ipkvm_jpeg *j = ipkvm_jpeg_create();
	struct ipkvm_buf *device_jpeg = NULL;
	assert_int_equal(ipkvm_jpeg_encode(j, raw, 70, false, &device_jpeg), 0);
	struct ipkvm_frame *f = ipkvm_frame_new(IPKVM_FMT_MJPEG, 64, 64, device_jpeg->len);
	assert_non_null(f);
	memcpy(f->data, device_jpeg->data, device_jpeg->len);
	f->size = device_jpeg->len;
	push_frame(f);
	wait_published(1);
	struct ipkvm_video_image img;
	assert_true(ipkvm_video_latest(v, &img));
	assert_int_equal(img.part->len - img.jpeg_offset, device_jpeg->len);
	assert_memory_equal(img.part->data + img.jpeg_offset, device_jpeg->data, device_jpeg->len);
	ipkvm_video_image_release(&img);
	ipkvm_buf_unref(device_jpeg);
	ipkvm_jpeg_destroy(j);
	ipkvm_frame_unref(raw);
	finish(v);
}

/* Strips that do not join (TurboJPEG told by TJ_OPTIMIZE to make its own Huffman tables for
 * each): the frame is encoded whole instead, and so are the next ones; nothing is lost. */
static void test_strips_that_do_not_join_fall_back_to_whole_frames(void **state)
{
	struct ipkvm_video_config cfg;
	make_cfg(&cfg, 240, 2);
	cfg.strips = 2;
	char err[128];
	struct ipkvm_video *v = ipkvm_video_create(&cfg, on_wake, &seen, err, sizeof(err));
	assert_non_null(v);
	seen.v = v;
	assert_int_equal(setenv("TJ_OPTIMIZE", "1", 1), 0);
	assert_int_equal(ipkvm_video_start(v), 0);
	ipkvm_video_watch(v, 1);
	for (int k = 0; k < 2; k++) {
		struct ipkvm_frame *f = ipkvm_frame_new(IPKVM_FMT_YUYV, 64, 32, 0);
		assert_non_null(f);
		for (size_t i = 0; i < f->size; i++)
			f->data[i] = (uint8_t)(i * 7 + (i >> 7) * 13 + (i >> 9) * 71 + k);
		advance(v, 6, false);
		push_frame(f);
		wait_published((size_t)k + 1);
		struct ipkvm_video_image img;
		assert_true(ipkvm_video_latest(v, &img));
		const uint8_t *jpeg = img.part->data + img.jpeg_offset;
		size_t len = img.part->len - img.jpeg_offset;
		assert_false(has_dri(jpeg, len));
		free(decode_rgb(jpeg, len, 64, 32));
		ipkvm_video_image_release(&img);
	}
	unsetenv("TJ_OPTIMIZE");
	assert_int_equal(published(), 2);
	struct ipkvm_video_status st;
	ipkvm_video_status(v, &st);
	assert_int_equal(st.strips, 1); /* whole frames from the failed join on */
	finish(v);
}

/* Four workers, three strips a frame: several frames are in the works at once, and the
 * images still come out in order, none lost at the end. */
static void test_strips_images_in_order(void **state)
{
	struct ipkvm_video_config cfg;
	make_cfg(&cfg, 240, 4);
	cfg.strips = 3;
	char err[128];
	struct ipkvm_video *v = ipkvm_video_create(&cfg, on_wake, &seen, err, sizeof(err));
	assert_non_null(v);
	seen.v = v;
	assert_int_equal(ipkvm_video_start(v), 0);
	ipkvm_video_watch(v, 1);
	for (int i = 0; i < 200; i++) {
		advance(v, 5, false);
		push((uint8_t)(i + 1));
	}
	settle(v);
	struct ipkvm_video_image img;
	assert_true(ipkvm_video_latest(v, &img));
	pthread_mutex_lock(&seen.lock);
	assert_false(seen.backwards);
	assert_true(seen.n >= 2);
	for (size_t i = 1; i < seen.n; i++)
		assert_true(seen.seqs[i] > seen.seqs[i - 1]);
	/* the last frame pushed is the last image */
	assert_int_equal(img.seq, seen.seqs[seen.n - 1]);
	pthread_mutex_unlock(&seen.lock);
	struct ipkvm_frame *raw = ipkvm_video_latest_raw(v);
	assert_non_null(raw);
	assert_int_equal(img.seq, raw->seq);
	ipkvm_frame_unref(raw);
	ipkvm_video_image_release(&img);
	finish(v);
}

/* --- extra qualities ------------------------------------------------------------------ */

/* A 128x64 YUYV picture with something to compress: smooth gradients in luma and chroma and
 * a bright rectangle whose edges cross the 8x8 blocks. */
static struct ipkvm_frame *scene(uint8_t shift)
{
	struct ipkvm_frame *f = ipkvm_frame_new(IPKVM_FMT_YUYV, 128, 64, 0);
	assert_non_null(f);
	for (unsigned y = 0; y < 64; y++) {
		uint8_t *row = f->data + (size_t)y * f->stride;
		for (unsigned x = 0; x < 128; x += 2) {
			bool box = x >= 37 && x < 91 && y >= 13 && y < 42;
			row[x * 2] = box ? 220 : (uint8_t)(16 + x + y + shift);
			row[x * 2 + 1] = (uint8_t)(96 + x / 2);
			row[x * 2 + 2] = box ? 220 : (uint8_t)(17 + x + y + shift);
			row[x * 2 + 3] = (uint8_t)(160 - y);
		}
	}
	return f;
}

/* The mean absolute difference per RGB channel between a JPEG and the frame it shows. */
static double mean_error(const struct ipkvm_video_image *img, const struct ipkvm_frame *f)
{
	size_t n = (size_t)f->width * f->height * 3;
	uint8_t *want = malloc(n);
	assert_non_null(want);
	ipkvm_frame_to_rgb24(f, want);
	uint8_t *got = decode_rgb(img->part->data + img->jpeg_offset,
				  img->part->len - img->jpeg_offset, (int)f->width, (int)f->height);
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += abs((int)got[i] - (int)want[i]);
	free(want);
	free(got);
	return sum / (double)n;
}

struct at_quality {
	struct ipkvm_video *v;
	int quality;
};

/* The image nearest quality is at that quality and shows the main image's frame. */
static bool extra_caught_up(void *arg)
{
	struct at_quality *a = arg;
	struct ipkvm_video_image m, x;
	if (!ipkvm_video_latest(a->v, &m))
		return false;
	bool ok = ipkvm_video_latest_quality(a->v, a->quality, &x);
	ok = ok && x.quality == a->quality && x.seq == m.seq;
	ipkvm_video_image_release(&m);
	ipkvm_video_image_release(&x);
	return ok;
}

static void wait_extra(struct ipkvm_video *v, int quality)
{
	struct at_quality a = {v, quality};
	if (!wait_until(extra_caught_up, &a))
		fail_msg("no image at quality %d for the latest frame", quality);
}

static uint64_t encodes(struct ipkvm_video *v)
{
	struct ipkvm_video_status st;
	ipkvm_video_status(v, &st);
	return st.encodes;
}

static struct ipkvm_video *make_q(int quality, unsigned workers, unsigned strips)
{
	struct ipkvm_video_config cfg;
	make_cfg(&cfg, 240, workers);
	cfg.quality = quality;
	cfg.strips = strips;
	char err[128];
	struct ipkvm_video *v = ipkvm_video_create(&cfg, on_wake, &seen, err, sizeof(err));
	assert_non_null(v);
	seen.v = v;
	return v;
}

/* Quality 90 configured, 20 wanted: one frame gives two images with the same seq and
 * times, each cut into strips and joined, the q20 one smaller, both decoding close to the
 * frame (q90 closer). */
static void test_extra_quality_from_the_same_frame(void **state)
{
	struct ipkvm_video *v = make_q(90, 2, 2);
	assert_int_equal(ipkvm_video_start(v), 0);
	ipkvm_video_want_quality(v, 20, 1);
	ipkvm_video_watch(v, 1);
	struct ipkvm_frame *f = scene(0);
	push_frame(ipkvm_frame_ref(f));
	wait_extra(v, 20);
	settle(v);

	struct ipkvm_video_image m, x;
	assert_true(ipkvm_video_latest(v, &m));
	assert_true(ipkvm_video_latest_quality(v, 20, &x));
	assert_int_equal(m.quality, 90);
	assert_int_equal(x.quality, 20);
	assert_int_equal(x.seq, m.seq);
	assert_int_equal(x.ts_us, m.ts_us);
	assert_int_equal(x.ts_us, f->ts_us);
	assert_int_equal(x.width, 128);
	assert_int_equal(x.height, 64);
	assert_false(x.placeholder);
	/* strips: the main image's two, and for the extra eight (64 rows of 8-row MCUs), finer
	 * so that a next frame never waits long for a worker; RST0..RST7 in turn between them */
	const uint8_t *xj = x.part->data + x.jpeg_offset, *mj = m.part->data + m.jpeg_offset;
	size_t xlen = x.part->len - x.jpeg_offset, mlen = m.part->len - m.jpeg_offset;
	assert_true(has_dri(mj, mlen));
	assert_int_equal(scan_markers(mj, mlen, 0xD0, 0xD7), 1);
	assert_true(has_dri(xj, xlen));
	assert_int_equal(scan_markers(xj, xlen, 0xD0, 0xD7), 7);
	/* its own multipart part, saying the same sequence */
	char seqhdr[64];
	snprintf(seqhdr, sizeof(seqhdr), "X-Sequence: %llu\r\n", (unsigned long long)m.seq);
	assert_non_null(memmem(x.part->data, x.jpeg_offset, seqhdr, strlen(seqhdr)));
	assert_true(xlen < mlen * 2 / 3);
	double em = mean_error(&m, f), ex = mean_error(&x, f);
	assert_true(em < 3.0);
	assert_true(ex < 8.0);
	assert_true(em < ex);
	ipkvm_video_image_release(&x);

	/* nearest: 30 → 20; 55 is 35 from both → the higher (the main 90); 100 → 90 */
	assert_true(ipkvm_video_latest_quality(v, 30, &x));
	assert_int_equal(x.quality, 20);
	ipkvm_video_image_release(&x);
	assert_true(ipkvm_video_latest_quality(v, 55, &x));
	assert_int_equal(x.quality, 90);
	assert_ptr_equal(x.part, m.part); /* the main image itself, shared */
	ipkvm_video_image_release(&x);
	assert_true(ipkvm_video_latest_quality(v, 100, &x));
	assert_int_equal(x.quality, 90);
	ipkvm_video_image_release(&x);

	struct ipkvm_video_status st;
	ipkvm_video_status(v, &st);
	assert_int_equal(st.nextras, 1);
	assert_int_equal(st.extras[0], 20);
	assert_int_equal(st.encodes, 2); /* one frame, two qualities */
	ipkvm_video_image_release(&m);
	ipkvm_frame_unref(f);
	ipkvm_video_want_quality(v, 20, -1);
	finish(v);
}

/* Three qualities wanted: two are made (the most wanted; on a tie those made already, then
 * the higher), each frame costs one encode per quality, and a quality nobody wants any more
 * costs nothing from the next frame on. The configured quality is never an extra. */
static void test_at_most_two_extras(void **state)
{
	struct ipkvm_video *v = make_q(80, 2, 0);
	assert_int_equal(ipkvm_video_start(v), 0);
	ipkvm_video_watch(v, 1);
	ipkvm_video_want_quality(v, 80, 3); /* the configured one: free */
	ipkvm_video_want_quality(v, 20, 1);
	ipkvm_video_want_quality(v, 40, 1);
	ipkvm_video_want_quality(v, 60, 1); /* a tie with two made ones: they stay */
	ipkvm_video_want_quality(v, 0, 1);  /* out of range: ignored */
	ipkvm_video_want_quality(v, 101, 1);
	struct ipkvm_video_status st;
	ipkvm_video_status(v, &st);
	assert_int_equal(st.nextras, 2);
	assert_int_equal(st.extras[0], 40);
	assert_int_equal(st.extras[1], 20);

	const int frames = 4;
	for (int i = 0; i < frames; i++) {
		advance(v, 6, false);
		struct ipkvm_frame *f = scene((uint8_t)(i * 3));
		push_frame(f);
		wait_extra(v, 40);
		wait_extra(v, 20);
		settle(v);
	}
	assert_int_equal(encodes(v), frames * 3);
	struct ipkvm_video_image x;
	/* 60: 20 from the main 80 and from 40 → the higher, the main */
	assert_true(ipkvm_video_latest_quality(v, 60, &x));
	assert_int_equal(x.quality, 80);
	ipkvm_video_image_release(&x);
	assert_true(ipkvm_video_latest_quality(v, 45, &x));
	assert_int_equal(x.quality, 40);
	ipkvm_video_image_release(&x);

	/* 60 now most wanted: it replaces the lower of the tied 40 and 20 */
	ipkvm_video_want_quality(v, 60, 1);
	ipkvm_video_status(v, &st);
	assert_int_equal(st.nextras, 2);
	assert_int_equal(st.extras[0], 60);
	assert_int_equal(st.extras[1], 40);
	assert_true(ipkvm_video_latest_quality(v, 20, &x)); /* 20's images are gone with it */
	assert_int_equal(x.quality, 40);
	ipkvm_video_image_release(&x);
	wait_extra(v, 60); /* the new quality's first image, of the picture as it is */
	settle(v);
	uint64_t before = encodes(v);
	advance(v, 6, false);
	push_frame(scene(50));
	wait_extra(v, 60);
	wait_extra(v, 40);
	settle(v);
	assert_int_equal(encodes(v), before + 3);

	/* nobody wants the extras any more: one encode a frame (20 goes first: the others going
	 * first would let it back in, with an image of the picture as it is) */
	ipkvm_video_want_quality(v, 20, -1);
	ipkvm_video_want_quality(v, 40, -1);
	ipkvm_video_want_quality(v, 60, -2);
	ipkvm_video_status(v, &st);
	assert_int_equal(st.nextras, 0);
	settle(v);
	before = encodes(v);
	for (int i = 0; i < frames; i++) {
		advance(v, 6, false);
		push_frame(scene((uint8_t)(100 + i)));
		settle(v);
	}
	assert_int_equal(encodes(v), before + frames);
	assert_true(ipkvm_video_latest_quality(v, 20, &x));
	assert_int_equal(x.quality, 80);
	ipkvm_video_image_release(&x);
	finish(v);
}

/* A quality wanted while a still picture is watched gets its image at once, without a new
 * frame from the source. */
static void test_new_extra_made_from_the_still_picture(void **state)
{
	struct ipkvm_video *v = make_q(80, 1, 0);
	assert_int_equal(ipkvm_video_start(v), 0);
	ipkvm_video_watch(v, 1);
	push_frame(scene(0));
	wait_published(1);
	settle(v);
	ipkvm_video_want_quality(v, 30, 1);
	wait_extra(v, 30);
	struct ipkvm_video_image x;
	assert_true(ipkvm_video_latest_quality(v, 30, &x));
	assert_int_equal(x.quality, 30);
	ipkvm_video_image_release(&x);
	ipkvm_video_want_quality(v, 30, -1);
	finish(v);
}

/* The configured quality changed to a wanted extra: that extra is no longer made; the
 * quality it left behind becomes one. */
static void test_extras_follow_the_configured_quality(void **state)
{
	struct ipkvm_video *v = make_q(80, 1, 0);
	ipkvm_video_want_quality(v, 50, 1);
	struct ipkvm_video_status st;
	ipkvm_video_status(v, &st);
	assert_int_equal(st.nextras, 1);
	assert_int_equal(ipkvm_video_set_params(v, 50, 240), 0);
	ipkvm_video_status(v, &st);
	assert_int_equal(st.nextras, 0);
	ipkvm_video_want_quality(v, 80, 1);
	ipkvm_video_status(v, &st);
	assert_int_equal(st.nextras, 1);
	assert_int_equal(st.extras[0], 80);
	finish(v);
}

/* MJPEG from the device has no raw frame: no extra is made, the main image (quality 0:
 * the device's, unknown) answers every quality. */
static void test_mjpeg_makes_no_extras(void **state)
{
	struct ipkvm_video *v = make_q(80, 2, 2);
	assert_int_equal(ipkvm_video_start(v), 0);
	ipkvm_video_want_quality(v, 20, 1);
	ipkvm_video_watch(v, 1);
	struct ipkvm_frame *raw = scene(0);
	struct ipkvm_jpeg *j = ipkvm_jpeg_create();
	struct ipkvm_buf *device_jpeg = NULL;
	assert_int_equal(ipkvm_jpeg_encode(j, raw, 70, false, &device_jpeg), 0);
	for (int i = 0; i < 2; i++) {
		struct ipkvm_frame *f =
		    ipkvm_frame_new(IPKVM_FMT_MJPEG, 128, 64, device_jpeg->len + 1);
		assert_non_null(f);
		memcpy(f->data, device_jpeg->data, device_jpeg->len);
		f->data[device_jpeg->len] = (uint8_t)i; /* a different frame each time */
		f->size = device_jpeg->len + (size_t)i;
		advance(v, 6, false);
		push_frame(f);
		wait_published((size_t)i + 1);
		settle(v);
	}
	assert_int_equal(encodes(v), 2);
	struct ipkvm_video_image x;
	assert_true(ipkvm_video_latest_quality(v, 20, &x));
	assert_int_equal(x.quality, 0);
	assert_memory_equal(x.part->data + x.jpeg_offset, device_jpeg->data, device_jpeg->len);
	ipkvm_video_image_release(&x);
	struct ipkvm_video_status st;
	ipkvm_video_status(v, &st);
	assert_int_equal(st.nextras, 0);
	ipkvm_buf_unref(device_jpeg);
	ipkvm_jpeg_destroy(j);
	ipkvm_frame_unref(raw);
	finish(v);
}

/* A placeholder answers every quality: the extras of the last real picture are withdrawn. */
static void test_placeholder_withdraws_extras(void **state)
{
	struct ipkvm_video *v = make_q(80, 1, 0);
	assert_int_equal(ipkvm_video_start(v), 0);
	ipkvm_video_want_quality(v, 20, 1);
	ipkvm_video_watch(v, 1);
	push_frame(scene(0));
	wait_extra(v, 20);
	size_t n = published();
	pthread_mutex_lock(&fk.lock);
	fk.state = IPKVM_SIGNAL_NO_SIGNAL;
	pthread_mutex_unlock(&fk.lock);
	uint64_t one = 1; /* readable with nothing to take: the source is asked for its signal */
	assert_int_equal(write(fk.efd, &one, sizeof(one)), sizeof(one));
	wait_published(n + 1);
	struct ipkvm_video_image x;
	assert_true(ipkvm_video_latest_quality(v, 20, &x));
	assert_true(x.placeholder);
	assert_int_equal(x.quality, 80);
	ipkvm_video_image_release(&x);
	finish(v);
}

static void test_caller_source_is_owned(void **state)
{
	struct ipkvm_video *v = make(240, 1);
	struct ipkvm_video_status st;
	ipkvm_video_status(v, &st);
	assert_string_equal(st.source, "fake");
	finish(v);
	assert_int_equal(fk.destroyed, 1);

	fk.destroyed = 0;
	struct ipkvm_video_config cfg = {.src = &fk.src, .quality = 0, .max_fps = 30};
	char err[128];
	assert_null(ipkvm_video_create(&cfg, NULL, NULL, err, sizeof(err)));
	assert_int_equal(fk.destroyed, 1);
}

int main(void)
{
	ipkvm_log_set_level(IPKVM_LOG_ERROR);
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_only_changed_frames_are_encoded),
	    cmocka_unit_test(test_nothing_encoded_without_watchers),
	    cmocka_unit_test(test_max_fps_skip_still_delivers_the_change),
	    cmocka_unit_test(test_held_back_change_sent_without_another_frame),
	    cmocka_unit_test(test_request_answered_from_last_frame),
	    cmocka_unit_test(test_images_never_go_backwards),
	    cmocka_unit_test(test_placeholder_then_recovery),
	    cmocka_unit_test(test_reopen_after_device_loss),
	    cmocka_unit_test(test_caller_source_is_owned),
	    cmocka_unit_test(test_strips_publish_one_joined_image),
	    cmocka_unit_test(test_strips_images_in_order),
	    cmocka_unit_test(test_mjpeg_passes_through_with_strips),
	    cmocka_unit_test(test_strips_that_do_not_join_fall_back_to_whole_frames),
	    cmocka_unit_test(test_h264_has_its_own_wake),
	    cmocka_unit_test(test_extra_quality_from_the_same_frame),
	    cmocka_unit_test(test_at_most_two_extras),
	    cmocka_unit_test(test_new_extra_made_from_the_still_picture),
	    cmocka_unit_test(test_extras_follow_the_configured_quality),
	    cmocka_unit_test(test_mjpeg_makes_no_extras),
	    cmocka_unit_test(test_placeholder_withdraws_extras),
	};
	/* Every test twice: the source gives its frames away (as the pattern and the virtual
	 * target do), then lends them (as the V4L2 source lends its driver buffers). */
	int failed = cmocka_run_group_tests_name("owned frames", tests, NULL, NULL);
	lend_mode = true;
	failed += cmocka_run_group_tests_name("lent frames", tests, NULL, NULL);
	return failed;
}
