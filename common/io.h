/* SPDX-License-Identifier: MIT */
/* Full-write loop for tokend and its tests (common/io.c, in libptserver);
 * the modules and the client library do not use it. */
#pragma once

#include <stddef.h>

/* Full write loop on a socket or file (MSG_NOSIGNAL on sockets). 0 or -errno. */
int pt_write_all(int fd, const void *p, size_t n);
