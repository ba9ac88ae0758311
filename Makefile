# warren — build, run, test.
#
#   make            build everything into $(B)/
#   make deps       install the Debian packages the build and tests need (root)
#   make run        local edge node + demo service + tunnel, prints the public URL
#   make test       unit tests, fuzz corpus replay, integration tests
#   make asan       the test suite under AddressSanitizer + UBSan
#   make fuzz       libFuzzer targets, each for FUZZ_SECONDS
#   make bench      benchmarks against a direct connection, prints ratios
#   make install    binaries, systemd units, man pages (PREFIX, DESTDIR, SYSCONFDIR)
#   make deb        a Debian package with the same layout (dpkg-deb)
#   make docker-up / docker-test / docker-down   the three-region compose cluster
#
# Layout: every dir's *.c except *_main.c goes into lib<dir>.a; each *_main.c is
# a program; each tests/unit/test_*.c is a cmocka binary linked with all libs.

B        ?= build
CC       ?= cc
V        ?= 0
Q        := $(if $(filter 1,$(V)),,@)
PKGS     := openssl sqlite3 libmaxminddb inih jansson ldns
CFLAGS   ?= -O2 -g
override CFLAGS += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wshadow -Wmissing-prototypes \
            -Wno-unused-parameter -Iproto -I. -MMD -MP \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
override LDLIBS += $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lhttp_parser -lnng -lev -lpthread -lm

DIRS     := proto node router gossip client
PROGS    := warren-node warren-acceptor warren-router warren-gossip warren clusterctl

# program name -> its main file
MAIN_warren-node     := node/node_main.c
MAIN_warren-acceptor := node/acceptor_main.c
MAIN_warren-router   := router/router_main.c
MAIN_warren-gossip   := gossip/gossip_main.c
MAIN_warren          := client/warren_main.c
MAIN_clusterctl      := client/clusterctl_main.c

lib_srcs  = $(filter-out %_main.c,$(wildcard $(1)/*.c))
LIBS     := $(foreach d,$(DIRS),$(if $(call lib_srcs,$(d)),$(B)/lib$(d).a))
# process libs first, proto last (they depend on it)
LINKLIBS := $(filter-out $(B)/libproto.a,$(LIBS)) $(filter $(B)/libproto.a,$(LIBS))
BINS     := $(foreach p,$(PROGS),$(if $(wildcard $(MAIN_$(p))),$(B)/$(p)))
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNITS    := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRCS))
TOOL_SRCS := $(wildcard tests/tools/*.c)
TOOLS    := $(patsubst tests/tools/%.c,$(B)/tools/%,$(TOOL_SRCS))
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
REPLAYS  := $(patsubst tests/fuzz/%.c,$(B)/replay/%,$(FUZZ_SRCS))

.PHONY: all deps run test unit integ replay asan fuzz bench clean
.SECONDARY:
all: $(BINS) $(TOOLS)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(if $(Q),@echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<

define lib_rule
$(B)/lib$(1).a: $(patsubst %.c,$(B)/%.o,$(call lib_srcs,$(1)))
	$(if $(Q),@echo "  AR      $$@")
	$(Q)rm -f $$@ && ar rcs $$@ $$^
endef
$(foreach d,$(DIRS),$(eval $(call lib_rule,$(d))))

define prog_rule
$(B)/$(1): $(B)/$(patsubst %.c,%.o,$(MAIN_$(1))) $(LIBS)
	$(if $(Q),@echo "  LD      $$@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $$@ $$< $(LINKLIBS) $(LDLIBS)
endef
$(foreach p,$(PROGS),$(eval $(call prog_rule,$(p))))

# The request inspector's page, compiled in: client/inspect_page/* -> C arrays.
PAGE_FILES := $(wildcard client/inspect_page/*.html client/inspect_page/*.css client/inspect_page/*.js)
$(B)/gen/inspect_page.c: $(PAGE_FILES) client/inspect_page/embed.sh
	@mkdir -p $(dir $@)
	$(if $(Q),@echo "  GEN     $@")
	$(Q)sh client/inspect_page/embed.sh $(PAGE_FILES) > $@.tmp && mv $@.tmp $@
$(B)/gen/inspect_page.o: $(B)/gen/inspect_page.c
	$(if $(Q),@echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<
$(B)/libclient.a: $(B)/gen/inspect_page.o

$(B)/tests/%: $(B)/tests/unit/%.o $(LIBS)
	@mkdir -p $(dir $@)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LINKLIBS) $(shell pkg-config --libs cmocka) $(LDLIBS)

$(B)/tools/%: $(B)/tests/tools/%.o $(LIBS)
	@mkdir -p $(dir $@)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LINKLIBS) $(LDLIBS)

# Fuzz corpus replay: each target linked with a small main that feeds it every
# file of tests/fuzz/corpus/<target>/ (no clang needed).
$(B)/replay/%: $(B)/tests/fuzz/%.o $(B)/tests/fuzz/replay.o $(LIBS)
	@mkdir -p $(dir $@)
	$(if $(Q),@echo "  LD      $@")
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(B)/tests/fuzz/replay.o $(LINKLIBS) $(LDLIBS)

$(B)/tests/fuzz/replay.o: tests/fuzz/replay.inc
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -x c -c -o $@ $<

deps:
	sh tests/deps.sh

# test_router drives the real router and gossip processes
unit: $(UNITS) $(B)/warren-router $(B)/warren-gossip
	$(Q)WARREN_BIN=$(B) sh tests/run_unit.sh $(UNITS)

replay: $(REPLAYS)
	$(Q)sh tests/run_replay.sh $(B)

integ: all
	$(Q)WARREN_BIN=$(B) /usr/bin/python3 tests/integ/run.py

# On a fresh machine the packages come first: the build needs them.
test:
	$(Q)sh tests/deps.sh
	$(Q)$(MAKE) --no-print-directory all
	$(Q)$(MAKE) --no-print-directory unit replay integ

run:
	$(Q)sh tests/deps.sh
	$(Q)$(MAKE) --no-print-directory all
	$(Q)sh tests/run_demo.sh $(B)

asan:
	WARREN_SANITIZE=1 ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 $(MAKE) B=build-asan CC=clang CFLAGS="-O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" LDFLAGS="-fsanitize=address,undefined" test

FUZZ_SECONDS ?= 30
fuzz:
	$(Q)FUZZ_SECONDS=$(FUZZ_SECONDS) sh tests/fuzz/run.sh

bench: all
	$(Q)WARREN_BIN=$(B) sh tests/bench/run.sh

clean:
	rm -rf build build-asan build-fuzz

# --- install, Debian package, Docker (the scripts are under docker/) ---
PREFIX     ?= /usr/local
DESTDIR    ?=
SYSCONFDIR ?= /etc
VERSION    ?= 0.1.0
.PHONY: install deb docker-up docker-test docker-down
install: all
	$(Q)B=$(B) PREFIX=$(PREFIX) DESTDIR=$(DESTDIR) SYSCONFDIR=$(SYSCONFDIR) sh docker/install.sh

deb: all
	$(Q)B=$(B) VERSION=$(VERSION) sh docker/deb.sh

docker-up docker-test docker-down:
	$(Q)sh docker/compose.sh $(patsubst docker-%,%,$@)

-include $(shell find $(B) -name '*.d' 2>/dev/null)
