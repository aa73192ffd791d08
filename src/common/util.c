/* SPDX-License-Identifier: BSD-2-Clause */
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>
#include <time.h>

#include "util.h"

uint64_t
now_ns(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int
write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
read_some(int fd, void *buf, size_t *have, size_t want)
{
	uint8_t *p = buf;

	while (*have < want) {
		ssize_t n = read(fd, p + *have, want - *have);
		if (n > 0)
			*have += (size_t)n;
		else if (n == 0)
			return -EPIPE;
		else if (errno == EINTR)
			continue;
		else
			return errno == EAGAIN ? 0 : -errno;
	}
	return 1;
}

int
read_all(int fd, void *buf, size_t len)
{
	size_t have = 0;
	int r = read_some(fd, buf, &have, len);

	/* 0: a non-blocking fd, or SO_RCVTIMEO ran out */
	return r == 0 ? -EAGAIN : r < 0 ? r : 0;
}

int
fcntl_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

int
mkdir_p(const char *dir, mode_t mode)
{
	char buf[PATH_MAX];
	size_t n = strlen(dir);

	if (n == 0 || n >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, dir, n + 1);
	for (char *p = buf + 1; *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}
