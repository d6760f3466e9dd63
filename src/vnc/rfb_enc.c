/*
 * rfb_enc: the bytes of RFB framebuffer-update rectangles (see rfb_enc.h for the contract;
 * the wire formats are rfbproto's "FramebufferUpdate", "Encodings" and "Pseudo-encodings").
 *
 * Why it is shaped so:
 * - Colours come from ipkvm_frame_row_to_rgb24 (video/jpeg.h), the conversion of the raw
 *   snapshot, a line segment at a time into a small stack buffer; they are then mapped to
 *   the client's pixel value through three 256-entry tables made per rectangle (value =
 *   round(c * max / 255) << shift for each colour), and written in the client's byte order.
 *   The server's own format (32 bpp little-endian, 8 bits each at 16/8/0) skips the tables:
 *   the value is r << 16 | g << 8 | b. No allocation per pixel or line: a Raw rectangle
 *   reserves its exact size once, ZRLE works in one 64x64 tile of its own state at a time.
 * - ZRLE: a tile whose source bytes are all one pixel (source_uniform) is sent solid at
 *   once; any other is converted into pixel values, then one pass counts its runs and
 *   colours (a small hash table, given up past 127 colours) and sums the exact size of
 *   every subencoding that applies (solid, packed palette, palette RLE, plain RLE, raw);
 *   the smallest is written. Once a tile has more than 127 colours and its plain RLE is
 *   already bigger than raw, counting stops: photographic tiles cost one compare per pixel.
 *   Tiles go through deflate in chunks of ~64 KB, and the rectangle ends with a
 *   Z_SYNC_FLUSH, so it stands alone on the wire while the stream (and its dictionary)
 *   carries on to the next one. Level 1 for chunks of mostly solid, palette and RLE tiles (a
 *   KVM's screen is mostly flat areas and text, which level 1 already shrinks well, at a
 *   fraction of the default's time); level 0 (stored) for chunks that are mostly raw tiles
 *   (photographs, video, noise): deflate at level 1 takes ~35 ms per MB of such data on a
 *   2020s x86 core and saves 0-20 % of it, which would make a 1080p frame of video cost
 *   ~200 ms of the event loop instead of ~10. The switch (deflateParams) costs a block
 *   boundary, only where the kind of content changes.
 * - CPIXEL is 3 bytes when the pixel is 32 bits and the colour bits fit in its three low or
 *   three high bytes, as rfbproto says; like libvncclient, libvncserver and TigerVNC we
 *   look at where the colour bits are, not at the depth field (some clients send 32). When
 *   both would do (colours in the middle 16 bits), rfbproto says the low bytes, but those
 *   three decoders take the first three bytes on the wire: the low ones of a little-endian
 *   pixel, the high ones of a big-endian one. We do as the decoders do.
 * - Tight JPEG: rfbproto limits every Tight rectangle to 2048 pixels wide. libvncclient and
 *   noVNC decode wider JPEG rectangles, but TigerVNC's viewer drops the connection ("Too
 *   large Tight rectangle"), so a wider one is refused like a JPEG too long for the compact
 *   length (-E2BIG: the picture goes another way).
 * - The empty cursor is 1x1 with a clear mask: libvncclient ignores a 0x0 cursor (keeps the
 *   previous shape), so 0x0 would not hide it everywhere.
 */
#include "vnc/rfb_enc.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "video/jpeg.h"

const struct ipkvm_rfb_pixfmt ipkvm_rfb_pixfmt_server = {
    .bpp = 32,
    .depth = 24,
    .big_endian = false,
    .true_colour = true,
    .red_max = 255,
    .green_max = 255,
    .blue_max = 255,
    .red_shift = 16,
    .green_shift = 8,
    .blue_shift = 0,
};

/* ---- bytes ---- */

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

int ipkvm_rfb_out_reserve(struct ipkvm_rfb_out *o, size_t more)
{
	if (more > SIZE_MAX - o->len)
		return -ENOMEM;
	size_t need = o->len + more;
	if (need <= o->cap)
		return 0;
	size_t cap = o->cap ? o->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	uint8_t *d = realloc(o->data, cap);
	if (!d)
		return -ENOMEM;
	o->data = d;
	o->cap = cap;
	return 0;
}

void ipkvm_rfb_out_free(struct ipkvm_rfb_out *o)
{
	free(o->data);
	o->data = NULL;
	o->len = o->cap = 0;
}

/* ---- pixel formats ---- */

static unsigned bits_of(uint16_t max)
{
	unsigned n = 0;
	while (max) {
		n++;
		max >>= 1;
	}
	return n;
}

