/* SPDX-License-Identifier: BSD-2-Clause */
/*
 * replay.c: the main() of every fuzz target when it is not linked with
 * libFuzzer: each argument is a file, or a directory whose files are
 * replayed (a corpus), through LLVMFuzzerTestOneInput(), as systemd's fuzzers
 * do, so that `meson test --suite fuzz` replays the corpora.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
replay(const char *path, unsigned *n)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf;
	long len;

	if (f == NULL || fseek(f, 0, SEEK_END) < 0 || (len = ftell(f)) < 0 ||
	    fseek(f, 0, SEEK_SET) < 0) {
		perror(path);
		if (f != NULL)
			fclose(f);
		return -1;
	}
	/* one byte more: an empty file still has a buffer */
	if ((buf = malloc((size_t)len + 1)) == NULL || fread(buf, 1, (size_t)len, f) != (size_t)len) {
		perror(path);
		free(buf);
		fclose(f);
		return -1;
	}
	fclose(f);
	LLVMFuzzerTestOneInput(buf, (size_t)len);
	free(buf);
	(*n)++;
	return 0;
}

int
main(int argc, char **argv)
{
	const char *name = strrchr(argv[0], '/') != NULL ? strrchr(argv[0], '/') + 1 : argv[0];
	unsigned n = 0;

	for (int i = 1; i < argc; i++) {
		DIR *d = opendir(argv[i]);
		struct dirent *de;

		if (d == NULL) {
			if (replay(argv[i], &n) < 0)
				return 1;
			continue;
		}
		while ((de = readdir(d)) != NULL) {
			char path[4096];

			if (de->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "%s/%s", argv[i], de->d_name);
			if (replay(path, &n) < 0) {
				closedir(d);
				return 1;
			}
		}
		closedir(d);
	}
	printf("%s: %u inputs replayed\n", name, n);
	return n > 0 ? 0 : 1;
}
