/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * peer.h: who is on the other end of an accepted client connection, for
 * per-user/group/cgroup profiles.  Unix sockets: SO_PEERCRED, SO_PEERGROUPS
 * and the peer's cgroup v2 path from /proc.  TCP (the mssim frontend): on
 * loopback, the uid of the client's own socket from the kernel
 * (NETLINK_SOCK_DIAG); elsewhere only the addresses.  Each call is a few
 * syscalls, bounded, and safe to run on the event loop at accept.
 *
 * What each source can and cannot vouch for is said atop peer.c.
 */
#ifndef TB_PEER_H
#define TB_PEER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/types.h>

#define PEER_MAX_GROUPS 64

enum peer_source {
	PEER_NONE,         /* nothing known */
	PEER_UNIX,         /* SO_PEERCRED (+ SO_PEERGROUPS, cgroup) */
	PEER_TCP_LOOPBACK, /* uid of the connecting socket from the kernel (sock_diag) */
	PEER_TCP_REMOTE,   /* not loopback: only the address */
};

struct peer_id {
	enum peer_source source;
	bool uid_known;
	uid_t uid;
	gid_t gid;                     /* primary gid (Unix: SO_PEERCRED; TCP loopback: the
					* uid's passwd gid if resolvable, else (gid_t)-1) */
	pid_t pid;                     /* 0 unknown (always 0 for TCP) */
	gid_t groups[PEER_MAX_GROUPS]; /* supplementary groups (Unix: SO_PEERGROUPS;
					* TCP: getgrouplist of the uid); none if more */
	size_t n_groups;
	char cgroup[256];              /* cgroup v2 path of the peer process ("/user.slice/..."),
					* "" unknown */
	char addr[64];                 /* TCP: "127.0.0.1:54321" / "[::1]:54321"; Unix: "" */
	char local[64];                /* TCP: the listening address:port it connected to */
};

/*
 * Identity of an accepted Unix-socket peer.  0 or -errno; on error ret holds
 * what was learnt before (uid_known says whether SO_PEERCRED worked).
 * -E2BIG: more than PEER_MAX_GROUPS groups (n_groups is then 0: a partial
 * list would let a "deny group X" rule miss).
 */
int peer_from_unix(int fd, struct peer_id *ret);

/*
 * Identity of an accepted TCP peer.  Loopback (127/8, ::1, ::ffff:127/104):
 * the uid of the client's socket via NETLINK_SOCK_DIAG (exact 4-tuple of the
 * client's socket: its src is our peer address, its dst our local address);
 * else PEER_TCP_REMOTE with the addresses only (returns 0).  0 or -errno;
 * on error ret holds what was learnt (source and addresses, uid_known false).
 */
int peer_from_tcp(int fd, struct peer_id *ret);

/* true for 127.0.0.0/8, ::1 and ::ffff:127.0.0.0/104; false for NULL and other families */
bool peer_addr_is_loopback(const struct sockaddr *sa);

/*
 * The cgroup v2 path from the text of /proc/PID/cgroup, into ret (cap bytes).
 * Refuses (-EBADMSG) a file where the "0::" line is not the only one or not
 * the last: a cgroup name with a newline could forge one.  For tests.
 */
int peer_cgroup_parse(const char *data, size_t len, char *ret, size_t cap);

/* true if the uid is known and gid is the primary or a supplementary group */
bool peer_in_group(const struct peer_id *p, gid_t gid);

/* true if the cgroup path equals prefix or lies below it ("/a/b" is below "/a",
 * "/ab" is not; every path is below "/"); false if the cgroup is unknown */
bool peer_in_cgroup(const struct peer_id *p, const char *prefix);

/* "unix uid 1000 gid 1000 pid 4242 cgroup /user.slice/..." for logs; always
 * NUL-terminated when cap > 0, truncated to fit */
void peer_describe(const struct peer_id *p, char *buf, size_t cap);

#endif