static bool max_ok(uint16_t max, uint8_t shift, uint8_t bpp)
{
	/* 2^n - 1 with n >= 1, and the field inside the pixel */
	return max && !(max & (max + 1u)) && shift + bits_of(max) <= bpp;
}

static bool pixfmt_ok(const struct ipkvm_rfb_pixfmt *pf)
{
	return (pf->bpp == 8 || pf->bpp == 16 || pf->bpp == 32) && pf->true_colour &&
	       max_ok(pf->red_max, pf->red_shift, pf->bpp) &&
	       max_ok(pf->green_max, pf->green_shift, pf->bpp) &&
	       max_ok(pf->blue_max, pf->blue_shift, pf->bpp);
}

int ipkvm_rfb_pixfmt_parse(const uint8_t in[16], struct ipkvm_rfb_pixfmt *out)
{
	struct ipkvm_rfb_pixfmt pf = {
	    .bpp = in[0],
	    .depth = in[1],
	    .big_endian = in[2] != 0,
	    .true_colour = in[3] != 0,
	    .red_max = get16(in + 4),
	    .green_max = get16(in + 6),
	    .blue_max = get16(in + 8),
	    .red_shift = in[10],
	    .green_shift = in[11],
	    .blue_shift = in[12],
	};
	if (!pixfmt_ok(&pf))
		return -EINVAL;
	*out = pf;
	return 0;
}

void ipkvm_rfb_pixfmt_write(const struct ipkvm_rfb_pixfmt *pf, uint8_t out[16])
{
	out[0] = pf->bpp;
	out[1] = pf->depth;
	out[2] = pf->big_endian;
	out[3] = pf->true_colour;
	put16(out + 4, pf->red_max);
	put16(out + 6, pf->green_max);
	put16(out + 8, pf->blue_max);
	out[10] = pf->red_shift;
	out[11] = pf->green_shift;
	out[12] = pf->blue_shift;
	out[13] = out[14] = out[15] = 0;
}

/* How pixel values are laid out on the wire: a whole PIXEL, or a ZRLE CPIXEL. */
enum wire {
	W_8,
	W_16LE,
	W_16BE,
	W_32LE,
	W_32BE,
	W_24LE_LO, /* the three low bytes of a little-endian 32-bit pixel */
	W_24LE_HI,
	W_24BE_LO, /* the three low bytes of a big-endian 32-bit pixel */
	W_24BE_HI,
};

/* A client pixel format made ready for one rectangle. */
struct pack {
	bool direct; /* value = r << 16 | g << 8 | b */
	enum wire pixel, cpixel;
	unsigned bytes, cbytes;
	uint32_t lut[3][256];
};

static uint32_t scale(unsigned c, uint16_t max, uint8_t shift)
{
	return (uint32_t)((c * max + 127u) / 255u) << shift;
}

static int pack_init(struct pack *pk, const struct ipkvm_rfb_pixfmt *pf)
{
	if (!pixfmt_ok(pf))
		return -EINVAL;
	pk->bytes = pf->bpp / 8;
	pk->pixel = pf->bpp == 8    ? W_8
		    : pf->bpp == 16 ? (pf->big_endian ? W_16BE : W_16LE)
				    : (pf->big_endian ? W_32BE : W_32LE);
	pk->cpixel = pk->pixel;
	pk->cbytes = pk->bytes;
	if (pf->bpp == 32) {
		uint32_t all = scale(255, pf->red_max, pf->red_shift) |
			       scale(255, pf->green_max, pf->green_shift) |
			       scale(255, pf->blue_max, pf->blue_shift);
		bool lo = !(all >> 24), hi = !(all & 0xff);
		/* when both would do, the first three bytes on the wire (see the top) */
		if (pf->big_endian ? hi : lo)
			pk->cpixel = pf->big_endian ? W_24BE_HI : W_24LE_LO;
		else if (lo || hi)
			pk->cpixel = pf->big_endian ? W_24BE_LO : W_24LE_HI;
		if (lo || hi)
			pk->cbytes = 3;
	}
	pk->direct = pf->red_max == 255 && pf->green_max == 255 && pf->blue_max == 255 &&
		     pf->red_shift == 16 && pf->green_shift == 8 && pf->blue_shift == 0;
	if (!pk->direct)
		for (unsigned c = 0; c < 256; c++) {
			pk->lut[0][c] = scale(c, pf->red_max, pf->red_shift);
			pk->lut[1][c] = scale(c, pf->green_max, pf->green_shift);
			pk->lut[2][c] = scale(c, pf->blue_max, pf->blue_shift);
		}
	return 0;
}

/* Pixels per conversion chunk: a line segment's RGB and values stay on the stack. */
#define CHUNK 256

