/*
 * novnc: noVNC's files at /novnc/, so a browser can use VNC over the HTTPS port.
 *
 * noVNC (Debian's novnc package, [vnc] novnc_dir) must be served from this origin: the
 * session cookie is SameSite=Strict and a browser cannot put a token on a WebSocket, so
 * only a page of this origin reaches /api/vnc/ws with the user's session. The files are the
 * UI's in all but place: login required (a stranger gets the login page, which brings them
 * back with the query that carries noVNC's settings), the same headers, GET and HEAD only,
 * and only while VNC is on (a gateway exists).
 *
 * The directory is someone else's (a package), so a request may reach nothing outside it:
 * the path is walked one segment at a time from the directory with openat(O_NOFOLLOW) (no
 * "..", no dot files, no symbolic link, whatever it points at), and the file served is the
 * one that walk opened: lws opens it again through /proc/self/fd, so nothing can swap it
 * between the check and the read. The directory itself is the administrator's choice and
 * may be a link.
 */
#define LOG_TAG "novnc"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "web/web.h"

#define PREFIX "/novnc/"
/* Where /novnc/ leads: noVNC's page, told where the socket is and to connect. */
#define START_PAGE PREFIX "vnc.html?path=api/vnc/ws&autoconnect=1"

bool ipkvm_novnc_path(const char *path)
{
	return strcmp(path, "/novnc") == 0 || strncmp(path, PREFIX, strlen(PREFIX)) == 0;
}

/* Opens rel (segments separated by '/') beneath the directory dirfd as an O_PATH
 * descriptor, following no link. The descriptor, or -ENOENT when there is no such file or it
 * may not be served. */
static int open_beneath(int dirfd, const char *rel)
{
	char seg[NAME_MAX + 1];
	int fd = dirfd;
	const char *p = rel;
	for (;;) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		/* Every segment is a name: not empty, not "." or "..", no dot files. */
		int next = -1;
		if (n > 0 && n <= NAME_MAX && p[0] != '.') {
			memcpy(seg, p, n);
			seg[n] = '\0';
			next = openat(fd, seg,
				      O_PATH | O_NOFOLLOW | O_CLOEXEC | (slash ? O_DIRECTORY : 0));
		}
		if (fd != dirfd)
			close(fd);
		if (next < 0 || !slash)
			return next < 0 ? -ENOENT : next;
		fd = next;
		p = slash + 1;
	}
}

int ipkvm_novnc_serve(struct ipkvm_http_req *req)
{
	const char *dir = req->srv->cfg->vnc_novnc_dir;
	if (!req->srv->svc->rfb) {
		ipkvm_http_reply_error(req, 404, "not_found", NULL,
				       "VNC is off ([vnc] enabled = 0), so noVNC is not served");
		return 0;
	}
	if (!dir) {
		ipkvm_http_reply_error(req, 404, "not_found", NULL,
				       "noVNC is not served ([vnc] novnc_dir is empty)");
		return 0;
	}
	if (strcmp(req->path, "/novnc") == 0 || strcmp(req->path, PREFIX) == 0) {
		ipkvm_http_header(req, "location", "%s", START_PAGE);
		ipkvm_http_reply(req, 302, "text/plain; charset=utf-8", START_PAGE "\n",
				 sizeof(START_PAGE));
		return 0;
	}
	const char *rel = req->path + strlen(PREFIX);
	int dirfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		ipkvm_http_reply_error(
		    req, 404, "not_found", NULL,
		    "noVNC is not in %s (%s): install Debian's novnc package, or "
		    "set [vnc] novnc_dir",
		    dir, strerror(errno));
		return 0;
	}
	int fd = open_beneath(dirfd, rel);
	close(dirfd);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		ipkvm_http_reply_error(req, 404, "not_found", NULL, "no such file: %s", req->path);
		if (fd >= 0)
			close(fd);
		return 0;
	}
	char proc[64];
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	int r = ipkvm_http_serve_file(req, proc, rel);
	close(fd); /* lws opened its own (or gave up) */
	return r;
}
