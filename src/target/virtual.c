/*
 * target/virtual: the built-in virtual computer (see virtual.h for the parts and threads).
 *
 * This file is glue: it routes the host's decoded input to the screen, the board's power
 * events to the screen and the LED lines, the software's requests (boot finished, poweroff,
 * reboot) back to the board, and keeps the mode of the host's pointer in step with the
 * screen. All of it under vt->lock, which the capture thread also takes to render.
 */
#define LOG_TAG "vtarget"
#include "target/virtual.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"
#include "target/hidhost.h"
#include "target/iso9660.h"
#include "target/power.h"
#include "target/screen.h"

enum { HID_KBD, HID_ABS, HID_REL, HID_CONSUMER };

static const char *const hid_paths[IPKVM_VTARGET_HID_FDS] = {
    IPKVM_VTARGET_HID_KEYBOARD, IPKVM_VTARGET_HID_MOUSE_ABS, IPKVM_VTARGET_HID_MOUSE_REL,
    IPKVM_VTARGET_HID_CONSUMER};
static const enum ipkvm_hidhost_kind hid_kinds[IPKVM_VTARGET_HID_FDS] = {
    IPKVM_HIDHOST_KEYBOARD, IPKVM_HIDHOST_MOUSE_ABS, IPKVM_HIDHOST_MOUSE_REL,
    IPKVM_HIDHOST_CONSUMER_SYSTEM};

struct ipkvm_vtarget {
	struct ipkvm_vtarget_config cfg;
	char layout[8];
	pthread_mutex_t lock; /* guards screen (and the fields below it) against the renderer */
	struct ipkvm_screen *screen;
	struct ipkvm_hidhost *host;
	struct ipkvm_power power;
	struct ipkvm_atx_lines lines;
	int host_fd[IPKVM_VTARGET_HID_FDS]; /* the target's ends */
	int dev_fd[IPKVM_VTARGET_HID_FDS];  /* the daemon's ends (dup'ed to the opener) */
	int efd;			    /* wakes the capture thread */
	/* Media slots: the configured images first, then the drives (LUN n is slot
	 * n_config + n). The screen's boot menu gets the used slots in this order. */
	struct slot {
		bool used;
		int lun; /* -1 for a configured image */
		bool cdrom, rw;
		struct ipkvm_screen_media m;
	} slot[IPKVM_SCREEN_MEDIA_MAX];
	size_t n_config;
	int menu_slot[IPKVM_SCREEN_MEDIA_MAX]; /* boot menu entry -> slot */
	char booted[256];		       /* "" not booted, "disk", or the medium's name */
	uint64_t gen_sent;		       /* screen generation last announced on efd */
	int64_t last_render; /* monotonic µs of the last frame finished (capture thread) */
	int mode_w, mode_h;  /* mode the host's pointer maps to */
	/* Hooks owed to the caller, run after the lock is released (they may call back in). */
	bool owe_changed, owe_leds;
	int64_t owe_timer; /* delay to announce, -2 = nothing to announce */
};

static int64_t now_ms(struct ipkvm_vtarget *vt)
{
	return vt->cfg.now_ms ? vt->cfg.now_ms(vt->cfg.ctx) : ipkvm_mono_ms();
}

/* --- after every change (lock held) ----------------------------------------------------- */

/* Applies what the software asked for (boot done, poweroff, reboot). */
static void apply_actions(struct ipkvm_vtarget *vt, int64_t now)
{
	for (int guard = 0; guard < 4; guard++) {
		int index = -1;
		enum ipkvm_screen_action a = ipkvm_screen_take_action(vt->screen, &index);
		if (a == IPKVM_SCREEN_ACT_NONE)
			return;
		switch (a) {
		case IPKVM_SCREEN_ACT_BOOTED:
			ipkvm_strlcpy(vt->booted,
				      index < 0 ? "disk" : vt->slot[vt->menu_slot[index]].m.name,
				      sizeof(vt->booted));
			ipkvm_power_booted(&vt->power, now);
			break;
		case IPKVM_SCREEN_ACT_POWEROFF:
			ipkvm_power_shutdown(&vt->power, now);
			break;
		case IPKVM_SCREEN_ACT_REBOOT:
			ipkvm_power_reboot(&vt->power, now);
			break;
		default:
			return;
		}
	}
}