/* n (<= CHUNK) pixels of line y from column x as pixel values. */
static void convert(const struct pack *pk, const struct ipkvm_frame *f, unsigned x, unsigned y,
		    unsigned n, uint32_t *restrict v)
{
	uint8_t rgb[CHUNK * 3];

	ipkvm_frame_row_to_rgb24(f, x, y, n, rgb);
	const uint8_t *p = rgb;
	if (pk->direct) {
		for (unsigned i = 0; i < n; i++, p += 3)
			v[i] = (uint32_t)p[0] << 16 | (uint32_t)p[1] << 8 | p[2];
	} else {
		for (unsigned i = 0; i < n; i++, p += 3)
			v[i] = pk->lut[0][p[0]] | pk->lut[1][p[1]] | pk->lut[2][p[2]];
	}
}

/* n pixel values in wire layout w; returns the end of what was written. */
static uint8_t *emit(uint8_t *restrict d, const uint32_t *restrict v, size_t n, enum wire w)
{
	switch (w) {
	case W_8:
		for (size_t i = 0; i < n; i++)
			*d++ = (uint8_t)v[i];
		break;
	case W_16LE:
		for (size_t i = 0; i < n; i++, d += 2) {
			d[0] = (uint8_t)v[i];
			d[1] = (uint8_t)(v[i] >> 8);
		}
		break;
	case W_16BE:
		for (size_t i = 0; i < n; i++, d += 2) {
			d[0] = (uint8_t)(v[i] >> 8);
			d[1] = (uint8_t)v[i];
		}
		break;
	case W_32LE:
		for (size_t i = 0; i < n; i++, d += 4) {
			d[0] = (uint8_t)v[i];
			d[1] = (uint8_t)(v[i] >> 8);
			d[2] = (uint8_t)(v[i] >> 16);
			d[3] = (uint8_t)(v[i] >> 24);
		}
		break;
	case W_32BE:
		for (size_t i = 0; i < n; i++, d += 4)
			put32(d, v[i]);
		break;
	case W_24LE_LO:
		for (size_t i = 0; i < n; i++, d += 3) {
			d[0] = (uint8_t)v[i];
			d[1] = (uint8_t)(v[i] >> 8);
			d[2] = (uint8_t)(v[i] >> 16);
		}
		break;
	case W_24LE_HI:
		for (size_t i = 0; i < n; i++, d += 3) {
			d[0] = (uint8_t)(v[i] >> 8);
			d[1] = (uint8_t)(v[i] >> 16);
			d[2] = (uint8_t)(v[i] >> 24);
		}
		break;
	case W_24BE_LO:
		for (size_t i = 0; i < n; i++, d += 3) {
			d[0] = (uint8_t)(v[i] >> 16);
			d[1] = (uint8_t)(v[i] >> 8);
			d[2] = (uint8_t)v[i];
		}
		break;
	case W_24BE_HI:
		for (size_t i = 0; i < n; i++, d += 3) {
			d[0] = (uint8_t)(v[i] >> 24);
			d[1] = (uint8_t)(v[i] >> 16);
			d[2] = (uint8_t)(v[i] >> 8);
		}
		break;
	}
	return d;
}

/* ---- headers ---- */

int ipkvm_rfb_put_update_header(struct ipkvm_rfb_out *o, uint16_t nrects)
{
	int rc = ipkvm_rfb_out_reserve(o, 4);
	if (rc)
		return rc;
	uint8_t *p = o->data + o->len;
	p[0] = 0;
	p[1] = 0;
	put16(p + 2, nrects);
	o->len += 4;
	return 0;
}

static void rect_header(uint8_t *p, uint16_t x, uint16_t y, uint16_t w, uint16_t h,
			int32_t encoding)
{
	put16(p, x);
	put16(p + 2, y);
	put16(p + 4, w);
	put16(p + 6, h);
	put32(p + 8, (uint32_t)encoding);
}

int ipkvm_rfb_put_rect_header(struct ipkvm_rfb_out *o, const struct ipkvm_rfb_rect *r,
			      int32_t encoding)
{
	int rc = ipkvm_rfb_out_reserve(o, 12);
	if (rc)
		return rc;
	rect_header(o->data + o->len, r->x, r->y, r->w, r->h, encoding);
	o->len += 12;
	return 0;
}

/* A pseudo-rectangle with n bytes of data (returned for the caller to fill). */
static uint8_t *pseudo(struct ipkvm_rfb_out *o, uint16_t x, uint16_t y, uint16_t w, uint16_t h,
		       int32_t encoding, size_t n)
{
	if (ipkvm_rfb_out_reserve(o, 12 + n))
		return NULL;
	uint8_t *p = o->data + o->len;
	rect_header(p, x, y, w, h, encoding);
	o->len += 12 + n;
	return p + 12;
}

