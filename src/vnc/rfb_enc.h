/*
 * rfb_enc: the bytes of RFB framebuffer-update rectangles that ipkvm's VNC server sends.
 * Pure functions that append to a byte buffer: no sockets, no session state beyond the ZRLE
 * zlib stream, which RFB keeps for a whole connection.
 *
 * - Tight with JPEG sends the pipeline's shared JPEG: only its prefix (rectangle header,
 *   compression control, compact length) is made here; the JPEG bytes go out from the shared
 *   image. Open H.264 the same way (prefix here, access unit from the shared ring).
 * - Raw and ZRLE convert the raw frame (YUYV, UYVY, RGB24, BGR24; the same colour conversion
 *   as the raw snapshot) to the client's pixel format, for clients without JPEG.
 * - ipkvm_rfb_changed_rects() finds what changed between two frames, so Raw and ZRLE
 *   clients get only the changed tiles.
 * Encoding numbers are the RFB registry's (rfbproto: "Encodings").
 */
#ifndef IPKVM_VNC_RFB_ENC_H
#define IPKVM_VNC_RFB_ENC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "video/frame.h"

#define IPKVM_RFB_ENC_RAW	   0
#define IPKVM_RFB_ENC_TIGHT	   7
#define IPKVM_RFB_ENC_ZRLE	   16
#define IPKVM_RFB_ENC_H264	   50 /* Open H.264 */
#define IPKVM_RFB_ENC_CURSOR	   (-239)
#define IPKVM_RFB_ENC_DESKTOP_SIZE (-223)
#define IPKVM_RFB_ENC_LAST_RECT	   (-224)
#define IPKVM_RFB_ENC_QEMU_KEY	   (-258) /* QEMU Extended Key Event */
#define IPKVM_RFB_ENC_QEMU_LED	   (-261) /* QEMU LED State */
#define IPKVM_RFB_ENC_EXT_DESKTOP  (-308) /* ExtendedDesktopSize */
#define IPKVM_RFB_ENC_FENCE	   (-312)
#define IPKVM_RFB_ENC_CONTINUOUS   (-313) /* ContinuousUpdates */
#define IPKVM_RFB_ENC_VMWARE_LED   0x574d5668
/* JPEG quality levels (Tight): -32 (0, lowest) .. -23 (9, highest). */
#define IPKVM_RFB_ENC_QUALITY_0 (-32)
#define IPKVM_RFB_ENC_QUALITY_9 (-23)

/* Lock LEDs, in QEMU LED State order. */
#define IPKVM_RFB_LED_SCROLL 0x1
#define IPKVM_RFB_LED_NUM    0x2
#define IPKVM_RFB_LED_CAPS   0x4

struct ipkvm_rfb_pixfmt {
	uint8_t bpp, depth;
	bool big_endian, true_colour;
	uint16_t red_max, green_max, blue_max;
	uint8_t red_shift, green_shift, blue_shift;
};
/* What ServerInit announces: 32 bpp, depth 24, little-endian, true colour, 8 bits each,
 * red at 16, green at 8, blue at 0. */
extern const struct ipkvm_rfb_pixfmt ipkvm_rfb_pixfmt_server;
/* The 16-byte PIXEL_FORMAT of ServerInit and SetPixelFormat. parse: 0, or -EINVAL for a
 * format we do not serve (bpp not 8/16/32, colour map, a max that is not 2^n - 1, a colour
 * that does not fit in bpp). */
int ipkvm_rfb_pixfmt_parse(const uint8_t in[16], struct ipkvm_rfb_pixfmt *out);
void ipkvm_rfb_pixfmt_write(const struct ipkvm_rfb_pixfmt *pf, uint8_t out[16]);

struct ipkvm_rfb_rect {
	uint16_t x, y, w, h;
};

/* A growable byte buffer the functions below append to (zero it to start). Every put
 * returns 0 or -ENOMEM (-EINVAL/-E2BIG where said), and leaves len unchanged on error. */
struct ipkvm_rfb_out {
	uint8_t *data;
	size_t len, cap;
};
int ipkvm_rfb_out_reserve(struct ipkvm_rfb_out *o, size_t more);
void ipkvm_rfb_out_free(struct ipkvm_rfb_out *o);

/* The FramebufferUpdate message header (type 0, padding, number of rectangles; 0xFFFF with
 * LastRect). */