/* Keeps the host's pointer mapped to the screen's current mode. */
static void sync_mode(struct ipkvm_vtarget *vt)
{
	int w, h, fps;
	ipkvm_screen_mode(vt->screen, &w, &h, &fps);
	if (w == vt->mode_w && h == vt->mode_h)
		return;
	vt->mode_w = w;
	vt->mode_h = h;
	ipkvm_hidhost_set_screen(vt->host, w, h);
	int x, y;
	ipkvm_hidhost_pointer(vt->host, &x, &y);
	ipkvm_screen_pointer(vt->screen, x, y, ipkvm_hidhost_buttons(vt->host));
}

/* Takes the lock for a change from the main loop. */
static void begin(struct ipkvm_vtarget *vt)
{
	pthread_mutex_lock(&vt->lock);
}

static void after_change(struct ipkvm_vtarget *vt);

/* Ends a change: settles it, releases the lock, then runs the hooks it owes. */
static void end(struct ipkvm_vtarget *vt)
{
	after_change(vt);
	bool changed = vt->owe_changed, leds = vt->owe_leds;
	int64_t timer = vt->owe_timer;
	vt->owe_changed = vt->owe_leds = false;
	vt->owe_timer = -2;
	pthread_mutex_unlock(&vt->lock);
	if (leds && vt->cfg.leds)
		vt->cfg.leds(vt->cfg.ctx);
	if (changed && vt->cfg.changed)
		vt->cfg.changed(vt->cfg.ctx);
	if (timer != -2 && vt->cfg.timer)
		vt->cfg.timer(vt->cfg.ctx, timer);
}

static void after_change(struct ipkvm_vtarget *vt)
{
	int64_t now = now_ms(vt);
	apply_actions(vt, now);
	sync_mode(vt);
	uint64_t gen = ipkvm_screen_generation(vt->screen);
	if (gen != vt->gen_sent) {
		vt->gen_sent = gen;
		uint64_t one = 1;
		ssize_t r = write(vt->efd, &one, sizeof(one));
		(void)r; /* a full counter already means "changed" */
	}
	int64_t p = ipkvm_power_next_deadline(&vt->power);
	int64_t s = ipkvm_screen_next_deadline(vt->screen);
	int64_t d = p < 0 ? s : s < 0 ? p : p < s ? p : s;
	vt->owe_timer = d < 0 ? -1 : d > now ? d - now : 0;
}

/* --- host (HID) callbacks: lock held -------------------------------------------------- */

static void on_key(uint8_t usage, bool down, void *ctx)
{
	struct ipkvm_vtarget *vt = ctx;
	ipkvm_screen_key(vt->screen, usage, down, ipkvm_hidhost_modifiers(vt->host), now_ms(vt));
}

static void on_char(uint32_t cp, void *ctx)
{
	struct ipkvm_vtarget *vt = ctx;
	ipkvm_screen_char(vt->screen, cp, now_ms(vt));
}

static void on_leds(uint8_t leds, void *ctx)
{
	struct ipkvm_vtarget *vt = ctx;
	ipkvm_screen_set_leds(vt->screen, leds);
	/* The LED output report, as a host sends it to the keyboard's interface. */
	ssize_t r = send(vt->host_fd[HID_KBD], &leds, 1, MSG_DONTWAIT);
	if (r != 1)
		LOG_WARN("LED report not sent: %s", r < 0 ? strerror(errno) : "short write");
}

static void on_pointer(int x, int y, uint8_t buttons, void *ctx)
{
	struct ipkvm_vtarget *vt = ctx;
	ipkvm_screen_pointer(vt->screen, x, y, buttons);
}

static void on_wheel(int wheel, int pan, void *ctx)
{
	struct ipkvm_vtarget *vt = ctx;
	ipkvm_screen_wheel(vt->screen, wheel, pan);
}

static void on_system(uint8_t usage, bool down, void *ctx)
{
	struct ipkvm_vtarget *vt = ctx;
	/* System Power Down (0x81) from the keyboard: the OS shuts down, as an ACPI power
	 * button would make it. Sleep and Wake Up have nothing to act on here. */
	if (usage == 0x81 && down && ipkvm_power_get_state(&vt->power) == IPKVM_POWER_RUNNING)
		ipkvm_power_shutdown(&vt->power, now_ms(vt));
}

/* --- board (power) callbacks: lock held ----------------------------------------------- */

