/*
 * daemon: the composition root (see daemon.h). The one place that knows every module:
 *
 *   loop ─ events ─ workers ─ auth ─ [usb gadget] ─ virtual target ─ atx (+ gpio) ─ msd
 *   (store, fetcher, drives) ─ video ─ hid ─ web front end ─ [VNC front end] (each gets
 *   struct ipkvm_services)
 *
 * Each device gets plain callbacks (a timer, a wake, "changed") that this file implements
 * on the loop adapter (loop.h), so no device module knows the loop or a front end. State
 * changes of devices become events here (hid, atx, msd) for every front end to follow; work a
 * producer thread finished wakes only its consumer: the worker's jobs, the web front end's
 * MJPEG streams, its H.264 clients, the VNC sessions (a wake of their own for images and one
 * for H.264 units), download progress.
 *
 * The VNC front end ([vnc] enabled) comes after the web one: the RFB gateway it fills in
 * (svc->rfb, which the web front end's /api/vnc/ws reads per connection) exists before the
 * loop runs, so before any client can ask for it, and the web front end keeps being made
 * first, as every front end is, from the devices alone.
 *
 * Signals arrive through a signalfd watched on the loop (no async-signal races): SIGTERM
 * and SIGINT stop, SIGHUP makes the front ends re-read their users, tokens and TLS files. A
 * one-second timer runs the front ends' housekeeping (sessions, deadlines, keep-alives).
 * Teardown runs in reverse: threads first (they wake the loop), then the loop closes every
 * connection while the front ends still exist, then the front ends, then the devices.
 */
#define LOG_TAG "daemon"
#include "daemon/daemon.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include "atx/atx.h"
#include "atx/gpio.h"
#include "atx/wol.h"
#include "auth/authsvc.h"
#include "build_config.h"
#include "core/events.h"
#include "core/log.h"
#include "core/util.h"
#include "core/worker.h"
#include "daemon/loop.h"
#include "daemon/services.h"
#include "hid/hid.h"
#include "hid/paste.h"
#include "msd/msd.h"
#include "target/virtual.h"
#include "hid/layout.h"
#include "usb/gadgetcmd.h"
#include "video/video.h"
#include "vnc/vnc.h"
#include "vnc/vncpasswd.h"
#include "web/server.h"

/* Descriptors kept beside the connections: devices, files, the workers, downloads. */
#define FD_RESERVE 256

struct ipkvm_daemon {
	const struct ipkvm_config *cfg;
	struct ipkvm_loop *loop;
	struct ipkvm_services svc;
	struct ipkvm_server *web;
	struct ipkvm_vnc *vnc; /* [vnc] enabled */
	int sigfd;
	struct ipkvm_loop_watch *sig_watch;
	struct ipkvm_loop_watch *watched[8]; /* virtual target's USB ends, GPIO LED lines */
	size_t n_watched;
	struct ipkvm_loop_watch *hid_watch[IPKVM_HID_OUT_MAX_FDS]; /* the HID output's fds */
	int hid_fd[IPKVM_HID_OUT_MAX_FDS];
	struct ipkvm_loop_timer *paste_timer;
	struct ipkvm_loop_timer *tick, *hid_timer, *vtarget_timer, *atx_timer, *atx_event_timer;
	struct ipkvm_loop_timer *msd_timer; /* the msd service's (the gadget's replug) */
	int64_t atx_event_ms;		    /* when the last `atx` event went out */
	struct ipkvm_loop_wake *worker_wake, *io_worker_wake, *frames_wake, *h264_wake, *fetch_wake;
	struct ipkvm_loop_wake *vnc_frames_wake, *vnc_h264_wake; /* VNC's own, when it runs */
};

static void on_signal(struct ipkvm_daemon *d, int sig)
{
	if (sig == SIGHUP) {
		LOG_INFO("SIGHUP: reloading users, tokens and TLS files");
		ipkvm_authsvc_refresh(d->svc.auth, true);
		if (d->web)
			ipkvm_server_reload(d->web);
		if (d->vnc)
			ipkvm_vnc_reload_tls(d->vnc);
		return;
	}
	LOG_INFO("%s: shutting down", strsignal(sig));
	ipkvm_loop_stop(d->loop);
}

static void signal_readable(void *ctx, int fd, unsigned events)
{
	struct ipkvm_daemon *d = ctx;
	struct signalfd_siginfo si;
	while (read(fd, &si, sizeof(si)) == sizeof(si))
		on_signal(d, (int)si.ssi_signo);
}

static void tick(void *ctx)
{
	struct ipkvm_daemon *d = ctx;
	ipkvm_authsvc_tick(d->svc.auth);
	if (d->web)
		ipkvm_server_tick(d->web);
	if (d->vnc)
		ipkvm_vnc_tick(d->vnc);
}

/* The wakes' consumers (main thread). */
static void worker_done(void *ctx)
{
	struct ipkvm_daemon *d = ctx;
	ipkvm_worker_drain(d->svc.worker);
}

