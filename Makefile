# berth: plain GNU make. Objects go to $(BUILD) with -MMD -MP dependencies;
# nothing is written into the source tree.
#
#   make                 build/berth and build/libberth.a
#   make check           unit + integration tests (as root), then check-vm
#   make check-vm        the cgroup v2 checks in a QEMU guest (tests/vm)
#   make check SANITIZE=address,undefined
#   make demo            run a container from the bundled test bundle
#   make deps            apt-get the Debian packages berth needs
#   make format / format-check
#   make install PREFIX=/usr/local
#   V=1 shows full commands.

PREFIX    ?= /usr/local
CC        ?= cc
SANITIZE  ?=
V         ?= 0

ifeq ($(SANITIZE),)
BUILD     ?= build
else
BUILD     ?= build/sanitize
endif

PKGS      := libnl-3.0 libnl-route-3.0 libcjson libseccomp libcap libnftables
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libnftables is loaded with dlopen on first use (netns/netns-nft.c says
# why): its header only.
PKG_LIBS  := $(shell pkg-config --libs $(filter-out libnftables,$(PKGS)) 2>/dev/null)

WARN      := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes \
             -Wstrict-prototypes -Wformat=2 -Wno-unused-parameter \
             -Wno-format-truncation
CFLAGS    ?= -O2 -g
ALL_CFLAGS := -std=gnu11 $(WARN) -D_GNU_SOURCE -fno-strict-aliasing -I. \
              $(PKG_CFLAGS) $(CFLAGS)
LDFLAGS   ?=
ALL_LDFLAGS := $(LDFLAGS)
# libnl, libseccomp and libcap are linked statically where Debian ships the
# archives: fewer shared objects to map makes every berth call start faster
# and smaller (cJSON has no archive in Debian).
STATIC_LIBS := $(foreach l,nl-route-3 nl-3 seccomp cap,\
	$(if $(wildcard /usr/lib/$(shell $(CC) -print-multiarch 2>/dev/null)/lib$(l).a),$(l)))
ifeq ($(words $(STATIC_LIBS)),4)
LIBS      := -Wl,-Bstatic $(addprefix -l,$(STATIC_LIBS)) -Wl,-Bdynamic -lcjson -lpthread -lm
else
LIBS      := $(PKG_LIBS)
endif

ifneq ($(SANITIZE),)
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -O1
ALL_LDFLAGS += -fsanitize=$(SANITIZE)
else
# Every berth process maps its binary in 64 KiB windows around each page
# it touches. C needs no unwind tables at run time (-g still writes
# .debug_frame for debuggers), and packed relative relocations (DT_RELR,
# binutils 2.38 and glibc 2.36) shrink the relocation table from about
# 47 KiB to 0.5 KiB: about 80 KiB less resident per call.
ALL_CFLAGS += -fno-asynchronous-unwind-tables
RELR := $(shell t=$$(mktemp) && echo 'int main(void){return 0;}' | \
	$(CC) -x c - -o $$t -Wl,--fatal-warnings -Wl,-z,pack-relative-relocs \
	2>/dev/null && echo -Wl,-z,pack-relative-relocs; rm -f $$t)
ALL_LDFLAGS += $(RELR)
# Each function in a section of its own, so that the link can place the
# ones a container start runs together (tests/bench/order.sh says why).
ALL_CFLAGS += -ffunction-sections
BERTH_ORDER_LD := $(BUILD)/berth-order.ld
endif

ifeq ($(V),1)
Q :=
else
Q := @
endif

LIB_MODULES := base oci cgroups netns runtime dist engine
LIB_SRCS  := $(foreach m,$(LIB_MODULES),$(wildcard $(m)/*.c))
LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o)
CLI_SRCS  := $(wildcard cli/*.c)
CLI_OBJS  := $(CLI_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(filter-out tests/unit/test-main.c,$(wildcard tests/unit/test-*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
UNIT_MAIN := $(BUILD)/tests/unit/test-main.o

BERTH     := $(BUILD)/berth
LIBBERTH  := $(BUILD)/libberth.a
PROBE     := $(BUILD)/probe
AGENT     := $(BUILD)/berth-agent
ROOTFS    := $(BUILD)/rootfs
DEMO_IMAGE := $(BUILD)/images/demo.tar
BENCH_WORKER := $(BUILD)/bench-bw-empty
BENCH_SPIN := $(BUILD)/bench-bw-spin
BENCH_CPU := $(BUILD)/bench-cpu-split
DEMO_WORKER := $(BUILD)/images/layer/usr/bin/worker-primes

.PHONY: all check check-all demo-run check-unit check-integration check-vm demo deps format format-check \
        install clean soak bench bench-cgroups bench-images bench-network bench-build bench-compose test-rootfs layering demo-image fuzz \
        fuzz-deps fuzz-ci fuzz-run fuzz-merge \
        profile-order

all: $(BERTH) $(LIBBERTH) $(AGENT)

# A stamp holding the flags: changing them rebuilds everything.
FLAGS_STAMP := $(BUILD)/.flags
$(shell mkdir -p $(BUILD) && echo '$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS)' | \
	cmp -s - $(FLAGS_STAMP) || echo '$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS)' > $(FLAGS_STAMP))

$(BUILD)/%.o: %.c $(FLAGS_STAMP)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALL_CFLAGS) -MMD -MP -c $< -o $@

$(LIBBERTH): $(LIB_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

# berth links its objects in this order, not through libberth.a: what a
# container start runs comes first, the image and work-distribution code
# last, so that `berth run` touches fewer of the 64 KiB windows the kernel
# maps around each page fault (about 150 KiB less resident). Its segments
# are 64 KiB aligned (max-page-size), so that the kernel loads it on a
# window boundary and the ordered code and data fill whole windows instead
# of straddling one more at a random offset.
START_OBJS := $(addprefix $(BUILD)/cli/,main.o cli-args.o cmd-run.o cmd-create.o \
	cmd-start.o cmd-delete.o cmd-kill.o cmd-state.o) \
	$(filter $(BUILD)/base/%,$(LIB_OBJS)) \
	$(addprefix $(BUILD)/oci/oci-,$(addsuffix .o,config json linux process \
	resources seccomp state spec)) \
	$(filter $(BUILD)/cgroups/% $(BUILD)/netns/%,$(LIB_OBJS)) \
	$(filter-out %-launch.o %-launch-config.o,$(filter $(BUILD)/runtime/%,$(LIB_OBJS)))
BERTH_OBJS := $(START_OBJS) $(filter-out $(START_OBJS),$(CLI_OBJS) $(LIB_OBJS))

$(BERTH): $(BERTH_OBJS) $(BERTH_ORDER_LD)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) $(if $(BERTH_ORDER_LD),-Wl$(comma)-T$(comma)$(BERTH_ORDER_LD) \
		-Wl$(comma)-fini=cli_fini -Wl$(comma)-z$(comma)max-page-size=0x10000) \
		-o $@ $(BERTH_OBJS) $(LIBS)

# The profile (tests/bench/berth.order) as a linker script: every
# constructor and destructor (all processes run them), then its functions
# and library members, in one output section before the rest of the text; the read-only data of those members and of its objects in one
# after the rest of .rodata (placed before it, the section would join the
# executable segment). A name the compiler cloned (foo.constprop.0) is
# matched too. Names that no longer exist match nothing; `make layering`
# reports them.
comma := ,
ORDER := tests/bench/berth.order
$(BUILD)/berth-order.ld: $(ORDER) Makefile
	@mkdir -p $(dir $@)
	$(Q)awk 'BEGIN { print "SECTIONS {\n  .text.berth_hot : {"; \
		print "    *crt1.o(.text .text.*)\n    *crtbegin*.o(.text .text.*)"; \
		print "    *(.text.cli_fini)\n    *(.text.startup .text.startup.* .text.exit .text.exit.*)" } \
		/^#/ || NF == 0 { next } \
		/\.a:/ { print "    *" $$1 "(.text .text.*)"; ro[++n] = "*" $$1; next } \
		/\.o$$/ { ro[++n] = "*/" $$1; next } \
		{ print "    *(.text." $$1 " .text." $$1 ".*)" } \
		END { print "  }\n} INSERT BEFORE .text;\nSECTIONS {\n  .rodata.berth_hot : {"; \
		for (i = 1; i <= n; i++) print "    " ro[i] "(.rodata .rodata.*)"; \
		print "  }\n} INSERT AFTER .rodata;" }' $< >$@.tmp && mv $@.tmp $@

# Regenerates the profile: traces berth's calls one instruction at a time.
HOT_TRACE := $(BUILD)/hot-trace
$(HOT_TRACE): tests/bench/hot-trace.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) -std=gnu11 -O2 $(WARN) -D_GNU_SOURCE -o $@ $<
profile-order: $(BERTH) $(ROOTFS)/.stamp $(HOT_TRACE)
	$(Q)BERTH=$(abspath $(BERTH)) ROOTFS=$(abspath $(ROOTFS)) \
		HOT_TRACE=$(abspath $(HOT_TRACE)) BUILD=$(abspath $(BUILD)) \
		bash tests/bench/order.sh

