/* SPDX-License-Identifier: MIT */
/* Strict, bounded JSON parsing on json-c, shared by every parser of pertok. */
#pragma once

#include <json-c/json.h>
#include <stddef.h>

/*
 * Parses exactly len bytes of text as one JSON value: json-c's strict mode
 * with UTF-8 validation, at most max_depth levels of nesting, only whitespace
 * (" \t\r\n") after the value. Rejects NULL, len 0, len > max_len and any
 * embedded NUL. On success *ret_obj holds a new reference. Returns 0,
 * -EINVAL (malformed or out of bounds) or -ENOMEM; *ret_obj is untouched on
 * failure.
 */
int pt_json_parse_strict(const char *text, size_t len, size_t max_len, int max_depth,
			 json_object **ret_obj);

/* pt_json_parse_strict, and also -EINVAL for an object naming a member
 * twice ({"at":1,"at":2}: json-c keeps the last silently). For stored
 * records, whose parsers cannot see the duplicate themselves. */
int pt_json_parse_unique(const char *text, size_t len, size_t max_len, int max_depth,
			 json_object **ret_obj);

/* One base64url (unpadded, strict) part of a compact JWS decoded and
 * parsed as by pt_json_parse_strict, which must give a JSON object. The
 * decoded bytes are wiped. 0, -EINVAL or -ENOMEM; *ret_obj untouched on
 * failure. */
int pt_json_b64url_object(const char *s, size_t n, size_t max_len, int max_depth,
			  json_object **ret_obj);
