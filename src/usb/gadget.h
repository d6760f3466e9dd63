/*
 * usb/gadget: creates, binds and removes the configfs composite USB gadget through which a
 * real board presents itself to the target: boot keyboard, absolute mouse, relative mouse,
 * consumer/system control and a mass-storage function with N LUNs.
 *
 * Layout under CONFIGFS_ROOT/usb_gadget/<name>/ (values are written exactly as the kernel shows
 * them back, one trailing '\n', so "is the existing gadget identical?" is a byte comparison):
 *   idVendor 0x1d6b, idProduct 0x0104 (Linux Foundation "Multifunction Composite Gadget"),
 *   bcdDevice, bcdUSB 0x0200, bDeviceClass/SubClass/Protocol 0x00 (classes per interface),
 *   strings/0x409/{serialnumber,manufacturer,product},
 *   configs/c.1/{MaxPower,bmAttributes}, configs/c.1/strings/0x409/configuration = "ipkvm",
 *   functions/hid.usb0  keyboard     subclass 1 protocol 1 report_length 8 (boot keyboard, LEDs
 *                                    through its OUT endpoint)
 *   functions/hid.usb1  mouse_abs    subclass 0 protocol 0 report_length 7
 *   functions/hid.usb2  mouse_rel    subclass 1 protocol 2 report_length 5 (boot mouse)
 *   functions/hid.usb3  consumer     subclass 0 protocol 0 report_length 3 (IDs 1 and 2)
 *   functions/mass_storage.usb0/lun.0..N-1: removable 1, nofua 1, cdrom 0, ro 0, file ""
 *   configs/c.1/<function> symlinks in the order above (= the host's interface numbers),
 *   UDC: the controller's name (bound) or empty (unbound).
 * The mice and the consumer function get no_out_endpoint 1 where the kernel has it (5.19+):
 * they never receive output reports, and a Raspberry Pi's dwc2 has few endpoints to spare.
 * /dev/hidgN numbers follow the order the HID functions are created, so with every function
 * enabled they are hidg0..3 as listed; status reports the real node of each function.
 *
 * "Ours" means: the gadget directory has our name and its configuration string is "ipkvm"
 * (IPKVM_GADGET_MARKER), or it is an empty shell (no configs, no functions: a crash between
 * mkdir and the marker). A directory of that name with another configuration string is
 * foreign and never touched.
 *
 * Real configfs vs a plain directory (tests): detected with statfs() on CONFIGFS_ROOT. The code
 * path is the same: attributes are opened O_CREAT (harmless where the kernel made them) and
 * default groups are mkdir'ed (EEXIST where the kernel made them). Only removal differs: on
 * configfs rmdir takes the kernel's attribute files and default groups with it, in a plain
 * directory we remove them ourselves first.
 *
 * Every call is synchronous and touches only the filesystem; run it from the CLI or at daemon
 * start, not from the event loop while clients wait.
 */
#ifndef IPKVM_USB_GADGET_H
#define IPKVM_USB_GADGET_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IPKVM_GADGET_MARKER	    "ipkvm"
#define IPKVM_GADGET_MAX_LUNS	    8
#define IPKVM_GADGET_STRING_MAX	    126 /* bytes; the kernel's limit for a USB string */
#define IPKVM_GADGET_SERIAL_KEY	    "ipkvm-usb-serial"
#define IPKVM_GADGET_SERIAL_DEFAULT "ipkvm-0000000000"

