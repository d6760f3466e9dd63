/*
 * audit: the audit log, JSON lines appended to <state_dir>/audit.log (mode 0600):
 *   {"ts":"2026-11-22T10:00:00.123Z","event":"login","user":"admin","addr":"127.0.0.1","ok":true,...}
 * Each record is one write(2) with O_APPEND, so records from the daemon and from CLI
 * subcommands never interleave, and rotating the file (rename + SIGHUP-free reopen) is safe
 * because the file is opened for each record.
 */
#ifndef IPKVM_AUTH_AUDIT_H
#define IPKVM_AUTH_AUDIT_H

#include <jansson.h>
#include <stdbool.h>

#define IPKVM_AUDIT_FILE "audit.log"

/* event: "login", "logout", "user_add", ... ; user/addr may be NULL; extra (may be NULL) is a
 * JSON object whose fields are added to the record; the reference is stolen.
 * Returns 0 or -errno (logged once per failure streak). */
int ipkvm_audit(const char *state_dir, const char *event, const char *user, const char *addr,
		bool ok, json_t *extra);

#endif
