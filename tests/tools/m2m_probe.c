/*
 * m2m-probe: drives ipkvmd's V4L2 mem2mem plumbing (video/jpeg_m2m.c) against a real
 * device, for the bench VM, where the kernel's vim2m test device (a format converter: RGB
 * in, RGB/BGR/YUYV out, no JPEG) stands in for the board's JPEG encoder.
 *
 *   m2m-probe DEVICE [FRAMES]       converts FRAMES (default 10) 320x240 test pictures
 *                                   through the device, YUYV (converted to RGB24 on the way
 *                                   in: vim2m takes no YUYV) and RGB24 (as it is), BGR24 out,
 *                                   and checks every byte of every result
 *   m2m-probe DEVICE --hw SECONDS   the hardware JPEG choice (mode v4l2, BGR24 out, encoded
 *                                   to JPEG in software) for SECONDS, a frame every 50 ms;
 *                                   one line per frame: "frame N v4l2|software BYTES REASON"
 *
 * Prints a JSON summary last; exits 0 when every frame came out as expected.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/videodev2.h>

#include "core/log.h"
#include "video/frame.h"
#include "video/jpeg.h"
#include "video/jpeg_m2m.h"

#define W 320
#define H 240

static struct ipkvm_frame *picture(enum ipkvm_pixfmt fmt, int n)
{
	struct ipkvm_frame *f = ipkvm_frame_new(fmt, W, H, 0);
	if (!f)
		exit(2);
	for (unsigned y = 0; y < H; y++)
		for (size_t x = 0; x < f->stride; x++)
			f->data[f->stride * y + x] = (uint8_t)(x * 5 + y * 3 + (size_t)n * 17);
	f->size = f->stride * H;
	return f;
}

static const char *fcc(uint32_t f, char s[5])
{
	for (int i = 0; i < 4; i++)
		s[i] = (char)((f >> (8 * i)) & 0xff);
	s[4] = 0;
	return s;
}

/* The BGR24 picture vim2m should make of f: RGB24 (converted by us, as the device got it)
 * with red and blue swapped. */
static int check_bgr(const struct ipkvm_frame *f, const struct ipkvm_buf *out)
{
	uint8_t *rgb = malloc((size_t)W * 3 * H);
	if (!rgb)
		return -1;
	ipkvm_frame_to_rgb24(f, rgb);
	int bad = out->len != (size_t)W * 3 * H;
	for (size_t i = 0; !bad && i < (size_t)W * H * 3; i += 3)
		bad = out->data[i] != rgb[i + 2] || out->data[i + 1] != rgb[i + 1] ||
		      out->data[i + 2] != rgb[i];
	free(rgb);
	return bad ? -1 : 0;
}

static int convert(const char *dev, int frames)
{
	char err[256] = "";
	struct ipkvm_jpeg_m2m *m = ipkvm_jpeg_m2m_open(dev, V4L2_PIX_FMT_BGR24, err, sizeof(err));
	if (!m) {
		fprintf(stderr, "m2m-probe: %s\n", err);
		return 1;
	}
	int ok = 0, failed = 0;
	struct ipkvm_jpeg_m2m_info info[2];
	static const enum ipkvm_pixfmt fmts[2] = {IPKVM_FMT_YUYV, IPKVM_FMT_RGB24};
	size_t bytes = 0;
	for (int k = 0; k < 2; k++) {
		for (int n = 0; n < frames; n++) {
			struct ipkvm_frame *f = picture(fmts[k], n);
			struct ipkvm_buf *out = NULL;
			int r = ipkvm_jpeg_m2m_encode(m, f, 80, &out);
			if (r == 0 && check_bgr(f, out) == 0) {
				ok++;
				bytes = out->len;
			} else {
				failed++;
				fprintf(stderr, "m2m-probe: %s frame %d: %s\n",
					ipkvm_pixfmt_name(fmts[k]), n,
					r ? strerror(-r) : "wrong bytes out");
			}
			ipkvm_buf_unref(out);
			ipkvm_frame_unref(f);
		}
		ipkvm_jpeg_m2m_info(m, &info[k]);
	}
	ipkvm_jpeg_m2m_close(m);
	char a[5], b[5], c[5];
	printf("{\"card\": \"%s\", \"mplane\": %s, \"yuyv_in_as\": \"%s\", \"rgb24_in_as\": "
	       "\"%s\", \"out\": \"%s\", \"out_bpl\": %zu, \"cap_bpl\": %zu, \"bytes\": %zu, "
	       "\"ok\": %d, \"failed\": %d}\n",
	       info[0].card, info[0].mplane ? "true" : "false", fcc(info[0].out_fourcc, a),
	       fcc(info[1].out_fourcc, b), fcc(info[1].cap_fourcc, c), info[1].out_bpl,
	       info[1].cap_bpl, bytes, ok, failed);
	return failed || ok != 2 * frames ? 1 : 0;
}

static int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int hw(const char *dev, int seconds)
{
	struct ipkvm_jpeg_hw_config cfg = {
	    .mode = IPKVM_JPEG_ENCODER_V4L2, .device = dev, .cap_fourcc = V4L2_PIX_FMT_BGR24};
	struct ipkvm_jpeg_hw *h = ipkvm_jpeg_hw_create(&cfg);
	struct ipkvm_jpeg *soft = ipkvm_jpeg_create();
	if (!h || !soft)
		return 2;
	int n = 0, v4l2 = 0, software = 0, lost = 0;
	int64_t end = now_ms() + seconds * 1000;
	while (now_ms() < end) {
		struct ipkvm_frame *f = picture(IPKVM_FMT_YUYV, n);
		struct ipkvm_buf *out = NULL;
		int r = ipkvm_jpeg_hw_encode(h, f, 80, false, &out);
		bool dev_made = r == 0;
		if (r == -ENODEV) /* what video.c does: software takes the frame */
			r = ipkvm_jpeg_encode(soft, f, 80, false, &out);
		unsigned w = 0, hh = 0;
		if (r == 0 && ipkvm_jpeg_size(out->data, out->len, &w, &hh) == 0 && w == W &&
		    hh == H) {
			dev_made ? v4l2++ : software++;
		} else {
			lost++;
		}
		struct ipkvm_jpeg_hw_status st;
		ipkvm_jpeg_hw_status(h, &st);
		printf("frame %d %s %zu %s\n", n, dev_made ? "v4l2" : "software",
		       out ? out->len : 0, st.reason);
		fflush(stdout);
		ipkvm_buf_unref(out);
		ipkvm_frame_unref(f);
		n++;
		struct timespec ts = {0, 50 * 1000000L};
		nanosleep(&ts, NULL);
	}
	ipkvm_jpeg_hw_destroy(h);
	ipkvm_jpeg_destroy(soft);
	printf("{\"frames\": %d, \"v4l2\": %d, \"software\": %d, \"lost\": %d}\n", n, v4l2,
	       software, lost);
	return lost ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr,
			"usage: m2m-probe DEVICE [FRAMES] | m2m-probe DEVICE --hw SECONDS\n");
		return 2;
	}
	ipkvm_log_set_level(IPKVM_LOG_INFO);
	if (argc >= 4 && strcmp(argv[2], "--hw") == 0)
		return hw(argv[1], atoi(argv[3]));
	return convert(argv[1], argc >= 3 ? atoi(argv[2]) : 10);
}