#define TIGHT_JPEG	  0x90
#define TIGHT_MAX_WIDTH	  2048
#define TIGHT_COMPACT_MAX 4194303u

int ipkvm_rfb_put_tight_jpeg(struct ipkvm_rfb_out *o, const struct ipkvm_rfb_rect *r,
			     size_t jpeg_len)
{
	if (jpeg_len > TIGHT_COMPACT_MAX || r->w > TIGHT_MAX_WIDTH)
		return -E2BIG;
	uint8_t len[3];
	size_t n = 0;
	len[n++] = (uint8_t)(jpeg_len & 0x7f);
	if (jpeg_len > 0x7f) {
		len[0] |= 0x80;
		len[n++] = (uint8_t)(jpeg_len >> 7 & 0x7f);
		if (jpeg_len > 0x3fff) {
			len[1] |= 0x80;
			len[n++] = (uint8_t)(jpeg_len >> 14);
		}
	}
	uint8_t *p = pseudo(o, r->x, r->y, r->w, r->h, IPKVM_RFB_ENC_TIGHT, 1 + n);
	if (!p)
		return -ENOMEM;
	p[0] = TIGHT_JPEG;
	memcpy(p + 1, len, n);
	return 0;
}

int ipkvm_rfb_put_h264(struct ipkvm_rfb_out *o, const struct ipkvm_rfb_rect *r, size_t len,
		       uint32_t flags)
{
	if (len > UINT32_MAX)
		return -E2BIG;
	uint8_t *p = pseudo(o, r->x, r->y, r->w, r->h, IPKVM_RFB_ENC_H264, 8);
	if (!p)
		return -ENOMEM;
	put32(p, (uint32_t)len);
	put32(p + 4, flags);
	return 0;
}

/* ---- Raw ---- */

static bool rect_in(const struct ipkvm_frame *f, const struct ipkvm_rfb_rect *r)
{
	return f->format != IPKVM_FMT_MJPEG && f->data &&
	       f->stride >= (size_t)f->width * ipkvm_pixfmt_bpp(f->format) &&
	       (unsigned)r->x + r->w <= f->width && (unsigned)r->y + r->h <= f->height;
}

int ipkvm_rfb_put_raw(struct ipkvm_rfb_out *o, const struct ipkvm_frame *f,
		      const struct ipkvm_rfb_rect *r, const struct ipkvm_rfb_pixfmt *pf)
{
	struct pack pk;
	uint32_t v[CHUNK];

	if (!rect_in(f, r) || pack_init(&pk, pf))
		return -EINVAL;
	size_t px = (size_t)r->w * r->h;
	if (px > (SIZE_MAX - 12) / 4)
		return -ENOMEM;
	int rc = ipkvm_rfb_out_reserve(o, 12 + px * pk.bytes);
	if (rc)
		return rc;
	uint8_t *d = o->data + o->len;
	rect_header(d, r->x, r->y, r->w, r->h, IPKVM_RFB_ENC_RAW);
	d += 12;
	bool bgrx = pk.direct && pk.pixel == W_32LE; /* the server's format: B, G, R, 0 */
	for (unsigned y = r->y; y < (unsigned)r->y + r->h; y++)
		for (unsigned x = r->x; x < (unsigned)r->x + r->w; x += CHUNK) {
			unsigned n = (unsigned)r->x + r->w - x;
			n = n < CHUNK ? n : CHUNK;
			if (bgrx) {
				uint8_t rgb[CHUNK * 3];
				ipkvm_frame_row_to_rgb24(f, x, y, n, rgb);
				for (unsigned i = 0; i < n; i++, d += 4) {
					d[0] = rgb[3 * i + 2];
					d[1] = rgb[3 * i + 1];
					d[2] = rgb[3 * i];
					d[3] = 0;
				}
				continue;
			}
			convert(&pk, f, x, y, n, v);
			d = emit(d, v, n, pk.pixel);
		}
	o->len += 12 + px * pk.bytes;
	return 0;
}

/* ---- ZRLE ---- */

#define TILE	  64
#define TILE_PX	  (TILE * TILE)
#define PAL_MAX	  127 /* palette RLE's largest palette */
#define HASH_SIZE 256 /* a power of two above 2 * PAL_MAX */
/* Encoded tiles go to deflate in chunks of about this many bytes. */
#define CHUNK_BYTES (64 * 1024)
/* deflate levels: stored for chunks mostly of raw tiles, else the fastest */
#define LEVEL_RAW  0
#define LEVEL_ZRLE 1

