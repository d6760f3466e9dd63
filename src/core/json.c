/*
 * json: see json.h. Bodies are parsed with any top-level value allowed so that a bare
 * string or number gets the same clear "expected a JSON object" as an array does.
 */
#include "core/json.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

json_t *ipkvm_json_parse_object(const char *text, size_t len, char *err, size_t errlen)
{
	json_error_t je;
	json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
	if (!j) {
		snprintf(err, errlen, "invalid JSON at line %d, column %d: %s", je.line, je.column,
			 je.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		snprintf(err, errlen, "expected a JSON object");
		json_decref(j);
		return NULL;
	}
	return j;
}

static const char *type_name(enum ipkvm_json_type t)
{
	switch (t) {
	case IPKVM_JSON_STRING:
		return "a string";
	case IPKVM_JSON_INTEGER:
		return "an integer";
	case IPKVM_JSON_NUMBER:
		return "a number";
	case IPKVM_JSON_BOOL:
		return "a boolean";
	case IPKVM_JSON_OBJECT:
		return "an object";
	case IPKVM_JSON_ANY:
		break;
	}
	return "a value";
}

static bool type_ok(const json_t *v, enum ipkvm_json_type t)
{
	switch (t) {
	case IPKVM_JSON_STRING:
		/* jansson refuses invalid UTF-8 on load; NUL is allowed by JSON but never by us. */
		return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v);
	case IPKVM_JSON_INTEGER:
		return json_is_integer(v);
	case IPKVM_JSON_NUMBER:
		return json_is_number(v);
	case IPKVM_JSON_BOOL:
		return json_is_boolean(v);
	case IPKVM_JSON_OBJECT:
		return json_is_object(v);
	case IPKVM_JSON_ANY:
		return true;
	}
	return false;
}

int ipkvm_json_check(const json_t *obj, const struct ipkvm_json_field *fields, size_t nfields,
		     char *err, size_t errlen)
{
	const char *key;
	json_t *v;
	json_object_foreach((json_t *)obj, key, v)
	{
		size_t i;
		for (i = 0; i < nfields; i++)
			if (strcmp(fields[i].name, key) == 0)
				break;
		if (i == nfields) {
			snprintf(err, errlen, "unknown field '%.64s'", key);
			return -EINVAL;
		}
		if (!type_ok(v, fields[i].type)) {
			snprintf(err, errlen, "field '%s' must be %s", fields[i].name,
				 type_name(fields[i].type));
			return -EINVAL;
		}
	}
	for (size_t i = 0; i < nfields; i++) {
		if (fields[i].required && !json_object_get(obj, fields[i].name)) {
			snprintf(err, errlen, "missing field '%s'", fields[i].name);
			return -EINVAL;
		}
	}
	return 0;
}

const char *ipkvm_json_str(const json_t *obj, const char *key)
{
	return json_string_value(json_object_get(obj, key));
}

json_t *ipkvm_json_ok(json_t *result)
{
	return json_pack("{s:b, s:o}", "ok", 1, "result", result ? result : json_object());
}

json_t *ipkvm_json_error(const char *code, const char *message, json_t *extra)
{
	json_t *e = json_pack("{s:s, s:s}", "code", code, "message", message);
	if (e && extra)
		json_object_update(e, extra);
	json_decref(extra);
	return json_pack("{s:b, s:o}", "ok", 0, "error", e);
}

char *ipkvm_json_dump(const json_t *j, size_t *len)
{
	char *s = json_dumps(j, JSON_COMPACT);
	if (s && len)
		*len = strlen(s);
	return s;
}
