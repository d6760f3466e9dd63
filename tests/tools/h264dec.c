/*
 * h264dec: a small H.264 decoder for the integration tests and the benchmark.
 *
 *   h264dec [--i420 OUT] [FILE|-]
 *   h264dec --stream
 *
 * Reads an Annex-B stream (a file, or stdin when FILE is "-" or absent; concatenated access
 * units are fine), decodes it with openh264 and prints one JSON line per decoded picture:
 *   {"frame":N,"width":W,"height":H,"y_sha256":"<hex>"}
 * N counts from 0; y_sha256 is the SHA-256 of the luma plane, width x height bytes, row
 * after row without padding. --i420 writes every picture as raw planar I420 (Y, then U, then
 * V, no padding) to OUT, for PSNR against the source.
 * Exit status: 0 when every access unit decoded, 1 on a decode error or when a non-empty
 * input held no picture (a line {"error":"...","frame":N} is printed last), 2 on usage or
 * I/O errors. Empty input: no lines, status 0.
 *
 * The stream is cut into access units here (a new one starts at an SPS, PPS, AUD or SEI
 * after a slice, or at a slice whose first_mb_in_slice is 0) and each is handed whole to
 * DecodeFrameNoDelay, so pictures of several slices come out once, complete.
 *
 * --stream (the benchmark's live client): stdin carries access units one at a time, each as
 * a u32 little-endian length and the bytes; each is decoded as soon as it is read and
 * answered with one line on stdout, flushed: the picture's line as above, or
 * {"frame":N,"none":true} when the unit made no picture. Ends at end of input.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <wels/codec_api.h>

static int read_all(FILE *in, uint8_t **out, size_t *len)
{
	size_t cap = 1 << 20, n = 0;
	uint8_t *buf = malloc(cap);
	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (n == cap) {
			uint8_t *b = realloc(buf, cap * 2);
			if (!b) {
				free(buf);
				return -ENOMEM;
			}
			buf = b;
			cap *= 2;
		}
		size_t r = fread(buf + n, 1, cap - n, in);
		n += r;
		if (r == 0)
			break;
	}
	if (ferror(in)) {
		free(buf);
		return -EIO;
	}
	*out = buf;
	*len = n;
	return 0;
}

/* Offset of the next start code (00 00 01, or 00 00 00 01 counted from its first zero) at
 * or after pos; len when there is none. *sc gets the start code's length. */
static size_t find_start(const uint8_t *d, size_t len, size_t pos, size_t *sc)
{
	for (size_t i = pos; i + 3 <= len; i++) {
		if (d[i] == 0 && d[i + 1] == 0) {
			if (d[i + 2] == 1) {
				*sc = 3;
				return i;
			}
			if (i + 4 <= len && d[i + 2] == 0 && d[i + 3] == 1) {
				*sc = 4;
				return i;
			}
		}
	}
	*sc = 0;
	return len;
}

struct out {
	FILE *i420;
	unsigned frames;
};

