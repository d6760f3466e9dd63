/*
 * signal: names of the signal states and capture kinds of source.h (API and logs use them).
 */
#include "video/source.h"

const char *ipkvm_signal_name(enum ipkvm_signal s)
{
	static const char *const names[] = {"ok",	   "no_device", "no_signal", "no_sync",
					    "unsupported", "busy",	"error"};
	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "error";
}

const char *ipkvm_capture_name(enum ipkvm_capture c)
{
	static const char *const names[] = {NULL, "hdmi", "usb", "virtual", "pattern"};
	return (unsigned)c < sizeof(names) / sizeof(names[0]) ? names[c] : NULL;
}