static void on_power(void *ctx, enum ipkvm_power_event ev, int value, int64_t at_ms)
{
	struct ipkvm_vtarget *vt = ctx;
	switch (ev) {
	case IPKVM_POWER_EV_STATE:
		if (value == IPKVM_POWER_BOOTING) {
			vt->booted[0] = '\0';
			ipkvm_screen_power(vt->screen, true, at_ms);
		} else if (value == IPKVM_POWER_OFF) {
			vt->booted[0] = '\0';
			ipkvm_screen_power(vt->screen, false, at_ms);
		}
		LOG_INFO("power %s", ipkvm_power_state_name((enum ipkvm_power_state)value));
		vt->owe_changed = true;
		break;
	case IPKVM_POWER_EV_POWER_LED:
	case IPKVM_POWER_EV_HDD_LED:
		vt->owe_leds = true;
		break;
	case IPKVM_POWER_EV_ACPI_BUTTON:
		/* A short press while on: the firmware or the OS powers the machine off. */
		LOG_INFO("power button: shutting down");
		ipkvm_power_shutdown(&vt->power, at_ms);
		break;
	}
}

/* --- ATX lines -------------------------------------------------------------------------- */

static int line_set(void *ctx, enum ipkvm_atx_line line, bool pressed)
{
	struct ipkvm_vtarget *vt = ctx;
	if (line != IPKVM_ATX_POWER_BUTTON && line != IPKVM_ATX_RESET_BUTTON)
		return -EINVAL;
	begin(vt);
	if (line == IPKVM_ATX_POWER_BUTTON)
		ipkvm_power_set_power_button(&vt->power, pressed, now_ms(vt));
	else
		ipkvm_power_set_reset_button(&vt->power, pressed, now_ms(vt));
	end(vt);
	return 0;
}

static int line_get(void *ctx, enum ipkvm_atx_line line)
{
	struct ipkvm_vtarget *vt = ctx;
	if (line == IPKVM_ATX_POWER_LED)
		return ipkvm_power_power_led(&vt->power);
	if (line == IPKVM_ATX_HDD_LED)
		return ipkvm_power_hdd_led(&vt->power);
	return -EINVAL;
}

/* --- life cycle ------------------------------------------------------------------------- */

/* Reads what the boot menu shows of an image: its file name and volume label. */
static void read_medium(struct ipkvm_screen_media *m, const char *path)
{
	const char *slash = strrchr(path, '/');
	ipkvm_strlcpy(m->name, slash ? slash + 1 : path, sizeof(m->name));
	int r =
	    ipkvm_iso9660_read_label(path, m->label, sizeof(m->label), m->error, sizeof(m->error));
	if (r < 0) {
		m->label[0] = '\0';
		if (!m->error[0])
			ipkvm_strlcpy(m->error, strerror(-r), sizeof(m->error));
		LOG_WARN("medium %s: %s", path, m->error);
	} else {
		m->error[0] = '\0';
		LOG_INFO("medium %s: label \"%s\"", path, m->label);
	}
}

/* Hands the used slots to the screen's boot menu (lock held). */
static void sync_media(struct ipkvm_vtarget *vt)
{
	struct ipkvm_screen_media list[IPKVM_SCREEN_MEDIA_MAX];
	size_t n = 0;
	for (int i = 0; i < IPKVM_SCREEN_MEDIA_MAX; i++) {
		if (!vt->slot[i].used)
			continue;
		vt->menu_slot[n] = i;
		list[n++] = vt->slot[i].m;
	}
	ipkvm_screen_set_media(vt->screen, list, n);
}