# The DNS tests ask their server with libresolv.
$(BUILD)/tests/test-netns-cni: LIBS += -lresolv

$(BUILD)/tests/test-%: $(BUILD)/tests/unit/test-%.o $(UNIT_MAIN) $(LIBBERTH)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $< $(UNIT_MAIN) $(LIBBERTH) $(LIBS)

# The probe answers questions from inside a container; static, so that it
# runs in a busybox rootfs.
$(PROBE): tests/probe/probe.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@ (static)")
	$(Q)$(CC) -std=gnu11 -O2 $(WARN) -D_GNU_SOURCE -static -o $@ $<

# berth par's agent runs inside worker containers of any rootfs: static,
# with the worker library linked in; `berth par` finds it next to berth.
AGENT_SRCS := dist/agent/berth-agent.c dist/worker/bw-client.c
$(AGENT): $(AGENT_SRCS) dist/berth-worker.h dist/berth-queue-layout.h \
		dist/dist-par-internal.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@ (static)")
	$(Q)$(CC) -std=gnu11 -O2 $(WARN) -D_GNU_SOURCE -I. -static -o $@ $(AGENT_SRCS)

# A busybox rootfs made from Debian's busybox-static at build time.
BUSYBOX ?= /bin/busybox
$(ROOTFS)/.stamp: $(PROBE) tests/integration/mkrootfs.sh
	$(Q)sh tests/integration/mkrootfs.sh $(BUSYBOX) $(PROBE) $(ROOTFS)
	@touch $@