int ipkvm_rfb_put_update_header(struct ipkvm_rfb_out *o, uint16_t nrects);
/* A rectangle header: x, y, w, h, encoding. */
int ipkvm_rfb_put_rect_header(struct ipkvm_rfb_out *o, const struct ipkvm_rfb_rect *r,
			      int32_t encoding);
/* Tight JPEG: rectangle header (Tight) + compression control (JPEG) + compact length of
 * jpeg_len; the JPEG bytes follow. -E2BIG past the compact length's 4194303, and for a
 * rectangle wider than rfbproto's 2048 for Tight (TigerVNC's viewer disconnects on one;
 * libvncclient and noVNC would take it): that picture must go another way. rfbproto allows
 * JPEG only to clients at 16 or 32 bpp that sent a quality level (the caller's choice). */
int ipkvm_rfb_put_tight_jpeg(struct ipkvm_rfb_out *o, const struct ipkvm_rfb_rect *r,
			     size_t jpeg_len);
/* Open H.264: rectangle header + length + flags (reset the decoder context: 1); len bytes
 * of Annex-B access unit follow. */
int ipkvm_rfb_put_h264(struct ipkvm_rfb_out *o, const struct ipkvm_rfb_rect *r, size_t len,
		       uint32_t flags);
/* Raw: rectangle r of raw frame f in pixel format pf (header included). -EINVAL for an
 * MJPEG frame or r outside f. */
int ipkvm_rfb_put_raw(struct ipkvm_rfb_out *o, const struct ipkvm_frame *f,
		      const struct ipkvm_rfb_rect *r, const struct ipkvm_rfb_pixfmt *pf);

/* ZRLE: one zlib stream per client connection. */
struct ipkvm_rfb_zrle;
struct ipkvm_rfb_zrle *ipkvm_rfb_zrle_new(void);
void ipkvm_rfb_zrle_free(struct ipkvm_rfb_zrle *z);
/* Rectangle r of f in ZRLE (header included). -EINVAL as for Raw. After any other error
 * (-ENOMEM, -EIO from zlib) the stream is out of step with the client's: close the
 * connection. */
int ipkvm_rfb_put_zrle(struct ipkvm_rfb_zrle *z, struct ipkvm_rfb_out *o,
		       const struct ipkvm_frame *f, const struct ipkvm_rfb_rect *r,
		       const struct ipkvm_rfb_pixfmt *pf);

/* Where frames a and b (raw, same format and size) differ, as rectangles of whole 64x64
 * tiles (clipped to the frame), changed tiles of a row merged; at most max rectangles (past
 * that, their bounding box as the last one). NULL a: the whole of b. Returns the count. */
size_t ipkvm_rfb_changed_rects(const struct ipkvm_frame *a, const struct ipkvm_frame *b,
			       struct ipkvm_rfb_rect *out, size_t max);

/* Pseudo-encoding rectangles. */
int ipkvm_rfb_put_desktop_size(struct ipkvm_rfb_out *o, uint16_t w, uint16_t h);
/* ExtendedDesktopSize: reason (x: 0 server change, 1 this client asked, 2 another client),
 * status (y: 0 ok, 1 prohibited, ...), one screen of w x h with screen_id. */
int ipkvm_rfb_put_ext_desktop_size(struct ipkvm_rfb_out *o, uint16_t reason, uint16_t status,
				   uint16_t w, uint16_t h, uint32_t screen_id);
/* The lock LEDs (IPKVM_RFB_LED_*) as QEMU LED State (1 byte) or VMware LED State (4). */
int ipkvm_rfb_put_led_state(struct ipkvm_rfb_out *o, bool vmware, unsigned leds);
/* Cursor: a fully transparent cursor (we draw none: the target's own pointer is in the
 * picture), in pixel format pf: 1x1 with a clear mask (libvncclient ignores 0x0). -EINVAL
 * for a pixel format ipkvm_rfb_pixfmt_parse refuses. */
int ipkvm_rfb_put_empty_cursor(struct ipkvm_rfb_out *o, const struct ipkvm_rfb_pixfmt *pf);
int ipkvm_rfb_put_last_rect(struct ipkvm_rfb_out *o);
/* The QEMU Extended Key Event acknowledgement rectangle. */
int ipkvm_rfb_put_qemu_key_ack(struct ipkvm_rfb_out *o);

#endif
