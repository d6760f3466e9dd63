/*
 * config: the daemon's settings, read from an INI file (inih). Every key is described once
 * in a table (ipkvm_config_keys) that drives parsing, defaults, validation and the error
 * messages, and documents it for people: data/ipkvm.ini and the README's table of keys are
 * generated from it (tests/tools/config_doc.c; `make check` compares).
 *
 * Settings are plain public fields filled with defaults by ipkvm_config_init(); a file then
 * overrides what it names, and the command line overrides the file.
 */
#ifndef IPKVM_CORE_CONFIG_H
#define IPKVM_CORE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/log.h"

#define IPKVM_DEFAULT_CONFIG	"/etc/ipkvm/ipkvm.ini"
#define IPKVM_DEFAULT_STATE_DIR "/var/lib/ipkvm"

/* The choice keys, parsed into these (ipkvm_config_choice_name() gives the words back). Each
 * enum lists its words in the order of the key's table entry. */
enum ipkvm_video_source {
	IPKVM_VIDEO_SRC_NONE,
	IPKVM_VIDEO_SRC_VIRTUAL,
	IPKVM_VIDEO_SRC_PATTERN,
	IPKVM_VIDEO_SRC_V4L2,
};
enum ipkvm_cfg_pixfmt { /* [video] format, [target] format */
			IPKVM_CFG_PIXFMT_YUYV,
			IPKVM_CFG_PIXFMT_UYVY,
			IPKVM_CFG_PIXFMT_RGB24,
			IPKVM_CFG_PIXFMT_BGR24,
};
enum ipkvm_cfg_scene { IPKVM_SCENE_TESTCARD, IPKVM_SCENE_DESKTOP, IPKVM_SCENE_STATIC };
enum ipkvm_cfg_subsampling { IPKVM_SUBSAMPLING_422, IPKVM_SUBSAMPLING_420 };
/* [server] tls_ciphers: which AEAD the server prefers (auto: by the CPU's AES instructions). */
enum ipkvm_tls_ciphers {
	IPKVM_TLS_CIPHERS_AUTO,
	IPKVM_TLS_CIPHERS_AES,
	IPKVM_TLS_CIPHERS_CHACHA20
};
enum ipkvm_cfg_jpeg_encoder { /* [jpeg] encoder (daemon.c maps it to video's) */
			      IPKVM_CFG_JPEG_ENCODER_AUTO,
			      IPKVM_CFG_JPEG_ENCODER_SOFTWARE,
			      IPKVM_CFG_JPEG_ENCODER_V4L2,
};
enum ipkvm_h264_backend {
	IPKVM_H264_BACKEND_NONE,
	IPKVM_H264_BACKEND_AUTO,
	IPKVM_H264_BACKEND_SOFTWARE,
	IPKVM_H264_BACKEND_V4L2,
};
enum ipkvm_hid_output_kind {
	IPKVM_HID_OUTPUT_NONE,
	IPKVM_HID_OUTPUT_VIRTUAL,
	IPKVM_HID_OUTPUT_GADGET,
	IPKVM_HID_OUTPUT_CH9329,
};
enum ipkvm_atx_driver {
	IPKVM_ATX_DRIVER_AUTO,
	IPKVM_ATX_DRIVER_NONE,
	IPKVM_ATX_DRIVER_VIRTUAL,
	IPKVM_ATX_DRIVER_GPIO,
};
enum ipkvm_msd_drives {
	IPKVM_MSD_DRIVES_AUTO,
	IPKVM_MSD_DRIVES_NONE,
	IPKVM_MSD_DRIVES_GADGET,
	IPKVM_MSD_DRIVES_VIRTUAL,
};
enum ipkvm_target_layout { IPKVM_TARGET_LAYOUT_US, IPKVM_TARGET_LAYOUT_JP };
/* [vnc] layout: the keyboard layout keysyms are typed for (auto: the virtual target's). */
enum ipkvm_vnc_layout {
	IPKVM_VNC_LAYOUT_AUTO,
	IPKVM_VNC_LAYOUT_US,
	IPKVM_VNC_LAYOUT_UK,
	IPKVM_VNC_LAYOUT_DE,
	IPKVM_VNC_LAYOUT_FR,
	IPKVM_VNC_LAYOUT_JP,
};

/*
 * What the "auto" settings that depend only on the config became, resolved in one place
 * (here, whenever a key is set) so that the daemon that builds the devices and /api/info
 * that reports them cannot disagree:
 *   - target: the built-in virtual target runs ([video] source, [hid] output or [atx]
 *     driver is virtual);
 *   - atx: auto is virtual when the target runs, else none;
 *   - msd: auto is gadget with [usb] setup = 1 and at least one LUN ([usb] luns), else
 *     virtual when the target runs, else none.
 * [h264] backend auto depends on the hardware (is there a V4L2 encoder?): the video module
 * resolves it once when it opens the encoder, and reports what it chose.
 */
