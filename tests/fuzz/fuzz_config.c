/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * fuzz_config: arbitrary bytes as tpmbrokerd's configuration file, through
 * the real parser (config.c over libinih, policy.c's profile keys), then
 * the parsed profiles matched against a few peers and asked about a few
 * commands.  Whatever the bytes: no crash, no leak, no hang; a file that
 * parses yields profiles whose every field is in its documented range.
 *
 * Built as a libFuzzer target by `make fuzz`; otherwise a replay main()
 * runs every corpus file named on the command line (meson test --suite fuzz).
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <tss2/tss2_tpm2_types.h>

#include "common/util.h"
#include "common/wire.h"
#include "daemon/config.h"
#include "daemon/peer.h"
#include "daemon/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct config cfg; /* big: not on the stack */

static void
check_profiles(const struct policy *pol)
{
	static const struct peer_id peers[] = {
		{.source = PEER_UNIX, .uid_known = true, .uid = 0, .gid = 0},
		{.source = PEER_UNIX, .uid_known = true, .uid = 1000, .gid = 1000,
		 .groups = {27, 100}, .n_groups = 2, .cgroup = "/user.slice/user-1000.slice"},
		{.source = PEER_TCP_LOOPBACK, .uid_known = true, .uid = 65534, .gid = 65534,
		 .addr = "127.0.0.1:4000", .local = "127.0.0.1:2321"},
		{.source = PEER_TCP_REMOTE, .addr = "192.0.2.1:5000"},
	};
	uint8_t cmd[32];

	if (pol->n > POLICY_MAX_PROFILES)
		abort();
	for (size_t i = 0; i < pol->n; i++) {
		const struct profile *p = &pol->p[i];
		if (p->weight < 1 || p->weight > POLICY_WEIGHT_MAX || p->localities > 0x1f ||
		    memchr(p->name, '\0', sizeof(p->name)) == NULL ||
		    memchr(p->instance, '\0', sizeof(p->instance)) == NULL)
			abort();
		if (policy_find(pol, p->name) == NULL)
			abort();
	}
	for (size_t i = 0; i < ARRAY_SIZE(peers); i++) {
		const struct profile *p = policy_match(pol, &peers[i], "unix:/run/tpmbroker.sock");
		/* GetRandom(8), PCR_Extend(16) with no digests, Clear(platform) */
		wire_hdr_put(cmd, TPM2_ST_NO_SESSIONS, 12, TPM2_CC_GetRandom);
		put_be16(cmd + 10, 8);
		(void)policy_check(p, cmd, 12, (uint8_t)(i % 5), NULL);
		wire_hdr_put(cmd, TPM2_ST_SESSIONS, 14, TPM2_CC_PCR_Extend);
		put_be32(cmd + 10, 16);
		(void)policy_check(p, cmd, 14, 0, NULL);
		wire_hdr_put(cmd, TPM2_ST_SESSIONS, 14, TPM2_CC_Clear);
		put_be32(cmd + 10, TPM2_RH_PLATFORM);
		(void)policy_check(p, cmd, 14, 0, NULL);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[64];
	char *argv[] = {"tpmbrokerd", "--config", path, NULL};
	int fd = memfd_create("fuzz_config", MFD_CLOEXEC);

	if (fd < 0)
		return 0;
	if (write_all(fd, data, size) < 0) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	optind = 0;
	if (cfg_parse(3, argv, &cfg) == 0)
		check_profiles(&cfg.policy);
	close(fd);
	return 0;
}
