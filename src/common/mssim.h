/* SPDX-License-Identifier: BSD-2-Clause */
/* PROVISIONAL: replaced by the backends' version at merge */
#ifndef TB_MSSIM_H
#define TB_MSSIM_H
enum mssim_signal {
	MSSIM_POWER_ON = 1,
	MSSIM_POWER_OFF = 2,
	MSSIM_SEND_COMMAND = 8,
	MSSIM_CANCEL_ON = 9,
	MSSIM_CANCEL_OFF = 10,
	MSSIM_NV_ON = 11,
	MSSIM_REMOTE_HANDSHAKE = 15,
	MSSIM_SESSION_END = 20,
	MSSIM_STOP = 21,
};
#define MSSIM_SERVER_VERSION 1u
#define MSSIM_HANDSHAKE_FLAGS 0x7u
#endif
