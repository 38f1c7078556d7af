/* SPDX-License-Identifier: MIT */
/* libconfig work-arounds for tokend.conf (confguard.h). */
#include "confguard.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* libconfig 1.5 would open any file named by "@include": refuse it (the
 * directive is recognised only at the start of a line, after blanks). */
static int find_include(const char *text)
{
	int line = 1;

	for (const char *l = text; l; line++) {
		const char *q = l + strspn(l, " \t");
		if (strncmp(q, "@include", 8) == 0)
			return line;
		l = strchr(l, '\n');
		if (l)
			l++;
	}
	return 0;
}

/*
 * libconfig (every version: its grammar has no %destructor) leaks the text
 * of a string token that arrives where the grammar allows none, i.e. at a
 * syntax error. This finds the first such string with a replica of
 * libconfig's lexer (comments, strings and their escapes; everything else
 * only matters as "some other token") and the token before it. A string is
 * valid only after "=" or ":", after another string (concatenation), after
 * "[" or "(", or after "," inside an array or list; anything else would
 * stop libconfig with "syntax error" right there.
 * Returns 1 with the string's offset and its newline count, 2 when brackets
 * nest deeper than PT_CONF_MAX_NESTING (at *ret_line), 0 otherwise.
 */
static int find_misplaced_string(const char *t, size_t *ret_off, unsigned *ret_newlines,
				 unsigned *ret_line)
{
	char stack[PT_CONF_MAX_NESTING];
	size_t depth = 0;
	unsigned line = 1;
	char prev = 0; /* last token: 0 none, '=' , ';' '{' '}' '[' ']' '(' ')' 'S'tring 'o'ther */

	for (size_t i = 0; t[i];) {
		char c = t[i];

		if (c == '\n') {
			line++;
			i++;
		} else if (c == ' ' || c == '\t' || c == '\r' || c == '\f') {
			i++;
		} else if (c == '#' || (c == '/' && t[i + 1] == '/')) {
			while (t[i] && t[i] != '\n')
				i++;
		} else if (c == '/' && t[i + 1] == '*') {
			for (i += 2; t[i] && !(t[i] == '*' && t[i + 1] == '/'); i++)
				if (t[i] == '\n')
					line++;
			if (t[i])
				i += 2;
		} else if (c == '"') {
			size_t start = i;
			unsigned nl = 0;
			bool ok;

			for (i++; t[i] && t[i] != '"';) {
				if (t[i] == '\\' && (t[i + 1] == '"' || t[i + 1] == '\\'))
					i += 2;
				else
					nl += t[i++] == '\n';
			}
			if (!t[i])
				return 0; /* unterminated: libconfig sees the end, no token */
			i++;
			ok = prev == '=' || prev == 'S' || prev == '[' || prev == '(' ||
			     (prev == ',' && depth > 0 &&
			      (stack[depth - 1] == '[' || stack[depth - 1] == '('));
			if (!ok) {
				*ret_off = start;
				*ret_newlines = nl;
				return 1;
			}
			line += nl;
			prev = 'S';
		} else {
			switch (c) {
			case '=':
			case ':':
				prev = '=';
				break;
			case '{':
			case '[':
			case '(':
				if (depth == PT_CONF_MAX_NESTING) {
					*ret_line = line;
					return 2;
				}
				stack[depth++] = c;
				prev = c;
				break;
			case '}':
			case ']':
			case ')':
				if (depth > 0)
					depth--;
				prev = c;
				break;
			case ',':
			case ';':
				prev = c;
				break;
			default:
				prev = 'o';
			}
			i++;
		}
	}
	return 0;
}

/* The text libconfig gets: the input, or, when a string is misplaced, the
 * input up to it, as many newlines as the string held, and a character
 * libconfig's lexer returns as garbage, so that libconfig stops with the
 * same error on the same line, without the string. */
static int defuse(const char *text, const char *name, char **ret, char *err, size_t errlen)
{
	size_t off = 0;
	unsigned nl = 0, line = 0;
	char *t;
	int k;

	k = find_misplaced_string(text, &off, &nl, &line);
	if (k == 2) {
		if (err && errlen)
			snprintf(err, errlen, "%s:%u: nested too deeply (max %d levels)", name,
				 line, PT_CONF_MAX_NESTING);
		return -EINVAL;
	}
	if (k == 0) {
		*ret = NULL;
		return 0;
	}
	t = malloc(off + nl + 2);
	if (!t)
		return -ENOMEM;
	memcpy(t, text, off);
	memset(t + off, '\n', nl);
	t[off + nl] = '!';
	t[off + nl + 1] = '\0';
	*ret = t;
	return 0;
}

int pt_conf_guard(const char *text, const char *name, char **ret, char *err, size_t errlen)
{
	int line;

	line = find_include(text);
	if (line > 0) {
		if (err && errlen)
			snprintf(err, errlen, "%s:%d: @include is not supported", name, line);
		return -EINVAL;
	}
	return defuse(text, name, ret, err, errlen);
}
