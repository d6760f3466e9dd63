/*
 * ipkvmd: wiring only. Parse the command line and the config file, then either run a
 * `user` or `gadget` subcommand, or build the daemon (daemon/) and run its loop.
 */
#define LOG_TAG "main"
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/usercmd.h"
#include "build_config.h"
#include "core/config.h"
#include "core/log.h"
#include "daemon/daemon.h"
#include "usb/gadgetcmd.h"

static void usage(FILE *out)
{
	fprintf(
	    out,
	    "Usage: ipkvmd [OPTIONS]                 run the daemon\n"
	    "       ipkvmd [OPTIONS] user COMMAND    manage users and API tokens\n"
	    "\n"
	    "Options:\n"
	    "  -c, --config PATH      config file (default " IPKVM_DEFAULT_CONFIG ";\n"
	    "                         a missing default file means built-in defaults)\n"
	    "  -s, --state-dir DIR    users, tokens, TLS files, audit log "
	    "(default " IPKVM_DEFAULT_STATE_DIR ")\n"
	    "  -l, --listen ADDR      address to listen on (default: every address)\n"
	    "  -p, --port N           HTTPS port (default 8443)\n"
	    "      --http-port N      plain-HTTP port that redirects to HTTPS (0 = off)\n"
	    "      --web-root DIR     directory of the browser UI\n"
	    "      --log-level LEVEL  error, warn, info or debug\n"
	    "  -h, --help             show this help\n"
	    "  -V, --version          show the version\n"
	    "\n"
	    "User commands (they edit the files in the state directory; a running daemon\n"
	    "notices at once):\n"
	    "  user add NAME [--role admin|operator|viewer] [--generate]\n"
	    "  user passwd NAME [--generate]    user del NAME     user role NAME ROLE\n"
	    "  user list                        user totp NAME [--disable]\n"
	    "  user token NAME [--label TEXT] [--expires DAYS]\n"
	    "  user tokens                      user revoke TOKEN-ID\n"
	    "       ipkvmd [OPTIONS] gadget up|down|status\n"
	    "                         create and bind, remove, or show the USB gadget of [usb]\n"
	    "Passwords are prompted for on a terminal, else read as one line from stdin.\n");
}

int main(int argc, char **argv)
{
	enum { OPT_HTTP_PORT = 256, OPT_WEB_ROOT, OPT_LOG_LEVEL };
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"state-dir", required_argument, NULL, 's'},
	    {"listen", required_argument, NULL, 'l'},
	    {"port", required_argument, NULL, 'p'},
	    {"http-port", required_argument, NULL, OPT_HTTP_PORT},
	    {"web-root", required_argument, NULL, OPT_WEB_ROOT},
	    {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
	    {"help", no_argument, NULL, 'h'},
	    {"version", no_argument, NULL, 'V'},
	    {NULL, 0, NULL, 0},
	};
	struct override {
		const char *section, *key, *value;
	} overrides[8];
	size_t n_over = 0;
	const char *config_path = NULL;
	int c;
	/* '+': stop at the first non-option, the subcommand. */
	while ((c = getopt_long(argc, argv, "+c:s:l:p:hV", opts, NULL)) != -1) {
		switch (c) {
		case 'c':
			config_path = optarg;
			break;
		case 's':
			overrides[n_over++] = (struct override){"server", "state_dir", optarg};
			break;
		case 'l':
			overrides[n_over++] = (struct override){"server", "listen", optarg};
			break;
		case 'p':
			overrides[n_over++] = (struct override){"server", "port", optarg};
			break;
		case OPT_HTTP_PORT:
			overrides[n_over++] = (struct override){"server", "http_port", optarg};
			break;
		case OPT_WEB_ROOT:
			overrides[n_over++] = (struct override){"server", "web_root", optarg};
			break;
		case OPT_LOG_LEVEL:
			overrides[n_over++] = (struct override){"log", "level", optarg};
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'V':
			printf("ipkvmd %s\n", IPKVM_VERSION);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
		if (n_over == sizeof(overrides) / sizeof(overrides[0])) {
			fprintf(stderr, "ipkvmd: too many options\n");
			return 2;
		}
	}

	struct ipkvm_config cfg;
	char err[1024];
	int status = 2;
	ipkvm_config_init(&cfg);
	int r = ipkvm_config_load(&cfg, config_path ? config_path : IPKVM_DEFAULT_CONFIG, err,
				  sizeof(err));
	if (r == -ENOENT && !config_path) {
		r = 0; /* no config file at the default place: built-in defaults */
	} else if (r < 0) {
		fprintf(stderr, "ipkvmd: %s\n", err);
		goto out;
	}
	for (size_t i = 0; i < n_over; i++) {
		if (ipkvm_config_set(&cfg, overrides[i].section, overrides[i].key,
				     overrides[i].value, err, sizeof(err)) < 0) {
			fprintf(stderr, "ipkvmd: command line: %s\n", err);
			goto out;
		}
	}
	if (!cfg.tls_cert != !cfg.tls_key) {
		fprintf(stderr, "ipkvmd: [server] tls_cert and tls_key must be set together\n");
		goto out;
	}
	ipkvm_log_set_level(cfg.log_level);

	if (optind < argc) {
		if (strcmp(argv[optind], "user") == 0) {
			status = ipkvm_usercmd_main(cfg.state_dir, argc - optind, argv + optind);
		} else if (strcmp(argv[optind], "gadget") == 0) {
			status = ipkvm_gadgetcmd_main(&cfg, argc - optind, argv + optind);
		} else {
			fprintf(stderr, "ipkvmd: unknown command '%s'\n", argv[optind]);
			usage(stderr);
		}
		goto out;
	}

	struct ipkvm_daemon *d = ipkvm_daemon_create(&cfg);
	if (!d) {
		status = 1;
		goto out;
	}
	status = ipkvm_daemon_run(d);
	ipkvm_daemon_destroy(d);
	LOG_INFO("stopped");
out:
	ipkvm_config_free(&cfg);
	return status;
}
