/*
 * video: see video.h for the shape. Locking: one mutex guards the mailbox, the latest image
 * and raw frame, the extra qualities and their images, the live settings, the signal state
 * and the counters; it is never held while encoding, comparing or touching the device. The
 * capture thread sleeps in poll() on the source's fd and an eventfd used to wake it (stop, a
 * watcher arriving); encoder workers sleep on a condition variable.
 */
#define LOG_TAG "video"
#include "video/video.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "video/jpeg.h"
#include "video/jpeg_m2m.h"
#include "video/h264_stream.h"
#include "video/placeholder.h"

#define MAX_WORKERS    4
#define BACKOFF_MIN_MS 250
#define BACKOFF_MAX_MS 5000
#define IDLE_NAP_MS    200     /* capture pace while nobody watches: keeps the signal state fresh */
#define STILL_US       1000000 /* a picture unchanged this long gives the free frames back */
#define EXTRA_STALE_US 1000000 /* an extra image this much older than the main one is not given */
#define PLACEHOLDER_Q  80
/* Extras are cut finer than the main image: a frame arriving while every worker is on an
 * extra waits for one such strip at most (about 1 ms at 1080p), and cutting costs no CPU. */
#define EXTRA_STRIPS 8

/* An extra quality being made (quality 0: a free slot), and its newest image. */
struct extra {
	int quality;
	bool have;
	struct ipkvm_video_image latest;
};

struct ipkvm_video {
	struct ipkvm_video_config cfg;
	char source_name[16], device[256], edid[256], scene[32];
	struct ipkvm_source *src;
	struct ipkvm_h264_stream *h264; /* the H.264 stage, or NULL */
	struct ipkvm_jpeg_hw *jpeg_hw;	/* the hardware JPEG encoder (or software's stand-in) */
	void (*wake)(void *ctx);
	void *wake_ctx;
	pthread_t capture, workers[MAX_WORKERS];
	unsigned nworkers, nstrips; /* strips a raw frame is cut into (1: whole) */
	bool capture_started;
	int efd; /* wakes the capture thread */
	atomic_bool stopping;

	pthread_mutex_t lock;
	pthread_cond_t work;
	struct ipkvm_frame *mailbox;
	uint64_t mailbox_seq; /* the image number the mailbox frame is encoded as */
	struct job *jobs;     /* frames being encoded, oldest first */
	unsigned in_flight;   /* frames in the mailbox or being encoded */
	bool strips_off;      /* a join failed: whole frames from then on */
	struct ipkvm_video_image latest;
	bool have_latest;
	struct ipkvm_frame *latest_raw;
	struct ipkvm_signal_info signal;
	enum ipkvm_pixfmt format;
	int quality, max_fps, watchers;
	bool requested;
	uint64_t seq, dropped;
	int wanted[101]; /* clients wanting each JPEG quality (ipkvm_video_want_quality) */
	struct extra extras[IPKVM_VIDEO_MAX_EXTRAS];
	uint64_t encodes; /* JPEG images made, every quality */
	/* counters of the current one-second window, and the rates of the last one */
	int64_t win_start;
	unsigned win_captured, win_encoded, win_encodes;
	uint64_t win_bytes;
	double capture_fps, encoded_fps, encodes_per_s;
	uint64_t bytes_per_s;
};

static int64_t real_now_us(void *ctx)
{
	(void)ctx;
	return ipkvm_mono_us();
}

/* Every read of the clock goes through here (the injected one in tests). */
static int64_t now_us(const struct ipkvm_video *v)
{
	return v->cfg.now_us(v->cfg.clock_ctx);
}

/* Rolls the one-second window (lock held). */
static void stats_roll(struct ipkvm_video *v, int64_t now)
{
	int64_t span = now - v->win_start;
	if (span < 1000000)
		return;
	if (span > 3000000) { /* nothing happened for a while: the rates are zero */
		v->capture_fps = v->encoded_fps = v->encodes_per_s = 0;
		v->bytes_per_s = 0;
	} else {
		v->capture_fps = v->win_captured * 1e6 / (double)span;
		v->encoded_fps = v->win_encoded * 1e6 / (double)span;
		v->encodes_per_s = v->win_encodes * 1e6 / (double)span;
		v->bytes_per_s = (uint64_t)(v->win_bytes * 1e6 / (double)span);
	}
	v->win_start = now;
	v->win_captured = v->win_encoded = v->win_encodes = 0;
	v->win_bytes = 0;
}

void ipkvm_video_image_release(struct ipkvm_video_image *img)
{
	if (img && img->part) {
		ipkvm_buf_unref(img->part);
		img->part = NULL;
	}
}

/*
 * A frame being encoded: the main image at the configured quality and, for a raw frame,
 * the extra qualities being made when it was taken. Each quality's pieces (strips of a raw
 * frame, or the whole frame: one piece) are handed out one at a time to idle workers; the
 * worker that finishes a quality's last piece joins them and publishes that image. Fields
 * marked (lock) are under v->lock; the rest are set when the job is made and only read
 * afterwards.
 */
struct job_quality {
	int quality;
	bool hw;		   /* the whole frame goes to the hardware encoder first */
	unsigned npieces;	   /* (lock) 0: an extra dropped before it started */
	unsigned rows;		   /* rows per strip (the last may be shorter) */
	unsigned handed, finished; /* (lock) pieces given to workers, pieces done */
	int err;		   /* (lock) the first piece's error, or 0 */
	struct ipkvm_buf *pieces[IPKVM_JPEG_MAX_STRIPS]; /* (lock) */
	struct ipkvm_buf *ready; /* (lock) an extra's JPEG waiting for the main image */
};

struct job {
	struct job *next; /* (lock) the list v->jobs */
	struct ipkvm_frame *f;
	uint64_t seq;
	unsigned nq;	/* qualities: q[0] the main one, then the extras */
	unsigned qdone; /* (lock) qualities finished or dropped; the job ends at nq */
	bool main_done; /* (lock) the main image is out (or failed): extras may follow */
	struct job_quality q[1 + IPKVM_VIDEO_MAX_EXTRAS];
};

/* Whether job makes extra quality q (a placeholder, job NULL, makes none). */
static bool job_makes(const struct job *job, int q)
{
	for (unsigned i = 1; job && i < job->nq; i++)
		if (job->q[i].quality == q)
			return true;
	return false;
}