struct ipkvm_rfb_zrle {
	z_stream zs;
	bool started;
	/* one tile: its pixel values, its runs, its encoded bytes */
	uint32_t pix[TILE_PX];
	uint32_t run_val[TILE_PX];
	uint16_t run_len[TILE_PX];
	uint8_t idx[TILE_PX]; /* palette index of each pixel (packed palette) */
	/* encoded tiles waiting for deflate, how many of those bytes are raw tiles, and the
	 * stream's level now */
	uint8_t chunk[CHUNK_BYTES + 1 + TILE_PX * 4];
	size_t clen, craw;
	int level;
	/* the tile's palette: values in order of first use, and a hash of value → index;
	 * a slot is in use when its generation is the tile's */
	uint32_t pal[PAL_MAX + 1];
	uint32_t hkey[HASH_SIZE];
	uint32_t hgen[HASH_SIZE];
	uint8_t hidx[HASH_SIZE];
	uint32_t gen;
};

struct ipkvm_rfb_zrle *ipkvm_rfb_zrle_new(void)
{
	struct ipkvm_rfb_zrle *z = calloc(1, sizeof(*z));
	if (!z)
		return NULL;
	z->level = LEVEL_ZRLE;
	if (deflateInit(&z->zs, LEVEL_ZRLE) != Z_OK) {
		free(z);
		return NULL;
	}
	z->started = true;
	return z;
}

void ipkvm_rfb_zrle_free(struct ipkvm_rfb_zrle *z)
{
	if (!z)
		return;
	if (z->started)
		deflateEnd(&z->zs);
	free(z);
}

static inline unsigned hash_of(uint32_t v)
{
	return (v * 2654435761u) >> 24 & (HASH_SIZE - 1);
}

/* The palette index of v, adding it when new; PAL_MAX + 1 colours at most. */
static unsigned pal_index(struct ipkvm_rfb_zrle *z, unsigned *npal, uint32_t v)
{
	unsigned h = hash_of(v);
	while (z->hgen[h] == z->gen) {
		if (z->hkey[h] == v)
			return z->hidx[h];
		h = (h + 1) & (HASH_SIZE - 1);
	}
	unsigned i = (*npal)++;
	z->hgen[h] = z->gen;
	z->hkey[h] = v;
	z->hidx[h] = (uint8_t)i;
	z->pal[i] = v;
	return i;
}

static unsigned run_bytes(unsigned len)
{
	return (len - 1) / 255 + 1;
}

static uint8_t *put_run_len(uint8_t *d, unsigned len)
{
	len--;
	while (len >= 255) {
		*d++ = 255;
		len -= 255;
	}
	*d++ = (uint8_t)len;
	return d;
}

/* Encodes the tile in z->pix (tw x th) at the end of z->chunk. */
static void zrle_tile(struct ipkvm_rfb_zrle *z, const struct pack *pk, unsigned tw, unsigned th)
{
	const unsigned n = tw * th, cb = pk->cbytes;
	const size_t raw = (size_t)n * cb;
	const uint32_t *pix = z->pix;
	uint8_t *const start = z->chunk + z->clen;
	uint8_t *d = start;

	if (++z->gen == 0) { /* wrapped: forget every slot */
		memset(z->hgen, 0, sizeof(z->hgen));
		z->gen = 1;
	}
	/* one pass: runs, palette, the size of plain RLE and palette RLE */
	unsigned npal = 0, nruns = 0;
	size_t plain = 0, prle = 0;
	bool pal_ok = true;
	uint32_t prev = pix[0];
	unsigned run = 1;
	pal_index(z, &npal, prev);
	for (unsigned i = 1; i <= n; i++) {
		if (i < n && pix[i] == prev) {
			run++;
			continue;
		}
		z->run_val[nruns] = prev;
		z->run_len[nruns++] = (uint16_t)run;
		plain += cb + run_bytes(run);
		prle += run == 1 ? 1 : 1 + run_bytes(run);
		if (i == n)
			break;
		prev = pix[i];
		run = 1;
		if (pal_ok) {
			pal_index(z, &npal, prev);
			pal_ok = npal <= PAL_MAX;
		}
		if (!pal_ok && plain >= raw) {
			nruns = 0; /* raw it is */
			break;
		}
	}

	size_t best = raw;
	int kind = 0; /* 0 raw, 1 solid, 2 packed palette, 3 plain RLE, 4 palette RLE */
	unsigned bits = npal <= 2 ? 1 : npal <= 4 ? 2 : 4;
	if (nruns && npal == 1) {
		best = cb, kind = 1;
	} else if (nruns) {
		if (plain < best)
			best = plain, kind = 3;
		if (pal_ok) {
			size_t pr = (size_t)npal * cb + prle;
			if (pr < best)
				best = pr, kind = 4;
			if (npal <= 16) {
				size_t pp = (size_t)npal * cb + (size_t)(tw * bits + 7) / 8 * th;
				if (pp <= best)
					best = pp, kind = 2;
			}
		}
	}

	switch (kind) {
	case 0:
		*d++ = 0;
		d = emit(d, pix, n, pk->cpixel);
		break;
	case 1:
		*d++ = 1;
		d = emit(d, pix, 1, pk->cpixel);
		break;
	case 2: {
		*d++ = (uint8_t)npal;
		d = emit(d, z->pal, npal, pk->cpixel);
		uint8_t *ix = z->idx;
		for (unsigned i = 0; i < nruns; i++) {
			memset(ix, (int)pal_index(z, &npal, z->run_val[i]), z->run_len[i]);
			ix += z->run_len[i];
		}
		ix = z->idx;
		unsigned per = 8 / bits;
		for (unsigned y = 0; y < th; y++) {
			for (unsigned x = 0; x < tw; x += per) {
				unsigned byte = 0, k = 0;
				for (; k < per && x + k < tw; k++)
					byte = byte << bits | *ix++;
				*d++ = (uint8_t)(byte << (per - k) * bits);
			}
		}
		break;
	}
	case 3:
		*d++ = 128;
		for (unsigned i = 0; i < nruns; i++) {
			d = emit(d, &z->run_val[i], 1, pk->cpixel);
			d = put_run_len(d, z->run_len[i]);
		}
		break;
	case 4:
		*d++ = (uint8_t)(128 + npal);
		d = emit(d, z->pal, npal, pk->cpixel);
		for (unsigned i = 0; i < nruns; i++) {
			unsigned idx = pal_index(z, &npal, z->run_val[i]);
			if (z->run_len[i] == 1) {
				*d++ = (uint8_t)idx;
			} else {
				*d++ = (uint8_t)(idx | 128);
				d = put_run_len(d, z->run_len[i]);
			}
		}
		break;
	}
	z->clen += (size_t)(d - start);
	if (!kind)
		z->craw += (size_t)(d - start);
}

