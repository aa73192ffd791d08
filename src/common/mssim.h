/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * mssim.h: the wire protocol of the Microsoft / IBM TPM 2.0 simulator
 * (TpmTcpProtocol.h in the reference code), written down once for both
 * sides: the mssim backend (we are the simulator's client) and the mssim
 * frontend (tpm2-tss's mssim TCTI and IBM's TSS are our clients).
 *
 * Two TCP ports.  Every number on the wire is big-endian.
 *
 * TPM port P, command:   be32 MSSIM_SEND_COMMAND, u8 locality, be32 size, command
 *             answer:    be32 size, response, be32 0 (the "trailer")
 * TPM port P, handshake: be32 MSSIM_REMOTE_HANDSHAKE, be32 client version
 *             answer:    be32 MSSIM_SERVER_VERSION, be32 MSSIM_HANDSHAKE_FLAGS, be32 0
 * TPM port P, end:       be32 MSSIM_SESSION_END (or MSSIM_STOP), no answer
 * Platform port P+1:     be32 signal; answer be32 0 (success)
 */
#ifndef TB_MSSIM_H
#define TB_MSSIM_H

enum mssim_signal {
	MSSIM_POWER_ON = 1,
	MSSIM_POWER_OFF = 2,
	MSSIM_PHYS_PRES_ON = 3,
	MSSIM_PHYS_PRES_OFF = 4,
	MSSIM_HASH_START = 5,
	MSSIM_HASH_DATA = 6,
	MSSIM_HASH_END = 7,
	MSSIM_SEND_COMMAND = 8,
	MSSIM_CANCEL_ON = 9,
	MSSIM_CANCEL_OFF = 10,
	MSSIM_NV_ON = 11,
	MSSIM_NV_OFF = 12,
	MSSIM_KEY_CACHE_ON = 13,
	MSSIM_KEY_CACHE_OFF = 14,
	MSSIM_REMOTE_HANDSHAKE = 15,
	MSSIM_SET_ALTERNATIVE_RESULT = 16,
	MSSIM_RESET = 17,
	MSSIM_RESTART = 18,
	MSSIM_SESSION_END = 20,
	MSSIM_STOP = 21,
	MSSIM_GET_COMMAND_RESPONSE_SIZES = 25,
};

/* the handshake's answer: the simulator's version, and its state */
#define MSSIM_SERVER_VERSION 1u
/* tpmPlaying | tpmRunning | nvAvailable, as a powered-on simulator says */
#define MSSIM_HANDSHAKE_FLAGS 0x7u

/* the head of MSSIM_SEND_COMMAND: be32 signal, u8 locality, be32 size */
#define MSSIM_CMD_HEAD_SIZE 9u
/* the size prefix and the trailer around a response, and a platform ack */
#define MSSIM_U32_SIZE 4u

#endif
