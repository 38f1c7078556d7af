/* SPDX-License-Identifier: MIT */
/*
 * Who is on the other end of a connection: the uid, gid and pid the kernel
 * recorded at connect (SO_PEERCRED) and the executable that process runs,
 * read through its /proc/PID directory, held open and checked against a
 * pidfd (SO_PEERPIDFD) where the kernel offers one, so that a recycled pid
 * cannot lend us another program.
 *
 * The executable is known by a path only when that path names the very file
 * the process runs (same device and inode) in tokend's mount namespace, or
 * when the process runs the file an actor's exe path held when the
 * configuration was loaded (pt_config_pin_actors: a package upgrade that
 * replaced the binary of a running scheduler). Its file is read at accept and
 * compared again before each request: a process that execs another program
 * after it connected is refused, not taken for that program.
 */
#pragma once

#include "conf.h"
#include "ops.h"

/* Fills peer for the connected socket fd; never fails (what cannot be read
 * stays unknown: uid -1, exe_known false). peer->procfd is the caller's to
 * close (pt_peer_clear). */
void pt_peer_read(const struct pt_config *cfg, int fd, struct pt_peer *peer);

/* 0 when the peer still runs the file it ran at accept (or nothing was known
 * then); -ESRCH when it is gone; -ESTALE when it runs another executable. */
int pt_peer_recheck(const struct pt_peer *peer);

void pt_peer_clear(struct pt_peer *peer);