/* Feeds n bytes to the stream (flush: Z_NO_FLUSH or Z_SYNC_FLUSH), appending its output. */
static int zrle_deflate(struct ipkvm_rfb_zrle *z, struct ipkvm_rfb_out *o, const uint8_t *in,
			size_t n, int flush)
{
	z->zs.next_in = (Bytef *)in;
	z->zs.avail_in = (uInt)n;
	for (;;) {
		size_t room = n + n / 8 + 64;
		int rc = ipkvm_rfb_out_reserve(o, room);
		if (rc)
			return rc;
		room = o->cap - o->len;
		if (room > UINT_MAX)
			room = UINT_MAX;
		z->zs.next_out = o->data + o->len;
		z->zs.avail_out = (uInt)room;
		int zr = deflate(&z->zs, flush);
		o->len += room - z->zs.avail_out;
		if (zr != Z_OK && zr != Z_BUF_ERROR)
			return -EIO;
		if (z->zs.avail_in == 0 && z->zs.avail_out != 0)
			return 0;
	}
}

/*
 * Whether the w x h pixels at x, y of raw frame f are all the same bytes, so one colour: a
 * solid tile without converting it. A YUV pair counts when both lumas are equal and every
 * pair the tile touches is the same 4 bytes; the half pair that ends an odd-width line has a
 * colour of its own (no V) and always takes the ordinary path. Two memcmp per line: a tile
 * that is not uniform fails within its first bytes.
 */
static bool source_uniform(const struct ipkvm_frame *f, unsigned x, unsigned y, unsigned w,
			   unsigned h)
{
	size_t g, off, len;
	if (f->format == IPKVM_FMT_YUYV || f->format == IPKVM_FMT_UYVY) {
		if ((x + w) & 1 && x + w == f->width)
			return false;
		unsigned p0 = x & ~1u, p1 = (x + w + 1) & ~1u;
		g = 4, off = (size_t)p0 * 2, len = (size_t)(p1 - p0) * 2;
		unsigned yo = f->format == IPKVM_FMT_UYVY;
		const uint8_t *p = f->data + y * f->stride + off;
		if (p[yo] != p[yo + 2])
			return false;
	} else {
		g = 3, off = (size_t)x * 3, len = (size_t)w * 3;
	}
	const uint8_t *first = f->data + y * f->stride + off;
	if (len > g && memcmp(first, first + g, len - g))
		return false;
	for (unsigned r = 1; r < h; r++)
		if (memcmp(first, first + r * f->stride, len))
			return false;
	return true;
}