struct ipkvm_config_resolved {
	bool target;
	enum ipkvm_atx_driver atx; /* never AUTO */
	enum ipkvm_msd_drives msd; /* never AUTO */
};

struct ipkvm_config {
	/* [server] */
	char *listen;	/* address to bind; "" = every address (IPv6 and IPv4) */
	int port;	/* HTTPS port, 1..65535; default 8443 */
	int http_port;	/* plain-HTTP redirect port; 0 = off (default) */
	char *tls_cert; /* PEM certificate chain; NULL = generated in <state>/tls/ */
	char *tls_key;	/* PEM private key; NULL = generated in <state>/tls/ */
	enum ipkvm_tls_ciphers tls_ciphers; /* default auto */
	char *web_root;	     /* directory of the browser UI; NULL = built-in default */
	char *state_dir;     /* default IPKVM_DEFAULT_STATE_DIR; --state-dir overrides */
	int max_body;	     /* largest accepted API request body, bytes; default 65536 */
	int plain_port;	     /* plain-HTTP port serving the same routes, loopback only; 0 = off */
	int max_connections; /* connections at once; unauthenticated ones make room */
	int max_connections_per_address; /* per client address (IPv6: per /64) */
	int max_unauth_per_address;	 /* connections not yet authenticated, per address */
	int request_timeout;		 /* seconds for headers + body of a request; idle limit */
	char *plain_listen; /* its address; must be a loopback address (default 127.0.0.1) */
	/* [auth] */
	int session_idle;     /* seconds without a request before a session ends; default 3600 */
	int session_lifetime; /* seconds a session lives at most; default 86400 */
	int max_sessions;     /* sessions kept at once; default 256 */
	int max_sessions_per_user; /* sessions of one user at once; default 16 */
	int login_max_failures;	   /* failures before back-off starts; default 5 */
	int login_backoff_max;	   /* longest back-off, seconds; default 900 */
	/* [vnc] the VNC (RFB) front end */
	int vnc_enabled;		  /* 1 = listen; default 0 */
	char *vnc_listen;		  /* address; "" = every address (IPv6 and IPv4) */
	int vnc_port;			  /* default 5900 */
	char *vnc_vncauth_password_file;  /* user:password lines; NULL = no VncAuth */
	enum ipkvm_vnc_layout vnc_layout; /* default auto */
	int vnc_max_clients;		  /* sessions at once, 1..1024; default 64 */
	int vnc_anonymous_tls;		  /* 1 = TLSPlain may be anonymous TLS; default 0 */
	char *vnc_novnc_dir;		  /* noVNC's files, served at /novnc/; NULL = none */
	/* [video] */
	enum ipkvm_video_source video_source; /* default virtual */
	char *video_device;		      /* V4L2 device, default /dev/video0 */
	int video_width, video_height;	      /* 0 = automatic (pattern: 1920x1080) */
	int video_fps;			      /* 0 = automatic (pattern: 60) */
	enum ipkvm_cfg_pixfmt video_format;   /* pattern pixel format, default yuyv */
	enum ipkvm_cfg_scene video_scene;     /* pattern scene, default testcard */
	char *video_edid;  /* NULL, "1080p60", "1080p50" or an absolute path to a hex file */
	int video_buffers; /* V4L2 MMAP buffers, default 3 */
	int video_mjpeg;   /* 1: pass MJPEG from the device through (default), 0: avoid it */
	/* [jpeg] */
	int jpeg_quality;			     /* 1..100, default 80 */
	int jpeg_max_fps;			     /* 1..240, default 60 */
	int jpeg_workers;			     /* 0 = min(cores, 4) */
	int jpeg_strips;			     /* 0..16; 0 = the workers (1 on 1 core) */
	enum ipkvm_cfg_subsampling jpeg_subsampling; /* default 422 */
	enum ipkvm_cfg_jpeg_encoder jpeg_encoder;    /* default auto */
	char *jpeg_device; /* V4L2 M2M JPEG encoder, default /dev/video31 */
	/* [hid] */
	enum ipkvm_hid_output_kind hid_output; /* default virtual */
	char *hid_serial;		       /* CH9329 serial port */
	int hid_baud;			       /* CH9329 baud rate */
	char *hid_keyboard;		       /* gadget nodes; empty = not offered */
	char *hid_mouse_abs;
	char *hid_mouse_rel;
	char *hid_consumer;
	int hid_jiggler;       /* seconds of idleness before a tiny mouse move; 0 = off */
	int hid_release_after; /* seconds of input silence with keys held before all are released */
	/* [h264] */
	enum ipkvm_h264_backend h264_backend; /* default auto */
	char *h264_device;		      /* V4L2 M2M encoder, default /dev/video11 */
	int h264_bitrate, h264_fps, h264_gop;
	/* [atx] */
	enum ipkvm_atx_driver atx_driver; /* default auto; see resolved.atx */
	char *atx_chip;			  /* gpio chip, default gpiochip0 */
	char *atx_power_button, *atx_reset_button, *atx_power_led, *atx_hdd_led; /* lines */
	int atx_buttons_active_low, atx_power_led_active_low, atx_hdd_led_active_low;
	char *atx_wol_mac;     /* Wake-on-LAN target, NULL = off */
	char *atx_wol_address; /* where the magic packet goes, default 255.255.255.255 */
	int atx_wol_port;      /* default 9 */
	int atx_click_ms;      /* button press, ms; default 200 */
	int atx_long_click_ms; /* forced power-off hold, ms; default 5500 */
	/* [msd] */
	char *msd_dir;			  /* image store; NULL = <state_dir>/images */
	enum ipkvm_msd_drives msd_drives; /* default auto; see resolved.msd */
	int msd_max_download_gib;	  /* default 64 */
	int64_t msd_max_size;		  /* store quota in bytes (images + transfers); 0 = none */
	int msd_fetch_allow_private;	  /* 1 = downloads may reach private and own addresses */
	/* [usb] the configfs USB gadget */
	int usb_setup; /* 1 = gadget up at start */
	char *usb_configfs, *usb_udc_dir, *usb_name, *usb_udc;
	char *usb_manufacturer, *usb_product, *usb_serial;
	int usb_luns, usb_remote_wakeup, usb_max_power;
	/* [target] the built-in virtual target */
	enum ipkvm_target_layout target_layout;	     /* default us */
	int target_width, target_height, target_fps; /* OS mode, default 1920x1080@60 */
	enum ipkvm_cfg_pixfmt target_format;	     /* frame format, default yuyv */
	int target_autoboot;			     /* firmware countdown, s; default 3 */
	char *target_media;			     /* comma-separated image paths, or NULL */
	/* [log] */
	enum ipkvm_log_level log_level; /* default info */

