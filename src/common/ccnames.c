/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * ccnames.c: TPM 2.0 command codes by name, both ways, for logs and for
 * the command lists of policy profiles ("TPM2_Clear", "Clear" or "0x126").
 * The table follows the TPM2_CC_* constants of tss2_tpm2_types.h (the
 * TPM 2.0 Library spec, Part 2, 6.5.2), which the compiler checks here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <tss2/tss2_tpm2_types.h>

#include "ccnames.h"

struct cc_name {
	uint32_t cc;
	const char *name; /* without "TPM2_" */
};

#define CC(n) {TPM2_CC_##n, #n}

static const struct cc_name cc_names[] = {
	CC(NV_UndefineSpaceSpecial),
	CC(EvictControl),
	CC(HierarchyControl),
	CC(NV_UndefineSpace),
	CC(ChangeEPS),
	CC(ChangePPS),
	CC(Clear),
	CC(ClearControl),
	CC(ClockSet),
	CC(HierarchyChangeAuth),
	CC(NV_DefineSpace),
	CC(PCR_Allocate),
	CC(PCR_SetAuthPolicy),
	CC(PP_Commands),
	CC(SetPrimaryPolicy),
	CC(FieldUpgradeStart),
	CC(ClockRateAdjust),
	CC(CreatePrimary),
	CC(NV_GlobalWriteLock),
	CC(GetCommandAuditDigest),
	CC(NV_Increment),
	CC(NV_SetBits),
	CC(NV_Extend),
	CC(NV_Write),
	CC(NV_WriteLock),
	CC(DictionaryAttackLockReset),
	CC(DictionaryAttackParameters),
	CC(NV_ChangeAuth),
	CC(PCR_Event),
	CC(PCR_Reset),
	CC(SequenceComplete),
	CC(SetAlgorithmSet),
	CC(SetCommandCodeAuditStatus),
	CC(FieldUpgradeData),
	CC(IncrementalSelfTest),
	CC(SelfTest),
	CC(Startup),
	CC(Shutdown),
	CC(StirRandom),
	CC(ActivateCredential),
	CC(Certify),
	CC(PolicyNV),
	CC(CertifyCreation),
	CC(Duplicate),
	CC(GetTime),
	CC(GetSessionAuditDigest),
	CC(NV_Read),
	CC(NV_ReadLock),
	CC(ObjectChangeAuth),
	CC(PolicySecret),
	CC(Rewrap),
	CC(Create),
	CC(ECDH_ZGen),
	CC(HMAC),
	CC(Import),
	CC(Load),
	CC(Quote),
	CC(RSA_Decrypt),
	CC(HMAC_Start),
	CC(SequenceUpdate),
	CC(Sign),
	CC(Unseal),
	CC(PolicySigned),
	CC(ContextLoad),
	CC(ContextSave),
	CC(ECDH_KeyGen),
	CC(EncryptDecrypt),
	CC(FlushContext),
	CC(LoadExternal),
	CC(MakeCredential),
	CC(NV_ReadPublic),
	CC(PolicyAuthorize),
	CC(PolicyAuthValue),
	CC(PolicyCommandCode),
	CC(PolicyCounterTimer),
	CC(PolicyCpHash),
	CC(PolicyLocality),
	CC(PolicyNameHash),
	CC(PolicyOR),
	CC(PolicyTicket),
	CC(ReadPublic),
	CC(RSA_Encrypt),
	CC(StartAuthSession),
	CC(VerifySignature),
	CC(ECC_Parameters),
	CC(FirmwareRead),
	CC(GetCapability),
	CC(GetRandom),
	CC(GetTestResult),
	CC(Hash),
	CC(PCR_Read),
	CC(PolicyPCR),
	CC(PolicyRestart),
	CC(ReadClock),
	CC(PCR_Extend),
	CC(PCR_SetAuthValue),
	CC(NV_Certify),
	CC(EventSequenceComplete),
	CC(HashSequenceStart),
	CC(PolicyPhysicalPresence),
	CC(PolicyDuplicationSelect),
	CC(PolicyGetDigest),
	CC(TestParms),
	CC(Commit),
	CC(PolicyPassword),
	CC(ZGen_2Phase),
	CC(EC_Ephemeral),
	CC(PolicyNvWritten),
	CC(PolicyTemplate),
	CC(CreateLoaded),
	CC(PolicyAuthorizeNV),
	CC(EncryptDecrypt2),
	CC(AC_GetCapability),
	CC(AC_Send),
	CC(Policy_AC_SendSelect),
	CC(CertifyX509),
	CC(ACT_SetTimeout),
	CC(Vendor_TCG_Test),
};

const char *
cc_name(uint32_t cc)
{
	for (size_t i = 0; i < sizeof(cc_names) / sizeof(cc_names[0]); i++)
		if (cc_names[i].cc == cc)
			return cc_names[i].name;
	return NULL;
}

const char *
cc_label(uint32_t cc, char buf[CC_LABEL_MAX])
{
	const char *name = cc_name(cc);

	if (name != NULL)
		snprintf(buf, CC_LABEL_MAX, "TPM2_%s", name);
	else
		snprintf(buf, CC_LABEL_MAX, "command 0x%08x", cc);
	return buf;
}

int
cc_from_name(const char *s, uint32_t *ret)
{
	char *end;
	unsigned long v;

	if (strncasecmp(s, "TPM2_CC_", 8) == 0)
		s += 8;
	else if (strncasecmp(s, "TPM2_", 5) == 0)
		s += 5;
	else if (strncasecmp(s, "TPM_CC_", 7) == 0)
		s += 7;
	for (size_t i = 0; i < sizeof(cc_names) / sizeof(cc_names[0]); i++)
		if (strcasecmp(cc_names[i].name, s) == 0) {
			*ret = cc_names[i].cc;
			return 0;
		}
	if (s[0] != '0' || (s[1] != 'x' && s[1] != 'X'))
		return -1;
	v = strtoul(s, &end, 16);
	if (*end != '\0' || end == s + 2 || v > 0xffffffffUL)
		return -1;
	*ret = (uint32_t)v;
	return 0;
}