static void io_worker_done(void *ctx)
{
	struct ipkvm_daemon *d = ctx;
	ipkvm_worker_drain(d->svc.io_worker);
}

static void frames_ready(void *ctx)
{
	struct ipkvm_daemon *d = ctx;
	if (d->web)
		ipkvm_server_frames_ready(d->web);
}

static void h264_ready(void *ctx)
{
	struct ipkvm_daemon *d = ctx;
	if (d->web)
		ipkvm_server_h264_ready(d->web);
}

static void vnc_frames_ready(void *ctx)
{
	struct ipkvm_daemon *d = ctx;
	if (d->vnc)
		ipkvm_vnc_frames_ready(d->vnc);
}

static void vnc_h264_ready(void *ctx)
{
	struct ipkvm_daemon *d = ctx;
	if (d->vnc)
		ipkvm_vnc_h264_ready(d->vnc);
}

static void fetch_progress(void *ctx)
{
	struct ipkvm_daemon *d = ctx;
	if (d->web)
		ipkvm_server_fetch_progress(d->web);
}

/* Video threads: a new JPEG is out (encoder workers), new H.264 access units are out (the
 * H.264 thread); each wakes only its own clients, one consumer per front end (the VNC
 * wakes exist before the threads start, and are never freed before they stop). */
static void video_wake(void *ctx)
{
	struct ipkvm_daemon *d = ctx;
	ipkvm_loop_wake(d->frames_wake);
	if (d->vnc_frames_wake)
		ipkvm_loop_wake(d->vnc_frames_wake);
}

static void video_h264_wake(void *ctx)
{
	struct ipkvm_daemon *d = ctx;
	ipkvm_loop_wake(d->h264_wake);
	if (d->vnc_h264_wake)
		ipkvm_loop_wake(d->vnc_h264_wake);
}

/* The word of a choice key's value, for the modules that take their setting as text. */
static const char *word(const char *section, const char *key, int value)
{
	return ipkvm_config_choice_name(section, key, value);
}

static void vtarget_tick(void *ctx)
{
	struct ipkvm_daemon *d = ctx;
	ipkvm_vtarget_tick(d->svc.vtarget);
}

static void vtarget_timer(void *ctx, int64_t delay_ms)
{
	struct ipkvm_daemon *d = ctx;
	/* NULL while still starting: nothing runs on its own before power-on. */
	ipkvm_loop_timer_set(d->vtarget_timer, delay_ms);
}

static void vtarget_leds(void *ctx)
{
	struct ipkvm_daemon *d = ctx;
	if (d->svc.atx)
		ipkvm_atx_leds_changed(d->svc.atx);
}

/* Makes the built-in virtual target when any part of the config drives it. */
static int make_target(struct ipkvm_daemon *d)
{
	const struct ipkvm_config *cfg = d->cfg;
	if (!cfg->resolved.target)
		return 0;
	/* [target] media: comma-separated paths. */
	char *list = cfg->target_media ? strdup(cfg->target_media) : NULL;
	const char *media[16];
	size_t n = 0;
	char *save = NULL;
	for (char *tok = list ? strtok_r(list, ",", &save) : NULL; tok;
	     tok = strtok_r(NULL, ",", &save)) {
		while (*tok == ' ')
			tok++;
		char *end = tok + strlen(tok);
		while (end > tok && end[-1] == ' ')
			*--end = '\0';
		if (!*tok)
			continue;
		if (tok[0] != '/' || n == IPKVM_ARRAY_SIZE(media)) {
			LOG_ERROR("[target] media: '%s': %s", tok,
				  tok[0] != '/' ? "not an absolute path" : "at most 16 images");
			free(list);
			return -EINVAL;
		}
		media[n++] = tok;
	}
	struct ipkvm_vtarget_config vc = {.width = cfg->target_width,
					  .height = cfg->target_height,
					  .fps = cfg->target_fps,
					  .layout = word("target", "layout", cfg->target_layout),
					  .autoboot_ms = cfg->target_autoboot * 1000,
					  .media = media,
					  .n_media = n,
					  .ctx = d,
					  .leds = vtarget_leds,
					  .timer = vtarget_timer};
	ipkvm_pixfmt_parse(word("target", "format", cfg->target_format), &vc.format);
	char err[256];
	d->svc.vtarget = ipkvm_vtarget_create(&vc, err, sizeof(err));
	free(list);
	if (!d->svc.vtarget) {
		LOG_ERROR("[target]: %s", err);
		return -EINVAL;
	}
	return 0;
}

static void atx_tick(void *ctx)
{
	struct ipkvm_daemon *d = ctx;
	ipkvm_atx_tick(d->svc.atx);
}

static void atx_timer(void *ctx, int64_t delay_ms)
{
	struct ipkvm_daemon *d = ctx;
	ipkvm_loop_timer_set(d->atx_timer, delay_ms);
}

