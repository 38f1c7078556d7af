/* SPDX-License-Identifier: MIT */
#include "config.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <string.h>

#include <openssl/crypto.h>
#include <stdlib.h>

#include "b64.h"
#include "ptjson.h"

/* Members of the objects in text, counted on the text: in strict JSON every
 * ':' outside a string separates one member's name from its value. */
static size_t text_members(const char *text, size_t len)
{
	bool in_str = false, esc = false;
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		char c = text[i];

		if (in_str) {
			if (esc)
				esc = false;
			else if (c == '\\')
				esc = true;
			else if (c == '"')
				in_str = false;
		} else if (c == '"')
			in_str = true;
		else if (c == ':')
			n++;
	}
	return n;
}

/* Members of the objects in o, counted on the tree json-c built (which
 * keeps one of each duplicate name). */
static size_t tree_members(json_object *o)
{
	size_t n = 0;

	if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, key, val)
		{
			(void)key;
			n += 1 + tree_members(val);
		}
	} else if (json_object_is_type(o, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(o); i++)
			n += tree_members(json_object_array_get_idx(o, i));
	}
	return n;
}

int pt_json_parse_strict(const char *text, size_t len, size_t max_len, int max_depth,
			 json_object **ret_obj)
{
	json_tokener *tok;
	json_object *o;
	size_t end;
	int r = -EINVAL;

	if (!text || !ret_obj || len == 0 || len > max_len || len > INT_MAX ||
	    memchr(text, '\0', len))
		return -EINVAL;
	tok = json_tokener_new_ex(max_depth);
	if (!tok)
		return -ENOMEM;
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	o = json_tokener_parse_ex(tok, text, (int)len);
	if (o && json_tokener_get_error(tok) == json_tokener_success) {
		end = json_tokener_get_parse_end(tok);
		while (end < len && strchr(" \t\r\n", text[end]))
			end++;
		if (end == len)
			r = 0;
	}
	json_tokener_free(tok);
	if (r < 0) {
		json_object_put(o);
		return r;
	}
	*ret_obj = o;
	return 0;
}

int pt_json_parse_unique(const char *text, size_t len, size_t max_len, int max_depth,
			 json_object **ret_obj)
{
	json_object *o = NULL;
	int r = pt_json_parse_strict(text, len, max_len, max_depth, &o);

	if (r < 0)
		return r;
	/* a name twice in one object: json-c keeps the last, we refuse */
	if (text_members(text, len) != tree_members(o)) {
		json_object_put(o);
		return -EINVAL;
	}
	*ret_obj = o;
	return 0;
}

int pt_json_b64url_object(const char *s, size_t n, size_t max_len, int max_depth,
			  json_object **ret_obj)
{
	json_object *o = NULL;
	uint8_t *d = NULL;
	size_t dn = 0;
	int r;

	r = pt_b64url_decode(s, n, &d, &dn);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	r = pt_json_parse_strict((const char *)d, dn, max_len, max_depth, &o);
	OPENSSL_cleanse(d, dn);
	free(d);
	if (r < 0)
		return r == -ENOMEM ? r : -EINVAL;
	if (!json_object_is_type(o, json_type_object)) {
		json_object_put(o);
		return -EINVAL;
	}
	*ret_obj = o;
	return 0;
}