/* Builds img->part, the multipart part of the JPEG in jpeg (reference taken over), once for
 * every client. False when out of memory. */
static bool build_part(struct ipkvm_video *v, struct ipkvm_video_image *img, struct ipkvm_buf *jpeg)
{
	char head[256];
	/* the wall clock of the capture: now less its age on the pipeline's clock */
	int64_t wall_us = ipkvm_wall_us() - (now_us(v) - img->ts_us);
	int n = snprintf(head, sizeof(head),
			 "\r\n--" IPKVM_MJPEG_BOUNDARY "\r\nContent-Type: image/jpeg\r\n"
			 "Content-Length: %zu\r\nX-Sequence: %llu\r\nX-Timestamp: %lld.%06lld\r\n"
			 "X-Capture-Us: %lld\r\n\r\n",
			 jpeg->len, (unsigned long long)img->seq, (long long)(wall_us / 1000000),
			 (long long)(wall_us % 1000000), (long long)img->ts_us);
	img->part = ipkvm_buf_new((size_t)n + jpeg->len);
	if (img->part) {
		memcpy(img->part->data, head, (size_t)n);
		memcpy(img->part->data + n, jpeg->data, jpeg->len);
		img->jpeg_offset = (size_t)n;
	}
	ipkvm_buf_unref(jpeg);
	return img->part != NULL;
}

/* Publishes the JPEG in jpeg (reference taken over) as the main image img of job, unless a
 * newer image is out already. The extra images of qualities this job does not make are
 * withdrawn: they show an older picture than any this frame will bring at their quality
 * (a placeholder, or a quality chosen after the job was made), and latest_quality gives the
 * main image in their place. */
static bool publish(struct ipkvm_video *v, struct ipkvm_video_image *img, struct ipkvm_buf *jpeg,
		    const struct job *job)
{
	build_part(v, img, jpeg);
	bool done = false;
	pthread_mutex_lock(&v->lock);
	if (img->part && (!v->have_latest || img->seq > v->latest.seq)) {
		ipkvm_video_image_release(&v->latest);
		v->latest = *img;
		v->have_latest = true;
		img->part = NULL;
		stats_roll(v, img->encoded_us);
		v->win_encoded++;
		v->win_bytes += v->latest.part->len - v->latest.jpeg_offset;
		for (unsigned k = 0; k < IPKVM_VIDEO_MAX_EXTRAS; k++) {
			struct extra *x = &v->extras[k];
			if (x->have && !job_makes(job, x->quality)) {
				ipkvm_video_image_release(&x->latest);
				x->have = false;
			}
		}
		done = true;
	}
	pthread_mutex_unlock(&v->lock);
	ipkvm_video_image_release(img); /* an older image that lost the race */
	if (done && v->wake)
		v->wake(v->wake_ctx);
	return done;
}

/* Publishes an extra quality's image (after its frame's main image): kept when that quality
 * is still made and the image is newer than the one it has. */
static void publish_extra(struct ipkvm_video *v, struct ipkvm_video_image *img,
			  struct ipkvm_buf *jpeg)
{
	build_part(v, img, jpeg);
	bool done = false;
	pthread_mutex_lock(&v->lock);
	for (unsigned k = 0; img->part && k < IPKVM_VIDEO_MAX_EXTRAS; k++) {
		struct extra *x = &v->extras[k];
		if (x->quality != img->quality || (x->have && img->seq <= x->latest.seq))
			continue;
		ipkvm_video_image_release(&x->latest);
		x->latest = *img;
		x->have = true;
		img->part = NULL;
		done = true;
	}
	pthread_mutex_unlock(&v->lock);
	ipkvm_video_image_release(img);
	if (done && v->wake)
		v->wake(v->wake_ctx);
}

/* How many pieces the software encoder cuts a frame into (at most want strips), and the
 * rows of each strip. */
static unsigned plan_pieces(const struct ipkvm_video *v, const struct ipkvm_frame *f, unsigned want,
			    unsigned *rows)
{
	*rows = f->height;
	if (f->format == IPKVM_FMT_MJPEG || v->strips_off || want <= 1)
		return 1;
	return ipkvm_jpeg_strip_plan(f->width, f->height, v->cfg.subsample420, want, rows);
}

/*
 * Encodes piece i of quality qi of a job: the one place where a frame (or a strip of it)
 * becomes JPEG bytes. An MJPEG frame is passed through (one piece). The main quality of a
 * job for the hardware encoder is one piece, the whole frame; -ENODEV from it means
 * software (the worker then cuts it into strips, see software_instead). A raw frame in one
 * piece is the whole-frame software encode; otherwise the piece is strip i, a JPEG of its
 * own that finish_quality joins with the others.
 */
static int encode_piece(struct ipkvm_video *v, struct ipkvm_jpeg *jpeg, const struct job *job,
			unsigned qi, unsigned i, struct ipkvm_buf **out)
{
	const struct ipkvm_frame *f = job->f;
	const struct job_quality *jq = &job->q[qi];
	if (f->format == IPKVM_FMT_MJPEG)
		return ipkvm_jpeg_from_mjpeg(f, out);
	if (jq->hw)
		return ipkvm_jpeg_hw_encode(v->jpeg_hw, f, jq->quality, v->cfg.subsample420, out);
	if (jq->npieces == 1)
		return ipkvm_jpeg_encode(jpeg, f, jq->quality, v->cfg.subsample420, out);
	unsigned row0 = i * jq->rows;
	unsigned rows = i == jq->npieces - 1 ? f->height - row0 : jq->rows;
	return ipkvm_jpeg_encode_rows(jpeg, f, row0, rows, jq->quality, v->cfg.subsample420, out);
}

/* The hardware encoder turned the frame down (missing, backing off, failed on it): the main
 * quality, still one piece held by this worker alone, becomes a software one cut into
 * strips, of which this worker keeps the first (lock held). */
static void software_instead(struct ipkvm_video *v, struct job *job)
{
	struct job_quality *jq = &job->q[0];
	jq->hw = false;
	jq->npieces = plan_pieces(v, job->f, v->nstrips, &jq->rows);
	jq->handed = 1;
	if (jq->npieces > 1)
		pthread_cond_broadcast(&v->work);
}