/* An HDD LED flickers hundreds of times a second under load: `atx` events go out at most
 * every ATX_EVENT_MS, the last change always included. */
#define ATX_EVENT_MS 100

static void atx_publish(void *ctx)
{
	struct ipkvm_daemon *d = ctx;
	d->atx_event_ms = ipkvm_mono_ms();
	ipkvm_events_publish(d->svc.events, "atx", ipkvm_atx_state(d->svc.atx));
}

static void atx_changed(void *ctx)
{
	struct ipkvm_daemon *d = ctx;
	if (!d->svc.atx)
		return;
	int64_t wait = d->atx_event_ms + ATX_EVENT_MS - ipkvm_mono_ms();
	if (wait <= 0) {
		ipkvm_loop_timer_stop(d->atx_event_timer);
		atx_publish(d);
	} else if (!ipkvm_loop_timer_pending(d->atx_event_timer)) {
		ipkvm_loop_timer_start(d->atx_event_timer, wait, 0);
	} /* else a publish is already on its way */
}

/* Front-panel control: GPIO lines, or the virtual target's. */
static int make_atx(struct ipkvm_daemon *d)
{
	const struct ipkvm_config *cfg = d->cfg;
	bool gpio = cfg->resolved.atx == IPKVM_ATX_DRIVER_GPIO;
	if (cfg->resolved.atx == IPKVM_ATX_DRIVER_NONE)
		return 0;
	const struct ipkvm_atx_lines *lines;
	if (gpio) {
		struct ipkvm_gpio_config gc = {.chip = cfg->atx_chip};
		const char *specs[IPKVM_ATX_LINE_COUNT] = {cfg->atx_power_button,
							   cfg->atx_reset_button,
							   cfg->atx_power_led, cfg->atx_hdd_led};
		const bool low[IPKVM_ATX_LINE_COUNT] = {
		    cfg->atx_buttons_active_low, cfg->atx_buttons_active_low,
		    cfg->atx_power_led_active_low, cfg->atx_hdd_led_active_low};
		for (int i = 0; i < IPKVM_ATX_LINE_COUNT; i++)
			gc.lines[i] = (struct ipkvm_gpio_line_config){specs[i], low[i]};
		char err[256];
		d->svc.gpio = ipkvm_gpio_create(&gc, err, sizeof(err));
		if (!d->svc.gpio) {
			LOG_ERROR("[atx] gpio: %s", err);
			return -EINVAL;
		}
		lines = ipkvm_gpio_lines(d->svc.gpio);
	} else {
		lines = ipkvm_vtarget_atx_lines(d->svc.vtarget);
	}
	struct ipkvm_atx_config ac = {.click_ms = cfg->atx_click_ms,
				      .long_click_ms = cfg->atx_long_click_ms};
	struct ipkvm_atx_cb cb = {.ctx = d, .changed = atx_changed, .timer = atx_timer};
	d->svc.atx = ipkvm_atx_create(&ac, lines, &cb);
	if (!d->svc.atx) {
		LOG_ERROR("[atx]: cannot set up power control");
		return -EINVAL;
	}
	return 0;
}

static void msd_tick(void *ctx)
{
	struct ipkvm_daemon *d = ctx;
	ipkvm_msd_timer_fired(d->svc.msd);
}

static void msd_timer(void *ctx, int64_t delay_ms)
{
	struct ipkvm_daemon *d = ctx;
	ipkvm_loop_timer_set(d->msd_timer, delay_ms);
}

/* Download threads: progress to collect (the front end's fetch_progress on the loop). */
static void msd_wake(void *ctx)
{
	struct ipkvm_daemon *d = ctx;
	ipkvm_loop_wake(d->fetch_wake);
}

/* The msd service's state changed (an attach, an eject, an upload's progress, ...): every
 * event-socket client gets it, whichever front end caused it. */
static void msd_changed(void *ctx)
{
	struct ipkvm_daemon *d = ctx;
	if (d->svc.msd)
		ipkvm_events_publish(d->svc.events, "msd", ipkvm_msd_state_json(d->svc.msd));
}

/* Virtual media: the msd service over the image store ([msd] dir, or images/ in the state
 * directory), the downloader, and the drives images are attached to (cfg->resolved.msd). */
