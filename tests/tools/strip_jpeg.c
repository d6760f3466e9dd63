/*
 * strip-jpeg: writes a frame of the pattern source as two JPEGs, for the browser test of
 * strip-parallel encoding (tests/e2e/strips.test.mjs):
 *
 *   strip-jpeg SCENE WIDTH HEIGHT 422|420 STRIPS SKIP OUT_DIR
 *
 * takes the pattern's frame number SKIP (0: the first) of SCENE at WIDTH x HEIGHT (YUYV),
 * and writes OUT_DIR/whole.jpg (ipkvm_jpeg_encode, one piece) and OUT_DIR/strips.jpg (the
 * same frame cut into STRIPS strips as ipkvm_jpeg_strip_plan says, each encoded alone and
 * joined with ipkvm_jpeg_join), both at quality 80. Prints the number of strips made and
 * their rows. Exit status 1 on any failure.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "video/jpeg.h"
#include "video/source_pattern.h"

static int fail(const char *what)
{
	fprintf(stderr, "strip-jpeg: %s\n", what);
	return 1;
}

static int write_file(const char *dir, const char *name, const struct ipkvm_buf *b)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	FILE *f = fopen(path, "wb");
	if (!f)
		return -errno;
	size_t n = fwrite(b->data, 1, b->len, f);
	if (fclose(f) != 0 || n != b->len)
		return -EIO;
	return 0;
}

static struct ipkvm_frame *pattern_frame(const char *scene, unsigned w, unsigned h, unsigned skip)
{
	char err[128] = "";
	struct ipkvm_pattern_config pc = {
	    .width = w, .height = h, .fps = 120, .format = IPKVM_FMT_YUYV, .scene = scene};
	struct ipkvm_source *s = ipkvm_source_pattern_create(&pc, err, sizeof(err));
	if (!s) {
		fprintf(stderr, "strip-jpeg: %s\n", err);
		return NULL;
	}
	struct ipkvm_frame *f = NULL;
	if (s->ops->open(s) == 0 && s->ops->start(s) == 0) {
		for (unsigned got = 0; got <= skip;) {
			struct pollfd p = {.fd = s->ops->fd(s), .events = POLLIN};
			if (poll(&p, 1, 2000) != 1)
				break;
			struct ipkvm_frame *g = NULL;
			int r = s->ops->next(s, &g);
			if (r == -EAGAIN)
				continue;
			if (r < 0)
				break;
			ipkvm_frame_unref(f);
			f = ipkvm_frame_keep(g); /* a lent frame is copied */
			ipkvm_source_done(s, g);
			if (!f)
				break;
			got++;
		}
		s->ops->stop(s);
		s->ops->close(s);
	}
	s->ops->destroy(s);
	return f;
}

int main(int argc, char **argv)
{
	if (argc != 8) {
		fputs("usage: strip-jpeg SCENE WIDTH HEIGHT 422|420 STRIPS SKIP OUT_DIR\n", stderr);
		return 2;
	}
	unsigned w = (unsigned)atoi(argv[2]), h = (unsigned)atoi(argv[3]);
	bool s420 = strcmp(argv[4], "420") == 0;
	unsigned want = (unsigned)atoi(argv[5]), skip = (unsigned)atoi(argv[6]);
	struct ipkvm_frame *f = pattern_frame(argv[1], w, h, skip);
	if (!f)
		return fail("no frame from the pattern source");
	struct ipkvm_jpeg *j = ipkvm_jpeg_create();
	if (!j)
		return fail("ipkvm_jpeg_create");
	struct ipkvm_buf *whole = NULL, *joined = NULL;
	struct ipkvm_buf *pieces[IPKVM_JPEG_MAX_STRIPS] = {0};
	unsigned rows, n = ipkvm_jpeg_strip_plan(w, h, s420, want, &rows);
	if (ipkvm_jpeg_encode(j, f, 80, s420, &whole) != 0)
		return fail("ipkvm_jpeg_encode");
	for (unsigned i = 0; i < n; i++) {
		unsigned r0 = i * rows, hh = i == n - 1 ? h - r0 : rows;
		if (ipkvm_jpeg_encode_rows(j, f, r0, hh, 80, s420, &pieces[i]) != 0)
			return fail("ipkvm_jpeg_encode_rows");
	}
	if (ipkvm_jpeg_join(pieces, n, &joined) != 0)
		return fail("ipkvm_jpeg_join");
	if (write_file(argv[7], "whole.jpg", whole) < 0 ||
	    write_file(argv[7], "strips.jpg", joined) < 0)
		return fail("cannot write the files");
	printf("%u strips of %u rows\n", n, rows);
	for (unsigned i = 0; i < n; i++)
		ipkvm_buf_unref(pieces[i]);
	ipkvm_buf_unref(whole);
	ipkvm_buf_unref(joined);
	ipkvm_jpeg_destroy(j);
	ipkvm_frame_unref(f);
	return 0;
}
