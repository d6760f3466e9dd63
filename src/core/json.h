/*
 * json: strict request validation and the API's response envelope, on jansson.
 *
 * Request bodies are checked against a small field table before anything reads them, so a
 * missing field, a wrong type or an unknown field is refused with a message that names the
 * field (jansson's own unpack errors do not name the key).
 */
#ifndef IPKVM_CORE_JSON_H
#define IPKVM_CORE_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum ipkvm_json_type {
	IPKVM_JSON_STRING,
	IPKVM_JSON_INTEGER,
	IPKVM_JSON_NUMBER, /* integer or real */
	IPKVM_JSON_BOOL,
	IPKVM_JSON_OBJECT,
	IPKVM_JSON_ANY,
};

struct ipkvm_json_field {
	const char *name;
	enum ipkvm_json_type type;
	bool required;
};

/* Parses text as one JSON object (duplicate keys refused). Returns NULL with err set
 * ("line L, column C: what" or "expected a JSON object") on failure. */
json_t *ipkvm_json_parse_object(const char *text, size_t len, char *err, size_t errlen);

/* Checks obj against fields: every required field present, every present field known and
 * of its type, strings valid UTF-8 without NUL. Returns 0 or -EINVAL with err naming the
 * field, e.g. "field 'user' must be a string", "unknown field 'foo'". */
int ipkvm_json_check(const json_t *obj, const struct ipkvm_json_field *fields, size_t nfields,
		     char *err, size_t errlen);

/* The string value of key, or NULL when absent or not a string. */
const char *ipkvm_json_str(const json_t *obj, const char *key);

/* {"ok":true,"result":result} (result stolen; NULL → {}). */
json_t *ipkvm_json_ok(json_t *result);
/* {"ok":false,"error":{"code":code,"message":message}}; extra fields of extra (stolen, may
 * be NULL) are merged into the error object. */
json_t *ipkvm_json_error(const char *code, const char *message, json_t *extra);

/* Compact serialisation into a malloc'd string; NULL on failure. */
char *ipkvm_json_dump(const json_t *j, size_t *len);

#endif