static void job_free(struct job *job)
{
	for (unsigned k = 0; k < job->nq; k++) {
		for (unsigned i = 0; i < IPKVM_JPEG_MAX_STRIPS; i++)
			ipkvm_buf_unref(job->q[k].pieces[i]);
		ipkvm_buf_unref(job->q[k].ready);
	}
	ipkvm_frame_unref(job->f);
	free(job);
}

/* Whether job has pieces not yet handed to a worker (lock held). */
static bool job_unhanded(const struct job *job)
{
	for (unsigned k = 0; k < job->nq; k++)
		if (job->q[k].handed < job->q[k].npieces)
			return true;
	return false;
}

/* All pieces of quality qi are done: their one JPEG (joined from strips, or the one piece),
 * or -errno. */
static int join_quality(struct ipkvm_video *v, struct ipkvm_jpeg *jpeg, struct job *job,
			unsigned qi, struct ipkvm_buf **out)
{
	struct job_quality *jq = &job->q[qi];
	int r = jq->err;
	if (r == 0 && jq->npieces == 1) {
		*out = jq->pieces[0];
		jq->pieces[0] = NULL;
	} else if (r == 0) {
		r = ipkvm_jpeg_join(jq->pieces, jq->npieces, out);
		if (r == -EINVAL) {
			/* Strips that do not fit together (the encoder's tables changed under
			 * us?): stop cutting frames and encode this one whole. */
			LOG_ERROR("JPEG strips do not join; encoding whole frames from now on");
			pthread_mutex_lock(&v->lock);
			v->strips_off = true;
			pthread_mutex_unlock(&v->lock);
			r = ipkvm_jpeg_encode(jpeg, job->f, jq->quality, v->cfg.subsample420, out);
		}
	}
	return r;
}

/* The image of quality qi of a job, as published. */
static struct ipkvm_video_image job_image(const struct ipkvm_video *v, const struct job *job,
					  unsigned qi)
{
	return (struct ipkvm_video_image){
	    .seq = job->seq,
	    .ts_us = job->f->ts_us,
	    .encoded_us = now_us(v),
	    .width = job->f->width,
	    .height = job->f->height,
	    .quality = job->f->format == IPKVM_FMT_MJPEG ? 0 : job->q[qi].quality,
	};
}

/* Counts a JPEG image made (every quality, placeholders too; lock held). */
static void count_encode(struct ipkvm_video *v, int64_t at)
{
	stats_roll(v, at);
	v->encodes++;
	v->win_encodes++;
}

/*
 * All pieces of quality qi are done: join them and publish the image. The main image goes
 * out first: an extra finished before it waits in the job (ready) and the worker that
 * publishes the main image publishes it right after.
 */
static void finish_quality(struct ipkvm_video *v, struct ipkvm_jpeg *jpeg, struct job *job,
			   unsigned qi)
{
	struct ipkvm_buf *out = NULL;
	int r = join_quality(v, jpeg, job, qi, &out);
	struct ipkvm_video_image img = job_image(v, job, qi);
	if (r < 0)
		LOG_DEBUG("frame %llu not encoded at quality %d: %s", (unsigned long long)job->seq,
			  job->q[qi].quality, strerror(-r));
	pthread_mutex_lock(&v->lock);
	if (r == 0)
		count_encode(v, img.encoded_us);
	if (qi > 0) {
		if (r == 0 && !job->main_done) {
			job->q[qi].ready = out;
			out = NULL;
		}
		pthread_mutex_unlock(&v->lock);
		if (out)
			publish_extra(v, &img, out);
		return;
	}
	pthread_mutex_unlock(&v->lock);
	if (r == 0)
		publish(v, &img, out, job);
	pthread_mutex_lock(&v->lock);
	job->main_done = true;
	struct ipkvm_buf *ready[1 + IPKVM_VIDEO_MAX_EXTRAS] = {0};
	for (unsigned k = 1; k < job->nq; k++) {
		ready[k] = job->q[k].ready;
		job->q[k].ready = NULL;
	}
	pthread_mutex_unlock(&v->lock);
	for (unsigned k = 1; k < job->nq; k++) {
		if (ready[k]) {
			struct ipkvm_video_image x = job_image(v, job, k);
			publish_extra(v, &x, ready[k]);
		}
	}
}

/* The newest frame in the mailbox as a new job at the end of the list (lock held). NULL
 * when out of memory: the frame is dropped. The extras of older jobs that no worker has
 * started are dropped: this newer frame makes them (or they are no longer wanted). */
static struct job *take_mailbox(struct ipkvm_video *v)
{
	struct job *job = calloc(1, sizeof(*job));
	struct ipkvm_frame *f = v->mailbox;
	v->mailbox = NULL;
	if (!job) {
		ipkvm_frame_unref(f);
		v->dropped++;
		v->in_flight--;
		return NULL;
	}
	job->f = f;
	job->seq = v->mailbox_seq;
	struct job_quality *main = &job->q[0];
	main->quality = v->quality;
	/* With a hardware encoder chosen, a raw frame is offered to it whole first. */
	main->hw =
	    f->format != IPKVM_FMT_MJPEG && v->cfg.jpeg_hw.mode != IPKVM_JPEG_ENCODER_SOFTWARE;
	main->npieces = main->hw ? 1 : plan_pieces(v, f, v->nstrips, &main->rows);
	job->nq = 1;
	/* Extras are software, in strips of their own (EXTRA_STRIPS); MJPEG has no raw frame
	 * for them. */
	unsigned xstrips = v->nstrips > EXTRA_STRIPS ? v->nstrips : EXTRA_STRIPS;
	for (unsigned k = 0; f->format != IPKVM_FMT_MJPEG && k < IPKVM_VIDEO_MAX_EXTRAS; k++) {
		if (v->extras[k].quality) {
			struct job_quality *x = &job->q[job->nq++];
			x->quality = v->extras[k].quality;
			x->npieces = plan_pieces(v, f, xstrips, &x->rows);
		}
	}
	struct job **tail = &v->jobs;
	while (*tail) {
		struct job *old = *tail;
		for (unsigned k = 1; k < old->nq; k++) {
			if (old->q[k].npieces && old->q[k].handed == 0) {
				old->q[k].npieces = 0;
				old->qdone++;
			}
		}
		if (old->qdone == old->nq) { /* nothing left of it in the works */
			*tail = old->next;
			job_free(old);
			v->in_flight--;
		} else {
			tail = &old->next;
		}
	}
	*tail = job;
	return job;
}

