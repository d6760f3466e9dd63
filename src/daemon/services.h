/*
 * services: what the composition root (daemon.c) hands to a front end: the device
 * objects and shared services it may use, and nothing of the daemon's own state.
 *
 * A front end (web now; VNC, Redfish, IPMI next) gets a const pointer to this at creation
 * and keeps it for its lifetime; the daemon creates every object here before any front end
 * and destroys them after every front end. A NULL device means the config has none (no video
 * source, no HID output, no power control, no virtual media): a front end answers
 * accordingly, it never creates one itself. This header only declares: a front end includes
 * the headers of the devices it drives.
 */
#ifndef IPKVM_DAEMON_SERVICES_H
#define IPKVM_DAEMON_SERVICES_H

struct ipkvm_config;
struct ipkvm_loop;
struct ipkvm_worker;
struct ipkvm_events;
struct ipkvm_video;
struct ipkvm_hid;
struct ipkvm_paste;
struct ipkvm_atx;
struct ipkvm_gpio;
struct ipkvm_vtarget;
struct ipkvm_msd;
struct ipkvm_authsvc;

struct ipkvm_services {
	const struct ipkvm_config *cfg;
	/* The event loop: fd watches, timers, wakes (daemon/loop.h); its lws context is where
	 * a front end adds its listeners. */
	struct ipkvm_loop *loop;
	struct ipkvm_worker *worker;	/* short jobs off the loop (password hashing, PNG) */
	struct ipkvm_worker *io_worker; /* disk writes that may take long (image uploads) */
	struct ipkvm_events *events;	/* state-change events every client may follow */
	struct ipkvm_authsvc *auth;	/* users, sessions, tokens, throttle, audit */
	struct ipkvm_video *video;	/* capture, JPEG and H.264; NULL = none */
	struct ipkvm_hid *hid;		/* keyboard and mice; NULL = none */
	struct ipkvm_paste *paste;	/* typing a text on hid; NULL without hid */
	struct ipkvm_atx *atx;		/* power and reset buttons, LEDs; NULL = none */
	struct ipkvm_gpio *gpio;	/* atx's GPIO lines ([atx] driver = gpio), or NULL */
	struct ipkvm_vtarget *vtarget;	/* the built-in virtual target, or NULL */
	struct ipkvm_msd *msd;		/* virtual media: image store, downloads, drives */
};

#endif