struct ipkvm_vtarget *ipkvm_vtarget_create(const struct ipkvm_vtarget_config *cfg, char *err,
					   size_t errlen)
{
	enum ipkvm_hidhost_layout layout;
	if (ipkvm_hidhost_layout_parse(cfg->layout ? cfg->layout : "us", &layout) < 0) {
		snprintf(err, errlen, "unknown layout '%s' (us or jp)", cfg->layout);
		return NULL;
	}
	if (cfg->format == IPKVM_FMT_MJPEG) {
		snprintf(err, errlen,
			 "the virtual target renders raw frames: yuyv, uyvy, rgb24 or "
			 "bgr24");
		return NULL;
	}
	struct ipkvm_vtarget *vt = calloc(1, sizeof(*vt));
	if (!vt) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	vt->cfg = *cfg;
	vt->cfg.media = NULL; /* not kept: read once below */
	vt->owe_timer = -2;
	vt->efd = -1;
	for (int i = 0; i < IPKVM_VTARGET_HID_FDS; i++)
		vt->host_fd[i] = vt->dev_fd[i] = -1;
	ipkvm_strlcpy(vt->layout, ipkvm_hidhost_layout_name(layout), sizeof(vt->layout));
	vt->cfg.layout = vt->layout;
	pthread_mutex_init(&vt->lock, NULL);

	struct ipkvm_screen_config sc = {.width = cfg->width,
					 .height = cfg->height,
					 .fps = cfg->fps,
					 .autoboot_ms = cfg->autoboot_ms,
					 .layout = vt->layout};
	vt->screen = ipkvm_screen_create(&sc);
	if (!vt->screen) {
		snprintf(err, errlen, "bad mode %dx%d@%d", cfg->width, cfg->height, cfg->fps);
		goto fail;
	}
	ipkvm_screen_mode(vt->screen, &vt->mode_w, &vt->mode_h, &(int){0});
	struct ipkvm_hidhost_config hc = {.width = vt->mode_w,
					  .height = vt->mode_h,
					  .layout = layout,
					  .on_key = on_key,
					  .on_char = on_char,
					  .on_leds = on_leds,
					  .on_system = on_system,
					  .on_pointer = on_pointer,
					  .on_wheel = on_wheel,
					  .ctx = vt};
	vt->host = ipkvm_hidhost_create(&hc);
	struct ipkvm_power_config pc;
	ipkvm_power_config_defaults(&pc);
	pc.boot_ms = 0; /* the firmware decides when the boot is over */
	if (!vt->host || ipkvm_power_init(&vt->power, &pc, on_power, vt, now_ms(vt)) < 0) {
		snprintf(err, errlen, "cannot create the USB host or the board");
		goto fail;
	}
	vt->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (vt->efd < 0)
		goto sys_fail;
	for (int i = 0; i < IPKVM_VTARGET_HID_FDS; i++) {
		int sv[2];
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
			goto sys_fail;
		vt->host_fd[i] = sv[0];
		vt->dev_fd[i] = sv[1];
	}
	if (cfg->n_media + IPKVM_VTARGET_DRIVES > IPKVM_SCREEN_MEDIA_MAX) {
		snprintf(err, errlen, "at most %d configured images",
			 IPKVM_SCREEN_MEDIA_MAX - IPKVM_VTARGET_DRIVES);
		goto fail;
	}
	for (size_t i = 0; i < cfg->n_media; i++) {
		vt->slot[i] = (struct slot){.used = true, .lun = -1, .cdrom = true};
		read_medium(&vt->slot[i].m, cfg->media[i]);
	}
	vt->n_config = cfg->n_media;
	sync_media(vt);
	vt->lines = (struct ipkvm_atx_lines){
	    .name = "virtual", .set = line_set, .get = line_get, .ctx = vt};
	LOG_INFO("virtual target: %dx%d@%d, layout %s, %zu medium(s), powered off", cfg->width,
		 cfg->height, cfg->fps, vt->layout, vt->n_config);
	return vt;
sys_fail:
	snprintf(err, errlen, "%s", strerror(errno));
fail:
	ipkvm_vtarget_destroy(vt);
	return NULL;
}

void ipkvm_vtarget_destroy(struct ipkvm_vtarget *vt)
{
	if (!vt)
		return;
	for (int i = 0; i < IPKVM_VTARGET_HID_FDS; i++) {
		if (vt->host_fd[i] >= 0)
			close(vt->host_fd[i]);
		if (vt->dev_fd[i] >= 0)
			close(vt->dev_fd[i]);
	}
	if (vt->efd >= 0)
		close(vt->efd);
	ipkvm_hidhost_destroy(vt->host);
	ipkvm_screen_destroy(vt->screen);
	pthread_mutex_destroy(&vt->lock);
	free(vt);
}

/* --- HID -------------------------------------------------------------------------------- */

int ipkvm_vtarget_hid_open(void *ctx, const char *path)
{
	struct ipkvm_vtarget *vt = ctx;
	for (int i = 0; i < IPKVM_VTARGET_HID_FDS; i++) {
		if (strcmp(path, hid_paths[i]) == 0) {
			int fd = fcntl(vt->dev_fd[i], F_DUPFD_CLOEXEC, 0);
			return fd < 0 ? -errno : fd;
		}
	}
	return -ENOENT;
}