static void sha256_hex(const uint8_t *planes, int stride, int w, int h, char hex[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	for (int y = 0; y < h; y++)
		EVP_DigestUpdate(ctx, planes + (size_t)y * (size_t)stride, (size_t)w);
	EVP_DigestFinal_ex(ctx, md, &mdlen);
	EVP_MD_CTX_free(ctx);
	for (unsigned i = 0; i < 32; i++)
		snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static int write_plane(FILE *f, const uint8_t *p, int stride, int w, int h)
{
	for (int y = 0; y < h; y++)
		if (fwrite(p + (size_t)y * (size_t)stride, 1, (size_t)w, f) != (size_t)w)
			return -EIO;
	return 0;
}

static int emit(struct out *o, uint8_t *const planes[3], const SBufferInfo *info)
{
	int w = info->UsrData.sSystemBuffer.iWidth, h = info->UsrData.sSystemBuffer.iHeight;
	int ys = info->UsrData.sSystemBuffer.iStride[0],
	    cs = info->UsrData.sSystemBuffer.iStride[1];
	char hex[65];
	sha256_hex(planes[0], ys, w, h, hex);
	printf("{\"frame\":%u,\"width\":%d,\"height\":%d,\"y_sha256\":\"%s\"}\n", o->frames, w, h,
	       hex);
	o->frames++;
	if (o->i420 && (write_plane(o->i420, planes[0], ys, w, h) < 0 ||
			write_plane(o->i420, planes[1], cs, w / 2, h / 2) < 0 ||
			write_plane(o->i420, planes[2], cs, w / 2, h / 2) < 0))
		return -EIO;
	return 0;
}

static int decode_au(ISVCDecoder *dec, const uint8_t *au, size_t len, struct out *o)
{
	uint8_t *planes[3] = {NULL, NULL, NULL};
	SBufferInfo info;
	memset(&info, 0, sizeof(info));
	DECODING_STATE st = (*dec)->DecodeFrameNoDelay(dec, au, (int)len, planes, &info);
	if (st != dsErrorFree) {
		printf("{\"error\":\"decoder state 0x%x\",\"frame\":%u}\n", (unsigned)st,
		       o->frames);
		return -EBADMSG;
	}
	if (info.iBufferStatus == 1)
		return emit(o, planes, &info);
	return 0;
}

static bool is_vcl(unsigned t)
{
	return t >= 1 && t <= 5;
}

/* Splits the stream into access units and decodes each. */
static int decode_stream(ISVCDecoder *dec, const uint8_t *d, size_t len, struct out *o)
{
	size_t sc, pos = find_start(d, len, 0, &sc);
	size_t au_start = pos;
	bool au_has_vcl = false;
	while (pos < len) {
		size_t hdr = pos + sc;
		size_t next_sc, next = find_start(d, len, hdr, &next_sc);
		if (hdr < len) {
			unsigned t = d[hdr] & 0x1f;
			bool first_mb0 = is_vcl(t) && hdr + 1 < len && (d[hdr + 1] & 0x80);
			bool starts_au = (t == 6 || t == 7 || t == 8 || t == 9) || first_mb0;
			if (au_has_vcl && starts_au) {
				int r = decode_au(dec, d + au_start, pos - au_start, o);
				if (r < 0)
					return r;
				au_start = pos;
				au_has_vcl = false;
			}
			au_has_vcl |= is_vcl(t);
		}
		pos = next;
		sc = next_sc;
	}
	if (au_start < len)
		return decode_au(dec, d + au_start, len - au_start, o);
	return 0;
}

/* An initialised openh264 decoder for an AVC stream, or NULL. */
static ISVCDecoder *open_decoder(void)
{
	ISVCDecoder *dec = NULL;
	SDecodingParam p;
	memset(&p, 0, sizeof(p));
	p.sVideoProperty.eVideoBsType = VIDEO_BITSTREAM_AVC;
	if (WelsCreateDecoder(&dec) != 0 || !dec)
		return NULL;
	if ((*dec)->Initialize(dec, &p) != 0) {
		WelsDestroyDecoder(dec);
		return NULL;
	}
	return dec;
}

static void close_decoder(ISVCDecoder *dec)
{
	(*dec)->Uninitialize(dec);
	WelsDestroyDecoder(dec);
}

/* --stream: length-prefixed access units from stdin, one flushed answer line each. */
static int decode_framed(ISVCDecoder *dec, struct out *o)
{
	uint8_t *buf = NULL;
	size_t cap = 0;
	int r = 0;
	for (;;) {
		uint8_t lenb[4];
		if (fread(lenb, 1, 4, stdin) != 4)
			break;
		size_t len = (size_t)lenb[0] | (size_t)lenb[1] << 8 | (size_t)lenb[2] << 16 |
			     (size_t)lenb[3] << 24;
		if (len > cap) {
			uint8_t *b = realloc(buf, len);
			if (!b) {
				r = -ENOMEM;
				break;
			}
			buf = b;
			cap = len;
		}
		if (fread(buf, 1, len, stdin) != len) {
			r = -EIO;
			break;
		}
		unsigned before = o->frames;
		r = decode_au(dec, buf, len, o);
		if (r < 0)
			break;
		if (o->frames == before)
			printf("{\"frame\":%u,\"none\":true}\n", o->frames);
		fflush(stdout);
	}
	free(buf);
	return r;
}

int main(int argc, char **argv)
{
	const char *path = "-", *i420 = NULL;
	bool framed = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--stream") == 0) {
			framed = true;
		} else if (strcmp(argv[i], "--i420") == 0 && i + 1 < argc) {
			i420 = argv[++i];
		} else if (argv[i][0] == '-' && argv[i][1] != 0) {
			fprintf(stderr, "usage: h264dec [--i420 OUT] [FILE|-]\n"
					"       h264dec --stream\n");
			return 2;
		} else {
			path = argv[i];
		}
	}
	if (framed) {
		ISVCDecoder *dec = open_decoder();
		if (!dec) {
			fprintf(stderr, "h264dec: cannot start the openh264 decoder\n");
			return 2;
		}
		struct out o = {0};
		int r = decode_framed(dec, &o);
		close_decoder(dec);
		return r == -EBADMSG ? 1 : r < 0 ? 2 : 0;
	}
	FILE *in = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (!in) {
		fprintf(stderr, "h264dec: %s: %s\n", path, strerror(errno));
		return 2;
	}
	uint8_t *data = NULL;
	size_t len = 0;
	int r = read_all(in, &data, &len);
	if (in != stdin)
		fclose(in);
	if (r < 0) {
		fprintf(stderr, "h264dec: reading %s: %s\n", path, strerror(-r));
		return 2;
	}
	struct out o = {0};
	if (i420 && !(o.i420 = fopen(i420, "wb"))) {
		fprintf(stderr, "h264dec: %s: %s\n", i420, strerror(errno));
		free(data);
		return 2;
	}
	ISVCDecoder *dec = open_decoder();
	if (!dec) {
		fprintf(stderr, "h264dec: cannot start the openh264 decoder\n");
		r = -ENOMEM;
	} else {
		r = decode_stream(dec, data, len, &o);
		close_decoder(dec);
	}
	if (o.i420 && fclose(o.i420) != 0 && r == 0)
		r = -EIO;
	if (r == 0 && len > 0 && o.frames == 0) {
		printf("{\"error\":\"no pictures in the stream\",\"frame\":0}\n");
		r = -EBADMSG;
	}
	free(data);
	fflush(stdout);
	if (r == -EBADMSG)
		return 1;
	if (r < 0) {
		if (r != -ENOMEM)
			fprintf(stderr, "h264dec: %s\n", strerror(-r));
		return 2;
	}
	return 0;
}
