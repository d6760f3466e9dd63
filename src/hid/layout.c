/*
 * layout: Unicode text -> key strokes for a target keyboard layout (see layout.h).
 *
 * The tables between the GENERATED markers come from data/layouts/<name>.txt through
 * scripts/gen_layouts.py (run it with --update after editing a layout; --check tells whether
 * this file is stale). They are compiled in rather than read at run time so the daemon has
 * no data directory to find and a broken table is caught at build time by the generator's
 * checks, not while an operator is pasting.
 *
 * Per layout: `keys` (sorted by character: binary search) are characters typed by one
 * stroke; `dead` are dead keys, each typing its own accent when followed by Space;
 * `compose` (sorted by result) are dead key + base character. A character with a direct key
 * is always typed directly (shorter, and no dead-key state left on the target).
 */
#define LOG_TAG "layout"
#include "hid/layout.h"

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "core/log.h"

struct layout_key {
	uint32_t cp;
	uint8_t usage;
	uint8_t mods;
	const char *code;
};

struct layout_compose {
	uint32_t result;
	uint32_t accent;
	uint32_t base;
};

struct ipkvm_layout {
	const char *name;
	const char *description;
	const struct layout_key *keys;
	size_t nkeys;
	const struct layout_key *dead;
	size_t ndead;
	const struct layout_compose *compose;
	size_t ncompose;
};

