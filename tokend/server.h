/* SPDX-License-Identifier: MIT */
/*
 * The front's event loop: one thread, epoll, non-blocking sockets. A slow or
 * stalled client costs one connection slot until its timeout, never the
 * others' time: connections are served in turns of a few requests each, one
 * whose replies are not read is not read either, and unprivileged uids have
 * their own connection caps and request rate (tokend.conf(5)).
 */
#pragma once

#include "conf.h"

/* Opens the listening socket: the one systemd passed (LISTEN_FDS), or
 * binds cfg->socket_path (mode 0666, in a directory made 0755 whatever the
 * umask; refuses when another tokend answers there). *ret_activated tells
 * which. */
int pt_server_listen(const struct pt_config *cfg, int *ret_fd, int *ret_activated, char *err,
		     size_t errlen);

/* The front's event loop (privilege separation, tokend(8)): serves the
 * clients of listen_fd, handing every decoded request to the key holder on
 * pair and its replies back. Returns when the key holder is gone: 0 or
 * -errno. */
int pt_front_run(int listen_fd, int pair);
