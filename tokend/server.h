/* SPDX-License-Identifier: MIT */
/*
 * tokend's event loop: one thread, epoll, non-blocking sockets. A slow or
 * stalled client costs one connection slot until its timeout, never the
 * others' time: connections are served in turns of a few requests each, one
 * whose replies are not read is not read either, and unprivileged uids have
 * their own connection caps and request rate (tokend.conf(5)). Signals
 * arrive through a signalfd.
 */
#pragma once

#include "ops.h"

/* Opens the listening socket: the one systemd passed (LISTEN_FDS), or
 * binds cfg->socket_path (mode 0666, in a directory made 0755 whatever the
 * umask; refuses when another tokend answers there). *ret_activated tells
 * which. */
int pt_server_listen(const struct pt_config *cfg, int *ret_fd, int *ret_activated, char *err,
		     size_t errlen);

/* Runs until SIGTERM/SIGINT. SIGHUP calls reload(d). Returns 0 or -errno. */
int pt_server_run(struct pt_daemon *d, int listen_fd, void (*reload)(struct pt_daemon *d));
