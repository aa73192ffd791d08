/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * swtpm_ctrl.h: swtpm's control channel (swtpm_ioctls(3)), written down
 * once: the swtpm backend speaks it as a client, and a frontend serving
 * QEMU's "-tpmdev emulator" will speak it as the server.
 *
 * Request: be32 command code, then the command's structure (big-endian).
 * Answer:  be32 result (a TPM 1.2 code, 0 success), then the answer's
 * structure.  swtpm serves one request at a time, on the thread that runs
 * TPM commands: a request sent while a command runs is answered after it.
 */
#ifndef TB_SWTPM_CTRL_H
#define TB_SWTPM_CTRL_H

enum swtpm_ctrl_cmd {
	SWTPM_CMD_GET_CAPABILITY = 0x01,      /* answer: be64 capability bits */
	SWTPM_CMD_INIT = 0x02,                /* be32 flags; power on / reset */
	SWTPM_CMD_SHUTDOWN = 0x03,
	SWTPM_CMD_GET_TPMESTABLISHED = 0x04,  /* answer: u8 flag (+3 bytes) */
	SWTPM_CMD_SET_LOCALITY = 0x05,        /* u8 locality 0..4 */
	SWTPM_CMD_HASH_START = 0x06,
	SWTPM_CMD_HASH_DATA = 0x07,
	SWTPM_CMD_HASH_END = 0x08,
	SWTPM_CMD_CANCEL_TPM_CMD = 0x09,
	SWTPM_CMD_STORE_VOLATILE = 0x0a,
	SWTPM_CMD_RESET_TPMESTABLISHED = 0x0b,
	SWTPM_CMD_GET_STATEBLOB = 0x0c,
	SWTPM_CMD_SET_STATEBLOB = 0x0d,
	SWTPM_CMD_STOP = 0x0e,
	SWTPM_CMD_GET_CONFIG = 0x0f,
	SWTPM_CMD_SET_DATAFD = 0x10,
	SWTPM_CMD_SET_BUFFERSIZE = 0x11,
	SWTPM_CMD_GET_INFO = 0x12,
	SWTPM_CMD_LOCK_STORAGE = 0x13,
};

/* results are TPM 1.2 return codes */
enum swtpm_ctrl_res {
	SWTPM_RES_SUCCESS = 0x00,
	SWTPM_RES_FAIL = 0x09,
	SWTPM_RES_BAD_ORDINAL = 0x0a,   /* also: "the TPM is not running" (before CMD_INIT) */
	SWTPM_RES_BAD_LOCALITY = 0x3d,  /* locality 4 with reject-locality-4, or > 4 */
};

/* CMD_INIT's be32 flags */
#define SWTPM_INIT_FLAG_DELETE_VOLATILE 0x1u

/* the highest locality CMD_SET_LOCALITY takes */
#define SWTPM_LOCALITY_MAX 4u

#endif