static int make_msd(struct ipkvm_daemon *d)
{
	const struct ipkvm_config *cfg = d->cfg;
	char dir[PATH_MAX], err[256];
	struct ipkvm_drives *drives = NULL;
	enum ipkvm_msd_drives kind = cfg->resolved.msd;
	if (kind == IPKVM_MSD_DRIVES_GADGET) {
		struct ipkvm_gadget_config gc;
		ipkvm_gadget_config_from(&gc, cfg);
		if (ipkvm_gadget_msd_dir(&gc, dir, sizeof(dir)) < 0)
			return -ENAMETOOLONG;
		drives = ipkvm_drives_create_gadget(dir, (unsigned)cfg->usb_luns);
	} else if (kind == IPKVM_MSD_DRIVES_VIRTUAL && d->svc.vtarget) {
		static const struct ipkvm_drive_ops vops = {.attach = ipkvm_vtarget_attach,
							    .eject = ipkvm_vtarget_eject};
		drives = ipkvm_drives_create_ops(&vops, d->svc.vtarget, IPKVM_VTARGET_DRIVES);
	} else if (kind == IPKVM_MSD_DRIVES_VIRTUAL) {
		LOG_ERROR("[msd] drives = virtual needs the virtual target");
		return -EINVAL;
	}
	if (kind != IPKVM_MSD_DRIVES_NONE && !drives)
		return -ENOMEM;
	if (cfg->msd_dir) {
		ipkvm_strlcpy(dir, cfg->msd_dir, sizeof(dir));
	} else if (ipkvm_path_join(dir, sizeof(dir), cfg->state_dir, "images") < 0) {
		ipkvm_drives_destroy(drives);
		return -ENAMETOOLONG;
	}
	struct ipkvm_fetch_config fc;
	ipkvm_fetch_config_defaults(&fc);
	fc.max_bytes = (int64_t)cfg->msd_max_download_gib << 30;
	fc.user_agent = "ipkvm/" IPKVM_VERSION;
	fc.allow_private = cfg->msd_fetch_allow_private != 0;
	struct ipkvm_msd_config mc = {
	    .dir = dir,
	    .quota = cfg->msd_max_size,
	    .fetch = &fc,
	    .drives = drives,
	    .cb = {.ctx = d, .timer = msd_timer, .changed = msd_changed, .wake = msd_wake}};
	d->svc.msd = ipkvm_msd_create(&mc, err, sizeof(err));
	if (!d->svc.msd) {
		LOG_ERROR("[msd] %s", err);
		return -EINVAL;
	}
	return 0;
}

/* [usb] setup = 1: the gadget is made (or checked) before the HID output opens its nodes. */
static int setup_gadget(struct ipkvm_daemon *d)
{
	if (!d->cfg->usb_setup)
		return 0;
	struct ipkvm_gadget_config gc;
	ipkvm_gadget_config_from(&gc, d->cfg);
	char err[512];
	int r = ipkvm_gadget_up(&gc, err, sizeof(err));
	if (r < 0)
		LOG_ERROR("[usb] gadget: %s", err);
	else
		LOG_INFO("USB gadget %s is up", gc.name);
	return r;
}

/* Makes the video pipeline the config asks for; d->svc.video stays NULL for "none". */
static int make_video(struct ipkvm_daemon *d)
{
	const struct ipkvm_config *cfg = d->cfg;
	char err[256];
	if (cfg->video_source == IPKVM_VIDEO_SRC_NONE)
		return 0;
	struct ipkvm_video_config vc = {
	    .source = word("video", "source", cfg->video_source),
	    .quality = cfg->jpeg_quality,
	    .max_fps = cfg->jpeg_max_fps,
	    .workers = (unsigned)cfg->jpeg_workers,
	    .strips = (unsigned)cfg->jpeg_strips,
	    .subsample420 = cfg->jpeg_subsampling == IPKVM_SUBSAMPLING_420,
	    .pattern = {.width = cfg->video_width ? (unsigned)cfg->video_width : 1920,
			.height = cfg->video_height ? (unsigned)cfg->video_height : 1080,
			.fps = cfg->video_fps ? (unsigned)cfg->video_fps : 60,
			.scene = word("video", "scene", cfg->video_scene)},
	    .v4l2 = {.device = cfg->video_device,
		     .width = (unsigned)cfg->video_width,
		     .height = (unsigned)cfg->video_height,
		     .fps = (unsigned)cfg->video_fps,
		     .allow_mjpeg = cfg->video_mjpeg != 0,
		     .edid = cfg->video_edid,
		     .buffers = (unsigned)cfg->video_buffers},
	};
	ipkvm_pixfmt_parse(word("video", "format", cfg->video_format), &vc.pattern.format);
	static const enum ipkvm_jpeg_encoder_mode jpeg_modes[] = {
	    [IPKVM_CFG_JPEG_ENCODER_AUTO] = IPKVM_JPEG_ENCODER_AUTO,
	    [IPKVM_CFG_JPEG_ENCODER_SOFTWARE] = IPKVM_JPEG_ENCODER_SOFTWARE,
	    [IPKVM_CFG_JPEG_ENCODER_V4L2] = IPKVM_JPEG_ENCODER_V4L2,
	};
	vc.jpeg_hw = (struct ipkvm_jpeg_hw_config){.mode = jpeg_modes[cfg->jpeg_encoder],
						   .device = cfg->jpeg_device};
	vc.h264 = (struct ipkvm_h264_config){.backend = word("h264", "backend", cfg->h264_backend),
					     .m2m_device = cfg->h264_device,
					     .bitrate_kbps = cfg->h264_bitrate,
					     .max_fps = cfg->h264_fps,
					     .gop = cfg->h264_gop};
	if (cfg->video_source == IPKVM_VIDEO_SRC_VIRTUAL) {
		/* The target's screen: video gets the source and never knows the target. */
		if (!d->svc.vtarget) {
			LOG_ERROR("[video]: source 'virtual' needs the virtual target");
			return -EINVAL;
		}
		vc.src = ipkvm_source_virtual_create(d->svc.vtarget);
		if (!vc.src) {
			LOG_ERROR("[video]: out of memory");
			return -ENOMEM;
		}
	}
	vc.h264_wake = video_h264_wake;
	d->svc.video = ipkvm_video_create(&vc, video_wake, d, err, sizeof(err));
	if (!d->svc.video) {
		LOG_ERROR("[video]: %s", err);
		return -EINVAL;
	}
	return 0;
}