/* The next piece for an idle worker (lock held): a main image's piece, oldest job first;
 * else the mailbox's frame as a new job; else an extra quality's piece, oldest job first.
 * So an extra never holds up a main image that could be worked on. False when there is
 * nothing to do. */
static bool pick(struct ipkvm_video *v, struct job **out, unsigned *qi)
{
	for (struct job *job = v->jobs; job; job = job->next) {
		if (job->q[0].handed < job->q[0].npieces) {
			*out = job;
			*qi = 0;
			return true;
		}
	}
	if (v->mailbox && (*out = take_mailbox(v)) != NULL) {
		*qi = 0;
		return true;
	}
	for (struct job *job = v->jobs; job; job = job->next) {
		for (unsigned k = 1; k < job->nq; k++) {
			if (job->q[k].handed < job->q[k].npieces) {
				*out = job;
				*qi = k;
				return true;
			}
		}
	}
	return false;
}

static void *worker_main(void *arg)
{
	struct ipkvm_video *v = arg;
	struct ipkvm_jpeg *jpeg = ipkvm_jpeg_create();
	if (!jpeg) {
		LOG_ERROR("cannot create a JPEG encoder");
		return NULL;
	}
	pthread_mutex_lock(&v->lock);
	while (!atomic_load(&v->stopping)) {
		struct job *job;
		unsigned qi;
		if (!pick(v, &job, &qi)) {
			if (!v->mailbox)
				pthread_cond_wait(&v->work, &v->lock);
			continue;
		}
		struct job_quality *jq = &job->q[qi];
		unsigned i = jq->handed++;
		if (job_unhanded(job))
			pthread_cond_signal(&v->work); /* more pieces for an idle worker */
		pthread_mutex_unlock(&v->lock);

		struct ipkvm_buf *piece = NULL;
		int r = encode_piece(v, jpeg, job, qi, i, &piece);
		if (r == -ENODEV && jq->hw) {
			pthread_mutex_lock(&v->lock);
			software_instead(v, job);
			pthread_mutex_unlock(&v->lock);
			r = encode_piece(v, jpeg, job, 0, 0, &piece);
		}

		pthread_mutex_lock(&v->lock);
		jq->pieces[i] = piece;
		if (r < 0 && jq->err == 0)
			jq->err = r;
		if (++jq->finished < jq->npieces)
			continue;
		pthread_mutex_unlock(&v->lock);
		finish_quality(v, jpeg, job, qi);
		pthread_mutex_lock(&v->lock);
		if (++job->qdone < job->nq)
			continue;
		struct job **pp = &v->jobs;
		while (*pp != job)
			pp = &(*pp)->next;
		*pp = job->next;
		pthread_mutex_unlock(&v->lock);
		job_free(job);
		pthread_mutex_lock(&v->lock);
		v->in_flight--; /* after the wakes: idle means every image was announced */
	}
	pthread_mutex_unlock(&v->lock);
	ipkvm_jpeg_destroy(jpeg);
	return NULL;
}

/* --- capture thread ---------------------------------------------------------------- */

/*
 * What the capture thread holds. Frames are shared, never copied between these: on a still
 * screen newest, last_sent and h264_last are one frame. A frame from the source (maybe
 * borrowed from the driver) is compared with newest once; only a different picture is kept
 * (copied, for a borrowed one), and each stage's own question ("changed since the last frame
 * I took?") is answered from that compare when the stage last took newest.
 */
struct capture_state {
	struct ipkvm_frame *newest; /* the newest picture kept; v->latest_raw is the same */
	int64_t kept_us;	    /* when newest was kept */
	bool drained;		    /* the frame pool was emptied since */
	struct ipkvm_frame *last_sent;
	int64_t last_submit_us;
	/* The newest picture held back by max_fps (newest itself): sent when the interval is
	 * over, by the next frame or, for a source that only sends changes, by the capture
	 * loop's timer, as image number owed_seq. */
	struct ipkvm_frame *owed;
	uint64_t owed_seq;
	struct ipkvm_frame *h264_last; /* the last frame offered to the H.264 stage */
};

static bool same_signal(const struct ipkvm_signal_info *a, const struct ipkvm_signal_info *b)
{
	return a->state == b->state && a->capture == b->capture && a->width == b->width &&
	       a->height == b->height && strcmp(a->reason, b->reason) == 0;
}

/* Records the source's signal state; on a change to a state without video, publishes a
 * placeholder that says why. */
static void update_signal(struct ipkvm_video *v, struct capture_state *cs)
{
	struct ipkvm_signal_info info;
	memset(&info, 0, sizeof(info));
	v->src->ops->signal(v->src, &info);
	pthread_mutex_lock(&v->lock);
	bool changed = !same_signal(&info, &v->signal);
	v->signal = info;
	uint64_t seq = changed ? ++v->seq : 0;
	pthread_mutex_unlock(&v->lock);
	if (!changed)
		return;
	LOG_INFO("signal: %s%s%s", ipkvm_signal_name(info.state), info.reason[0] ? ": " : "",
		 info.reason);
	/* The next real frame is sent whatever it looks like. */
	ipkvm_frame_unref(cs->last_sent);
	cs->last_sent = NULL;
	if (info.state == IPKVM_SIGNAL_OK)
		return;
	/* An encoder of its own, only for this: its planes (4 MB at 1080p) are not kept for
	 * the rare next placeholder. */
	struct ipkvm_frame *ph = ipkvm_placeholder_render(&info, 0, 0);
	struct ipkvm_jpeg *jpeg = ph ? ipkvm_jpeg_create() : NULL;
	struct ipkvm_video_image img = {
	    .seq = seq, .ts_us = now_us(v), .quality = PLACEHOLDER_Q, .placeholder = true};
	struct ipkvm_buf *out = NULL;
	if (jpeg && ipkvm_jpeg_encode(jpeg, ph, PLACEHOLDER_Q, false, &out) == 0) {
		img.width = ph->width;
		img.height = ph->height;
		img.encoded_us = now_us(v);
		pthread_mutex_lock(&v->lock);
		count_encode(v, img.encoded_us);
		pthread_mutex_unlock(&v->lock);
		publish(v, &img, out, NULL); /* at every quality: the extras are withdrawn */
	} else {
		LOG_ERROR("cannot make the placeholder image");
	}
	ipkvm_jpeg_destroy(jpeg);
	ipkvm_frame_unref(ph);
}