/* clang-format off */
/* BEGIN GENERATED LAYOUTS (scripts/gen_layouts.py) */
static const struct layout_key keys_de[] = {
	{0x0009, 0x2B, 0, "Tab"},
	{0x000A, 0x28, 0, "Enter"},
	{0x0020, 0x2C, 0, "Space"},
	{0x0021, 0x1E, IPKVM_LAYOUT_MOD_SHIFT, "Digit1"},
	{0x0022, 0x1F, IPKVM_LAYOUT_MOD_SHIFT, "Digit2"},
	{0x0023, 0x31, 0, "Backslash"},
	{0x0024, 0x21, IPKVM_LAYOUT_MOD_SHIFT, "Digit4"},
	{0x0025, 0x22, IPKVM_LAYOUT_MOD_SHIFT, "Digit5"},
	{0x0026, 0x23, IPKVM_LAYOUT_MOD_SHIFT, "Digit6"},
	{0x0027, 0x31, IPKVM_LAYOUT_MOD_SHIFT, "Backslash"},
	{0x0028, 0x25, IPKVM_LAYOUT_MOD_SHIFT, "Digit8"},
	{0x0029, 0x26, IPKVM_LAYOUT_MOD_SHIFT, "Digit9"},
	{0x002A, 0x30, IPKVM_LAYOUT_MOD_SHIFT, "BracketRight"},
	{0x002B, 0x30, 0, "BracketRight"},
	{0x002C, 0x36, 0, "Comma"},
	{0x002D, 0x38, 0, "Slash"},
	{0x002E, 0x37, 0, "Period"},
	{0x002F, 0x24, IPKVM_LAYOUT_MOD_SHIFT, "Digit7"},
	{0x0030, 0x27, 0, "Digit0"},
	{0x0031, 0x1E, 0, "Digit1"},
	{0x0032, 0x1F, 0, "Digit2"},
	{0x0033, 0x20, 0, "Digit3"},
	{0x0034, 0x21, 0, "Digit4"},
	{0x0035, 0x22, 0, "Digit5"},
	{0x0036, 0x23, 0, "Digit6"},
	{0x0037, 0x24, 0, "Digit7"},
	{0x0038, 0x25, 0, "Digit8"},
	{0x0039, 0x26, 0, "Digit9"},
	{0x003A, 0x37, IPKVM_LAYOUT_MOD_SHIFT, "Period"},
	{0x003B, 0x36, IPKVM_LAYOUT_MOD_SHIFT, "Comma"},
	{0x003C, 0x64, 0, "IntlBackslash"},
	{0x003D, 0x27, IPKVM_LAYOUT_MOD_SHIFT, "Digit0"},
	{0x003E, 0x64, IPKVM_LAYOUT_MOD_SHIFT, "IntlBackslash"},
	{0x003F, 0x2D, IPKVM_LAYOUT_MOD_SHIFT, "Minus"},
	{0x0040, 0x14, IPKVM_LAYOUT_MOD_ALTGR, "KeyQ"},
	{0x0041, 0x04, IPKVM_LAYOUT_MOD_SHIFT, "KeyA"},
	{0x0042, 0x05, IPKVM_LAYOUT_MOD_SHIFT, "KeyB"},
	{0x0043, 0x06, IPKVM_LAYOUT_MOD_SHIFT, "KeyC"},
	{0x0044, 0x07, IPKVM_LAYOUT_MOD_SHIFT, "KeyD"},
	{0x0045, 0x08, IPKVM_LAYOUT_MOD_SHIFT, "KeyE"},
	{0x0046, 0x09, IPKVM_LAYOUT_MOD_SHIFT, "KeyF"},
	{0x0047, 0x0A, IPKVM_LAYOUT_MOD_SHIFT, "KeyG"},
	{0x0048, 0x0B, IPKVM_LAYOUT_MOD_SHIFT, "KeyH"},
	{0x0049, 0x0C, IPKVM_LAYOUT_MOD_SHIFT, "KeyI"},
	{0x004A, 0x0D, IPKVM_LAYOUT_MOD_SHIFT, "KeyJ"},
	{0x004B, 0x0E, IPKVM_LAYOUT_MOD_SHIFT, "KeyK"},
	{0x004C, 0x0F, IPKVM_LAYOUT_MOD_SHIFT, "KeyL"},
	{0x004D, 0x10, IPKVM_LAYOUT_MOD_SHIFT, "KeyM"},
	{0x004E, 0x11, IPKVM_LAYOUT_MOD_SHIFT, "KeyN"},
	{0x004F, 0x12, IPKVM_LAYOUT_MOD_SHIFT, "KeyO"},
	{0x0050, 0x13, IPKVM_LAYOUT_MOD_SHIFT, "KeyP"},
	{0x0051, 0x14, IPKVM_LAYOUT_MOD_SHIFT, "KeyQ"},
	{0x0052, 0x15, IPKVM_LAYOUT_MOD_SHIFT, "KeyR"},
	{0x0053, 0x16, IPKVM_LAYOUT_MOD_SHIFT, "KeyS"},
	{0x0054, 0x17, IPKVM_LAYOUT_MOD_SHIFT, "KeyT"},
	{0x0055, 0x18, IPKVM_LAYOUT_MOD_SHIFT, "KeyU"},
	{0x0056, 0x19, IPKVM_LAYOUT_MOD_SHIFT, "KeyV"},
	{0x0057, 0x1A, IPKVM_LAYOUT_MOD_SHIFT, "KeyW"},
	{0x0058, 0x1B, IPKVM_LAYOUT_MOD_SHIFT, "KeyX"},
	{0x0059, 0x1D, IPKVM_LAYOUT_MOD_SHIFT, "KeyZ"},
	{0x005A, 0x1C, IPKVM_LAYOUT_MOD_SHIFT, "KeyY"},
	{0x005B, 0x25, IPKVM_LAYOUT_MOD_ALTGR, "Digit8"},
	{0x005C, 0x2D, IPKVM_LAYOUT_MOD_ALTGR, "Minus"},
	{0x005D, 0x26, IPKVM_LAYOUT_MOD_ALTGR, "Digit9"},
	{0x005F, 0x38, IPKVM_LAYOUT_MOD_SHIFT, "Slash"},
	{0x0061, 0x04, 0, "KeyA"},
	{0x0062, 0x05, 0, "KeyB"},
	{0x0063, 0x06, 0, "KeyC"},
	{0x0064, 0x07, 0, "KeyD"},
	{0x0065, 0x08, 0, "KeyE"},
	{0x0066, 0x09, 0, "KeyF"},
	{0x0067, 0x0A, 0, "KeyG"},
	{0x0068, 0x0B, 0, "KeyH"},
	{0x0069, 0x0C, 0, "KeyI"},
	{0x006A, 0x0D, 0, "KeyJ"},
	{0x006B, 0x0E, 0, "KeyK"},
	{0x006C, 0x0F, 0, "KeyL"},
	{0x006D, 0x10, 0, "KeyM"},
	{0x006E, 0x11, 0, "KeyN"},
	{0x006F, 0x12, 0, "KeyO"},
	{0x0070, 0x13, 0, "KeyP"},
	{0x0071, 0x14, 0, "KeyQ"},
	{0x0072, 0x15, 0, "KeyR"},
	{0x0073, 0x16, 0, "KeyS"},
	{0x0074, 0x17, 0, "KeyT"},
	{0x0075, 0x18, 0, "KeyU"},
	{0x0076, 0x19, 0, "KeyV"},
	{0x0077, 0x1A, 0, "KeyW"},
	{0x0078, 0x1B, 0, "KeyX"},
	{0x0079, 0x1D, 0, "KeyZ"},
	{0x007A, 0x1C, 0, "KeyY"},
	{0x007B, 0x24, IPKVM_LAYOUT_MOD_ALTGR, "Digit7"},
	{0x007C, 0x64, IPKVM_LAYOUT_MOD_ALTGR, "IntlBackslash"},
	{0x007D, 0x27, IPKVM_LAYOUT_MOD_ALTGR, "Digit0"},
	{0x007E, 0x30, IPKVM_LAYOUT_MOD_ALTGR, "BracketRight"},
	{0x00A7, 0x20, IPKVM_LAYOUT_MOD_SHIFT, "Digit3"},
	{0x00B0, 0x35, IPKVM_LAYOUT_MOD_SHIFT, "Backquote"},
	{0x00B2, 0x1F, IPKVM_LAYOUT_MOD_ALTGR, "Digit2"},
	{0x00B3, 0x20, IPKVM_LAYOUT_MOD_ALTGR, "Digit3"},
	{0x00B5, 0x10, IPKVM_LAYOUT_MOD_ALTGR, "KeyM"},
	{0x00C4, 0x34, IPKVM_LAYOUT_MOD_SHIFT, "Quote"},
	{0x00D6, 0x33, IPKVM_LAYOUT_MOD_SHIFT, "Semicolon"},
	{0x00DC, 0x2F, IPKVM_LAYOUT_MOD_SHIFT, "BracketLeft"},
	{0x00DF, 0x2D, 0, "Minus"},
	{0x00E4, 0x34, 0, "Quote"},
	{0x00F6, 0x33, 0, "Semicolon"},
	{0x00FC, 0x2F, 0, "BracketLeft"},
	{0x20AC, 0x08, IPKVM_LAYOUT_MOD_ALTGR, "KeyE"},
};
static const struct layout_key dead_de[] = {
	{0x005E, 0x35, 0, "Backquote"},
	{0x0060, 0x2E, IPKVM_LAYOUT_MOD_SHIFT, "Equal"},
	{0x00B4, 0x2E, 0, "Equal"},
	{0, 0, 0, NULL}, /* keeps the array non-empty */
};
static const struct layout_compose compose_de[] = {
	{0x00C0, 0x0060, 0x0041},
	{0x00C1, 0x00B4, 0x0041},
	{0x00C2, 0x005E, 0x0041},
	{0x00C8, 0x0060, 0x0045},
	{0x00C9, 0x00B4, 0x0045},
	{0x00CA, 0x005E, 0x0045},
	{0x00CC, 0x0060, 0x0049},
	{0x00CD, 0x00B4, 0x0049},
	{0x00CE, 0x005E, 0x0049},
	{0x00D2, 0x0060, 0x004F},
	{0x00D3, 0x00B4, 0x004F},
	{0x00D4, 0x005E, 0x004F},
	{0x00D9, 0x0060, 0x0055},
	{0x00DA, 0x00B4, 0x0055},
	{0x00DB, 0x005E, 0x0055},
	{0x00DD, 0x00B4, 0x0059},
	{0x00E0, 0x0060, 0x0061},
	{0x00E1, 0x00B4, 0x0061},
	{0x00E2, 0x005E, 0x0061},
	{0x00E8, 0x0060, 0x0065},
	{0x00E9, 0x00B4, 0x0065},
	{0x00EA, 0x005E, 0x0065},
	{0x00EC, 0x0060, 0x0069},
	{0x00ED, 0x00B4, 0x0069},
	{0x00EE, 0x005E, 0x0069},
	{0x00F2, 0x0060, 0x006F},
	{0x00F3, 0x00B4, 0x006F},
	{0x00F4, 0x005E, 0x006F},
	{0x00F9, 0x0060, 0x0075},
	{0x00FA, 0x00B4, 0x0075},
	{0x00FB, 0x005E, 0x0075},
	{0x00FD, 0x00B4, 0x0079},
	{0, 0, 0}, /* keeps the array non-empty */
};
static const struct layout_key keys_fr[] = {
	{0x0009, 0x2B, 0, "Tab"},
	{0x000A, 0x28, 0, "Enter"},
	{0x0020, 0x2C, 0, "Space"},
	{0x0021, 0x38, 0, "Slash"},
	{0x0022, 0x20, 0, "Digit3"},
	{0x0023, 0x20, IPKVM_LAYOUT_MOD_ALTGR, "Digit3"},
	{0x0024, 0x30, 0, "BracketRight"},
	{0x0025, 0x34, IPKVM_LAYOUT_MOD_SHIFT, "Quote"},
	{0x0026, 0x1E, 0, "Digit1"},
	{0x0027, 0x21, 0, "Digit4"},
	{0x0028, 0x22, 0, "Digit5"},
	{0x0029, 0x2D, 0, "Minus"},
	{0x002A, 0x31, 0, "Backslash"},
	{0x002B, 0x2E, IPKVM_LAYOUT_MOD_SHIFT, "Equal"},
	{0x002C, 0x10, 0, "KeyM"},
	{0x002D, 0x23, 0, "Digit6"},
	{0x002E, 0x36, IPKVM_LAYOUT_MOD_SHIFT, "Comma"},
	{0x002F, 0x37, IPKVM_LAYOUT_MOD_SHIFT, "Period"},
	{0x0030, 0x27, IPKVM_LAYOUT_MOD_SHIFT, "Digit0"},
	{0x0031, 0x1E, IPKVM_LAYOUT_MOD_SHIFT, "Digit1"},
	{0x0032, 0x1F, IPKVM_LAYOUT_MOD_SHIFT, "Digit2"},
	{0x0033, 0x20, IPKVM_LAYOUT_MOD_SHIFT, "Digit3"},
	{0x0034, 0x21, IPKVM_LAYOUT_MOD_SHIFT, "Digit4"},
	{0x0035, 0x22, IPKVM_LAYOUT_MOD_SHIFT, "Digit5"},
	{0x0036, 0x23, IPKVM_LAYOUT_MOD_SHIFT, "Digit6"},
	{0x0037, 0x24, IPKVM_LAYOUT_MOD_SHIFT, "Digit7"},
	{0x0038, 0x25, IPKVM_LAYOUT_MOD_SHIFT, "Digit8"},
	{0x0039, 0x26, IPKVM_LAYOUT_MOD_SHIFT, "Digit9"},
	{0x003A, 0x37, 0, "Period"},
	{0x003B, 0x36, 0, "Comma"},
	{0x003C, 0x64, 0, "IntlBackslash"},
	{0x003D, 0x2E, 0, "Equal"},
	{0x003E, 0x64, IPKVM_LAYOUT_MOD_SHIFT, "IntlBackslash"},
	{0x003F, 0x10, IPKVM_LAYOUT_MOD_SHIFT, "KeyM"},
	{0x0040, 0x27, IPKVM_LAYOUT_MOD_ALTGR, "Digit0"},
	{0x0041, 0x14, IPKVM_LAYOUT_MOD_SHIFT, "KeyQ"},
	{0x0042, 0x05, IPKVM_LAYOUT_MOD_SHIFT, "KeyB"},
	{0x0043, 0x06, IPKVM_LAYOUT_MOD_SHIFT, "KeyC"},
	{0x0044, 0x07, IPKVM_LAYOUT_MOD_SHIFT, "KeyD"},
	{0x0045, 0x08, IPKVM_LAYOUT_MOD_SHIFT, "KeyE"},
	{0x0046, 0x09, IPKVM_LAYOUT_MOD_SHIFT, "KeyF"},
	{0x0047, 0x0A, IPKVM_LAYOUT_MOD_SHIFT, "KeyG"},
	{0x0048, 0x0B, IPKVM_LAYOUT_MOD_SHIFT, "KeyH"},
	{0x0049, 0x0C, IPKVM_LAYOUT_MOD_SHIFT, "KeyI"},
	{0x004A, 0x0D, IPKVM_LAYOUT_MOD_SHIFT, "KeyJ"},
	{0x004B, 0x0E, IPKVM_LAYOUT_MOD_SHIFT, "KeyK"},
	{0x004C, 0x0F, IPKVM_LAYOUT_MOD_SHIFT, "KeyL"},
	{0x004D, 0x33, IPKVM_LAYOUT_MOD_SHIFT, "Semicolon"},
	{0x004E, 0x11, IPKVM_LAYOUT_MOD_SHIFT, "KeyN"},
	{0x004F, 0x12, IPKVM_LAYOUT_MOD_SHIFT, "KeyO"},
	{0x0050, 0x13, IPKVM_LAYOUT_MOD_SHIFT, "KeyP"},
	{0x0051, 0x04, IPKVM_LAYOUT_MOD_SHIFT, "KeyA"},
	{0x0052, 0x15, IPKVM_LAYOUT_MOD_SHIFT, "KeyR"},
	{0x0053, 0x16, IPKVM_LAYOUT_MOD_SHIFT, "KeyS"},
	{0x0054, 0x17, IPKVM_LAYOUT_MOD_SHIFT, "KeyT"},
	{0x0055, 0x18, IPKVM_LAYOUT_MOD_SHIFT, "KeyU"},
	{0x0056, 0x19, IPKVM_LAYOUT_MOD_SHIFT, "KeyV"},
	{0x0057, 0x1D, IPKVM_LAYOUT_MOD_SHIFT, "KeyZ"},
	{0x0058, 0x1B, IPKVM_LAYOUT_MOD_SHIFT, "KeyX"},
	{0x0059, 0x1C, IPKVM_LAYOUT_MOD_SHIFT, "KeyY"},
	{0x005A, 0x1A, IPKVM_LAYOUT_MOD_SHIFT, "KeyW"},
	{0x005B, 0x22, IPKVM_LAYOUT_MOD_ALTGR, "Digit5"},
	{0x005C, 0x25, IPKVM_LAYOUT_MOD_ALTGR, "Digit8"},
	{0x005D, 0x2D, IPKVM_LAYOUT_MOD_ALTGR, "Minus"},
	{0x005E, 0x26, IPKVM_LAYOUT_MOD_ALTGR, "Digit9"},
	{0x005F, 0x25, 0, "Digit8"},
	{0x0061, 0x14, 0, "KeyQ"},
	{0x0062, 0x05, 0, "KeyB"},
	{0x0063, 0x06, 0, "KeyC"},
	{0x0064, 0x07, 0, "KeyD"},
	{0x0065, 0x08, 0, "KeyE"},
	{0x0066, 0x09, 0, "KeyF"},
	{0x0067, 0x0A, 0, "KeyG"},
	{0x0068, 0x0B, 0, "KeyH"},
	{0x0069, 0x0C, 0, "KeyI"},
	{0x006A, 0x0D, 0, "KeyJ"},
	{0x006B, 0x0E, 0, "KeyK"},
	{0x006C, 0x0F, 0, "KeyL"},
	{0x006D, 0x33, 0, "Semicolon"},
	{0x006E, 0x11, 0, "KeyN"},
	{0x006F, 0x12, 0, "KeyO"},
	{0x0070, 0x13, 0, "KeyP"},
	{0x0071, 0x04, 0, "KeyA"},
	{0x0072, 0x15, 0, "KeyR"},
	{0x0073, 0x16, 0, "KeyS"},
	{0x0074, 0x17, 0, "KeyT"},
	{0x0075, 0x18, 0, "KeyU"},
	{0x0076, 0x19, 0, "KeyV"},
	{0x0077, 0x1D, 0, "KeyZ"},
	{0x0078, 0x1B, 0, "KeyX"},
	{0x0079, 0x1C, 0, "KeyY"},
	{0x007A, 0x1A, 0, "KeyW"},
	{0x007B, 0x21, IPKVM_LAYOUT_MOD_ALTGR, "Digit4"},
	{0x007C, 0x23, IPKVM_LAYOUT_MOD_ALTGR, "Digit6"},
	{0x007D, 0x2E, IPKVM_LAYOUT_MOD_ALTGR, "Equal"},
	{0x00A3, 0x30, IPKVM_LAYOUT_MOD_SHIFT, "BracketRight"},
	{0x00A4, 0x30, IPKVM_LAYOUT_MOD_ALTGR, "BracketRight"},
	{0x00A7, 0x38, IPKVM_LAYOUT_MOD_SHIFT, "Slash"},
	{0x00B0, 0x2D, IPKVM_LAYOUT_MOD_SHIFT, "Minus"},
	{0x00B2, 0x35, 0, "Backquote"},
	{0x00B5, 0x31, IPKVM_LAYOUT_MOD_SHIFT, "Backslash"},
	{0x00E0, 0x27, 0, "Digit0"},
	{0x00E7, 0x26, 0, "Digit9"},
	{0x00E8, 0x24, 0, "Digit7"},
	{0x00E9, 0x1F, 0, "Digit2"},
	{0x00F9, 0x34, 0, "Quote"},
	{0x20AC, 0x08, IPKVM_LAYOUT_MOD_ALTGR, "KeyE"},
};
static const struct layout_key dead_fr[] = {
	{0x005E, 0x2F, 0, "BracketLeft"},
	{0x0060, 0x24, IPKVM_LAYOUT_MOD_ALTGR, "Digit7"},
	{0x007E, 0x1F, IPKVM_LAYOUT_MOD_ALTGR, "Digit2"},
	{0x00A8, 0x2F, IPKVM_LAYOUT_MOD_SHIFT, "BracketLeft"},
	{0, 0, 0, NULL}, /* keeps the array non-empty */
};
static const struct layout_compose compose_fr[] = {
	{0x00C2, 0x005E, 0x0041},
	{0x00C3, 0x007E, 0x0041},
	{0x00C4, 0x00A8, 0x0041},
	{0x00CA, 0x005E, 0x0045},
	{0x00CB, 0x00A8, 0x0045},
	{0x00CE, 0x005E, 0x0049},
	{0x00CF, 0x00A8, 0x0049},
	{0x00D1, 0x007E, 0x004E},
	{0x00D4, 0x005E, 0x004F},
	{0x00D5, 0x007E, 0x004F},
	{0x00D6, 0x00A8, 0x004F},
	{0x00DB, 0x005E, 0x0055},
	{0x00DC, 0x00A8, 0x0055},
	{0x00E0, 0x0060, 0x0061},
	{0x00E2, 0x005E, 0x0061},
	{0x00E3, 0x007E, 0x0061},
	{0x00E4, 0x00A8, 0x0061},
	{0x00E8, 0x0060, 0x0065},
	{0x00EA, 0x005E, 0x0065},
	{0x00EB, 0x00A8, 0x0065},
	{0x00EC, 0x0060, 0x0069},
	{0x00EE, 0x005E, 0x0069},
	{0x00EF, 0x00A8, 0x0069},
	{0x00F1, 0x007E, 0x006E},
	{0x00F2, 0x0060, 0x006F},
	{0x00F4, 0x005E, 0x006F},
	{0x00F5, 0x007E, 0x006F},
	{0x00F6, 0x00A8, 0x006F},
	{0x00F9, 0x0060, 0x0075},
	{0x00FB, 0x005E, 0x0075},
	{0x00FC, 0x00A8, 0x0075},
	{0x00FF, 0x00A8, 0x0079},
	{0, 0, 0}, /* keeps the array non-empty */
};
static const struct layout_key keys_jp[] = {
	{0x0009, 0x2B, 0, "Tab"},
	{0x000A, 0x28, 0, "Enter"},
	{0x0020, 0x2C, 0, "Space"},
	{0x0021, 0x1E, IPKVM_LAYOUT_MOD_SHIFT, "Digit1"},
	{0x0022, 0x1F, IPKVM_LAYOUT_MOD_SHIFT, "Digit2"},
	{0x0023, 0x20, IPKVM_LAYOUT_MOD_SHIFT, "Digit3"},
	{0x0024, 0x21, IPKVM_LAYOUT_MOD_SHIFT, "Digit4"},
	{0x0025, 0x22, IPKVM_LAYOUT_MOD_SHIFT, "Digit5"},
	{0x0026, 0x23, IPKVM_LAYOUT_MOD_SHIFT, "Digit6"},
	{0x0027, 0x24, IPKVM_LAYOUT_MOD_SHIFT, "Digit7"},
	{0x0028, 0x25, IPKVM_LAYOUT_MOD_SHIFT, "Digit8"},
	{0x0029, 0x26, IPKVM_LAYOUT_MOD_SHIFT, "Digit9"},
	{0x002A, 0x34, IPKVM_LAYOUT_MOD_SHIFT, "Quote"},
	{0x002B, 0x33, IPKVM_LAYOUT_MOD_SHIFT, "Semicolon"},
	{0x002C, 0x36, 0, "Comma"},
	{0x002D, 0x2D, 0, "Minus"},
	{0x002E, 0x37, 0, "Period"},
	{0x002F, 0x38, 0, "Slash"},
	{0x0030, 0x27, 0, "Digit0"},
	{0x0031, 0x1E, 0, "Digit1"},
	{0x0032, 0x1F, 0, "Digit2"},
	{0x0033, 0x20, 0, "Digit3"},
	{0x0034, 0x21, 0, "Digit4"},
	{0x0035, 0x22, 0, "Digit5"},
	{0x0036, 0x23, 0, "Digit6"},
	{0x0037, 0x24, 0, "Digit7"},
	{0x0038, 0x25, 0, "Digit8"},
	{0x0039, 0x26, 0, "Digit9"},
	{0x003A, 0x34, 0, "Quote"},
	{0x003B, 0x33, 0, "Semicolon"},
	{0x003C, 0x36, IPKVM_LAYOUT_MOD_SHIFT, "Comma"},
	{0x003D, 0x2D, IPKVM_LAYOUT_MOD_SHIFT, "Minus"},
	{0x003E, 0x37, IPKVM_LAYOUT_MOD_SHIFT, "Period"},
	{0x003F, 0x38, IPKVM_LAYOUT_MOD_SHIFT, "Slash"},
	{0x0040, 0x2F, 0, "BracketLeft"},
	{0x0041, 0x04, IPKVM_LAYOUT_MOD_SHIFT, "KeyA"},
	{0x0042, 0x05, IPKVM_LAYOUT_MOD_SHIFT, "KeyB"},
	{0x0043, 0x06, IPKVM_LAYOUT_MOD_SHIFT, "KeyC"},
	{0x0044, 0x07, IPKVM_LAYOUT_MOD_SHIFT, "KeyD"},
	{0x0045, 0x08, IPKVM_LAYOUT_MOD_SHIFT, "KeyE"},
	{0x0046, 0x09, IPKVM_LAYOUT_MOD_SHIFT, "KeyF"},
	{0x0047, 0x0A, IPKVM_LAYOUT_MOD_SHIFT, "KeyG"},
	{0x0048, 0x0B, IPKVM_LAYOUT_MOD_SHIFT, "KeyH"},
	{0x0049, 0x0C, IPKVM_LAYOUT_MOD_SHIFT, "KeyI"},
	{0x004A, 0x0D, IPKVM_LAYOUT_MOD_SHIFT, "KeyJ"},
	{0x004B, 0x0E, IPKVM_LAYOUT_MOD_SHIFT, "KeyK"},
	{0x004C, 0x0F, IPKVM_LAYOUT_MOD_SHIFT, "KeyL"},
	{0x004D, 0x10, IPKVM_LAYOUT_MOD_SHIFT, "KeyM"},
	{0x004E, 0x11, IPKVM_LAYOUT_MOD_SHIFT, "KeyN"},
	{0x004F, 0x12, IPKVM_LAYOUT_MOD_SHIFT, "KeyO"},
	{0x0050, 0x13, IPKVM_LAYOUT_MOD_SHIFT, "KeyP"},
	{0x0051, 0x14, IPKVM_LAYOUT_MOD_SHIFT, "KeyQ"},
	{0x0052, 0x15, IPKVM_LAYOUT_MOD_SHIFT, "KeyR"},
	{0x0053, 0x16, IPKVM_LAYOUT_MOD_SHIFT, "KeyS"},
	{0x0054, 0x17, IPKVM_LAYOUT_MOD_SHIFT, "KeyT"},
	{0x0055, 0x18, IPKVM_LAYOUT_MOD_SHIFT, "KeyU"},
	{0x0056, 0x19, IPKVM_LAYOUT_MOD_SHIFT, "KeyV"},
	{0x0057, 0x1A, IPKVM_LAYOUT_MOD_SHIFT, "KeyW"},
	{0x0058, 0x1B, IPKVM_LAYOUT_MOD_SHIFT, "KeyX"},
	{0x0059, 0x1C, IPKVM_LAYOUT_MOD_SHIFT, "KeyY"},
	{0x005A, 0x1D, IPKVM_LAYOUT_MOD_SHIFT, "KeyZ"},
	{0x005B, 0x30, 0, "BracketRight"},
	{0x005C, 0x87, 0, "IntlRo"},
	{0x005D, 0x31, 0, "Backslash"},
	{0x005E, 0x2E, 0, "Equal"},
	{0x005F, 0x87, IPKVM_LAYOUT_MOD_SHIFT, "IntlRo"},
	{0x0060, 0x2F, IPKVM_LAYOUT_MOD_SHIFT, "BracketLeft"},
	{0x0061, 0x04, 0, "KeyA"},
	{0x0062, 0x05, 0, "KeyB"},
	{0x0063, 0x06, 0, "KeyC"},
	{0x0064, 0x07, 0, "KeyD"},
	{0x0065, 0x08, 0, "KeyE"},
	{0x0066, 0x09, 0, "KeyF"},
	{0x0067, 0x0A, 0, "KeyG"},
	{0x0068, 0x0B, 0, "KeyH"},
	{0x0069, 0x0C, 0, "KeyI"},
	{0x006A, 0x0D, 0, "KeyJ"},
	{0x006B, 0x0E, 0, "KeyK"},
	{0x006C, 0x0F, 0, "KeyL"},
	{0x006D, 0x10, 0, "KeyM"},
	{0x006E, 0x11, 0, "KeyN"},
	{0x006F, 0x12, 0, "KeyO"},
	{0x0070, 0x13, 0, "KeyP"},
	{0x0071, 0x14, 0, "KeyQ"},
	{0x0072, 0x15, 0, "KeyR"},
	{0x0073, 0x16, 0, "KeyS"},
	{0x0074, 0x17, 0, "KeyT"},
	{0x0075, 0x18, 0, "KeyU"},
	{0x0076, 0x19, 0, "KeyV"},
	{0x0077, 0x1A, 0, "KeyW"},
	{0x0078, 0x1B, 0, "KeyX"},
	{0x0079, 0x1C, 0, "KeyY"},
	{0x007A, 0x1D, 0, "KeyZ"},
	{0x007B, 0x30, IPKVM_LAYOUT_MOD_SHIFT, "BracketRight"},
	{0x007C, 0x89, IPKVM_LAYOUT_MOD_SHIFT, "IntlYen"},
	{0x007D, 0x31, IPKVM_LAYOUT_MOD_SHIFT, "Backslash"},
	{0x007E, 0x2E, IPKVM_LAYOUT_MOD_SHIFT, "Equal"},
};
static const struct layout_key dead_jp[] = {
	{0, 0, 0, NULL}, /* keeps the array non-empty */
};
static const struct layout_compose compose_jp[] = {
	{0, 0, 0}, /* keeps the array non-empty */
};
static const struct layout_key keys_uk[] = {
	{0x0009, 0x2B, 0, "Tab"},
	{0x000A, 0x28, 0, "Enter"},
	{0x0020, 0x2C, 0, "Space"},
	{0x0021, 0x1E, IPKVM_LAYOUT_MOD_SHIFT, "Digit1"},
	{0x0022, 0x1F, IPKVM_LAYOUT_MOD_SHIFT, "Digit2"},
	{0x0023, 0x31, 0, "Backslash"},
	{0x0024, 0x21, IPKVM_LAYOUT_MOD_SHIFT, "Digit4"},
	{0x0025, 0x22, IPKVM_LAYOUT_MOD_SHIFT, "Digit5"},
	{0x0026, 0x24, IPKVM_LAYOUT_MOD_SHIFT, "Digit7"},
	{0x0027, 0x34, 0, "Quote"},
	{0x0028, 0x26, IPKVM_LAYOUT_MOD_SHIFT, "Digit9"},
	{0x0029, 0x27, IPKVM_LAYOUT_MOD_SHIFT, "Digit0"},
	{0x002A, 0x25, IPKVM_LAYOUT_MOD_SHIFT, "Digit8"},
	{0x002B, 0x2E, IPKVM_LAYOUT_MOD_SHIFT, "Equal"},
	{0x002C, 0x36, 0, "Comma"},
	{0x002D, 0x2D, 0, "Minus"},
	{0x002E, 0x37, 0, "Period"},
	{0x002F, 0x38, 0, "Slash"},
	{0x0030, 0x27, 0, "Digit0"},
	{0x0031, 0x1E, 0, "Digit1"},
	{0x0032, 0x1F, 0, "Digit2"},
	{0x0033, 0x20, 0, "Digit3"},
	{0x0034, 0x21, 0, "Digit4"},
	{0x0035, 0x22, 0, "Digit5"},
	{0x0036, 0x23, 0, "Digit6"},
	{0x0037, 0x24, 0, "Digit7"},
	{0x0038, 0x25, 0, "Digit8"},
	{0x0039, 0x26, 0, "Digit9"},
	{0x003A, 0x33, IPKVM_LAYOUT_MOD_SHIFT, "Semicolon"},
	{0x003B, 0x33, 0, "Semicolon"},
	{0x003C, 0x36, IPKVM_LAYOUT_MOD_SHIFT, "Comma"},
	{0x003D, 0x2E, 0, "Equal"},
	{0x003E, 0x37, IPKVM_LAYOUT_MOD_SHIFT, "Period"},
	{0x003F, 0x38, IPKVM_LAYOUT_MOD_SHIFT, "Slash"},
	{0x0040, 0x34, IPKVM_LAYOUT_MOD_SHIFT, "Quote"},
	{0x0041, 0x04, IPKVM_LAYOUT_MOD_SHIFT, "KeyA"},
	{0x0042, 0x05, IPKVM_LAYOUT_MOD_SHIFT, "KeyB"},
	{0x0043, 0x06, IPKVM_LAYOUT_MOD_SHIFT, "KeyC"},
	{0x0044, 0x07, IPKVM_LAYOUT_MOD_SHIFT, "KeyD"},
	{0x0045, 0x08, IPKVM_LAYOUT_MOD_SHIFT, "KeyE"},
	{0x0046, 0x09, IPKVM_LAYOUT_MOD_SHIFT, "KeyF"},
	{0x0047, 0x0A, IPKVM_LAYOUT_MOD_SHIFT, "KeyG"},
	{0x0048, 0x0B, IPKVM_LAYOUT_MOD_SHIFT, "KeyH"},
	{0x0049, 0x0C, IPKVM_LAYOUT_MOD_SHIFT, "KeyI"},
	{0x004A, 0x0D, IPKVM_LAYOUT_MOD_SHIFT, "KeyJ"},
	{0x004B, 0x0E, IPKVM_LAYOUT_MOD_SHIFT, "KeyK"},
	{0x004C, 0x0F, IPKVM_LAYOUT_MOD_SHIFT, "KeyL"},
	{0x004D, 0x10, IPKVM_LAYOUT_MOD_SHIFT, "KeyM"},
	{0x004E, 0x11, IPKVM_LAYOUT_MOD_SHIFT, "KeyN"},
	{0x004F, 0x12, IPKVM_LAYOUT_MOD_SHIFT, "KeyO"},
	{0x0050, 0x13, IPKVM_LAYOUT_MOD_SHIFT, "KeyP"},
	{0x0051, 0x14, IPKVM_LAYOUT_MOD_SHIFT, "KeyQ"},
	{0x0052, 0x15, IPKVM_LAYOUT_MOD_SHIFT, "KeyR"},
	{0x0053, 0x16, IPKVM_LAYOUT_MOD_SHIFT, "KeyS"},
	{0x0054, 0x17, IPKVM_LAYOUT_MOD_SHIFT, "KeyT"},
	{0x0055, 0x18, IPKVM_LAYOUT_MOD_SHIFT, "KeyU"},
	{0x0056, 0x19, IPKVM_LAYOUT_MOD_SHIFT, "KeyV"},
	{0x0057, 0x1A, IPKVM_LAYOUT_MOD_SHIFT, "KeyW"},
	{0x0058, 0x1B, IPKVM_LAYOUT_MOD_SHIFT, "KeyX"},
	{0x0059, 0x1C, IPKVM_LAYOUT_MOD_SHIFT, "KeyY"},
	{0x005A, 0x1D, IPKVM_LAYOUT_MOD_SHIFT, "KeyZ"},
	{0x005B, 0x2F, 0, "BracketLeft"},
	{0x005C, 0x64, 0, "IntlBackslash"},
	{0x005D, 0x30, 0, "BracketRight"},
	{0x005E, 0x23, IPKVM_LAYOUT_MOD_SHIFT, "Digit6"},
	{0x005F, 0x2D, IPKVM_LAYOUT_MOD_SHIFT, "Minus"},
	{0x0060, 0x35, 0, "Backquote"},
	{0x0061, 0x04, 0, "KeyA"},
	{0x0062, 0x05, 0, "KeyB"},
	{0x0063, 0x06, 0, "KeyC"},
	{0x0064, 0x07, 0, "KeyD"},
	{0x0065, 0x08, 0, "KeyE"},
	{0x0066, 0x09, 0, "KeyF"},
	{0x0067, 0x0A, 0, "KeyG"},
	{0x0068, 0x0B, 0, "KeyH"},
	{0x0069, 0x0C, 0, "KeyI"},
	{0x006A, 0x0D, 0, "KeyJ"},
	{0x006B, 0x0E, 0, "KeyK"},
	{0x006C, 0x0F, 0, "KeyL"},
	{0x006D, 0x10, 0, "KeyM"},
	{0x006E, 0x11, 0, "KeyN"},
	{0x006F, 0x12, 0, "KeyO"},
	{0x0070, 0x13, 0, "KeyP"},
	{0x0071, 0x14, 0, "KeyQ"},
	{0x0072, 0x15, 0, "KeyR"},
	{0x0073, 0x16, 0, "KeyS"},
	{0x0074, 0x17, 0, "KeyT"},
	{0x0075, 0x18, 0, "KeyU"},
	{0x0076, 0x19, 0, "KeyV"},
	{0x0077, 0x1A, 0, "KeyW"},
	{0x0078, 0x1B, 0, "KeyX"},
	{0x0079, 0x1C, 0, "KeyY"},
	{0x007A, 0x1D, 0, "KeyZ"},
	{0x007B, 0x2F, IPKVM_LAYOUT_MOD_SHIFT, "BracketLeft"},
	{0x007C, 0x64, IPKVM_LAYOUT_MOD_SHIFT, "IntlBackslash"},
	{0x007D, 0x30, IPKVM_LAYOUT_MOD_SHIFT, "BracketRight"},
	{0x007E, 0x31, IPKVM_LAYOUT_MOD_SHIFT, "Backslash"},
	{0x00A3, 0x20, IPKVM_LAYOUT_MOD_SHIFT, "Digit3"},
	{0x00AC, 0x35, IPKVM_LAYOUT_MOD_SHIFT, "Backquote"},
	{0x20AC, 0x21, IPKVM_LAYOUT_MOD_ALTGR, "Digit4"},
};
static const struct layout_key dead_uk[] = {
	{0, 0, 0, NULL}, /* keeps the array non-empty */
};
static const struct layout_compose compose_uk[] = {
	{0, 0, 0}, /* keeps the array non-empty */
};
static const struct layout_key keys_us[] = {
	{0x0009, 0x2B, 0, "Tab"},
	{0x000A, 0x28, 0, "Enter"},
	{0x0020, 0x2C, 0, "Space"},
	{0x0021, 0x1E, IPKVM_LAYOUT_MOD_SHIFT, "Digit1"},
	{0x0022, 0x34, IPKVM_LAYOUT_MOD_SHIFT, "Quote"},
	{0x0023, 0x20, IPKVM_LAYOUT_MOD_SHIFT, "Digit3"},
	{0x0024, 0x21, IPKVM_LAYOUT_MOD_SHIFT, "Digit4"},
	{0x0025, 0x22, IPKVM_LAYOUT_MOD_SHIFT, "Digit5"},
	{0x0026, 0x24, IPKVM_LAYOUT_MOD_SHIFT, "Digit7"},
	{0x0027, 0x34, 0, "Quote"},
	{0x0028, 0x26, IPKVM_LAYOUT_MOD_SHIFT, "Digit9"},
	{0x0029, 0x27, IPKVM_LAYOUT_MOD_SHIFT, "Digit0"},
	{0x002A, 0x25, IPKVM_LAYOUT_MOD_SHIFT, "Digit8"},
	{0x002B, 0x2E, IPKVM_LAYOUT_MOD_SHIFT, "Equal"},
	{0x002C, 0x36, 0, "Comma"},
	{0x002D, 0x2D, 0, "Minus"},
	{0x002E, 0x37, 0, "Period"},
	{0x002F, 0x38, 0, "Slash"},
	{0x0030, 0x27, 0, "Digit0"},
	{0x0031, 0x1E, 0, "Digit1"},
	{0x0032, 0x1F, 0, "Digit2"},
	{0x0033, 0x20, 0, "Digit3"},
	{0x0034, 0x21, 0, "Digit4"},
	{0x0035, 0x22, 0, "Digit5"},
	{0x0036, 0x23, 0, "Digit6"},
	{0x0037, 0x24, 0, "Digit7"},
	{0x0038, 0x25, 0, "Digit8"},
	{0x0039, 0x26, 0, "Digit9"},
	{0x003A, 0x33, IPKVM_LAYOUT_MOD_SHIFT, "Semicolon"},
	{0x003B, 0x33, 0, "Semicolon"},
	{0x003C, 0x36, IPKVM_LAYOUT_MOD_SHIFT, "Comma"},
	{0x003D, 0x2E, 0, "Equal"},
	{0x003E, 0x37, IPKVM_LAYOUT_MOD_SHIFT, "Period"},
	{0x003F, 0x38, IPKVM_LAYOUT_MOD_SHIFT, "Slash"},
	{0x0040, 0x1F, IPKVM_LAYOUT_MOD_SHIFT, "Digit2"},
	{0x0041, 0x04, IPKVM_LAYOUT_MOD_SHIFT, "KeyA"},
	{0x0042, 0x05, IPKVM_LAYOUT_MOD_SHIFT, "KeyB"},
	{0x0043, 0x06, IPKVM_LAYOUT_MOD_SHIFT, "KeyC"},
	{0x0044, 0x07, IPKVM_LAYOUT_MOD_SHIFT, "KeyD"},
	{0x0045, 0x08, IPKVM_LAYOUT_MOD_SHIFT, "KeyE"},
	{0x0046, 0x09, IPKVM_LAYOUT_MOD_SHIFT, "KeyF"},
	{0x0047, 0x0A, IPKVM_LAYOUT_MOD_SHIFT, "KeyG"},
	{0x0048, 0x0B, IPKVM_LAYOUT_MOD_SHIFT, "KeyH"},
	{0x0049, 0x0C, IPKVM_LAYOUT_MOD_SHIFT, "KeyI"},
	{0x004A, 0x0D, IPKVM_LAYOUT_MOD_SHIFT, "KeyJ"},
	{0x004B, 0x0E, IPKVM_LAYOUT_MOD_SHIFT, "KeyK"},
	{0x004C, 0x0F, IPKVM_LAYOUT_MOD_SHIFT, "KeyL"},
	{0x004D, 0x10, IPKVM_LAYOUT_MOD_SHIFT, "KeyM"},
	{0x004E, 0x11, IPKVM_LAYOUT_MOD_SHIFT, "KeyN"},
	{0x004F, 0x12, IPKVM_LAYOUT_MOD_SHIFT, "KeyO"},
	{0x0050, 0x13, IPKVM_LAYOUT_MOD_SHIFT, "KeyP"},
	{0x0051, 0x14, IPKVM_LAYOUT_MOD_SHIFT, "KeyQ"},
	{0x0052, 0x15, IPKVM_LAYOUT_MOD_SHIFT, "KeyR"},
	{0x0053, 0x16, IPKVM_LAYOUT_MOD_SHIFT, "KeyS"},
	{0x0054, 0x17, IPKVM_LAYOUT_MOD_SHIFT, "KeyT"},
	{0x0055, 0x18, IPKVM_LAYOUT_MOD_SHIFT, "KeyU"},
	{0x0056, 0x19, IPKVM_LAYOUT_MOD_SHIFT, "KeyV"},
	{0x0057, 0x1A, IPKVM_LAYOUT_MOD_SHIFT, "KeyW"},
	{0x0058, 0x1B, IPKVM_LAYOUT_MOD_SHIFT, "KeyX"},
	{0x0059, 0x1C, IPKVM_LAYOUT_MOD_SHIFT, "KeyY"},
	{0x005A, 0x1D, IPKVM_LAYOUT_MOD_SHIFT, "KeyZ"},
	{0x005B, 0x2F, 0, "BracketLeft"},
	{0x005C, 0x31, 0, "Backslash"},
	{0x005D, 0x30, 0, "BracketRight"},
	{0x005E, 0x23, IPKVM_LAYOUT_MOD_SHIFT, "Digit6"},
	{0x005F, 0x2D, IPKVM_LAYOUT_MOD_SHIFT, "Minus"},
	{0x0060, 0x35, 0, "Backquote"},
	{0x0061, 0x04, 0, "KeyA"},
	{0x0062, 0x05, 0, "KeyB"},
	{0x0063, 0x06, 0, "KeyC"},
	{0x0064, 0x07, 0, "KeyD"},
	{0x0065, 0x08, 0, "KeyE"},
	{0x0066, 0x09, 0, "KeyF"},
	{0x0067, 0x0A, 0, "KeyG"},
	{0x0068, 0x0B, 0, "KeyH"},
	{0x0069, 0x0C, 0, "KeyI"},
	{0x006A, 0x0D, 0, "KeyJ"},
	{0x006B, 0x0E, 0, "KeyK"},
	{0x006C, 0x0F, 0, "KeyL"},
	{0x006D, 0x10, 0, "KeyM"},
	{0x006E, 0x11, 0, "KeyN"},
	{0x006F, 0x12, 0, "KeyO"},
	{0x0070, 0x13, 0, "KeyP"},
	{0x0071, 0x14, 0, "KeyQ"},
	{0x0072, 0x15, 0, "KeyR"},
	{0x0073, 0x16, 0, "KeyS"},
	{0x0074, 0x17, 0, "KeyT"},
	{0x0075, 0x18, 0, "KeyU"},
	{0x0076, 0x19, 0, "KeyV"},
	{0x0077, 0x1A, 0, "KeyW"},
	{0x0078, 0x1B, 0, "KeyX"},
	{0x0079, 0x1C, 0, "KeyY"},
	{0x007A, 0x1D, 0, "KeyZ"},
	{0x007B, 0x2F, IPKVM_LAYOUT_MOD_SHIFT, "BracketLeft"},
	{0x007C, 0x31, IPKVM_LAYOUT_MOD_SHIFT, "Backslash"},
	{0x007D, 0x30, IPKVM_LAYOUT_MOD_SHIFT, "BracketRight"},
	{0x007E, 0x35, IPKVM_LAYOUT_MOD_SHIFT, "Backquote"},
};
static const struct layout_key dead_us[] = {
	{0, 0, 0, NULL}, /* keeps the array non-empty */
};
static const struct layout_compose compose_us[] = {
	{0, 0, 0}, /* keeps the array non-empty */
};
static const struct ipkvm_layout layouts[] = {
	{"de", "German (QWERTZ)", keys_de, 108, dead_de, 3, compose_de, 32},
	{"fr", "French (AZERTY)", keys_fr, 107, dead_fr, 4, compose_fr, 32},
	{"jp", "Japanese (JIS 106/109)", keys_jp, 97, dead_jp, 0, compose_jp, 0},
	{"uk", "UK English (QWERTY, ISO)", keys_uk, 100, dead_uk, 0, compose_uk, 0},
	{"us", "US English (QWERTY)", keys_us, 97, dead_us, 0, compose_us, 0},
};
/* END GENERATED LAYOUTS */
/* clang-format on */

