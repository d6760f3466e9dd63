/*
 * target/power: the virtual computer's power logic (power/reset button lines in, power/HDD LED
 * lines and the machine state out) as a pure state machine. No I/O and no clock of its own:
 * every call carries the current monotonic time in milliseconds, and the caller arms a timer
 * for ipkvm_power_next_deadline() and calls ipkvm_power_tick() when it expires.
 *
 * States: OFF, BOOTING (firmware screen), RUNNING (the OS console).
 *
 * Rules (defaults in brackets, all times measured from the edges passed in):
 *   - Debounce [50 ms]: a press of either button released after less than debounce_ms is a
 *     bounce and ignored entirely, in every state.
 *   - Power button while OFF: acts on release. Held debounce_ms .. force_off_ms-1 -> BOOTING.
 *     Held >= force_off_ms while off does nothing (treated like a stuck button).
 *   - Power button pressed while on (BOOTING/RUNNING): still held at press + force_off_ms
 *     [5000 ms] -> OFF at exactly that moment, before the release (like a real ATX board);
 *     the later release does nothing. Released earlier (and debounced) -> an
 *     IPKVM_POWER_EV_ACPI_BUTTON event at the release time, nothing else: the OS side
 *     decides, and calls ipkvm_power_shutdown() to power off. What a press means is fixed by
 *     the state at its press edge: a press that began while on never boots the machine.
 *   - Reset button: acts on release (a real board holds the CPU in reset while the line is
 *     asserted and starts it when released). A debounced release while on -> BOOTING again
 *     (also from BOOTING: the boot restarts). Ignored while off.
 *   - BOOTING -> RUNNING after boot_ms [1500 ms] from the start of the boot, or earlier when
 *     the caller calls ipkvm_power_booted() (e.g. a boot entry chosen in the firmware menu).
 *     boot_ms = 0 disables the automatic transition.
 *   - Power LED: on in BOOTING and RUNNING. HDD LED: blinks during BOOTING, starting on at
 *     the boot start, on for hdd_on_ms [250] then off for hdd_off_ms [250], repeating; off in
 *     OFF and RUNNING.
 *
 * Events (callback): IPKVM_POWER_EV_STATE on every transition, including BOOTING -> BOOTING on
 * reset (value = the new state); IPKVM_POWER_EV_POWER_LED / _HDD_LED on every LED change
 * (value 0/1); IPKVM_POWER_EV_ACPI_BUTTON (value 0). at_ms is the exact moment of the change
 * (a timer's deadline, not the later time tick() was called with). For one transition the
 * order is STATE, POWER_LED, HDD_LED. The callback may call ipkvm_power_shutdown() and
 * ipkvm_power_booted() (the OS side answering an ACPI event, say), but not the button or tick
 * functions.
 *
 * Times must not go backwards; an earlier time than already seen is taken as the latest seen.
 */
#ifndef IPKVM_TARGET_POWER_H
#define IPKVM_TARGET_POWER_H

#include <stdbool.h>
#include <stdint.h>

enum ipkvm_power_state {
	IPKVM_POWER_OFF = 0,
	IPKVM_POWER_BOOTING = 1,
	IPKVM_POWER_RUNNING = 2,
};

enum ipkvm_power_event {
	IPKVM_POWER_EV_STATE = 0,
	IPKVM_POWER_EV_POWER_LED = 1,
	IPKVM_POWER_EV_HDD_LED = 2,
	IPKVM_POWER_EV_ACPI_BUTTON = 3,
};

typedef void (*ipkvm_power_cb)(void *ctx, enum ipkvm_power_event ev, int value, int64_t at_ms);

struct ipkvm_power_config {
	int64_t debounce_ms;  /* 50; presses shorter than this are ignored */
	int64_t force_off_ms; /* 5000; > debounce_ms */
	int64_t boot_ms;      /* 1500; 0 = only ipkvm_power_booted() ends BOOTING */
	int64_t hdd_on_ms;    /* 250; > 0 */
	int64_t hdd_off_ms;   /* 250; > 0 */
};

struct ipkvm_power {
	/* Settings: filled by ipkvm_power_init(), read-only afterwards. */
	struct ipkvm_power_config cfg;
	ipkvm_power_cb cb; /* may be NULL */
	void *cb_ctx;

	/* Runtime state: private to power.c. */
	struct {
		int64_t now;
		enum ipkvm_power_state state;
		bool hdd;
		uint64_t boot_gen; /* bumped on each entry to BOOTING (reset restarts) */
		int64_t boot_start;
		int64_t hdd_next; /* next HDD LED edge while BOOTING */
		bool pwr_pressed;
		bool pwr_from_on;  /* the press began while on */
		bool pwr_consumed; /* the press already forced the machine off */
		int64_t pwr_start;
		bool rst_pressed;
		int64_t rst_start;
		int cb_depth; /* > 0 while inside the callback */
		/* What the callback was last told (changes are reported as differences). */
		enum ipkvm_power_state rep_state;
		uint64_t rep_gen;
		bool rep_power_led;
		bool rep_hdd;
	} run;
};

/* Defaults listed in struct ipkvm_power_config. */
void ipkvm_power_config_defaults(struct ipkvm_power_config *cfg);

/* Starts OFF with both buttons released at time now_ms. cfg NULL = defaults. Returns 0, or
 * -EINVAL for a bad config (p is then unusable). No event is emitted for the initial state. */
int ipkvm_power_init(struct ipkvm_power *p, const struct ipkvm_power_config *cfg, ipkvm_power_cb cb,
		     void *cb_ctx, int64_t now_ms);

/* Button line levels (true = pressed/asserted). A repeated level is ignored. Timers due up to
 * now_ms fire first. */
void ipkvm_power_set_power_button(struct ipkvm_power *p, bool pressed, int64_t now_ms);
void ipkvm_power_set_reset_button(struct ipkvm_power *p, bool pressed, int64_t now_ms);

/* Fires every timer due at or before now_ms, in time order. */
void ipkvm_power_tick(struct ipkvm_power *p, int64_t now_ms);

/* Absolute time of the next timer, or -1 when nothing is pending. */
int64_t ipkvm_power_next_deadline(const struct ipkvm_power *p);

/* OS side: the OS shut down (e.g. after an ACPI button event) -> OFF. Returns 0, or -EALREADY
 * when already off. */
int ipkvm_power_shutdown(struct ipkvm_power *p, int64_t now_ms);

/* OS side: the OS restarts itself (a warm reboot) -> BOOTING, like a reset. Returns 0, or
 * -EINVAL when off. */
int ipkvm_power_reboot(struct ipkvm_power *p, int64_t now_ms);

/* Firmware side: boot finished early -> RUNNING. Returns 0, or -EINVAL when not BOOTING. */
int ipkvm_power_booted(struct ipkvm_power *p, int64_t now_ms);

enum ipkvm_power_state ipkvm_power_get_state(const struct ipkvm_power *p);
bool ipkvm_power_power_led(const struct ipkvm_power *p);
bool ipkvm_power_hdd_led(const struct ipkvm_power *p);

/* "off", "booting", "running" ("?" for anything else). */
const char *ipkvm_power_state_name(enum ipkvm_power_state s);

#endif