/* Earliest time the next frame may go to the encoders. A quarter of an interval of slack:
 * a 60 fps source against max_fps 60 arrives at 16.7 ms +- jitter, and a strict limit would
 * throw away every frame that came a little early (about a third of them). */
static int64_t next_submit_us(const struct capture_state *cs, int max_fps)
{
	int64_t interval = 1000000 / max_fps;
	return cs->last_submit_us ? cs->last_submit_us + interval - interval / 4 : 0;
}

/* Hands f (reference taken over) to the encoders as image number seq. */
static void submit(struct ipkvm_video *v, struct capture_state *cs, struct ipkvm_frame *f,
		   uint64_t seq, int64_t at_us)
{
	ipkvm_frame_unref(cs->last_sent);
	cs->last_sent = ipkvm_frame_ref(f);
	cs->last_submit_us = at_us;
	ipkvm_frame_unref(cs->owed);
	cs->owed = NULL;
	pthread_mutex_lock(&v->lock);
	if (v->mailbox) {
		ipkvm_frame_unref(v->mailbox); /* the encoders fell behind: newest wins */
		v->dropped++;
	} else {
		v->in_flight++;
	}
	v->mailbox = f;
	v->mailbox_seq = seq;
	v->requested = false;
	pthread_cond_signal(&v->work);
	pthread_mutex_unlock(&v->lock);
}

/* Called while the picture does not change: once it has been still for STILL_US, the free
 * frames kept for the next change are given back (a still screen keeps one raw frame). */
static void still(struct capture_state *cs, int64_t now)
{
	if (!cs->drained && now - cs->kept_us >= STILL_US) {
		ipkvm_frame_pool_drain();
		cs->drained = true;
	}
}

/* Whether frame f differs from ref, given that f was compared with prev (prev_diff): one
 * compare per frame when ref is prev, as it is whenever the stage took the last picture. */
static bool differs(const struct ipkvm_frame *f, const struct ipkvm_frame *ref,
		    const struct ipkvm_frame *prev, int prev_diff)
{
	if (!ref)
		return true;
	if (ref == prev)
		return prev_diff != 0;
	return ipkvm_frame_compare(f, ref, NULL) != 0;
}

/* Decides what happens to a fresh frame from the source (owned or borrowed: the caller hands
 * it back afterwards). Returns true when someone is watching (the capture loop naps
 * otherwise). */
static bool handle_frame(struct ipkvm_video *v, struct capture_state *cs, struct ipkvm_frame *f)
{
	pthread_mutex_lock(&v->lock);
	uint64_t seq = ++v->seq;
	v->format = f->format;
	stats_roll(v, f->ts_us);
	v->win_captured++;
	bool requested = v->requested, want = v->watchers > 0 || requested;
	int max_fps = v->max_fps;
	pthread_mutex_unlock(&v->lock);
	bool h264 = v->h264 && ipkvm_h264_stream_wanted(v->h264);

	/* The one compare, stopping at the first difference; a different picture is kept
	 * (copied from a borrowed frame) in the same routine. The same picture is not copied:
	 * newest already holds it, for the snapshot and for whichever stage wants it. */
	struct ipkvm_frame *prev = cs->newest, *kept = NULL;
	int d = ipkvm_frame_compare(f, prev, &kept);
	if (d < 0) {
		LOG_WARN("frame %llu dropped: %s", (unsigned long long)seq, strerror(-d));
		return want || h264;
	}
	if (d) {
		kept->seq = seq;
		cs->newest = kept;
		cs->kept_us = f->ts_us;
		cs->drained = false;
		pthread_mutex_lock(&v->lock);
		struct ipkvm_frame *old = v->latest_raw;
		v->latest_raw = ipkvm_frame_ref(kept);
		pthread_mutex_unlock(&v->lock);
		ipkvm_frame_unref(old);
	}
	struct ipkvm_frame *cur = cs->newest;

	if (h264 &&
	    (differs(f, cs->h264_last, prev, d) || ipkvm_h264_stream_needs_frame(v->h264))) {
		if (cs->h264_last != cur) {
			ipkvm_frame_unref(cs->h264_last);
			cs->h264_last = ipkvm_frame_ref(cur);
		}
		ipkvm_h264_stream_offer(v->h264, ipkvm_frame_ref(cur));
	}
	bool watched = want || h264;
	if (want) {
		bool changed = differs(f, cs->last_sent, prev, d);
		if (!changed && !cs->owed && !requested) {
			/* nothing to send */
		} else if (f->ts_us < next_submit_us(cs, max_fps)) {
			/* over the rate: the picture as it is now goes later */
			if (cs->owed != cur) {
				ipkvm_frame_unref(cs->owed);
				cs->owed = ipkvm_frame_ref(cur);
			}
			cs->owed_seq = seq;
		} else {
			/* seq, not cur->seq: an unchanged picture sent again (requested) needs a
			 * new image number (images never go backwards) */
			submit(v, cs, ipkvm_frame_ref(cur), seq, f->ts_us);
		}
	}
	if (d)
		ipkvm_frame_unref(prev);
	else
		still(cs, f->ts_us);
	return watched;
}

/* Between source frames: sends a held-back frame whose time has come, and answers a request
 * for an image from the last captured frame (a source that only sends changes may send
 * nothing for a long time). Returns the ms until it wants to run again, or -1. */
