/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * test_swlog.c: swtpm's output filter (daemon/swlog.h).  swtpm's output as
 * it was when a state write failed on a full disk, fed whole, a byte at a
 * time and split at every offset: the lines of command bytes never come
 * out, one line says how many were left out, every other line comes out
 * as it went in.  And what counts as a line of bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/swlog.h"

static const char dump[] =
	"swtpm: SWTPM_NVRAM_StoreData: Error (fatal), data write of 2957 only wrote 4294967295\n"
	"libtpms/tpm2: Entering failure mode; code: 3, location: ExecuteCommand line 308\n"
	"libtpms/tpm2: TPM2_Process: Entered failure mode through command:\n"
	"80 02 00 00 00 6d 00 00 01 2a 40 00 00 01 00 00 \n"
	"00 49 02 00 00 00 00 20 6d cb 28 64 72 75 ba 3d \n"
	"fc a6 c4 71 3e 81 66 b7 e0 48 74 23 38 0d 91 45 \n"
	"50 00 31 00 0b 00 02 00 02 00 00 05 dc \n"
	"swtpm: Data client disconnected\n";

static const char want[] =
	"swtpm: SWTPM_NVRAM_StoreData: Error (fatal), data write of 2957 only wrote 4294967295\n"
	"libtpms/tpm2: Entering failure mode; code: 3, location: ExecuteCommand line 308\n"
	"libtpms/tpm2: TPM2_Process: Entered failure mode through command:\n"
	"[tpmbrokerd: 4 lines of command bytes not logged]\n"
	"swtpm: Data client disconnected\n";

/* feed text in pieces of at most step bytes, the first one first bytes; the output */
static char *
run(const char *text, size_t first, size_t step)
{
	int fd = memfd_create("swlog", 0);
	struct swlog l;
	size_t len = strlen(text), off = 0;
	char *out;
	off_t n;

	assert_true(fd >= 0);
	swlog_init(&l, dup(fd));
	while (off < len) {
		size_t k = off == 0 && first > 0 ? first : step;

		if (k > len - off)
			k = len - off;
		swlog_feed(&l, text + off, k);
		off += k;
	}
	swlog_end(&l);
	assert_int_equal(l.out_fd, -1);
	n = lseek(fd, 0, SEEK_END);
	assert_true(n >= 0);
	out = calloc(1, (size_t)n + 1);
	assert_non_null(out);
	assert_int_equal(pread(fd, out, (size_t)n, 0), n);
	close(fd);
	return out;
}

static void
test_dump_filtered(void **state)
{
	char *out;

	(void)state;
	out = run(dump, 0, sizeof(dump));
	assert_string_equal(out, want);
	free(out);
	out = run(dump, 0, 1);
	assert_string_equal(out, want);
	free(out);
	for (size_t cut = 1; cut < sizeof(dump) - 1; cut++) {
		out = run(dump, cut, 7);
		assert_string_equal(out, want);
		free(out);
	}
}

static void
test_runs_and_ends(void **state)
{
	char *out;

	(void)state;
	/* two runs, each counted apart; a last line without its newline */
	out = run("a\n00 11\n22\nb\nff\nc", 0, 3);
	assert_string_equal(out, "a\n[tpmbrokerd: 2 lines of command bytes not logged]\nb\n"
				 "[tpmbrokerd: 1 lines of command bytes not logged]\nc\n");
	free(out);
	/* a run at the very end, unterminated */
	out = run("x\nde ad be ef", 0, 100);
	assert_string_equal(out, "x\n[tpmbrokerd: 1 lines of command bytes not logged]\n");
	free(out);
	out = run("", 0, 1);
	assert_string_equal(out, "");
	free(out);
}

static void
test_long_lines(void **state)
{
	char *text = malloc(4 * SWLOG_LINE_MAX), *out;
	size_t n;

	assert_non_null(text);
	/* bytes longer than the line buffer, cut at any point of a pair: still not logged */
	n = (size_t)sprintf(text, "%.*s", (int)(*(const size_t *)*state), "  ");
	while (n + 3 < 2 * SWLOG_LINE_MAX)
		n += (size_t)sprintf(text + n, "ab ");
	text[n++] = '\n';
	/* words longer than the buffer: kept, cut and marked */
	memset(text + n, 'w', SWLOG_LINE_MAX + 10);
	n += SWLOG_LINE_MAX + 10;
	text[n++] = '\n';
	text[n] = '\0';
	out = run(text, 0, 100);
	assert_non_null(strstr(out, "[tpmbrokerd: 1 lines of command bytes not logged]\n"));
	assert_non_null(strstr(out, " [cut]\n"));
	assert_null(strstr(out, "ab ab"));
	assert_int_equal(strlen(out), strlen("[tpmbrokerd: 1 lines of command bytes not logged]\n") +
					      SWLOG_LINE_MAX + strlen(" [cut]\n"));
	free(out);
	free(text);
}

static void
test_is_bytes(void **state)
{
	(void)state;
	assert_true(swlog_is_bytes("80 02 00", 8));
	assert_true(swlog_is_bytes("80 02 00 \r", 10));
	assert_true(swlog_is_bytes("AB", 2));
	assert_false(swlog_is_bytes("", 0));
	assert_false(swlog_is_bytes("   ", 3));
	assert_false(swlog_is_bytes("800200", 6));  /* not pairs apart */
	assert_false(swlog_is_bytes("80 0", 4));
	assert_false(swlog_is_bytes("80 zz", 5));
	assert_false(swlog_is_bytes("swtpm: 80 02", 12));
	assert_false(swlog_is_bytes("dead beef", 9));
}

/* 0, 1 or 2 blanks before the pairs: the buffer ends after, in or before a pair */
static const size_t shifts[] = {0, 1, 2};

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dump_filtered),
		cmocka_unit_test(test_runs_and_ends),
		cmocka_unit_test_prestate(test_long_lines, (void *)&shifts[0]),
		cmocka_unit_test_prestate(test_long_lines, (void *)&shifts[1]),
		cmocka_unit_test_prestate(test_long_lines, (void *)&shifts[2]),
		cmocka_unit_test(test_is_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