#define NLAYOUTS (sizeof(layouts) / sizeof(layouts[0]))

const struct ipkvm_layout *ipkvm_layout_find(const char *name)
{
	if (!name)
		return NULL;
	for (size_t i = 0; i < NLAYOUTS; i++)
		if (strcmp(layouts[i].name, name) == 0)
			return &layouts[i];
	return NULL;
}

const struct ipkvm_layout *ipkvm_layout_at(size_t i)
{
	return i < NLAYOUTS ? &layouts[i] : NULL;
}

const char *ipkvm_layout_name(const struct ipkvm_layout *l)
{
	return l->name;
}

const char *ipkvm_layout_description(const struct ipkvm_layout *l)
{
	return l->description;
}

/* Decodes one UTF-8 character at *p (strict: no overlongs, surrogates or > U+10FFFF);
 * advances *p. Returns 0 or -EINVAL. */
static int utf8_next(const unsigned char **p, uint32_t *cp)
{
	const unsigned char *s = *p;
	uint32_t c = s[0];
	int n;
	uint32_t min;

	if (c < 0x80) {
		*cp = c;
		*p = s + 1;
		return 0;
	}
	if ((c & 0xE0) == 0xC0) {
		n = 1;
		min = 0x80;
		c &= 0x1F;
	} else if ((c & 0xF0) == 0xE0) {
		n = 2;
		min = 0x800;
		c &= 0x0F;
	} else if ((c & 0xF8) == 0xF0) {
		n = 3;
		min = 0x10000;
		c &= 0x07;
	} else {
		return -EINVAL;
	}
	for (int i = 1; i <= n; i++) {
		/* a NUL here (truncated sequence) fails this test too, so we never read past it */
		if ((s[i] & 0xC0) != 0x80)
			return -EINVAL;
		c = (c << 6) | (s[i] & 0x3F);
	}
	if (c < min || c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF))
		return -EINVAL;
	*cp = c;
	*p = s + n + 1;
	return 0;
}