void ipkvm_vtarget_hid_fds(const struct ipkvm_vtarget *vt, int fds[IPKVM_VTARGET_HID_FDS])
{
	memcpy(fds, vt->host_fd, sizeof(vt->host_fd));
}

void ipkvm_vtarget_hid_readable(struct ipkvm_vtarget *vt, int fd)
{
	int i = 0;
	while (i < IPKVM_VTARGET_HID_FDS && vt->host_fd[i] != fd)
		i++;
	if (i == IPKVM_VTARGET_HID_FDS)
		return;
	begin(vt);
	for (int n = 0; n < 256; n++) { /* bounded: let the loop breathe under a flood */
		uint8_t buf[64];
		ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (r <= 0)
			break;
		if (ipkvm_hidhost_report(vt->host, hid_kinds[i], buf, (size_t)r) < 0)
			LOG_WARN("%s: a report the host cannot parse (%zd bytes)", hid_paths[i], r);
	}
	end(vt);
}

int ipkvm_vtarget_attach(void *ctx, unsigned lun, const char *path, bool cdrom, bool rw)
{
	struct ipkvm_vtarget *vt = ctx;
	if (lun >= IPKVM_VTARGET_DRIVES || (cdrom && rw))
		return -EINVAL;
	struct slot *sl = &vt->slot[vt->n_config + lun];
	begin(vt);
	int r = -EBUSY;
	if (!sl->used) {
		*sl = (struct slot){.used = true, .lun = (int)lun, .cdrom = cdrom, .rw = rw};
		read_medium(&sl->m, path);
		sync_media(vt);
		r = 0;
	}
	end(vt);
	return r;
}

int ipkvm_vtarget_eject(void *ctx, unsigned lun)
{
	struct ipkvm_vtarget *vt = ctx;
	if (lun >= IPKVM_VTARGET_DRIVES)
		return -EINVAL;
	begin(vt);
	vt->slot[vt->n_config + lun].used = false;
	sync_media(vt);
	end(vt);
	return 0;
}

const struct ipkvm_atx_lines *ipkvm_vtarget_atx_lines(struct ipkvm_vtarget *vt)
{
	return &vt->lines;
}

void ipkvm_vtarget_tick(struct ipkvm_vtarget *vt)
{
	begin(vt);
	int64_t now = now_ms(vt);
	ipkvm_power_tick(&vt->power, now);
	ipkvm_screen_tick(vt->screen, now);
	end(vt);
}

/* --- video ------------------------------------------------------------------------------- */

int ipkvm_vtarget_video_fd(const struct ipkvm_vtarget *vt)
{
	return vt->efd;
}

int ipkvm_vtarget_render(struct ipkvm_vtarget *vt, uint64_t *gen, struct ipkvm_frame **out)
{
	uint64_t n;
	ssize_t rd = read(vt->efd, &n, sizeof(n));
	(void)rd;
	pthread_mutex_lock(&vt->lock);
	uint64_t now_gen = ipkvm_screen_generation(vt->screen);
	int w, h, fps;
	ipkvm_screen_mode(vt->screen, &w, &h, &fps);
	bool off = ipkvm_screen_phase(vt->screen) == IPKVM_SCREEN_OFF;
	pthread_mutex_unlock(&vt->lock);
	if (off)
		return -ENODATA;
	if (now_gen == *gen)
		return -EAGAIN;
	/* Frames leave at the mode's rate, like a display's refresh: wait for the boundary. */
	int64_t interval = 1000000 / (fps > 0 ? fps : 60);
	int64_t wait = vt->last_render + interval - ipkvm_mono_us();
	if (wait > 0 && wait <= interval) {
		struct timespec ts = {.tv_sec = 0, .tv_nsec = (long)wait * 1000};
		nanosleep(&ts, NULL);
	}
	struct ipkvm_frame *f = ipkvm_frame_new(vt->cfg.format, (unsigned)w, (unsigned)h, 0);
	if (!f)
		return -ENOMEM;
	pthread_mutex_lock(&vt->lock);
	*gen = ipkvm_screen_generation(vt->screen);
	int r = ipkvm_screen_render(vt->screen, f);
	pthread_mutex_unlock(&vt->lock);
	if (r < 0) { /* the mode changed between the two looks: the next wake-up renders */
		ipkvm_frame_unref(f);
		*gen = UINT64_MAX;
		return r == -ENODATA ? -ENODATA : -EAGAIN;
	}
	/* capture time: when the picture was finished */
	vt->last_render = f->ts_us = ipkvm_mono_us();
	*out = f;
	return 0;
}

