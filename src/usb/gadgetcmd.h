/*
 * usb/gadgetcmd: `ipkvmd gadget up|down|status` and the mapping of the [usb] config section
 * onto the gadget's settings (shared with the daemon's automatic setup).
 */
#ifndef IPKVM_USB_GADGETCMD_H
#define IPKVM_USB_GADGETCMD_H

#include "core/config.h"
#include "usb/gadget.h"

/* The gadget settings of [usb] (strings borrowed from cfg). */
void ipkvm_gadget_config_from(struct ipkvm_gadget_config *gc, const struct ipkvm_config *cfg);
/* argv[0] is "gadget". Returns the exit status. */
int ipkvm_gadgetcmd_main(const struct ipkvm_config *cfg, int argc, char **argv);

#endif