static void hid_changed(void *ctx)
{
	struct ipkvm_daemon *d = ctx;
	if (d->svc.hid) /* not while it is being created */
		ipkvm_events_publish(d->svc.events, "hid", ipkvm_hid_state(d->svc.hid));
}

/* The HID output's fds: watched for what it asks (readable where the device talks back,
 * writable only while reports wait), so nothing polls it. */
static void hid_fd_ready(void *ctx, int fd, unsigned events)
{
	struct ipkvm_daemon *d = ctx;
	ipkvm_hid_fd_ready(d->svc.hid, fd,
			   (short)(((events & IPKVM_LOOP_READ) ? POLLIN : 0) |
				   ((events & IPKVM_LOOP_WRITE) ? POLLOUT : 0)));
}

static void hid_fds_changed(void *ctx)
{
	struct ipkvm_daemon *d = ctx;
	struct pollfd fds[IPKVM_HID_OUT_MAX_FDS];
	size_t n = d->svc.hid ? ipkvm_hid_pollfds(d->svc.hid, fds, IPKVM_HID_OUT_MAX_FDS) : 0;
	/* Ends the watches of fds that went away, then updates or adds the others. */
	for (size_t i = 0; i < IPKVM_HID_OUT_MAX_FDS; i++) {
		bool keep = false;
		for (size_t k = 0; k < n && d->hid_watch[i]; k++)
			keep |= fds[k].fd == d->hid_fd[i];
		if (d->hid_watch[i] && !keep) {
			ipkvm_loop_unwatch(d->hid_watch[i]);
			d->hid_watch[i] = NULL;
		}
	}
	for (size_t k = 0; k < n; k++) {
		unsigned ev = ((fds[k].events & POLLIN) ? IPKVM_LOOP_READ : 0) |
			      ((fds[k].events & POLLOUT) ? IPKVM_LOOP_WRITE : 0);
		size_t i, free_slot = IPKVM_HID_OUT_MAX_FDS;
		for (i = 0; i < IPKVM_HID_OUT_MAX_FDS; i++) {
			if (d->hid_watch[i] && d->hid_fd[i] == fds[k].fd)
				break;
			if (!d->hid_watch[i] && free_slot == IPKVM_HID_OUT_MAX_FDS)
				free_slot = i;
		}
		if (i < IPKVM_HID_OUT_MAX_FDS) {
			ipkvm_loop_watch_set(d->hid_watch[i], ev);
		} else if (free_slot < IPKVM_HID_OUT_MAX_FDS) {
			d->hid_fd[free_slot] = fds[k].fd;
			d->hid_watch[free_slot] =
			    ipkvm_loop_watch(d->loop, fds[k].fd, ev, hid_fd_ready, d);
		}
	}
}

static void hid_tick(void *ctx)
{
	struct ipkvm_daemon *d = ctx;
	if (d->svc.hid)
		ipkvm_hid_tick(d->svc.hid);
}

static void hid_timer(void *ctx, int64_t delay_ms)
{
	struct ipkvm_daemon *d = ctx;
	ipkvm_loop_timer_set(d->hid_timer, delay_ms);
}

/* Paste: its timer, and the HID output's "everything written" that lets it go on. */
static void paste_tick(void *ctx)
{
	struct ipkvm_daemon *d = ctx;
	if (d->svc.paste)
		ipkvm_paste_tick(d->svc.paste);
}

static void paste_timer(void *ctx, int64_t delay_ms)
{
	struct ipkvm_daemon *d = ctx;
	ipkvm_loop_timer_set(d->paste_timer, delay_ms);
}

static void hid_drained(void *ctx)
{
	struct ipkvm_daemon *d = ctx;
	if (d->svc.paste)
		ipkvm_paste_drained(d->svc.paste);
}