test-rootfs: $(ROOTFS)/.stamp


check-unit: $(UNIT_BINS)
	$(Q)sh tests/unit/run.sh $(UNIT_BINS)

check-integration: $(BERTH) $(AGENT) $(ROOTFS)/.stamp $(DEMO_IMAGE)
	$(Q)BERTH=$(abspath $(BERTH)) ROOTFS=$(abspath $(ROOTFS)) \
		bash tests/integration/run.sh

# This host's cgroups may be v1 or hybrid: the v2 code runs in a guest.
VM_UNIT_BINS := $(addprefix $(BUILD)/tests/,test-cgroups test-cgroups-v2 test-cgres)
check-vm: $(BERTH) $(AGENT) $(ROOTFS)/.stamp $(VM_UNIT_BINS) $(BENCH_WORKER) \
		$(BENCH_CPU) $(DEMO_WORKER)
	$(Q)VM_NUMA=1 VM_TIMEOUT=$${VM_TIMEOUT:-600} bash tests/vm/run-in-vm.sh --skip-as check-vm -- env \
		BERTH=$(abspath $(BERTH)) ROOTFS=$(abspath $(ROOTFS)) \
		UNIT_DIR=$(abspath $(BUILD)/tests) BENCH_WORKER=$(abspath $(BENCH_WORKER)) \
		BENCH_CPU=$(abspath $(BENCH_CPU)) DEMO_WORKER=$(abspath $(DEMO_WORKER)) \
		bash tests/vm/check-v2.sh
	$(Q)VM_INIT=systemd VM_TIMEOUT=$${VM_TIMEOUT:-600} bash tests/vm/run-in-vm.sh --skip-as check-vm-systemd -- \
		env BERTH=$(abspath $(BERTH)) ROOTFS=$(abspath $(ROOTFS)) \
		bash tests/vm/check-v2.sh 'systemd_*'