/* Sends the waiting tiles through deflate, at the level their kind asks for. */
static int zrle_flush_chunk(struct ipkvm_rfb_zrle *z, struct ipkvm_rfb_out *o)
{
	if (!z->clen)
		return 0;
	int level = z->craw * 2 > z->clen ? LEVEL_RAW : LEVEL_ZRLE;
	while (level != z->level) {
		/* the change compresses what deflate holds with the old level first */
		int rc = ipkvm_rfb_out_reserve(o, 64 * 1024);
		if (rc)
			return rc;
		size_t room = o->cap - o->len;
		if (room > UINT_MAX)
			room = UINT_MAX;
		z->zs.next_in = NULL;
		z->zs.avail_in = 0;
		z->zs.next_out = o->data + o->len;
		z->zs.avail_out = (uInt)room;
		int zr = deflateParams(&z->zs, level, Z_DEFAULT_STRATEGY);
		size_t wrote = room - z->zs.avail_out;
		o->len += wrote;
		if (zr == Z_OK)
			z->level = level;
		else if (zr != Z_BUF_ERROR || !wrote) /* short of room: retry with more */
			return -EIO;
	}
	int rc = zrle_deflate(z, o, z->chunk, z->clen, Z_NO_FLUSH);
	z->clen = z->craw = 0;
	return rc;
}

int ipkvm_rfb_put_zrle(struct ipkvm_rfb_zrle *z, struct ipkvm_rfb_out *o,
		       const struct ipkvm_frame *f, const struct ipkvm_rfb_rect *r,
		       const struct ipkvm_rfb_pixfmt *pf)
{
	struct pack pk;

	if (!rect_in(f, r) || pack_init(&pk, pf))
		return -EINVAL;
	size_t start = o->len;
	int rc = ipkvm_rfb_out_reserve(o, 16);
	if (rc)
		return rc;
	rect_header(o->data + o->len, r->x, r->y, r->w, r->h, IPKVM_RFB_ENC_ZRLE);
	o->len += 16; /* the length is written last */
	if (r->w && r->h) {
		for (unsigned ty = r->y; ty < (unsigned)r->y + r->h; ty += TILE) {
			unsigned th = (unsigned)r->y + r->h - ty;
			th = th < TILE ? th : TILE;
			for (unsigned tx = r->x; tx < (unsigned)r->x + r->w; tx += TILE) {
				unsigned tw = (unsigned)r->x + r->w - tx;
				tw = tw < TILE ? tw : TILE;
				if (source_uniform(f, tx, ty, tw, th)) {
					convert(&pk, f, tx, ty, 1, z->pix);
					uint8_t *d = z->chunk + z->clen;
					*d = 1;
					z->clen += (size_t)(emit(d + 1, z->pix, 1, pk.cpixel) - d);
				} else {
					for (unsigned y = 0; y < th; y++)
						convert(&pk, f, tx, ty + y, tw, z->pix + y * tw);
					zrle_tile(z, &pk, tw, th);
				}
				if (z->clen >= CHUNK_BYTES && (rc = zrle_flush_chunk(z, o)))
					goto fail;
			}
		}
		if ((rc = zrle_flush_chunk(z, o)) ||
		    (rc = zrle_deflate(z, o, NULL, 0, Z_SYNC_FLUSH)))
			goto fail;
	}
	size_t len = o->len - start - 16;
	if (len > UINT32_MAX) {
		rc = -E2BIG;
		goto fail;
	}
	put32(o->data + start + 12, (uint32_t)len);
	return 0;
fail:
	z->clen = z->craw = 0;
	o->len = start;
	return rc;
}

/* ---- changed tiles ---- */

static bool tile_differs(const struct ipkvm_frame *a, const struct ipkvm_frame *b, size_t off,
			 size_t bytes, unsigned y0, unsigned rows)
{
	for (unsigned y = y0; y < y0 + rows; y++)
		if (memcmp(a->data + y * a->stride + off, b->data + y * b->stride + off, bytes))
			return true;
	return false;
}

static void add_rect(struct ipkvm_rfb_rect *out, size_t max, size_t *n, struct ipkvm_rfb_rect r)
{
	if (*n < max) {
		out[(*n)++] = r;
		return;
	}
	/* full: the last one grows to cover this one too */
	struct ipkvm_rfb_rect *l = &out[max - 1];
	unsigned x0 = l->x < r.x ? l->x : r.x, y0 = l->y < r.y ? l->y : r.y;
	unsigned x1 = (unsigned)l->x + l->w, y1 = (unsigned)l->y + l->h;
	if ((unsigned)r.x + r.w > x1)
		x1 = (unsigned)r.x + r.w;
	if ((unsigned)r.y + r.h > y1)
		y1 = (unsigned)r.y + r.h;
	*l = (struct ipkvm_rfb_rect){(uint16_t)x0, (uint16_t)y0, (uint16_t)(x1 - x0),
				     (uint16_t)(y1 - y0)};
}