static int make_hid(struct ipkvm_daemon *d)
{
	const struct ipkvm_config *cfg = d->cfg;
	if (cfg->hid_output == IPKVM_HID_OUTPUT_NONE)
		return 0;
	struct ipkvm_hid_config hc = {.output = word("hid", "output", cfg->hid_output),
				      .serial = cfg->hid_serial,
				      .baud = (unsigned)cfg->hid_baud,
				      .keyboard = cfg->hid_keyboard,
				      .mouse_abs = cfg->hid_mouse_abs,
				      .mouse_rel = cfg->hid_mouse_rel,
				      .consumer = cfg->hid_consumer,
				      .changed = hid_changed,
				      .fds_changed = hid_fds_changed,
				      .timer = hid_timer,
				      .drained = hid_drained,
				      .ctx = d};
	if (cfg->hid_output == IPKVM_HID_OUTPUT_VIRTUAL) {
		/* The gadget protocol over the virtual target's socketpairs. */
		hc.keyboard = IPKVM_VTARGET_HID_KEYBOARD;
		hc.mouse_abs = IPKVM_VTARGET_HID_MOUSE_ABS;
		hc.mouse_rel = IPKVM_VTARGET_HID_MOUSE_REL;
		hc.consumer = IPKVM_VTARGET_HID_CONSUMER;
		hc.open_fn = ipkvm_vtarget_hid_open;
		hc.open_ctx = d->svc.vtarget;
	}
	d->svc.hid = ipkvm_hid_create(&hc);
	if (!d->svc.hid) {
		LOG_ERROR("[hid]: cannot create the output");
		return -ENOMEM;
	}
	ipkvm_hid_set_jiggler(d->svc.hid, cfg->hid_jiggler);
	hid_fds_changed(d); /* the first answer, given while it was being made */
	struct ipkvm_paste_config pc = {
	    .hid = d->svc.hid, .events = d->svc.events, .ctx = d, .timer = paste_timer};
	d->svc.paste = ipkvm_paste_create(&pc);
	return d->svc.paste ? 0 : -ENOMEM;
}

/* The device fds the loop watches: the virtual target's ends of its USB interfaces
 * (reports are read as they arrive) and the GPIO LED lines' events. */
static void vtarget_readable(void *ctx, int fd, unsigned events)
{
	struct ipkvm_daemon *d = ctx;
	ipkvm_vtarget_hid_readable(d->svc.vtarget, fd);
}

static void gpio_readable(void *ctx, int fd, unsigned events)
{
	struct ipkvm_daemon *d = ctx;
	if (ipkvm_gpio_readable(d->svc.gpio, fd))
		ipkvm_atx_leds_changed(d->svc.atx);
}

static int watch_devices(struct ipkvm_daemon *d)
{
	int fds[IPKVM_ARRAY_SIZE(d->watched)];
	size_t n = 0;
	if (d->svc.vtarget) {
		ipkvm_vtarget_hid_fds(d->svc.vtarget, fds);
		for (; n < IPKVM_VTARGET_HID_FDS; n++) {
			d->watched[d->n_watched] =
			    ipkvm_loop_watch(d->loop, fds[n], IPKVM_LOOP_READ, vtarget_readable, d);
			if (!d->watched[d->n_watched++]) {
				LOG_ERROR("cannot watch the virtual target");
				return -EIO;
			}
		}
	}
	if (d->svc.gpio) {
		size_t k = ipkvm_gpio_fds(d->svc.gpio, fds, IPKVM_ARRAY_SIZE(fds) - n);
		for (size_t i = 0; i < k; i++) {
			d->watched[d->n_watched] =
			    ipkvm_loop_watch(d->loop, fds[i], IPKVM_LOOP_READ, gpio_readable, d);
			if (!d->watched[d->n_watched++]) {
				LOG_ERROR("cannot watch the GPIO lines");
				return -EIO;
			}
		}
	}
	return 0;
}

/* The VNC front end ([vnc] enabled): what its sessions share (the layout keysyms are typed
 * for, the desktop name, the VncAuth entries of the password file), its wakes, and the
 * gateway and figures it puts in the services for the web front end. */
