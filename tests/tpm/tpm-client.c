/* SPDX-License-Identifier: MIT */
/*
 * Minimal tokend client for the TPM tests (run as root, as an actor "*"):
 *   tpm-client issue SOCKET USER HOLDER    MINT + EXCHANGE; prints "id=pt_..."
 *   tpm-client redeem SOCKET USER HOLDER   REDEEM; prints "id=pt_... kid=..."
 * Exit 0 on success, 1 when tokend refused (its message on stderr), 3 when
 * it cannot be reached.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "client.h"
#include "proto.h"

/* The kid of a compact JWS's protected header (no verification: tokend
 * signed it, the test only wants to know which key). */
static void print_kid(const char *tok)
{
	const char *dot = strchr(tok, '.');
	uint8_t *raw = NULL;
	char hdr[1024];
	const char *k, *e;
	size_t n = 0;

	if (!dot || pt_b64url_decode(tok, (size_t)(dot - tok), &raw, &n) < 0)
		return;
	if (n >= sizeof(hdr))
		n = sizeof(hdr) - 1;
	memcpy(hdr, raw, n);
	hdr[n] = '\0';
	free(raw);
	k = strstr(hdr, "\"kid\":\"");
	if (!k)
		return;
	k += 7;
	e = strchr(k, '"');
	if (e)
		printf(" kid=%.*s", (int)(e - k), k);
}

int main(int argc, char **argv)
{
	struct pt_client *c = NULL;
	struct pt_rep rep = { 0 };
	int r, ret = 1;

	if (argc != 5 || (strcmp(argv[1], "issue") && strcmp(argv[1], "redeem"))) {
		fprintf(stderr, "usage: tpm-client issue|redeem SOCKET USER HOLDER\n");
		return 2;
	}
	r = pt_client_connect(argv[2], 5000, &c);
	if (r < 0) {
		fprintf(stderr, "tpm-client: cannot reach %s: %s\n", argv[2], strerror(-r));
		return 3;
	}
	if (strcmp(argv[1], "issue") == 0) {
		struct pt_req mint = { .type = PT_MINT,
				       .user = argv[3],
				       .service = (char *)"test",
				       .tty = (char *)"",
				       .rhost = (char *)"" };
		struct pt_req ex = { .type = PT_EXCHANGE, .holder = argv[4] };

		if (pt_client_call(c, &mint, &rep) < 0 || rep.type != PT_OK)
			goto refused;
		ex.live_token = rep.token;
		rep.token = NULL;
		pt_rep_clear(&rep);
		r = pt_client_call(c, &ex, &rep);
		free(ex.live_token);
		if (r < 0 || rep.type != PT_OK)
			goto refused;
		printf("id=%s\n", rep.id);
	} else {
		struct pt_req rd = {
			.type = PT_REDEEM, .user = argv[3], .holder = argv[4], .service = argv[4]
		};

		if (pt_client_call(c, &rd, &rep) < 0 || rep.type != PT_OK)
			goto refused;
		printf("id=%s", rep.id);
		print_kid(rep.token);
		printf("\n");
	}
	ret = 0;
	goto out;
refused:
	fprintf(stderr, "tpm-client: tokend: %s\n", rep.message ? rep.message : "no reply");
out:
	pt_rep_clear(&rep);
	pt_client_free(c);
	return ret;
}
