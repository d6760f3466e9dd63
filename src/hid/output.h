/*
 * hid/output: where HID reports go — one interface for every backend (USB gadget /dev/hidgN,
 * CH9329 serial bridge, later the virtual target), driven by the main loop, never blocking.
 *
 * The HID model (keyboard.c, mouse.c) builds exact report bytes; the input layer hands them to
 * ipkvm_hid_output_send() with their kind. The output writes them at once when the device
 * takes them, otherwise it keeps them pending under these rules (issue 4):
 *   - KEYBOARD, CONSUMER, SYSTEM reports are never dropped or reordered: a FIFO per device,
 *     bounded (IPKVM_HID_QUEUE_LEN). A full FIFO refuses the report with -ENOBUFS, counts an
 *     overflow and logs once per episode (until the FIFO drains).
 *   - MOUSE_ABS: a move whose buttons equal those of the newest pending absolute report (and
 *     that pending report carries no wheel motion) replaces it — only the newest position
 *     matters. A button change or a wheel step is appended, so no click is lost.
 *   - MOUSE_REL: deltas (x, y, wheel, hwheel) are summed into the newest pending relative report
 *     when the buttons are equal and every sum stays in -127..127; otherwise appended (motion is
 *     never clipped).
 *   - ESHUTDOWN / EPIPE / ECONNRESET / ENODEV / ENXIO / EIO (target powered off, cable
 *     pulled, port gone) or EOF:
 *     the output goes offline, closes its fds, discards what was pending (counted in `dropped`:
 *     the host forgets pressed keys when it loses the device anyway; the keyboard model should
 *     ipkvm_hid_keyboard_invalidate() when it is back online) and reopens from
 *     ipkvm_hid_output_tick() with exponential back-off (IPKVM_HID_RETRY_MIN_MS doubling to
 *     IPKVM_HID_RETRY_MAX_MS). Every online/offline change is reported through cb.state.
 *
 * Report formats given to send() (bytes exactly as the device sees them, see keyboard.h):
 *   KEYBOARD  boot 8 bytes (or NKRO 29 bytes) [mods, 0, keys...]
 *   CONSUMER  3 bytes [0x01 report ID, usage lo, usage hi]
 *   SYSTEM    2 bytes [0x02 report ID, bit0 power / bit1 sleep / bit2 wake]
 *   MOUSE_ABS 6 or 7 bytes [buttons, x lo, x hi, y lo, y hi (0..32767), wheel (, hwheel)]
 *   MOUSE_REL 4 or 5 bytes [buttons, dx, dy, wheel (, hwheel)] (signed -127..127)
 * The gadget backend writes them verbatim; the CH9329 backend translates them into its frames.
 *
 * Loop integration (the main loop owns these fds: docs/architecture.md, "Threads"):
 *   - ipkvm_hid_output_pollfds() gives the fds and events to watch: POLLIN where the device
 *     talks back (keyboard LED reports, CH9329 ACKs), POLLOUT only while something is pending.
 *     cb.fds_changed fires whenever that answer may have changed (open, close, queue became
 *     empty / non-empty) so the loop can update its poll set.
 *   - revents POLLOUT → ipkvm_hid_output_on_writable(); POLLIN, POLLERR or POLLHUP →
 *     ipkvm_hid_output_on_readable().
 *   - ipkvm_hid_output_tick() on a timer: reopen retries, CH9329 ACK timeouts. It returns the
 *     milliseconds until it wants to run again, or -1 when nothing is scheduled. cb.timer
 *     announces the same whenever the wanted time changes inside any other call (a CH9329
 *     frame now awaits its ACK, the output went offline and will retry), so the loop never
 *     needs to poll.
 * The daemon must ignore SIGPIPE (it does for its sockets): writes are plain write(2).
 *
 * All functions return 0 or -errno. Single-threaded: main loop only.
 */
