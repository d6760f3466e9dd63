/*
 * audit: see audit.h. Opening the file per record costs microseconds and makes log
 * rotation and concurrent writers (daemon + CLI) trivially safe.
 */
#define LOG_TAG "audit"
#include "auth/audit.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/json.h"
#include "core/log.h"

static int failing; /* log a failure once per streak, not per record */

int ipkvm_audit(const char *state_dir, const char *event, const char *user, const char *addr,
		bool ok, json_t *extra)
{
	struct timespec ts;
	struct tm tm;
	char when[40], path[4096];
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	size_t n = strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(when + n, sizeof(when) - n, ".%03ldZ", ts.tv_nsec / 1000000);

	json_t *rec = json_pack("{s:s, s:s, s:b}", "ts", when, "event", event, "ok", ok);
	if (rec && user)
		json_object_set_new(rec, "user", json_string(user));
	if (rec && addr)
		json_object_set_new(rec, "addr", json_string(addr));
	if (rec && extra)
		json_object_update_missing(rec, extra);
	json_decref(extra);
	if (!rec)
		return -ENOMEM;
	size_t len;
	char *text = ipkvm_json_dump(rec, &len);
	json_decref(rec);
	if (!text)
		return -ENOMEM;
	text[len++] = '\n'; /* json_dumps leaves room: its NUL becomes the newline */

	int r = 0;
	snprintf(path, sizeof(path), "%s/%s", state_dir, IPKVM_AUDIT_FILE);
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		r = -errno;
	} else {
		ssize_t w = write(fd, text, len);
		if (w < 0)
			r = -errno;
		else if ((size_t)w != len)
			r = -EIO; /* a cut record (disk full, file size limit) is a failure */
	}
	if (fd >= 0)
		close(fd);
	free(text);
	if (r < 0 && !failing)
		LOG_ERROR("cannot append to %s: %s", path, strerror(-r));
	failing = r < 0;
	return r;
}