static int serve_idle(struct ipkvm_video *v, struct capture_state *cs)
{
	pthread_mutex_lock(&v->lock);
	bool requested = v->requested && v->signal.state == IPKVM_SIGNAL_OK;
	struct ipkvm_frame *raw =
	    requested && v->latest_raw ? ipkvm_frame_ref(v->latest_raw) : NULL;
	uint64_t seq = raw ? ++v->seq : 0;
	int max_fps = v->max_fps;
	pthread_mutex_unlock(&v->lock);
	int64_t now = now_us(v);
	if (v->h264 && ipkvm_h264_stream_needs_frame(v->h264)) {
		/* A keyframe is owed (a client joined a still screen): encode the picture as
		 * it is. */
		pthread_mutex_lock(&v->lock);
		struct ipkvm_frame *last = v->latest_raw && v->signal.state == IPKVM_SIGNAL_OK
					       ? ipkvm_frame_ref(v->latest_raw)
					       : NULL;
		pthread_mutex_unlock(&v->lock);
		if (last)
			ipkvm_h264_stream_offer(v->h264, last);
	}
	if (cs->owed) {
		int64_t wait = next_submit_us(cs, max_fps) - now;
		if (wait > 0) {
			ipkvm_frame_unref(raw);
			return (int)((wait + 999) / 1000);
		}
		submit(v, cs, ipkvm_frame_ref(cs->owed), cs->owed_seq, now);
	} else if (raw) {
		/* A new image number: a snapshot waits for one newer than the last image. */
		submit(v, cs, raw, seq, now);
		raw = NULL;
	}
	ipkvm_frame_unref(raw);
	return -1;
}

/* Sleeps up to ms on the wake eventfd; returns early when woken. */
static void nap(struct ipkvm_video *v, int ms)
{
	struct pollfd p = {.fd = v->efd, .events = POLLIN};
	if (poll(&p, 1, ms) > 0) {
		uint64_t n;
		ssize_t r = read(v->efd, &n, sizeof(n));
		(void)r;
	}
}

/* Streams from an opened, started source until it fails, must restart, or we stop. */
static void stream(struct ipkvm_video *v, struct capture_state *cs)
{
	const struct ipkvm_source_ops *ops = v->src->ops;
	bool failing = false;
	int wait_ms = -1;
	while (!atomic_load(&v->stopping)) {
		struct pollfd p[2] = {{.fd = ops->fd(v->src), .events = POLLIN | POLLPRI},
				      {.fd = v->efd, .events = POLLIN}};
		int n = poll(p, 2, wait_ms >= 0 && wait_ms < 1000 ? wait_ms : 1000);
		if (n < 0 && errno != EINTR) {
			LOG_ERROR("poll: %s", strerror(errno));
			return;
		}
		if (n <= 0) {
			if (wait_ms < 0) { /* no frame for a second: the source says why */
				update_signal(v, cs);
				still(cs, now_us(v));
			}
			wait_ms = serve_idle(v, cs);
			continue;
		}
		if (p[1].revents & POLLIN)
			nap(v, 0);
		if ((p[0].revents & POLLPRI) && ops->event) {
			int r = ops->event(v->src);
			if (r != 0) {
				LOG_INFO("%s: %s, restarting capture", ops->name,
					 r > 0 ? "source changed" : strerror(-r));
				return;
			}
		}
		if (p[0].revents & (POLLERR | POLLHUP | POLLNVAL)) {
			LOG_WARN("%s: device error, reopening", ops->name);
			return;
		}
		if (!(p[0].revents & POLLIN)) {
			wait_ms = serve_idle(v, cs);
			continue;
		}
		struct ipkvm_frame *f = NULL;
		int r = ops->next(v->src, &f);
		if (r == -EAGAIN) { /* nothing new; a source that sends only changes may have
				     * changed its signal instead (the target went off) */
			update_signal(v, cs);
			wait_ms = serve_idle(v, cs);
			continue;
		}
		if (r < 0) {
			if (!failing)
				LOG_WARN("%s: %s, reopening", ops->name, strerror(-r));
			failing = true;
			return;
		}
		failing = false;
		update_signal(v, cs);
		bool watched = handle_frame(v, cs, f);
		ipkvm_source_done(v->src, f); /* a driver buffer goes back before any nap */
		if (!watched)
			nap(v, IDLE_NAP_MS);
		wait_ms = serve_idle(v, cs);
	}
}

static void *capture_main(void *arg)
{
	struct ipkvm_video *v = arg;
	const struct ipkvm_source_ops *ops = v->src->ops;
	struct capture_state cs = {0};
	int backoff = BACKOFF_MIN_MS;
	while (!atomic_load(&v->stopping)) {
		int r = ops->open(v->src);
		if (r == 0 && (r = ops->start(v->src)) < 0)
			ops->close(v->src);
		update_signal(v, &cs);
		if (r < 0) {
			nap(v, backoff);
			backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
			continue;
		}
		backoff = BACKOFF_MIN_MS;
		stream(v, &cs);
		ops->stop(v->src);
		ops->close(v->src);
	}
	ipkvm_frame_unref(cs.newest);
	ipkvm_frame_unref(cs.last_sent);
	ipkvm_frame_unref(cs.owed);
	ipkvm_frame_unref(cs.h264_last);
	return NULL;
}

/* --- public ------------------------------------------------------------------------ */