static void utf8_encode(uint32_t c, char out[5])
{
	if (c < 0x80) {
		out[0] = (char)c;
		out[1] = 0;
	} else if (c < 0x800) {
		out[0] = (char)(0xC0 | (c >> 6));
		out[1] = (char)(0x80 | (c & 0x3F));
		out[2] = 0;
	} else if (c < 0x10000) {
		out[0] = (char)(0xE0 | (c >> 12));
		out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
		out[2] = (char)(0x80 | (c & 0x3F));
		out[3] = 0;
	} else {
		out[0] = (char)(0xF0 | (c >> 18));
		out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
		out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
		out[3] = (char)(0x80 | (c & 0x3F));
		out[4] = 0;
	}
}

static const struct layout_key *find_key(const struct ipkvm_layout *l, uint32_t cp)
{
	size_t lo = 0, hi = l->nkeys;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (l->keys[mid].cp == cp)
			return &l->keys[mid];
		if (l->keys[mid].cp < cp)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static const struct layout_key *find_dead(const struct ipkvm_layout *l, uint32_t accent)
{
	for (size_t i = 0; i < l->ndead; i++)
		if (l->dead[i].cp == accent)
			return &l->dead[i];
	return NULL;
}

static const struct layout_compose *find_compose(const struct ipkvm_layout *l, uint32_t cp)
{
	size_t lo = 0, hi = l->ncompose;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (l->compose[mid].result == cp)
			return &l->compose[mid];
		if (l->compose[mid].result < cp)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static void put(struct ipkvm_stroke *out, size_t max, size_t *n, const struct layout_key *k)
{
	if (*n < max) {
		out[*n].code = k->code;
		out[*n].usage = k->usage;
		out[*n].mods = k->mods;
	}
	(*n)++;
}

/* Appends the strokes for `cp`; returns false if the layout cannot type it. */
static bool type_char(const struct ipkvm_layout *l, uint32_t cp, struct ipkvm_stroke *out,
		      size_t max, size_t *n)
{
	const struct layout_key *k = find_key(l, cp), *d, *base;
	const struct layout_compose *c;

	if (k) {
		put(out, max, n, k);
		return true;
	}
	d = find_dead(l, cp);
	if (d) {
		base = find_key(l, ' ');
		if (!base)
			return false;
		put(out, max, n, d);
		put(out, max, n, base);
		return true;
	}
	c = find_compose(l, cp);
	if (!c)
		return false;
	/* the generator guarantees both exist; checked anyway so a bad table cannot crash */
	d = find_dead(l, c->accent);
	base = find_key(l, c->base);
	if (!d || !base)
		return false;
	put(out, max, n, d);
	put(out, max, n, base);
	return true;
}

int ipkvm_layout_char(const struct ipkvm_layout *l, uint32_t cp, struct ipkvm_stroke out[2])
{
	size_t n = 0;

	if (!type_char(l, cp, out, 2, &n))
		return -ENOENT;
	return (int)n;
}

int ipkvm_layout_dead_key(const struct ipkvm_layout *l, uint32_t accent, struct ipkvm_stroke *out)
{
	const struct layout_key *d = find_dead(l, accent);
	size_t n = 0;

	if (!d)
		return -ENOENT;
	put(out, 1, &n, d);
	return 0;
}

int ipkvm_layout_type(const struct ipkvm_layout *l, const char *utf8, struct ipkvm_stroke *out,
		      size_t max, size_t *nout, struct ipkvm_untyped *untyped, size_t umax,
		      size_t *nuntyped)
{
	const unsigned char *p = (const unsigned char *)utf8;
	size_t n = 0, nu = 0, index = 0;
	uint32_t cp, prev = 0;
	int ret = 0;

	if (!l || !utf8 || (max && !out) || (umax && !untyped)) {
		ret = -EINVAL;
		goto out;
	}
	while (*p) {
		ret = utf8_next(&p, &cp);
		if (ret < 0) {
			LOG_DEBUG("invalid UTF-8 at character %zu", index);
			goto out;
		}
		if (cp == '\n' && prev == '\r') {
			/* "\r\n" is one line break: the '\r' already typed Enter */
		} else if (!type_char(l, cp == '\r' ? '\n' : cp, out, max, &n)) {
			if (nu < umax) {
				untyped[nu].index = index;
				untyped[nu].cp = cp;
				utf8_encode(cp, untyped[nu].utf8);
			}
			nu++;
		}
		prev = cp;
		index++;
	}
	if (n > max || nu > umax)
		ret = -ENOSPC;
out:
	if (nout)
		*nout = n;
	if (nuntyped)
		*nuntyped = nu;
	return ret;
}