void ipkvm_vtarget_signal(struct ipkvm_vtarget *vt, struct ipkvm_signal_info *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&vt->lock);
	int w, h, fps;
	ipkvm_screen_mode(vt->screen, &w, &h, &fps);
	bool off = ipkvm_screen_phase(vt->screen) == IPKVM_SCREEN_OFF;
	pthread_mutex_unlock(&vt->lock);
	if (off) {
		out->state = IPKVM_SIGNAL_NO_SIGNAL;
		ipkvm_strlcpy(out->reason, "the virtual target is powered off",
			      sizeof(out->reason));
		return;
	}
	out->state = IPKVM_SIGNAL_OK;
	out->width = (unsigned)w;
	out->height = (unsigned)h;
	out->fps = fps;
}

/* --- state ------------------------------------------------------------------------------- */

json_t *ipkvm_vtarget_state(struct ipkvm_vtarget *vt)
{
	pthread_mutex_lock(&vt->lock);
	struct ipkvm_screen *s = vt->screen;
	static const char *const phases[] = {"off", "firmware", "console"};
	int w, h, fps, cw, ch, x0, y0, row, col, x, y;
	ipkvm_screen_mode(s, &w, &h, &fps);
	ipkvm_screen_cell(s, &cw, &ch, &x0, &y0);
	ipkvm_screen_cursor(s, &row, &col);
	ipkvm_hidhost_pointer(vt->host, &x, &y);
	uint8_t leds = ipkvm_hidhost_leds(vt->host);
	enum ipkvm_screen_phase phase = ipkvm_screen_phase(s);
	json_t *rows = json_array();
	int nrows = phase == IPKVM_SCREEN_OFF ? 0 : ipkvm_screen_rows(s);
	for (int r = 0; r < nrows; r++) {
		char line[1024];
		ipkvm_screen_row_text(s, r, line, sizeof(line));
		json_array_append_new(rows, json_string(line));
	}
	json_t *media = json_array();
	for (int i = 0; i < IPKVM_SCREEN_MEDIA_MAX; i++) {
		const struct slot *sl = &vt->slot[i];
		if (!sl->used)
			continue;
		const struct ipkvm_screen_media *m = &sl->m;
		json_array_append_new(
		    media, json_pack("{s:s, s:o, s:o, s:o, s:b}", "name", m->name, "label",
				     m->error[0] ? json_null() : json_string(m->label), "error",
				     m->error[0] ? json_string(m->error) : json_null(), "lun",
				     sl->lun < 0 ? json_null() : json_integer(sl->lun), "cdrom",
				     sl->cdrom));
	}
	json_t *booted = vt->booted[0] ? json_string(vt->booted) : json_null();
	json_t *st = json_pack(
	    "{s:s, s:s, s:{s:i, s:i, s:i}, s:{s:i, s:i, s:i, s:i}, s:o, s:{s:i, s:i},"
	    " s:{s:i, s:i, s:i}, s:{s:b, s:b, s:b}, s:s, s:o, s:o, s:{s:b, s:b}}",
	    "power", ipkvm_power_state_name(ipkvm_power_get_state(&vt->power)), "phase",
	    phases[phase], "mode", "width", w, "height", h, "fps", fps, "cell", "w", cw, "h", ch,
	    "x0", x0, "y0", y0, "rows", rows, "cursor", "row", row, "col", col, "pointer", "x", x,
	    "y", y, "buttons", ipkvm_hidhost_buttons(vt->host), "leds", "num",
	    (leds & IPKVM_HIDHOST_LED_NUM) != 0, "caps", (leds & IPKVM_HIDHOST_LED_CAPS) != 0,
	    "scroll", (leds & IPKVM_HIDHOST_LED_SCROLL) != 0, "layout", vt->layout, "media", media,
	    "booted", booted, "board", "power_led", ipkvm_power_power_led(&vt->power), "hdd_led",
	    ipkvm_power_hdd_led(&vt->power));
	pthread_mutex_unlock(&vt->lock);
	return st;
}