static int make_vnc(struct ipkvm_daemon *d)
{
	const struct ipkvm_config *cfg = d->cfg;
	if (!cfg->vnc_enabled)
		return 0;
	/* auto: what the virtual target's OS reads keys with, when it runs; else us. */
	const char *layout = cfg->vnc_layout != IPKVM_VNC_LAYOUT_AUTO
				 ? word("vnc", "layout", cfg->vnc_layout)
			     : d->svc.vtarget ? word("target", "layout", cfg->target_layout)
					      : "us";
	char host[256] = "", name[300];
	if (gethostname(host, sizeof(host)) < 0 || !host[0])
		ipkvm_strlcpy(host, "localhost", sizeof(host));
	host[sizeof(host) - 1] = '\0';
	snprintf(name, sizeof(name), "ipkvm (%s)", host);
	struct ipkvm_rfb_vncauth_entry *vncauth = NULL;
	size_t n_vncauth = 0;
	const char *pwfile = cfg->vnc_vncauth_password_file;
	if (pwfile) {
		char err[512];
		if (ipkvm_vncpasswd_load(pwfile, d->svc.auth, &vncauth, &n_vncauth, err,
					 sizeof(err)) < 0) {
			LOG_ERROR("[vnc] vncauth_password_file: %s", err);
			return -EINVAL;
		}
		LOG_WARN("VNC: plain VncAuth offered for %zu user%s of %s; it is weak (8 "
			 "characters, DES, nothing encrypted): use it only on a network you trust",
			 n_vncauth, n_vncauth == 1 ? "" : "s", pwfile);
	}
	struct ipkvm_vnc_config vc = {.layout = ipkvm_layout_find(layout),
				      .name = name,
				      .vncauth = vncauth,
				      .n_vncauth = n_vncauth};
	d->vnc_frames_wake = ipkvm_loop_wake_new(d->loop, vnc_frames_ready, d);
	d->vnc_h264_wake = ipkvm_loop_wake_new(d->loop, vnc_h264_ready, d);
	if (d->vnc_frames_wake && d->vnc_h264_wake)
		d->vnc = ipkvm_vnc_create(&d->svc, &vc);
	ipkvm_vncpasswd_free(vncauth, n_vncauth);
	if (!d->vnc)
		return -EINVAL;
	d->svc.rfb = ipkvm_vnc_gateway(d->vnc);
	d->svc.vnc_info = ipkvm_vnc_info(d->vnc);
	return 0;
}

/* Signals are read from a signalfd: blocked before any thread starts so every thread
 * inherits the mask. */
