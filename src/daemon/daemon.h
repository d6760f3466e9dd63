/*
 * daemon: the composition root. It builds every module of ipkvmd from the parsed config,
 * in dependency order (the loop, workers and events; the virtual target; power control;
 * virtual media; video; HID; then the front ends, which get the devices through
 * services.h), wires their callbacks to the loop (timers, fd watches, wakes), handles
 * signals, and tears everything down in reverse. It owns every lifetime; no module creates
 * another one.
 */
#ifndef IPKVM_DAEMON_DAEMON_H
#define IPKVM_DAEMON_DAEMON_H

#include "core/config.h"

struct ipkvm_daemon;

/* Builds everything cfg asks for and starts listening. Returns NULL after logging why.
 * cfg must outlive the daemon. */
struct ipkvm_daemon *ipkvm_daemon_create(const struct ipkvm_config *cfg);
/* Serves until SIGTERM/SIGINT. Returns the process exit status. */
int ipkvm_daemon_run(struct ipkvm_daemon *d);
void ipkvm_daemon_destroy(struct ipkvm_daemon *d);
/* The web front end, for the in-process harnesses (tests/fuzz) that drive it directly. */
struct ipkvm_server *ipkvm_daemon_web(struct ipkvm_daemon *d);

#endif