# check and demo first install what is missing, then re-read the Makefile
# so that pkg-config sees the new packages.
check: deps
	$(Q)$(MAKE) --no-print-directory layering check-unit check-integration check-vm

check-all: layering check-unit check-integration check-vm

# The rule of layers: base <- oci, cgroups, netns <- runtime <- dist <- cli.
layering: $(BERTH)
	$(Q)sh tests/layering.sh
	$(if $(BERTH_ORDER_LD),$(Q)sh tests/order-check.sh $(BERTH) $(ORDER))

demo: deps
	$(Q)$(MAKE) --no-print-directory demo-run

# The demo builds its image from examples/Dockerfile with berth build.
demo-run: $(BERTH) $(AGENT) $(ROOTFS)/.stamp $(DEMO_WORKER)
	$(Q)BERTH=$(abspath $(BERTH)) ROOTFS=$(abspath $(ROOTFS)) \
		HOST_WORKER=$(abspath $(DEMO_WORKER)) bash tests/demo.sh

bench: $(BERTH) $(ROOTFS)/.stamp
	$(Q)BERTH=$(abspath $(BERTH)) ROOTFS=$(abspath $(ROOTFS)) bash tests/bench/start.sh

# A long run checked for leaks and lost tasks (tests/soak/soak.sh; about
# 20 minutes, not in CI). SOAK_RUNS, SOAK_LAUNCHES, SOAK_PAR_SECONDS.
soak: $(BERTH) $(AGENT) $(ROOTFS)/.stamp $(DEMO_IMAGE)
	$(Q)BERTH=$(abspath $(BERTH)) ROOTFS=$(abspath $(ROOTFS)) \
		DEMO_IMAGE=$(abspath $(DEMO_IMAGE)) bash tests/soak/soak.sh