#ifndef IPKVM_HID_OUTPUT_H
#define IPKVM_HID_OUTPUT_H

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum ipkvm_hid_kind {
	IPKVM_HID_KEYBOARD = 0,
	IPKVM_HID_MOUSE_ABS,
	IPKVM_HID_MOUSE_REL,
	IPKVM_HID_CONSUMER,
	IPKVM_HID_SYSTEM,
	IPKVM_HID_KIND_COUNT,
};

#define IPKVM_HID_REPORT_MAX   32 /* NKRO keyboard report is 29 bytes */
#define IPKVM_HID_QUEUE_LEN    256
#define IPKVM_HID_OUT_MAX_FDS  IPKVM_HID_KIND_COUNT
#define IPKVM_HID_RETRY_MIN_MS 250
#define IPKVM_HID_RETRY_MAX_MS 8000

struct ipkvm_hid_output_counters {
	uint64_t sent;	    /* reports accepted by send() */
	uint64_t written;   /* reports that reached the device (gadget: written; CH9329: ACKed) */
	uint64_t queued;    /* reports that had to wait (EAGAIN, or a CH9329 command in flight) */
	uint64_t coalesced; /* mouse reports merged into a pending one */
	uint64_t overflows; /* reports refused because the FIFO was full */
	uint64_t dropped;   /* pending reports discarded when the output went offline */
	uint64_t errors;    /* I/O errors other than EAGAIN; CH9329 error responses */
	uint64_t timeouts;  /* CH9329: no ACK even after the one resend */
	uint64_t resends;   /* CH9329: frames sent again after an ACK timeout */
	uint64_t reopens;   /* reopen attempts after going offline */
	uint64_t leds;	    /* LED output reports received */
};

struct ipkvm_hid_output;

/* Callbacks, all optional (NULL). Called from inside the output's functions. */
struct ipkvm_hid_output_cb {
	void *ctx;
	/* Online/offline changed; reason is e.g. "open", "write /dev/hidg0: Cannot send after
	 * transport endpoint shutdown". */
	void (*state)(void *ctx, struct ipkvm_hid_output *out, bool online, const char *reason);
	/* Keyboard LED output report (bit0 Num, bit1 Caps, bit2 Scroll, bit3 Compose, bit4 Kana).
	 */
	void (*leds)(void *ctx, struct ipkvm_hid_output *out, uint8_t leds);
	/* A report of this kind reached the device (back-pressure for paste). */
	void (*written)(void *ctx, struct ipkvm_hid_output *out, enum ipkvm_hid_kind kind);
	/* The fds or events to poll may have changed: call ipkvm_hid_output_pollfds() again. */
	void (*fds_changed)(void *ctx, struct ipkvm_hid_output *out);
	/* tick() is wanted in delay_ms (>= 0), or no longer at all (-1). */
	void (*timer)(void *ctx, struct ipkvm_hid_output *out, int64_t delay_ms);
	/* Monotonic clock in ms; NULL = ipkvm_mono_ms(). Tests inject time here. */
	int64_t (*now_ms)(void *ctx);
};

/* Backend operations (implemented by out_gadget.c, out_ch9329.c). Callers use the
 * ipkvm_hid_output_* functions below, not these. */
struct ipkvm_hid_output_ops {
	const char *name;
	int (*open)(struct ipkvm_hid_output *out);   /* open devices; 0 = online */
	void (*close)(struct ipkvm_hid_output *out); /* close fds, keep config */
	size_t (*pollfds)(struct ipkvm_hid_output *out, struct pollfd *fds, size_t max);
	int (*send)(struct ipkvm_hid_output *out, enum ipkvm_hid_kind kind, const uint8_t *bytes,
		    size_t len);
	int (*on_writable)(struct ipkvm_hid_output *out, int fd);
	int (*on_readable)(struct ipkvm_hid_output *out, int fd);
	int64_t (*tick)(struct ipkvm_hid_output *out, int64_t now); /* NULL = no timers */
	/* Absolute ms at which tick() is next wanted, -1 = none; no side effects. NULL = none. */
	int64_t (*deadline)(struct ipkvm_hid_output *out);
	size_t (*pending)(struct ipkvm_hid_output *out); /* reports not yet written */
	void (*destroy)(struct ipkvm_hid_output *out);	 /* close + free */
};