struct ipkvm_video *ipkvm_video_create(const struct ipkvm_video_config *cfg,
				       void (*wake)(void *ctx), void *ctx, char *err, size_t errlen)
{
	struct ipkvm_video *v = NULL;
	if (cfg->quality < 1 || cfg->quality > 100 || cfg->max_fps < 1 || cfg->max_fps > 240 ||
	    cfg->workers > MAX_WORKERS || cfg->strips > IPKVM_JPEG_MAX_STRIPS) {
		snprintf(err, errlen,
			 "quality must be 1..100, max_fps 1..240, workers 0..%d, strips 0..%d",
			 MAX_WORKERS, IPKVM_JPEG_MAX_STRIPS);
		goto fail;
	}
	v = calloc(1, sizeof(*v));
	if (!v) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	v->cfg = *cfg;
	if (!v->cfg.now_us)
		v->cfg.now_us = real_now_us;
	ipkvm_strlcpy(v->source_name,
		      cfg->src	    ? cfg->src->ops->name
		      : cfg->source ? cfg->source
				    : "",
		      sizeof(v->source_name));
	if (cfg->src) {
		v->src = cfg->src;
	} else if (strcmp(v->source_name, "pattern") == 0) {
		v->src = ipkvm_source_pattern_create(&cfg->pattern, err, errlen);
	} else if (strcmp(v->source_name, "v4l2") == 0) {
		v->src = ipkvm_source_v4l2_create(&cfg->v4l2, err, errlen);
	} else {
		snprintf(err, errlen, "unknown video source '%s' (pattern or v4l2)",
			 v->source_name);
	}
	if (!v->src) {
		free(v);
		return NULL;
	}
	/* The cores this process may run on (taskset, a cpuset), else the online ones. */
	cpu_set_t cpus;
	long cores = sched_getaffinity(0, sizeof(cpus), &cpus) == 0 ? CPU_COUNT(&cpus)
								    : sysconf(_SC_NPROCESSORS_ONLN);
	v->nworkers = cfg->workers ? cfg->workers
				   : (unsigned)(cores < 1	      ? 1
						: cores > MAX_WORKERS ? MAX_WORKERS
								      : cores);
	/* Strips: as many as there are workers to encode them at once; one on one core, where
	 * cutting a frame only adds work. */
	v->nstrips = cfg->strips ? cfg->strips : cores > 1 ? v->nworkers : 1;
	v->quality = cfg->quality;
	v->max_fps = cfg->max_fps;
	v->wake = wake;
	v->wake_ctx = ctx;
	v->signal.state = IPKVM_SIGNAL_ERROR;
	ipkvm_strlcpy(v->signal.reason, "starting", sizeof(v->signal.reason));
	v->win_start = now_us(v);
	pthread_mutex_init(&v->lock, NULL);
	pthread_cond_init(&v->work, NULL);
	v->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (v->efd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		ipkvm_video_destroy(v);
		return NULL;
	}
	v->jpeg_hw = ipkvm_jpeg_hw_create(&cfg->jpeg_hw);
	if (!v->jpeg_hw) {
		snprintf(err, errlen, "out of memory");
		ipkvm_video_destroy(v);
		return NULL;
	}
	if (cfg->h264.backend && strcmp(cfg->h264.backend, "none") != 0) {
		char herr[256];
		v->h264 = ipkvm_h264_stream_create(
		    &cfg->h264, cfg->h264_wake ? cfg->h264_wake : wake, ctx, herr, sizeof(herr));
		if (!v->h264) /* MJPEG still works: say why H.264 does not */
			LOG_ERROR("H.264 is off: %s", herr);
	}
	return v;

fail: /* before v holds the source: the caller's is still ours to destroy */
	if (cfg->src)
		cfg->src->ops->destroy(cfg->src);
	free(v);
	return NULL;
}

int ipkvm_video_start(struct ipkvm_video *v)
{
	for (unsigned i = 0; i < v->nworkers; i++) {
		if (pthread_create(&v->workers[i], NULL, worker_main, v) != 0) {
			v->nworkers = i;
			return -EAGAIN;
		}
	}
	if (pthread_create(&v->capture, NULL, capture_main, v) != 0)
		return -EAGAIN;
	v->capture_started = true;
	LOG_INFO("video: %s source, %u JPEG worker(s), %u strip(s) a frame, quality %d, max %d fps",
		 v->source_name, v->nworkers, v->nstrips, v->quality, v->max_fps);
	return 0;
}

static void kick(struct ipkvm_video *v)
{
	uint64_t one = 1;
	ssize_t r = write(v->efd, &one, sizeof(one));
	(void)r;
}

void ipkvm_video_destroy(struct ipkvm_video *v)
{
	if (!v)
		return;
	atomic_store(&v->stopping, true);
	if (v->efd >= 0)
		kick(v);
	pthread_mutex_lock(&v->lock);
	pthread_cond_broadcast(&v->work);
	pthread_mutex_unlock(&v->lock);
	if (v->capture_started)
		pthread_join(v->capture, NULL);
	for (unsigned i = 0; i < v->nworkers; i++)
		pthread_join(v->workers[i], NULL);
	ipkvm_h264_stream_destroy(v->h264);
	ipkvm_jpeg_hw_destroy(v->jpeg_hw);
	ipkvm_frame_unref(v->mailbox);
	while (v->jobs) { /* frames whose strips were not all handed out before the stop */
		struct job *job = v->jobs;
		v->jobs = job->next;
		job_free(job);
	}
	ipkvm_frame_unref(v->latest_raw);
	ipkvm_video_image_release(&v->latest);
	for (unsigned k = 0; k < IPKVM_VIDEO_MAX_EXTRAS; k++)
		ipkvm_video_image_release(&v->extras[k].latest);
	if (v->src)
		v->src->ops->destroy(v->src);
	if (v->efd >= 0)
		close(v->efd);
	pthread_cond_destroy(&v->work);
	pthread_mutex_destroy(&v->lock);
	free(v);
	ipkvm_frame_pool_drain();
}

bool ipkvm_video_latest(struct ipkvm_video *v, struct ipkvm_video_image *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&v->lock);
	bool have = v->have_latest;
	if (have) {
		*out = v->latest;
		ipkvm_buf_ref(out->part);
	}
	pthread_mutex_unlock(&v->lock);
	return have;
}

bool ipkvm_video_latest_quality(struct ipkvm_video *v, int quality, struct ipkvm_video_image *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&v->lock);
	const struct ipkvm_video_image *best = v->have_latest ? &v->latest : NULL;
	int best_q = v->quality;
	for (unsigned k = 0; k < IPKVM_VIDEO_MAX_EXTRAS; k++) {
		const struct extra *x = &v->extras[k];
		if (!x->have ||
		    (v->have_latest && x->latest.ts_us + EXTRA_STALE_US < v->latest.ts_us))
			continue;
		int d = abs(quality - x->quality), best_d = abs(quality - best_q);
		if (!best || d < best_d || (d == best_d && x->quality > best_q)) {
			best = &x->latest;
			best_q = x->quality;
		}
	}
	if (best) {
		*out = *best;
		ipkvm_buf_ref(out->part);
	}
	pthread_mutex_unlock(&v->lock);
	return best != NULL;
}

/* Whether quality q is one of the extras being made (lock held). */
static bool extra_made(const struct ipkvm_video *v, int q)
{
	for (unsigned k = 0; k < IPKVM_VIDEO_MAX_EXTRAS; k++)
		if (v->extras[k].quality == q)
			return true;
	return false;
}