# libFuzzer targets (tests/fuzz/README.md): clang with Debian's
# libclang-rt-14-dev. `make fuzz` builds them; FUZZ_SECONDS=N runs each.
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz-*.c)
FUZZ_BINS := $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)
# The queue's target links the coordinator's queue (not par, pool or job,
# which pull in the runtime) and the worker library; the others oci/.
FUZZ_DQ_SRCS := $(addprefix dist/dist-,queue.c ring.c lease.c result.c chunk.c \
	arena.c futex.c audit.c) $(wildcard dist/worker/*.c)
# The Dockerfile's and the YAML's targets link their one engine/ file (the
# Dockerfile's checks a stage name with the runtime's container-id rule,
# whose file needs oci/ and cgroups/).
FUZZ_SRCS_fuzz-queue := $(FUZZ_DQ_SRCS)
FUZZ_SRCS_fuzz-dockerfile := engine/engine-dockerfile.c runtime/runtime-state.c \
	$(wildcard oci/*.c cgroups/*.c)
FUZZ_SRCS_fuzz-yaml := engine/engine-yaml.c
FUZZ_DEPS := $(wildcard oci/*.c base/*.c oci/*.h base/*.h dist/*.h cgroups/*.[ch]) \
	$(FUZZ_DQ_SRCS) $(FUZZ_SRCS_fuzz-dockerfile) $(FUZZ_SRCS_fuzz-yaml) \
	engine/engine-internal.h
fuzz_srcs = $(or $(FUZZ_SRCS_$(1)),oci/*.c) base/*.c
$(BUILD)/fuzz/%: tests/fuzz/%.c $(FUZZ_DEPS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ    $@")
	$(Q)clang -g -O1 -fsanitize=fuzzer,address,undefined -I. -D_GNU_SOURCE \
		$(PKG_CFLAGS) $< $(call fuzz_srcs,$*) -lcjson -lpthread -o $@
fuzz: $(FUZZ_BINS)
	$(Q)for f in $(FUZZ_BINS); do \
		[ -z "$(FUZZ_SECONDS)" ] || $$f -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done

# CI runs every target for FUZZ_CI_SECONDS on the corpus the repository
# keeps (tests/fuzz/corpus-NAME; tests/fuzz/run.sh), after installing
# clang's libFuzzer if missing. `make fuzz-merge` runs them as long and
# adds what reaches new code to that corpus, for a commit.
FUZZ_CI_SECONDS ?= 20
fuzz-deps:
	$(Q)sh tests/deps.sh clang libclang-rt-14-dev
fuzz-ci: fuzz-deps
	$(Q)$(MAKE) --no-print-directory fuzz-run
fuzz-run: $(FUZZ_BINS)
	$(Q)sh tests/fuzz/run.sh $(FUZZ_CI_SECONDS) $(FUZZ_BINS)
fuzz-merge: $(FUZZ_BINS)
	$(Q)sh tests/fuzz/run.sh $(FUZZ_CI_SECONDS) merge $(FUZZ_BINS)

bench-images: $(BERTH) $(ROOTFS)/.stamp
	$(Q)BERTH=$(abspath $(BERTH)) ROOTFS=$(abspath $(ROOTFS)) bash tests/bench/images.sh

# bridge networks against none, Docker's bridge and a plain veth pair, in
# network namespaces of its own (tests/bench/network.sh, about 2 minutes)
bench-network: $(BERTH) $(ROOTFS)/.stamp
	$(Q)BERTH=$(abspath $(BERTH)) ROOTFS=$(abspath $(ROOTFS)) bash tests/bench/network.sh

bench-build: $(BERTH) $(ROOTFS)/.stamp $(DEMO_IMAGE)
	$(Q)BERTH=$(abspath $(BERTH)) ROOTFS=$(abspath $(ROOTFS)) \
		DEMO_IMAGE=$(abspath $(DEMO_IMAGE)) bash tests/bench/build.sh

bench-compose: $(BERTH) $(AGENT) $(ROOTFS)/.stamp $(DEMO_IMAGE)
	$(Q)BERTH=$(abspath $(BERTH)) ROOTFS=$(abspath $(ROOTFS)) \
		DEMO_IMAGE=$(abspath $(DEMO_IMAGE)) bash tests/bench/compose.sh

bench-cgroups: $(LIBBERTH)
	$(Q)BUILD=$(BUILD) bash tests/bench/cgroups.sh

# ---- dist: the worker library, its example, the queue's tests and bench --
# libberthworker is linked into user programs inside containers: it needs
# libc alone, so dist/worker/ stays out of libberth.a.
LIBBW_SRCS := $(wildcard dist/worker/*.c)
LIBBW_OBJS := $(patsubst %.c,$(BUILD)/%.o,$(LIBBW_SRCS))
LIBBW_A   := $(BUILD)/libberthworker.a
LIBBW_SO  := $(BUILD)/libberthworker.so
DIST_TESTS := $(BUILD)/tests/test-dist $(BUILD)/tests/test-dist-stress \
              $(BUILD)/tests/test-dist-hostile $(BUILD)/tests/test-dist-chunk
BENCH_QUEUE := $(BUILD)/bench-queue

.PHONY: libberthworker examples bench-dist bench-par bench-balance check-tsan

$(LIBBW_OBJS): ALL_CFLAGS += -fPIC

$(LIBBW_A): $(LIBBW_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIBBW_SO): $(LIBBW_OBJS)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -shared -Wl,-soname,libberthworker.so -o $@ $^

libberthworker: $(LIBBW_A) $(LIBBW_SO)

EXAMPLES  := $(patsubst %.c,$(BUILD)/%,$(wildcard examples/*.c))
$(EXAMPLES): $(BUILD)/examples/%: $(BUILD)/examples/%.o $(LIBBW_A)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBBW_A)

examples: $(EXAMPLES)

# The queue's tests run workers in-process too: they link the worker library.
$(DIST_TESTS): $(BUILD)/tests/test-%: $(BUILD)/tests/unit/test-%.o $(UNIT_MAIN) $(LIBBERTH) $(LIBBW_A)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $< $(UNIT_MAIN) $(LIBBERTH) $(LIBBW_A) $(LIBS) -lpthread

$(BENCH_QUEUE): $(BUILD)/tests/bench/queue.o $(LIBBERTH) $(LIBBW_A)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(ALL_LDFLAGS) -o $@ $< $(LIBBERTH) $(LIBBW_A) $(LIBS) -lpthread

bench-dist: $(BENCH_QUEUE) $(BERTH) $(AGENT) $(ROOTFS)/.stamp $(BENCH_WORKER) \
		$(BENCH_CPU) $(DEMO_WORKER)
	$(Q)BENCH_QUEUE=$(abspath $(BENCH_QUEUE)) BERTH=$(abspath $(BERTH)) \
		ROOTFS=$(abspath $(ROOTFS)) BENCH_WORKER=$(abspath $(BENCH_WORKER)) \
		BENCH_CPU=$(abspath $(BENCH_CPU)) \
		DEMO_WORKER=$(abspath $(DEMO_WORKER)) bash tests/bench/dist.sh

$(BENCH_WORKER): tests/bench/bw-empty.c $(LIBBW_SRCS) dist/berth-worker.h \
		dist/berth-queue-layout.h
	@$(if $(Q),echo "  CC      $@ (static)")
	$(Q)$(CC) -std=gnu11 -O2 $(WARN) -D_GNU_SOURCE -I. -static -o $@ $< $(LIBBW_SRCS)

$(BENCH_SPIN): tests/bench/bw-spin.c $(LIBBW_SRCS) dist/berth-worker.h \
		dist/berth-queue-layout.h
	@$(if $(Q),echo "  CC      $@ (static)")
	$(Q)$(CC) -std=gnu11 -O2 $(WARN) -D_GNU_SOURCE -I. -static -o $@ $< $(LIBBW_SRCS)

$(BENCH_CPU): tests/bench/cpu-split.c
	@$(if $(Q),echo "  CC      $@")
	$(Q)$(CC) -std=gnu11 -O2 $(WARN) -D_GNU_SOURCE -o $@ $<

# berth par end to end against GNU parallel, xargs -P, host processes and
# docker run; the demo's workload against the host; berth's own CPU.
bench-par: $(BERTH) $(AGENT) $(ROOTFS)/.stamp $(BENCH_WORKER) $(BENCH_CPU) \
		$(DEMO_WORKER) $(BENCH_QUEUE)
	$(Q)BERTH=$(abspath $(BERTH)) ROOTFS=$(abspath $(ROOTFS)) \
		BENCH_QUEUE=$(abspath $(BENCH_QUEUE)) \
		BENCH_WORKER=$(abspath $(BENCH_WORKER)) \
		BENCH_CPU=$(abspath $(BENCH_CPU)) \
		DEMO_WORKER=$(abspath $(DEMO_WORKER)) bash tests/bench/par.sh

# chunks on uneven tasks and on workers of different speed, against the
# best static split on the host
bench-balance: $(BERTH) $(AGENT) $(ROOTFS)/.stamp $(BENCH_SPIN)
	$(Q)BERTH=$(abspath $(BERTH)) ROOTFS=$(abspath $(ROOTFS)) \
		BENCH_SPIN=$(abspath $(BENCH_SPIN)) bash tests/bench/balance.sh

# ThreadSanitizer build of the queue's unit tests; the stress test's
# threads variant (TSan does not follow processes); the chunks' tests,
# whose workers are threads.
TSAN_BUILD := $(BUILD)/tsan
check-tsan:
	$(Q)$(MAKE) --no-print-directory SANITIZE=thread BUILD=$(TSAN_BUILD) \
		$(TSAN_BUILD)/tests/test-dist $(TSAN_BUILD)/tests/test-dist-stress \
		$(TSAN_BUILD)/tests/test-dist-chunk
	$(Q)TSAN_OPTIONS="halt_on_error=1 $(TSAN_OPTIONS)" $(TSAN_BUILD)/tests/test-dist
	$(Q)TSAN_OPTIONS="halt_on_error=1 $(TSAN_OPTIONS)" $(TSAN_BUILD)/tests/test-dist-chunk
	$(Q)TSAN_OPTIONS="halt_on_error=1 $(TSAN_OPTIONS)" \
		$(TSAN_BUILD)/tests/test-dist-stress stress_threads \
		stress_threads_sleep_at_once

# The bundled image: a docker archive of the busybox rootfs plus the demo
# worker (static, with the worker library), written by the project's own
# image writer. Nothing is downloaded.
# Static programs for containers are built from the worker library's
# source, without the sanitizers (which cannot link statically).
$(DEMO_WORKER): examples/worker-primes.c $(LIBBW_SRCS) dist/berth-worker.h \
		dist/berth-queue-layout.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $@ (static)")
	$(Q)$(CC) -std=gnu11 -O2 $(WARN) -D_GNU_SOURCE -I. -static -o $@ $< $(LIBBW_SRCS)

$(DEMO_IMAGE): $(DEMO_WORKER) $(ROOTFS)/.stamp tests/integration/mkimage.py
	@$(if $(Q),echo "  IMAGE   $@")
	$(Q)printf '{"tags": ["berth-demo:latest"], "config": {"Cmd": ["/usr/bin/worker-primes"], "Env": ["PATH=/usr/bin:/bin"]}, "layers": [{"dir": "%s", "compress": "gzip"}, {"dir": "%s"}]}' \
		$(abspath $(ROOTFS)) $(abspath $(BUILD)/images/layer) | \
		python3 tests/integration/mkimage.py docker $@.tmp && mv $@.tmp $@

demo-image: $(DEMO_IMAGE)

-include $(LIBBW_OBJS:.o=.d) $(BUILD)/tests/bench/queue.d $(EXAMPLES:=.d)

DEB_PKGS := build-essential pkg-config libseccomp-dev libcap-dev libnl-3-dev \
            libnl-route-3-dev libnftables-dev containernetworking-plugins iptables \
            dnsmasq-base libcjson-dev busybox-static clang-format python3 \
            libarchive-dev libssl-dev libcurl4-openssl-dev iproute2 util-linux \
            jq skopeo docker-registry qemu-system-x86 linux-image-amd64 \
            libsystemd-dev systemd nftables libyaml-dev strace
deps:
	$(Q)sh tests/deps.sh $(DEB_PKGS)

FORMAT_SRCS = $(shell git ls-files '*.c' '*.h' 2>/dev/null || \
	find base oci cgroups netns runtime dist cli tests -name '*.[ch]')
format:
	$(Q)clang-format -i $(FORMAT_SRCS)
format-check:
	$(Q)clang-format --dry-run -Werror $(FORMAT_SRCS)

install: $(BERTH) $(AGENT)
	install -D -m 0755 $(BERTH) $(DESTDIR)$(PREFIX)/bin/berth
	install -D -m 0755 $(AGENT) $(DESTDIR)$(PREFIX)/bin/berth-agent

clean:
	rm -rf build

-include $(LIB_OBJS:.o=.d) $(CLI_OBJS:.o=.d) $(UNIT_BINS:$(BUILD)/tests/%=$(BUILD)/tests/unit/%.d) $(UNIT_MAIN:.o=.d)