/* Common part, first member of every backend's struct. Read-only for callers. */
struct ipkvm_hid_output {
	const struct ipkvm_hid_output_ops *ops;
	struct ipkvm_hid_output_cb cb;
	bool online;
	char reason[128];
	struct ipkvm_hid_output_counters counters;
	int64_t retry_at;			       /* when offline: next reopen attempt (ms) */
	int retry_delay;			       /* current back-off (ms) */
	struct pollfd last_fds[IPKVM_HID_OUT_MAX_FDS]; /* what fds_changed last announced */
	size_t last_nfds;
	int64_t last_deadline; /* what cb.timer last announced (absolute ms, -1 none) */
};

/* ---- Public API (callers) ------------------------------------------------------------ */

/* First open. On failure the output stays offline (state reported) and retries from tick();
 * the error is returned so the daemon can log it, but the output object remains usable. */
int ipkvm_hid_output_start(struct ipkvm_hid_output *out);
/* Sends (or queues) one report. -ENOTCONN while offline, -ENODEV when the backend has no
 * device for that kind, -EINVAL for a bad length, -ENOBUFS when the FIFO is full,
 * -EOPNOTSUPP when the backend cannot express the report (CH9329: unknown consumer usage),
 * or the write error that took the output offline. */
int ipkvm_hid_output_send(struct ipkvm_hid_output *out, enum ipkvm_hid_kind kind,
			  const uint8_t *bytes, size_t len);
size_t ipkvm_hid_output_pollfds(struct ipkvm_hid_output *out, struct pollfd *fds, size_t max);
int ipkvm_hid_output_on_writable(struct ipkvm_hid_output *out, int fd);
int ipkvm_hid_output_on_readable(struct ipkvm_hid_output *out, int fd);
/* Reopen retries and backend timers. Returns ms until the next call is wanted, or -1. */
int64_t ipkvm_hid_output_tick(struct ipkvm_hid_output *out);
/* Reports accepted but not yet written (FIFO + CH9329 in-flight). */
size_t ipkvm_hid_output_pending(struct ipkvm_hid_output *out);
void ipkvm_hid_output_destroy(struct ipkvm_hid_output *out);
const char *ipkvm_hid_kind_name(enum ipkvm_hid_kind kind);

/* ---- Backends ------------------------------------------------------------------------ */

/* Opens a device node: returns an fd or -errno. The default opens path O_RDWR | O_NONBLOCK |
 * O_CLOEXEC (| O_NOCTTY); tests inject socketpairs/ptys here. The fd is made non-blocking by
 * the backend in any case. */
typedef int (*ipkvm_hid_open_fn)(void *ctx, const char *path);

/*
 * gadget: one /dev/hidgN per USB HID function. path[kind] names the node for each kind (NULL
 * or "" = that kind is not offered: send() gives -ENODEV). Kinds with the same path share one
 * fd and one FIFO (their relative order is kept). Decision: consumer and system share one
 * function with report IDs 1 and 2 (keyboard.h's ipkvm_hid_desc_consumer_system), so the
 * default config is keyboard hidg0, mouse-abs hidg1, mouse-rel hidg2, consumer+system hidg3.
 * The keyboard's fd is polled for the 1-byte LED output report.
 */
struct ipkvm_hid_gadget_config {
	const char *path[IPKVM_HID_KIND_COUNT];
	ipkvm_hid_open_fn open_fn; /* NULL = open(2) */
	void *open_ctx;
};
void ipkvm_hid_gadget_config_default(struct ipkvm_hid_gadget_config *cfg);
/* Creates the output (copying paths); does not open anything: call ipkvm_hid_output_start. */
int ipkvm_hid_gadget_create(const struct ipkvm_hid_gadget_config *cfg,
			    const struct ipkvm_hid_output_cb *cb, struct ipkvm_hid_output **out);

