/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * util.h: small helpers shared by every program of the project:
 * scope-bound cleanup (the systemd idiom), byte-order access without
 * casting into buffers, and array sizing.
 */
#ifndef TB_UTIL_H
#define TB_UTIL_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define _cleanup_(f) __attribute__((cleanup(f)))
#define TAKE_PTR(p) __extension__({ __typeof__(p) t_ = (p); (p) = NULL; t_; })
#define TAKE_FD(fd) __extension__({ int t_ = (fd); (fd) = -1; t_; })
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define MIN(a, b) ((a) < (b) ? (a) : (b))
#define MAX(a, b) ((a) > (b) ? (a) : (b))
#define UNUSED __attribute__((unused))

static inline void
freep(void *p)
{
	free(*(void **)p);
}

static inline void
closep(int *fd)
{
	if (*fd >= 0)
		(void)close(*fd);
}

/* Big-endian loads and stores through memcpy: no alignment or aliasing traps. */
static inline uint16_t
get_be16(const uint8_t *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static inline uint32_t
get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static inline void
put_be16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static inline void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

static inline uint64_t
get_be64(const uint8_t *p)
{
	return (uint64_t)get_be32(p) << 32 | get_be32(p + 4);
}

static inline void
put_be64(uint8_t *p, uint64_t v)
{
	put_be32(p, (uint32_t)(v >> 32));
	put_be32(p + 4, (uint32_t)v);
}

/* Set O_NONBLOCK on fd; 0 or -errno. */
int fcntl_nonblock(int fd);

/* Monotonic clock in nanoseconds. */
uint64_t now_ns(void);

/* Write all of buf to a blocking fd; -errno on failure. */
int write_all(int fd, const void *buf, size_t len);
/*
 * The one reader of exactly want bytes, resumable: *have counts what is
 * in buf across calls.  1 complete; 0 the fd would block (wait for POLLIN
 * and call again); -EPIPE on EOF; -errno.  Never reads past want, so the
 * bytes of the next message stay in the kernel.
 */
int read_some(int fd, void *buf, size_t *have, size_t want);
/*
 * Read exactly len bytes from a blocking fd (read_some to the end);
 * -EPIPE on EOF, -EAGAIN when SO_RCVTIMEO ran out or the fd is non-blocking.
 */
int read_all(int fd, void *buf, size_t len);

/*
 * Create dir and its missing parents (parents 0755, dir itself mode); an
 * existing directory is success.  0 or -errno.
 */
int mkdir_p(const char *dir, mode_t mode);

#endif