/* Settings: plain fields, filled by ipkvm_gadget_config_defaults(). Strings are borrowed. */
struct ipkvm_gadget_config {
	const char *configfs_root; /* "/sys/kernel/config" */
	const char *udc_class_dir; /* "/sys/class/udc" (the list of controllers) */
	const char *name;	   /* "ipkvm": the directory under usb_gadget/ */
	const char *udc;	   /* "" = first entry (by name) of udc_class_dir */
	uint16_t vendor_id;	   /* 0x1d6b Linux Foundation */
	uint16_t product_id;	   /* 0x0104 Multifunction Composite Gadget */
	uint16_t bcd_device;	   /* 0x0100 */
	uint16_t bcd_usb;	   /* 0x0200 */
	const char *manufacturer;  /* "ipkvm" */
	const char *product;	   /* "ipkvm composite device" */
	const char *serial;	   /* "" = derived from machine_id_path, see ipkvm_gadget_serial */
	const char *machine_id_path; /* "/etc/machine-id" */
	unsigned msd_luns;	     /* 2; 0..IPKVM_GADGET_MAX_LUNS, 0 = no mass storage */
	bool keyboard;		     /* true */
	bool mouse_abs;		     /* true */
	bool mouse_rel;		     /* true */
	bool consumer;		     /* true */
	bool remote_wakeup;	     /* true: bmAttributes 0xa0, else 0x80 */
	unsigned max_power_ma;	     /* 100 (0..500) */
};

void ipkvm_gadget_config_defaults(struct ipkvm_gadget_config *cfg);

/*
 * The serial number string: cfg->serial when set; otherwise the first 16 hex digits of
 * HMAC-SHA256(key IPKVM_GADGET_SERIAL_KEY, the machine id), so it is stable per machine but
 * does not reveal the machine id (machine-id(5) asks for a keyed hash); when the machine id
 * cannot be read, IPKVM_GADGET_SERIAL_DEFAULT. Returns 0 or -ENAMETOOLONG (out too small).
 */
int ipkvm_gadget_serial(const struct ipkvm_gadget_config *cfg, char *out, size_t len);

/*
 * The mass-storage function's directory, for ipkvm_drives_create_gadget():
 * <configfs_root>/usb_gadget/<name>/functions/mass_storage.usb0. Returns 0 or -ENAMETOOLONG.
 */
int ipkvm_gadget_msd_dir(const struct ipkvm_gadget_config *cfg, char *out, size_t len);

/*
 * Creates the gadget and binds it to the UDC. Idempotent: an identical gadget of ours is
 * reused (LUN images stay attached) and only (re)bound if needed; one of ours that differs is
 * removed and built again. Refuses, creating nothing:
 *   -EINVAL  bad config (err says which field),
 *   -ENOENT  no usb_gadget dir under the configfs root (configfs / libcomposite missing),
 *   -ENODEV  no UDC at all, or the configured one does not exist,
 *   -EBUSY   the UDC is bound to another gadget (err names it),
 *   -EEXIST  a foreign gadget already has our name.
 * On a later failure (-errno from the filesystem or the kernel) what this call built is
 * removed again (so a gadget it was rebuilding is gone); a reused one is left as it was,
 * maybe unbound.
 */
int ipkvm_gadget_up(const struct ipkvm_gadget_config *cfg, char *err, size_t errlen);

/* Unbinds and removes our gadget. Absent gadget: 0. Foreign gadget of our name: -EEXIST. */
int ipkvm_gadget_down(const struct ipkvm_gadget_config *cfg, char *err, size_t errlen);

/*
 * *out = {"name": str, "exists": bool, "ours": bool, "bound": bool, "udc": str|null,
 *         "udc_state": str|null (udc_class_dir/<udc>/state: "configured" = the host
 *         enumerated us), "functions": [{"name": "hid.usb0", "kind": "keyboard"|"mouse_abs"|
 *         "mouse_rel"|"consumer"|"mass_storage"|"other", "dev": "/dev/hidg0"|null}, ...],
 *         "luns": N, "udcs": [names in udc_class_dir]}
 * No usb_gadget dir counts as "exists": false. Returns 0, -EINVAL (bad config), -ENOENT (the
 * configfs root itself is missing) or -ENOMEM.
 */
int ipkvm_gadget_status(const struct ipkvm_gadget_config *cfg, json_t **out, char *err,
			size_t errlen);

#endif