size_t ipkvm_rfb_changed_rects(const struct ipkvm_frame *a, const struct ipkvm_frame *b,
			       struct ipkvm_rfb_rect *out, size_t max)
{
	if (!max || !b || !b->width || !b->height)
		return 0;
	unsigned bpp = ipkvm_pixfmt_bpp(b->format);
	if (!a || !bpp || a->format != b->format || a->width != b->width ||
	    a->height != b->height || a->stride < (size_t)a->width * bpp ||
	    b->stride < (size_t)b->width * bpp) {
		out[0] = (struct ipkvm_rfb_rect){0, 0, (uint16_t)b->width, (uint16_t)b->height};
		return 1;
	}
	size_t n = 0;
	for (unsigned ty = 0; ty < b->height; ty += TILE) {
		unsigned th = b->height - ty < TILE ? b->height - ty : TILE;
		unsigned run0 = 0;
		bool in_run = false;
		for (unsigned tx = 0;; tx += TILE) {
			bool changed = false, end = tx >= b->width;
			if (!end) {
				unsigned tw = b->width - tx < TILE ? b->width - tx : TILE;
				changed =
				    tile_differs(a, b, (size_t)tx * bpp, (size_t)tw * bpp, ty, th);
			}
			if (changed && !in_run) {
				run0 = tx;
				in_run = true;
			} else if (!changed && in_run) {
				unsigned x1 = tx < b->width ? tx : b->width;
				add_rect(out, max, &n,
					 (struct ipkvm_rfb_rect){(uint16_t)run0, (uint16_t)ty,
								 (uint16_t)(x1 - run0),
								 (uint16_t)th});
				in_run = false;
			}
			if (end)
				break;
		}
	}
	return n;
}

/* ---- pseudo-encodings ---- */

int ipkvm_rfb_put_desktop_size(struct ipkvm_rfb_out *o, uint16_t w, uint16_t h)
{
	return pseudo(o, 0, 0, w, h, IPKVM_RFB_ENC_DESKTOP_SIZE, 0) ? 0 : -ENOMEM;
}

int ipkvm_rfb_put_ext_desktop_size(struct ipkvm_rfb_out *o, uint16_t reason, uint16_t status,
				   uint16_t w, uint16_t h, uint32_t screen_id)
{
	uint8_t *p = pseudo(o, reason, status, w, h, IPKVM_RFB_ENC_EXT_DESKTOP, 4 + 16);
	if (!p)
		return -ENOMEM;
	memset(p, 0, 4 + 16);
	p[0] = 1; /* one screen, three bytes of padding */
	put32(p + 4, screen_id);
	/* at 0,0 */
	put16(p + 12, w);
	put16(p + 14, h);
	/* flags 0 */
	return 0;
}

int ipkvm_rfb_put_led_state(struct ipkvm_rfb_out *o, bool vmware, unsigned leds)
{
	leds &= IPKVM_RFB_LED_SCROLL | IPKVM_RFB_LED_NUM | IPKVM_RFB_LED_CAPS;
	uint8_t *p =
	    pseudo(o, 0, 0, 0, 0, vmware ? IPKVM_RFB_ENC_VMWARE_LED : IPKVM_RFB_ENC_QEMU_LED,
		   vmware ? 4 : 1);
	if (!p)
		return -ENOMEM;
	if (vmware)
		put32(p, leds);
	else
		p[0] = (uint8_t)leds;
	return 0;
}

int ipkvm_rfb_put_empty_cursor(struct ipkvm_rfb_out *o, const struct ipkvm_rfb_pixfmt *pf)
{
	if (!pixfmt_ok(pf))
		return -EINVAL;
	size_t bytes = pf->bpp / 8;
	/* hotspot 0,0; one pixel (any colour: black) and a mask byte with its bit clear */
	uint8_t *p = pseudo(o, 0, 0, 1, 1, IPKVM_RFB_ENC_CURSOR, bytes + 1);
	if (!p)
		return -ENOMEM;
	memset(p, 0, bytes + 1);
	return 0;
}

int ipkvm_rfb_put_last_rect(struct ipkvm_rfb_out *o)
{
	return pseudo(o, 0, 0, 0, 0, IPKVM_RFB_ENC_LAST_RECT, 0) ? 0 : -ENOMEM;
}

int ipkvm_rfb_put_qemu_key_ack(struct ipkvm_rfb_out *o)
{
	return pseudo(o, 0, 0, 0, 0, IPKVM_RFB_ENC_QEMU_KEY, 0) ? 0 : -ENOMEM;
}
