/*
 * server: the daemon's one event loop and everything on it: the HTTPS vhost (API, static
 * UI, WebSockets), the optional plain-HTTP redirect vhost, signals, timers and the
 * authentication state (users, tokens, sessions, login throttling).
 */
#ifndef IPKVM_WEB_SERVER_H
#define IPKVM_WEB_SERVER_H

#include "core/config.h"

struct ipkvm_server;

/* Prepares the state dir (users file with a first admin, TLS certificate), then creates
 * the listeners. Returns NULL after logging why. cfg must outlive the server. */
struct ipkvm_server *ipkvm_server_create(const struct ipkvm_config *cfg);
/* Serves until SIGTERM/SIGINT. Returns the process exit status. */
int ipkvm_server_run(struct ipkvm_server *srv);
void ipkvm_server_destroy(struct ipkvm_server *srv);

#endif
