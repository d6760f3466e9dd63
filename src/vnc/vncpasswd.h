/*
 * vncpasswd: the [vnc] vncauth_password_file, the only way plain VncAuth is ever offered.
 *
 * One `user:password` line per entry ('#' comments and blank lines skipped). VncAuth sends
 * no user name, only a DES answer keyed by the password's first 8 characters, so the
 * password alone says who connects: each entry names an existing ipkvm user (the session
 * takes that user's role and is rechecked like theirs), and two entries whose first 8
 * characters are the same are refused, as they could not be told apart. Longer passwords
 * are accepted with a warning (only 8 characters count). The file holds passwords in the
 * clear, so it must be a regular file that neither group nor others may read or write, or
 * the daemon does not start: every error names the file (and the line) and what to do.
 */
#ifndef IPKVM_VNC_VNCPASSWD_H
#define IPKVM_VNC_VNCPASSWD_H

#include <stddef.h>

#include "vnc/rfb.h"

struct ipkvm_authsvc;

/* Entries a file may hold. */
#define IPKVM_VNCPASSWD_MAX 64

/* Reads path: *out (malloc'd, wiped and freed with ipkvm_vncpasswd_free) and *n entries, at
 * least one. Users are checked against auth (NULL: not checked). 0, or -errno with err
 * set ("PATH: ..." or "PATH:LINE: ..."). */
int ipkvm_vncpasswd_load(const char *path, const struct ipkvm_authsvc *auth,
			 struct ipkvm_rfb_vncauth_entry **out, size_t *n, char *err, size_t errlen);
/* The same on text in memory (the parser alone: no file mode to check); buf holds len
 * bytes and one more writable byte, and is cut up in place. */
int ipkvm_vncpasswd_parse(char *buf, size_t len, const char *name, const struct ipkvm_authsvc *auth,
			  struct ipkvm_rfb_vncauth_entry **out, size_t *n, char *err,
			  size_t errlen);
void ipkvm_vncpasswd_free(struct ipkvm_rfb_vncauth_entry *entries, size_t n);

#endif