/* Whether quality a comes before b in the choice of extras: more wanted; on a tie, the one
 * already made (clients do not make the choice flap); then the higher (lock held). */
static bool before(const struct ipkvm_video *v, int a, int b)
{
	if (v->wanted[a] != v->wanted[b])
		return v->wanted[a] > v->wanted[b];
	bool ma = extra_made(v, a), mb = extra_made(v, b);
	if (ma != mb)
		return ma;
	return a > b;
}

/* Chooses the extras from what is wanted and the configured quality (lock held): a slot
 * whose quality is no longer chosen is freed with its image, a newly chosen quality takes a
 * free slot. Returns true when a quality was added. */
static bool choose_extras(struct ipkvm_video *v)
{
	int pick[IPKVM_VIDEO_MAX_EXTRAS] = {0};
	for (int q = 1; q <= 100; q++) {
		if (!v->wanted[q] || q == v->quality)
			continue; /* the configured quality costs nothing */
		for (unsigned k = 0; k < IPKVM_VIDEO_MAX_EXTRAS; k++) {
			if (!pick[k] || before(v, q, pick[k])) {
				for (unsigned m = IPKVM_VIDEO_MAX_EXTRAS - 1; m > k; m--)
					pick[m] = pick[m - 1];
				pick[k] = q;
				break;
			}
		}
	}
	for (unsigned k = 0; k < IPKVM_VIDEO_MAX_EXTRAS; k++) {
		struct extra *x = &v->extras[k];
		bool keep = false;
		for (unsigned m = 0; m < IPKVM_VIDEO_MAX_EXTRAS; m++)
			keep = keep || (x->quality && pick[m] == x->quality);
		if (x->quality && !keep) {
			ipkvm_video_image_release(&x->latest);
			x->have = false;
			x->quality = 0;
		}
	}
	bool added = false;
	for (unsigned m = 0; m < IPKVM_VIDEO_MAX_EXTRAS; m++) {
		if (!pick[m] || extra_made(v, pick[m]))
			continue;
		for (unsigned k = 0; k < IPKVM_VIDEO_MAX_EXTRAS; k++) {
			if (!v->extras[k].quality) {
				v->extras[k].quality = pick[m];
				added = true;
				break;
			}
		}
	}
	return added;
}

void ipkvm_video_want_quality(struct ipkvm_video *v, int quality, int delta)
{
	if (quality < 1 || quality > 100)
		return;
	pthread_mutex_lock(&v->lock);
	v->wanted[quality] += delta;
	if (v->wanted[quality] < 0)
		v->wanted[quality] = 0;
	bool added = choose_extras(v);
	if (added && v->watchers > 0)
		v->requested = true; /* the new quality's first image: the picture as it is */
	pthread_mutex_unlock(&v->lock);
	if (added)
		kick(v);
}

struct ipkvm_frame *ipkvm_video_latest_raw(struct ipkvm_video *v)
{
	pthread_mutex_lock(&v->lock);
	struct ipkvm_frame *f = v->latest_raw ? ipkvm_frame_ref(v->latest_raw) : NULL;
	pthread_mutex_unlock(&v->lock);
	return f;
}

void ipkvm_video_watch(struct ipkvm_video *v, int delta)
{
	pthread_mutex_lock(&v->lock);
	int before = v->watchers;
	v->watchers += delta;
	if (v->watchers < 0)
		v->watchers = 0;
	if (before == 0 && v->watchers > 0)
		v->requested = true; /* the last image may be old: send the picture as it is */
	pthread_mutex_unlock(&v->lock);
	kick(v);
}

void ipkvm_video_request_image(struct ipkvm_video *v)
{
	pthread_mutex_lock(&v->lock);
	v->requested = true;
	pthread_mutex_unlock(&v->lock);
	kick(v);
}

int ipkvm_video_set_params(struct ipkvm_video *v, int quality, int max_fps)
{
	if (quality < 1 || quality > 100 || max_fps < 1 || max_fps > 240)
		return -EINVAL;
	pthread_mutex_lock(&v->lock);
	if (quality != v->quality)
		v->requested = true; /* show the new quality now, not at the next change */
	v->quality = quality;
	v->max_fps = max_fps;
	choose_extras(v); /* an extra may now be the configured quality, or free a slot */
	pthread_mutex_unlock(&v->lock);
	kick(v);
	return 0;
}

void ipkvm_video_status(struct ipkvm_video *v, struct ipkvm_video_status *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&v->lock);
	stats_roll(v, now_us(v));
	ipkvm_strlcpy(out->source, v->source_name, sizeof(out->source));
	out->signal = v->signal;
	out->format = v->format;
	out->capture_fps = v->capture_fps;
	out->encoded_fps = v->encoded_fps;
	out->bytes_per_s = v->bytes_per_s;
	out->dropped = v->dropped;
	out->quality = v->quality;
	out->max_fps = v->max_fps;
	out->watchers = v->watchers;
	out->workers = v->nworkers;
	out->strips = v->strips_off || v->nstrips < 1 ? 1 : v->nstrips;
	out->seq = v->have_latest ? v->latest.seq : 0;
	/* the extras being made, highest first; none from an MJPEG device */
	for (unsigned k = 0; v->format != IPKVM_FMT_MJPEG && k < IPKVM_VIDEO_MAX_EXTRAS; k++) {
		int q = v->extras[k].quality;
		if (!q)
			continue;
		unsigned m = out->nextras++;
		while (m > 0 && out->extras[m - 1] < q) {
			out->extras[m] = out->extras[m - 1];
			m--;
		}
		out->extras[m] = q;
	}
	out->encodes_per_s = v->encodes_per_s;
	out->encodes = v->encodes;
	pthread_mutex_unlock(&v->lock);
	ipkvm_jpeg_hw_status(v->jpeg_hw, &out->jpeg);
}

void ipkvm_video_kick(struct ipkvm_video *v)
{
	kick(v);
}

struct ipkvm_h264_stream *ipkvm_video_h264(struct ipkvm_video *v)
{
	return v->h264;
}

bool ipkvm_video_test_encoders_idle(struct ipkvm_video *v)
{
	pthread_mutex_lock(&v->lock);
	bool idle = v->in_flight == 0;
	pthread_mutex_unlock(&v->lock);
	return idle;
}