static void block_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGHUP);
	pthread_sigmask(SIG_BLOCK, set, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int watch_signals(struct ipkvm_daemon *d, const sigset_t *set)
{
	d->sigfd = signalfd(-1, set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (d->sigfd < 0) {
		LOG_ERROR("signalfd: %s", strerror(errno));
		return -errno;
	}
	d->sig_watch = ipkvm_loop_watch(d->loop, d->sigfd, IPKVM_LOOP_READ, signal_readable, d);
	if (!d->sig_watch) {
		LOG_ERROR("cannot watch signals");
		return -EIO;
	}
	return 0;
}

/* The loop and what every other module may need: events, the workers and the wakes. */
static int make_base(struct ipkvm_daemon *d)
{
	const struct ipkvm_config *cfg = d->cfg;
	struct ipkvm_loop_config lc = {
	    .max_fds = cfg->max_connections > 0 ? (unsigned)cfg->max_connections + FD_RESERVE : 0,
	    .max_http_header_data = 8192,
	    .timeout_secs = 20};
	d->loop = ipkvm_loop_create(&lc);
	if (!d->loop)
		return -ENOMEM;
	d->svc.loop = d->loop;
	d->worker_wake = ipkvm_loop_wake_new(d->loop, worker_done, d);
	d->io_worker_wake = ipkvm_loop_wake_new(d->loop, io_worker_done, d);
	d->frames_wake = ipkvm_loop_wake_new(d->loop, frames_ready, d);
	d->h264_wake = ipkvm_loop_wake_new(d->loop, h264_ready, d);
	d->fetch_wake = ipkvm_loop_wake_new(d->loop, fetch_progress, d);
	d->tick = ipkvm_loop_timer_new(d->loop, tick, d);
	d->atx_event_timer = ipkvm_loop_timer_new(d->loop, atx_publish, d);
	if (!d->worker_wake || !d->io_worker_wake || !d->frames_wake || !d->h264_wake ||
	    !d->fetch_wake || !d->tick || !d->atx_event_timer)
		return -ENOMEM;
	d->svc.events = ipkvm_events_create();
	d->svc.worker = ipkvm_worker_create(ipkvm_loop_wake, d->worker_wake);
	d->svc.io_worker = ipkvm_worker_create(ipkvm_loop_wake, d->io_worker_wake);
	if (!d->svc.events || !d->svc.worker || !d->svc.io_worker)
		return -ENOMEM;
	return 0;
}

/* Users, sessions, tokens, throttle, audit: every front end asks this one service. It
 * hashes passwords on the worker, and makes the first admin on a first start. */
static int make_auth(struct ipkvm_daemon *d)
{
	const struct ipkvm_config *cfg = d->cfg;
	struct ipkvm_authsvc_config ac = {
	    .state_dir = cfg->state_dir,
	    .session_idle = cfg->session_idle,
	    .session_lifetime = cfg->session_lifetime,
	    .max_sessions = (size_t)cfg->max_sessions,
	    .max_sessions_per_user = (size_t)cfg->max_sessions_per_user,
	    .login_max_failures = cfg->login_max_failures,
	    .login_backoff_max = cfg->login_backoff_max,
	    .worker = d->svc.worker,
	};
	d->svc.auth = ipkvm_authsvc_create(&ac);
	if (!d->svc.auth)
		return -ENOMEM;
	return ipkvm_authsvc_open(d->svc.auth);
}

struct ipkvm_daemon *ipkvm_daemon_create(const struct ipkvm_config *cfg)
{
	struct ipkvm_daemon *d = calloc(1, sizeof(*d));
	if (!d)
		return NULL;
	d->cfg = cfg;
	d->svc.cfg = cfg;
	d->sigfd = -1;
	sigset_t set;
	block_signals(&set);
	uint8_t mac[6];
	if (cfg->atx_wol_mac && ipkvm_wol_parse_mac(cfg->atx_wol_mac, mac) < 0) {
		LOG_ERROR("[atx] wol_mac = %s: not a MAC address (aa:bb:cc:dd:ee:ff)",
			  cfg->atx_wol_mac);
		goto err;
	}
	int r = ipkvm_mkdir_p(cfg->state_dir, 0700);
	if (r < 0) {
		LOG_ERROR("cannot create the state directory %s: %s", cfg->state_dir, strerror(-r));
		goto err;
	}
	if (make_base(d) < 0 || make_auth(d) < 0 || setup_gadget(d) < 0 || make_target(d) < 0)
		goto err;
	/* Timers asked for while a device is being made are dropped: nothing runs on its
	 * own before the daemon is up. */
	d->vtarget_timer = ipkvm_loop_timer_new(d->loop, vtarget_tick, d);
	if (!d->vtarget_timer || make_atx(d) < 0)
		goto err;
	d->atx_timer = ipkvm_loop_timer_new(d->loop, atx_tick, d);
	d->msd_timer = ipkvm_loop_timer_new(d->loop, msd_tick, d);
	d->hid_timer = ipkvm_loop_timer_new(d->loop, hid_tick, d);
	d->paste_timer = ipkvm_loop_timer_new(d->loop, paste_tick, d);
	if (!d->atx_timer || !d->msd_timer || !d->hid_timer || !d->paste_timer || make_msd(d) < 0 ||
	    make_video(d) < 0 || make_hid(d) < 0)
		goto err;
	d->web = ipkvm_server_create(&d->svc);
	if (!d->web || make_vnc(d) < 0 || watch_signals(d, &set) < 0 || watch_devices(d) < 0)
		goto err;
	ipkvm_loop_timer_start(d->tick, 1000, 1000);
	if (d->svc.video && ipkvm_video_start(d->svc.video) < 0) {
		LOG_ERROR("cannot start the video threads");
		goto err;
	}
	return d;
err:
	ipkvm_daemon_destroy(d);
	return NULL;
}

struct ipkvm_server *ipkvm_daemon_web(struct ipkvm_daemon *d)
{
	return d->web;
}

int ipkvm_daemon_run(struct ipkvm_daemon *d)
{
	return ipkvm_loop_run(d->loop);
}

void ipkvm_daemon_destroy(struct ipkvm_daemon *d)
{
	if (!d)
		return;
	/* Video threads first (they wake the loop), then the workers: their last jobs may
	 * still answer requests of live connections. */
	ipkvm_video_destroy(d->svc.video);
	d->svc.video = NULL;
	ipkvm_worker_destroy(d->svc.worker);
	d->svc.worker = NULL;
	ipkvm_worker_destroy(d->svc.io_worker); /* an upload being committed finishes first */
	d->svc.io_worker = NULL;
	ipkvm_msd_stop_downloads(d->svc.msd); /* their threads wake the loop until joined */
	ipkvm_server_stop(d->web);
	ipkvm_vnc_stop(d->vnc);		   /* its sessions release their keys while hid exists */
	ipkvm_paste_destroy(d->svc.paste); /* a paste under way ends "cancelled" */
	d->svc.paste = NULL;
	/* Every connection closes while the front end still exists. */
	ipkvm_loop_shutdown(d->loop);
	ipkvm_vnc_destroy(d->vnc);
	d->vnc = NULL;
	d->svc.rfb = NULL;
	d->svc.vnc_info = NULL;
	ipkvm_server_destroy(d->web);
	d->web = NULL;
	ipkvm_authsvc_destroy(d->svc.auth); /* after the worker: its calls finished there */
	if (d->sigfd >= 0)
		close(d->sigfd);
	struct ipkvm_hid *hid = d->svc.hid;
	d->svc.hid = NULL; /* its last fds_changed touches no watch */
	ipkvm_hid_destroy(hid);
	ipkvm_msd_destroy(d->svc.msd); /* plugs a gadget waiting for its replug in again */
	d->svc.msd = NULL;
	ipkvm_atx_destroy(d->svc.atx);
	d->svc.atx = NULL;
	ipkvm_gpio_destroy(d->svc.gpio);
	ipkvm_vtarget_destroy(d->svc.vtarget);
	ipkvm_events_destroy(d->svc.events);
	ipkvm_loop_destroy(d->loop); /* the watches, timers and wakes left */
	free(d);
}