/*
 * ch9329: the WCH CH9329 UART-to-USB-HID bridge (keyboard, absolute + relative mouse, media
 * and ACPI keys on one serial port). One command in flight: each frame waits for its ACK
 * (cmd | 0x80, status 0x00) or error response (cmd | 0xC0) before the next is written; no
 * answer within ack_timeout_ms → the frame is sent once more, then counted as a timeout and
 * skipped. Three commands in a row lost that way take the output offline ("no answer from the
 * CH9329": the chip is powered by the target's USB port), reopened with back-off like the
 * gadget; any answer from the chip resets that count. The serial port is set raw 8N1 at `baud` with
 * termios when it is a tty. Out of scope (not implemented): the chip's "set parameter" commands
 * (changing its own baud rate / address / USB strings) and polling its GET_INFO for the host LED
 * state.
 */
struct ipkvm_hid_ch9329_config {
	const char *path;	 /* e.g. /dev/ttyUSB0 */
	unsigned baud;		 /* 0 = 9600 (chip default); 1200..115200 */
	uint8_t addr;		 /* chip address, default 0x00 */
	unsigned ack_timeout_ms; /* 0 = 100 */
	ipkvm_hid_open_fn open_fn;
	void *open_ctx;
};
int ipkvm_hid_ch9329_create(const struct ipkvm_hid_ch9329_config *cfg,
			    const struct ipkvm_hid_output_cb *cb, struct ipkvm_hid_output **out);

/* Scales an absolute coordinate 0..32767 to the CH9329's 0..4095 (rounded; both ends kept). */
uint16_t ipkvm_hid_ch9329_scale(uint16_t v);
/* Builds a CH9329 frame into out (size >= 6 + len): 57 AB addr cmd len data sum. Returns the
 * frame length. */
size_t ipkvm_hid_ch9329_frame(uint8_t addr, uint8_t cmd, const uint8_t *data, uint8_t len,
			      uint8_t *out);

/* ---- Shared by backends (not for callers) -------------------------------------------- */

struct ipkvm_hid_report {
	uint8_t kind;
	uint8_t len;
	uint8_t data[IPKVM_HID_REPORT_MAX];
};

/* Bounded FIFO of pending reports with the coalescing rules above. */
struct ipkvm_hid_queue {
	unsigned head;
	unsigned count;
	bool overflow_logged;
	struct ipkvm_hid_report r[IPKVM_HID_QUEUE_LEN];
};

/* Returns 1 when merged into the newest pending report, 0 when appended, -ENOBUFS when full. */
int ipkvm_hid_queue_push(struct ipkvm_hid_queue *q, enum ipkvm_hid_kind kind, const uint8_t *data,
			 size_t len);
/* Backend send(): queue_push plus the counters (sent, coalesced, overflows) and one log line
 * per overflow episode naming path. Same return values as ipkvm_hid_queue_push. */
int ipkvm_hid_output_enqueue(struct ipkvm_hid_output *out, struct ipkvm_hid_queue *q,
			     const char *path, enum ipkvm_hid_kind kind, const uint8_t *bytes,
			     size_t len);
struct ipkvm_hid_report *ipkvm_hid_queue_peek(struct ipkvm_hid_queue *q);
void ipkvm_hid_queue_pop(struct ipkvm_hid_queue *q);

int64_t ipkvm_hid_output_now(struct ipkvm_hid_output *out);
/* Backend → common: went online (resets back-off) / offline (schedules a reopen). Both report
 * through cb.state when the state or reason changes. */
void ipkvm_hid_output_set_online(struct ipkvm_hid_output *out, const char *reason);
void ipkvm_hid_output_set_offline(struct ipkvm_hid_output *out, const char *reason);
/* Announces cb.fds_changed if pollfds() now differs from what was last announced, and
 * cb.timer if the wanted tick time changed. */
void ipkvm_hid_output_check_fds(struct ipkvm_hid_output *out);
/* Whether errno value err means the device/target is gone (→ offline), not a transient. */
bool ipkvm_hid_output_err_is_gone(int err);

#endif