	struct ipkvm_config_resolved resolved; /* kept up to date as keys are set */
};

enum ipkvm_config_type {
	IPKVM_CFG_STRING,   /* free text, may be empty (then NULL) */
	IPKVM_CFG_PORT,	    /* integer 0..65535 (min/max in the table narrow it) */
	IPKVM_CFG_INT,	    /* integer in [min, max] */
	IPKVM_CFG_DURATION, /* "90", "90s", "15m", "12h", "7d" -> seconds in [min, max] */
	IPKVM_CFG_ADDRESS,  /* "", an IPv4 or an IPv6 address (no host names) */
	IPKVM_CFG_LOGLEVEL, /* error | warn | info | debug */
	IPKVM_CFG_PATH,	    /* absolute path; may be empty (then NULL) */
	IPKVM_CFG_CHOICE,   /* one of the words in `names`, stored as its index (an enum) */
	IPKVM_CFG_SIZE,	    /* bytes, "0", "1048576", "512M", "64G" (K M G T: powers of 1024) into
			     * an int64_t field; min/max are not used (0 .. 2^60) */
};

struct ipkvm_config_key {
	const char *section;
	const char *name;
	enum ipkvm_config_type type;
	size_t offset; /* offsetof(struct ipkvm_config, field) */
	long min, max; /* for PORT, INT and DURATION; for PATH, min = 1 means "may not be empty" */
	const char *help; /* one line: the README's table of keys */
	/* The paragraph above the key in data/ipkvm.ini (wrapped by tests/tools/config_doc.c);
	 * NULL = the key shares the paragraph of the key before it. */
	const char *doc;
	const char *def; /* default as the file would spell it ("8443", "1h"); NULL = unset */
	const char *const *names; /* for CHOICE: the allowed words, NULL-terminated */
};

/* The table, terminated by an entry whose name is NULL. */
extern const struct ipkvm_config_key ipkvm_config_keys[];

/* The word of a choice key's value (ipkvm_config_choice_name("msd", "drives",
 * cfg->resolved.msd) is "gadget"); NULL for no such key or value. */
const char *ipkvm_config_choice_name(const char *section, const char *name, int value);

/* Fills every field with its default (strings strdup'd or NULL). */
void ipkvm_config_init(struct ipkvm_config *cfg);
void ipkvm_config_free(struct ipkvm_config *cfg);

/* Reads path over the current values. Returns 0, -ENOENT when the file does not exist
 * (err says so), or -EINVAL on the first bad line, with err set to
 * "PATH:LINE: [section] key: what is wrong" (unknown section, unknown key, bad value,
 * duplicate key). On error cfg may be partly updated; callers exit. */
int ipkvm_config_load(struct ipkvm_config *cfg, const char *path, char *err, size_t errlen);
/* The same on INI text in memory (len bytes, NULs included as a file would have them);
 * name stands for the path in err. */
int ipkvm_config_load_buffer(struct ipkvm_config *cfg, const char *text, size_t len,
			     const char *name, char *err, size_t errlen);

/* Sets one key from text as the file would (used for command-line overrides such as
 * --listen and --port). Returns 0 or -EINVAL with err = "[section] key: what is wrong". */
int ipkvm_config_set(struct ipkvm_config *cfg, const char *section, const char *name,
		     const char *value, char *err, size_t errlen);

#endif
