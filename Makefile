# tpmbroker: a thin wrapper around Meson.  The two set-up commands of the
# README are `make run` and `make check`; both install the Debian packages
# they need first (scripts/deps.sh).

BUILD      ?= build
ASAN_BUILD ?= build-asan
ROOT       := $(filter 0,$(shell id -u))
STATE_DIR  ?= $(if $(ROOT),/var/lib/tpmbroker/libtpms,$(HOME)/.local/state/tpmbroker/libtpms)
BACKEND    ?= libtpms:state=$(STATE_DIR)
MSSIM_PORT ?= 2321
# make soak: how long
SOAK_MINUTES ?= 30
# empty: the daemon's default (/run/tpmbroker/tpmbroker.sock as root)
SOCKET     ?=
ARGS       ?=
# make bench-ab: the git revision to compare with (the previous release)
BASE       ?=

.PHONY: all deps build build-asan install run check test soak bench bench-ab bench-ab-base fuzz deb clean help

all: build

help:
	@echo "make deps        install the missing Debian packages (apt-get; as root)"
	@echo "make build       build into $(BUILD)/ (plain)"
	@echo "make build-asan  build into $(ASAN_BUILD)/ with ASan+UBSan"
	@echo "make run         deps, build, install the TCTI plugin (root: /usr/local),"
	@echo "                 run tpmbrokerd in the foreground on the embedded TPM"
	@echo "                 (state $(STATE_DIR)), also on mssim port $(MSSIM_PORT);"
	@echo "                 override: BACKEND=swtpm:host=H,port=P SOCKET=PATH"
	@echo "                 MSSIM_PORT=N ARGS='-v ...'"
	@echo "make check       deps, both builds, every test suite in both;"
	@echo "                 ends with 'N passed, N failed'"
	@echo "make soak        SOAK_MINUTES (default 30) of mixed load on one daemon, its RSS"
	@echo "                 sampled every 10 s: no growth trend, 0 client errors"
	@echo "                 (samples and summary in $(BUILD)/soak/); then the long"
	@echo "                 crash test of log-first measurement (SOAK_ROUNDS, 500)"
	@echo "make bench       benchmarks: direct swtpm vs tpmbroker vs tpm2-abrmd vs the"
	@echo "                 embedded TPM (CSV and chart in bench/results/); private"
	@echo "                 instances, batched quotes, log-first measurement against"
	@echo "                 the naive way"
	@echo "make bench-ab BASE=REV"
	@echo "                 A/B of tpmbrokerd of REV (built in a temporary worktree)"
	@echo "                 and of this tree on one swtpm: pass-through and holder"
	@echo "                 cells, interleaved; BENCH_QUICK=1 for a 2-minute run"
	@echo "make fuzz        libFuzzer targets (clang, ASan+UBSan) for FUZZ_SECONDS each"
	@echo "make deb         Debian packages (debhelper, meson) into build-deb/, then lintian;"
	@echo "                 installs the build dependencies (apt-get; as root)"
	@echo "make install     install into /usr/local (plugin, daemon, CLI, header, man pages,"
	@echo "                 systemd units, example config)"
	@echo "make clean       remove $(BUILD)/ and $(ASAN_BUILD)/"

deps:
	@scripts/deps.sh

$(BUILD)/build.ninja:
	meson setup $(BUILD)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) -Db_sanitize=address,undefined -Db_lundef=false

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

build-asan: deps $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)

install: build
	meson install -C $(BUILD) --quiet
	@if [ "$$(id -u)" = 0 ]; then ldconfig; fi

# As root the plugin goes to /usr/local (Debian: /usr/local/lib/<triplet>,
# in the default ld.so path), where tctildr's dlopen() finds it; otherwise
# clients need LD_LIBRARY_PATH pointing at the build tree.
run: build
	@if [ "$$(id -u)" = 0 ]; then \
		meson install -C $(BUILD) --quiet && ldconfig || exit 1; \
		if ! ldconfig -p | grep -q 'libtss2-tcti-tpmbroker\.so\.0 '; then \
			libdir=$$(meson introspect $(BUILD) --buildoptions | \
				python3 -c 'import json,sys; o={x["name"]:x["value"] for x in json.load(sys.stdin)}; print(o["prefix"]+"/"+o["libdir"])'); \
			echo "make run: the dynamic linker does not see $$libdir;" \
				"add it to /etc/ld.so.conf.d/ and run ldconfig," \
				"or export LD_LIBRARY_PATH=$$libdir" >&2; \
		fi; \
		mkdir -p $(STATE_DIR); \
	else \
		mkdir -p $(STATE_DIR); \
		echo "make run: not root, so the TCTI plugin is not installed; in the client's shell:"; \
		echo "  export LD_LIBRARY_PATH=$(CURDIR)/$(BUILD)/src/tcti"; \
	fi
	exec $(BUILD)/src/daemon/tpmbrokerd --backend $(BACKEND) \
		$(if $(SOCKET),--socket $(SOCKET)) \
		--listen mssim:127.0.0.1:$(MSSIM_PORT) $(ARGS)

# Both builds, then every suite (unit, integration, fuzz replay) in both.
check: build build-asan
	@scripts/check.sh $(BUILD) $(ASAN_BUILD)

test: check

# a long run of mixed load (scripts/soak.sh), then log-first measurement's
# crash test with many more rounds than check
SOAK_ROUNDS ?= 500
soak: build
	@scripts/soak.sh $(BUILD) $(SOAK_MINUTES)
	MEASURE_ROUNDS=$(SOAK_ROUNDS) meson test -C $(BUILD) --print-errorlogs -t 10 measure-crash

bench: build
	@scripts/deps.sh bench
	@bench/run.sh $(BUILD)
	@bench/instance.sh $(BUILD)
	@bench/quote.sh $(BUILD)
	@bench/measure.sh $(BUILD)

# BASE is checked before the build, not after it
bench-ab: bench-ab-base build
	@bench/ab.sh $(BUILD) $(BASE)

bench-ab-base:
	@if [ -z "$(BASE)" ]; then \
		echo "make bench-ab: BASE=<git rev> is required: the previous release to compare" \
			"with, e.g. make bench-ab BASE=HEAD~3" >&2; \
		exit 2; \
	fi

fuzz: deps
	@scripts/fuzz.sh

# tpmbroker, libtss2-tcti-tpmbroker0, libtss2-tcti-tpmbroker-dev (and
# their -dbgsym) in build-deb/, lintian's findings in build-deb/lintian.txt
deb:
	@scripts/deb.sh build-deb

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz build-deb
