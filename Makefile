# tpmbroker: a thin wrapper around Meson.  The two set-up commands of the
# README are `make run` and `make check`.

BUILD      ?= build
ASAN_BUILD ?= build-asan
STATE_DIR  ?= $(if $(filter 0,$(shell id -u)),/var/lib/tpmbroker/libtpms,$(HOME)/.local/state/tpmbroker/libtpms)
BACKEND    ?= libtpms:state=$(STATE_DIR)
MSSIM_PORT ?= 2321
ARGS       ?=

.PHONY: all deps build build-asan run install check test bench clean help

all: build

help:
	@echo "make run     install missing packages, build, install the TCTI plugin,"
	@echo "             start tpmbrokerd in the foreground (BACKEND=..., ARGS=...)"
	@echo "make check   install missing packages, build plain and ASan+UBSan, run every test"
	@echo "make bench   benchmarks against swtpm and tpm2-abrmd (BENCH_SECONDS=5)"
	@echo "make build   just build ($(BUILD)/)"
	@echo "make install install into /usr/local (plugin, daemon, CLI, header)"
	@echo "make clean   remove the build directories"

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

# As root the plugin goes to /usr/local, where tctildr's dlopen() finds it;
# otherwise LD_LIBRARY_PATH points at the build tree.
run: build
	@if [ "$$(id -u)" = 0 ]; then \
		meson install -C $(BUILD) --quiet && ldconfig; \
	else \
		echo "not root: plugin not installed; clients need LD_LIBRARY_PATH=$(CURDIR)/$(BUILD)/src/tcti"; \
	fi
	exec $(BUILD)/src/daemon/tpmbrokerd --backend $(BACKEND) \
		--listen mssim:127.0.0.1:$(MSSIM_PORT) $(ARGS)

check: build build-asan
	@scripts/check.sh $(BUILD) $(ASAN_BUILD)

test: check

bench: build
	@bench/run.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
