/*
 * usb/gadgetcmd: see gadgetcmd.h. `status` prints JSON (for scripts and bug reports); `up`
 * and `down` print one line saying what happened, errors on stderr with a non-zero status.
 */
#define LOG_TAG "gadget"
#include "usb/gadgetcmd.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

void ipkvm_gadget_config_from(struct ipkvm_gadget_config *gc, const struct ipkvm_config *cfg)
{
	ipkvm_gadget_config_defaults(gc);
	gc->configfs_root = cfg->usb_configfs;
	gc->udc_class_dir = cfg->usb_udc_dir;
	if (cfg->usb_name)
		gc->name = cfg->usb_name;
	gc->udc = cfg->usb_udc ? cfg->usb_udc : "";
	if (cfg->usb_manufacturer)
		gc->manufacturer = cfg->usb_manufacturer;
	if (cfg->usb_product)
		gc->product = cfg->usb_product;
	gc->serial = cfg->usb_serial ? cfg->usb_serial : "";
	gc->msd_luns = (unsigned)cfg->usb_luns;
	gc->remote_wakeup = cfg->usb_remote_wakeup != 0;
	gc->max_power_ma = (unsigned)cfg->usb_max_power;
}

int ipkvm_gadgetcmd_main(const struct ipkvm_config *cfg, int argc, char **argv)
{
	if (argc != 2 || (strcmp(argv[1], "up") != 0 && strcmp(argv[1], "down") != 0 &&
			  strcmp(argv[1], "status") != 0)) {
		fprintf(stderr, "usage: ipkvmd [-c CONFIG] gadget up|down|status\n");
		return 2;
	}
	struct ipkvm_gadget_config gc;
	ipkvm_gadget_config_from(&gc, cfg);
	char err[512] = "";
	int r;
	if (strcmp(argv[1], "status") == 0) {
		json_t *st = NULL;
		r = ipkvm_gadget_status(&gc, &st, err, sizeof(err));
		if (r == 0) {
			char *text = json_dumps(st, JSON_INDENT(2) | JSON_SORT_KEYS);
			printf("%s\n", text ? text : "{}");
			free(text);
			json_decref(st);
			return 0;
		}
	} else if (strcmp(argv[1], "up") == 0) {
		r = ipkvm_gadget_up(&gc, err, sizeof(err));
		if (r == 0) {
			printf("gadget %s is up\n", gc.name);
			return 0;
		}
	} else {
		r = ipkvm_gadget_down(&gc, err, sizeof(err));
		if (r == 0) {
			printf("gadget %s is down\n", gc.name);
			return 0;
		}
	}
	fprintf(stderr, "ipkvmd gadget %s: %s\n", argv[1], err[0] ? err : strerror(-r));
	return 1;
}
