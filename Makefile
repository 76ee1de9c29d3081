# ssed - Server-Sent Events broker and clients.
# GNU make. Everything below "Configuration" may be set on the command line
# or in the environment; CFLAGS, CPPFLAGS and LDFLAGS add to ours.

# ---- Configuration
PREFIX      ?= /usr/local
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
ZSHCOMPDIR  ?= $(PREFIX)/share/zsh/site-functions
FISHCOMPDIR ?= $(PREFIX)/share/fish/vendor_completions.d
DESTDIR     ?=

CC          ?= cc
AR          ?= ar
PKG_CONFIG  ?= pkg-config
INSTALL     ?= install
BATS        ?= bats
CLANG       ?= clang
FUZZ_SECONDS ?= 60
WERROR      ?= -Werror

# Build outputs: objects in $(O), programs in $(B). The sanitizer build
# uses its own pair so the two never mix.
O ?= build
B ?= bin

# ---- Flags (internal)
SSE_WARN    = -Wall -Wextra $(WERROR) -Wshadow -Wstrict-prototypes \
              -Wmissing-prototypes -Wpointer-arith -Wformat=2
SSE_CFLAGS  = -std=c17 -O2 -g $(SSE_WARN) -MMD -MP
SSE_CPPFLAGS = -D_GNU_SOURCE -Ilib -Icmd/common
LIB_CPPFLAGS = -D_POSIX_C_SOURCE=200809L -Ilib

# pkg-config runs when a recipe needs it, so a missing -dev package is
# reported by name (see need-pkg) and .ci/deps.sh can install it first.
MHD_CFLAGS  = $(shell $(PKG_CONFIG) --cflags libmicrohttpd 2>/dev/null)
MHD_LIBS    = $(shell $(PKG_CONFIG) --libs libmicrohttpd 2>/dev/null)
CURL_CFLAGS = $(shell $(PKG_CONFIG) --cflags libcurl 2>/dev/null)
CURL_LIBS   = $(shell $(PKG_CONFIG) --libs libcurl 2>/dev/null)
# Signed tokens (access.c) and TLS material (tls.c): libjwt, jansson, GnuTLS.
JWT_CFLAGS  = $(shell $(PKG_CONFIG) --cflags libjwt-gnutls jansson gnutls 2>/dev/null)
JWT_LIBS    = $(shell $(PKG_CONFIG) --libs libjwt-gnutls jansson gnutls 2>/dev/null) -lm
TLS_LIBS    = $(shell $(PKG_CONFIG) --libs gnutls 2>/dev/null)
SQLITE_CFLAGS = $(shell $(PKG_CONFIG) --cflags sqlite3 2>/dev/null)
SQLITE_LIBS = $(shell $(PKG_CONFIG) --libs sqlite3 2>/dev/null)
HIREDIS_LIBS = $(shell $(PKG_CONFIG) --libs hiredis 2>/dev/null)
need-pkg = @$(PKG_CONFIG) --exists $(1) 2>/dev/null || { \
	echo "make: error: $(1) not found by $(PKG_CONFIG): install the Debian package $(2)" \
	     "(or run 'make check' or 'make run', which install it)" >&2; exit 1; }

# ---- Sources
LIB_SRC  = lib/buf.c lib/frame.c lib/parse.c
SSED_SRC = $(wildcard cmd/ssed/*.c)
COMMON_SRC = $(wildcard cmd/common/*.c)
PUB_SRC  = $(wildcard cmd/sse-pub/*.c) $(COMMON_SRC)
CAT_SRC  = $(wildcard cmd/sse-cat/*.c) $(COMMON_SRC)
UNIT_SRC = $(wildcard tests/unit/test_*.c)
STORE_SQLITE_SRC = $(wildcard cmd/ssed/store_sqlite*.c)

obj = $(patsubst %.c,$(O)/%.o,$(1))
LIBSSE   = $(O)/libsse.a
PROGS    = $(B)/ssed $(B)/sse-pub $(B)/sse-cat
UNITS    = $(patsubst tests/unit/%.c,$(O)/tests/%,$(UNIT_SRC))
MANPAGES = $(wildcard man/*.1 man/*.7)

# `make check` and `make run` install missing Debian packages before
# anything is compiled; a plain `make` only names what is missing.
DEPS_SET = $(if $(filter check-deb deb,$(MAKECMDGOALS)),deb,$(if $(filter check% sanitize bench fuzz,$(MAKECMDGOALS)),$(if $(filter bench,$(MAKECMDGOALS)),bench,check),$(if $(filter run,$(MAKECMDGOALS)),build,)))
DEPS_FIRST = $(if $(DEPS_SET),deps,)

.PHONY: all check check-unit check-bats check-man check-install check-deb deb run install \
        uninstall clean sanitize fuzz bench deps

all: lib/libsse.a $(PROGS)

deps:
	@.ci/deps.sh $(DEPS_SET)

# The library's canonical place is lib/libsse.a; it is built in $(O).
lib/libsse.a: $(LIBSSE)
	@if [ "$(O)" = build ]; then cp $(LIBSSE) $@; fi

$(LIBSSE): $(call obj,$(LIB_SRC))
	@mkdir -p $(@D)
	rm -f $@ && $(AR) rcs $@ $^

$(O)/lib/%.o: lib/%.c | $(DEPS_FIRST)
	@mkdir -p $(@D)
	$(CC) $(SSE_CFLAGS) $(LIB_CPPFLAGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(O)/cmd/ssed/%.o: cmd/ssed/%.c | $(DEPS_FIRST)
	$(call need-pkg,libmicrohttpd,libmicrohttpd-dev)
	$(call need-pkg,libjwt-gnutls,libjwt-gnutls-dev)
	$(call need-pkg,jansson,libjansson-dev)
	$(call need-pkg,gnutls,libgnutls28-dev)
	$(call need-pkg,sqlite3,libsqlite3-dev)
	@mkdir -p $(@D)
	$(CC) $(SSE_CFLAGS) $(SSE_CPPFLAGS) $(MHD_CFLAGS) $(JWT_CFLAGS) $(SQLITE_CFLAGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(O)/cmd/%.o: cmd/%.c | $(DEPS_FIRST)
	$(call need-pkg,libcurl,libcurl4-openssl-dev)
	@mkdir -p $(@D)
	$(CC) $(SSE_CFLAGS) $(SSE_CPPFLAGS) $(CURL_CFLAGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(O)/tests/%.o: tests/%.c | $(DEPS_FIRST)
	@mkdir -p $(@D)
	$(CC) $(SSE_CFLAGS) $(SSE_CPPFLAGS) $(SQLITE_CFLAGS) $(CPPFLAGS) $(CFLAGS) -c -o $@ $<

$(B)/ssed: $(call obj,$(SSED_SRC) cmd/common/common.c) $(LIBSSE)
	$(call need-pkg,hiredis,libhiredis-dev)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(MHD_LIBS) $(JWT_LIBS) $(SQLITE_LIBS) $(HIREDIS_LIBS) -lpthread

$(B)/sse-pub: $(call obj,$(PUB_SRC)) $(LIBSSE)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(CURL_LIBS)

$(B)/sse-cat: $(call obj,$(CAT_SRC)) $(LIBSSE)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(CURL_LIBS)

$(O)/tests/test_%: $(O)/tests/unit/test_%.o $(LIBSSE)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^

# The hub's tests run the real hub and its units, waker thread and all,
# and the backend conformance suite runs it over every backend.
HUB_OBJ = $(call obj,cmd/ssed/hub.c cmd/ssed/topic.c cmd/ssed/sub.c cmd/ssed/ring.c cmd/ssed/wake.c cmd/ssed/pace.c \
	cmd/ssed/stream.c cmd/ssed/store_mem.c cmd/ssed/pubmark.c)
$(O)/tests/test_hub: $(O)/tests/unit/test_hub.o $(HUB_OBJ) $(LIBSSE)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -lpthread

$(O)/tests/test_store: $(O)/tests/unit/test_store.o $(O)/tests/unit/store_harness.o \
		$(HUB_OBJ) $(call obj,$(STORE_SQLITE_SRC)) $(LIBSSE)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(SQLITE_LIBS) -lpthread

# Tokens are made and signed in the test itself (libjwt, GnuTLS).
$(O)/tests/test_access: $(O)/tests/unit/test_access.o $(O)/cmd/ssed/access.o $(LIBSSE)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(JWT_LIBS)

$(O)/tests/unit/test_access.o $(O)/tests/unit/test_tls.o: SSE_CPPFLAGS += $(JWT_CFLAGS) $(MHD_CFLAGS)

# A real libmicrohttpd daemon over TLS, and a GnuTLS client.
$(O)/tests/test_tls: $(O)/tests/unit/test_tls.o $(O)/cmd/ssed/tls.o $(LIBSSE)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(MHD_LIBS) $(TLS_LIBS) -lpthread

# The durable store's test runs the backend alone, with a fake sink.
$(O)/tests/test_store_sqlite: $(O)/tests/unit/test_store_sqlite.o $(call obj,$(STORE_SQLITE_SRC)) $(LIBSSE)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(SQLITE_LIBS) -lpthread
# The Redis backend's test starts its own redis-server.
$(O)/tests/test_store_redis: $(O)/tests/unit/test_store_redis.o $(O)/cmd/ssed/store_redis.o \
		$(O)/cmd/ssed/store_redis_read.o $(O)/cmd/ssed/redis_script.o \
		$(O)/cmd/ssed/redis_conn.o $(O)/cmd/common/common.o $(LIBSSE)
	$(call need-pkg,hiredis,libhiredis-dev)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(HIREDIS_LIBS) -lpthread

# ---- Tests. tests/run.sh runs the suites given and prints the totals.
# Man-page lint and the install round trip are bats files of their own.
check: all $(UNITS)
	@O=$(O) B=$(B) BATS=$(BATS) tests/run.sh unit bats

check-unit: $(UNITS)
	@O=$(O) B=$(B) tests/run.sh unit

check-bats: all
	@O=$(O) B=$(B) BATS=$(BATS) tests/run.sh bats

check-man:
	@BATS=$(BATS) tests/run.sh bats tests/50-man.bats

check-install: all
	@B=$(B) BATS=$(BATS) tests/run.sh bats tests/51-install.bats

# The Debian package: built from a copy of the tree, checked with lintian,
# installed with dpkg -i, run, and purged (tests/deb/package.bats). It installs a
# package on this machine, so it is not part of `make check`; .ci/run calls it.
check-deb: $(DEPS_FIRST)
	@BATS=$(BATS) tests/run.sh bats tests/deb/package.bats

# The package alone, into build/deb/.
deb: $(DEPS_FIRST)
	dist/build-deb.sh build/deb

# An AddressSanitizer + UndefinedBehaviorSanitizer build of everything,
# then the whole suite against it.
SAN_FLAGS = -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
# Reports go to files that tests/run.sh turns into one more test point.
SAN_LOG = $(CURDIR)/tests/.out/san
sanitize:
	rm -rf $(SAN_LOG) && mkdir -p $(SAN_LOG)
	SAN_LOG=$(SAN_LOG) ASAN_OPTIONS=log_path=$(SAN_LOG)/asan:detect_leaks=1 \
	UBSAN_OPTIONS=log_path=$(SAN_LOG)/ubsan:print_stacktrace=1 \
	$(MAKE) O=build/san B=build/san/bin CFLAGS="$(SAN_FLAGS) $(CFLAGS)" \
		LDFLAGS="-fsanitize=address,undefined $(LDFLAGS)" check

# libFuzzer + ASan + UBSan on the parser, for FUZZ_SECONDS over the corpus.
fuzz: | $(DEPS_FIRST)
	@command -v $(CLANG) >/dev/null || { echo "make: error: fuzz needs clang (Debian package clang)" >&2; exit 1; }
	@mkdir -p build/fuzz/corpus
	$(CLANG) -std=c17 -g -O1 -Ilib -fsanitize=fuzzer,address,undefined \
		-fno-sanitize-recover=all -o build/fuzz/fuzz_parse tests/fuzz/fuzz_parse.c $(LIB_SRC)
	build/fuzz/fuzz_parse -max_total_time=$(FUZZ_SECONDS) -max_len=4096 \
		-print_final_stats=1 build/fuzz/corpus tests/fuzz/corpus

# bench/README.md: REPEAT rounds, subscriber SIZES, BURST_EVENTS per burst,
# PUBLISH_SECS per publish phase at most, LIMIT=0 skips the open-file-limit run.
REPEAT ?= 3
SIZES ?= 1000 10000
BURST_EVENTS ?= 1000
PUBLISH_SECS ?= 20
LIMIT ?= 1
bench: all $(O)/bench/sse-load $(O)/bench/roofline $(O)/bench/store-bench
	@B=$(B) REPEAT=$(REPEAT) SIZES="$(SIZES)" BURST_EVENTS=$(BURST_EVENTS) \
		PUBLISH_SECS=$(PUBLISH_SECS) LIMIT=$(LIMIT) bench/run.sh

$(O)/bench/%: bench/%.c
	@mkdir -p $(@D)
	$(CC) $(SSE_CFLAGS) -D_GNU_SOURCE $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $<

# sse-load speaks TLS too (SSE_LOAD_TLS=1), through GnuTLS.
$(O)/bench/sse-load: bench/sse-load.c
	@mkdir -p $(@D)
	$(CC) $(SSE_CFLAGS) -D_GNU_SOURCE $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(TLS_LIBS)

# The durable store alone, through its interface (run by hand; bench/README.md).
$(O)/bench/store-bench: bench/store-bench.c $(call obj,$(STORE_SQLITE_SRC))
	@mkdir -p $(@D)
	$(CC) $(SSE_CFLAGS) -D_GNU_SOURCE $(CPPFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $(filter %.c %.o,$^) $(SQLITE_LIBS) -lpthread

# make run ARGS='-l 0.0.0.0:9000' passes ARGS to ssed.
ARGS ?=
run: all
	exec $(B)/ssed $(ARGS)

# ---- Install
# A directory is made only when something goes into it.
install: all
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	$(if $(wildcard man/*.7),$(INSTALL) -d $(DESTDIR)$(MANDIR)/man7)
	$(INSTALL) -m 755 $(PROGS) $(DESTDIR)$(BINDIR)
	$(if $(wildcard man/*.1),$(INSTALL) -m 644 $(wildcard man/*.1) $(DESTDIR)$(MANDIR)/man1)
	$(if $(wildcard man/*.7),$(INSTALL) -m 644 $(wildcard man/*.7) $(DESTDIR)$(MANDIR)/man7)
	$(if $(wildcard completions/*.bash),for f in $(wildcard completions/*.bash); do \
		$(INSTALL) -m 644 $$f $(DESTDIR)$(BASHCOMPDIR)/$$(basename $$f .bash); done)
	$(if $(wildcard completions/_*),$(INSTALL) -m 644 $(wildcard completions/_*) $(DESTDIR)$(ZSHCOMPDIR))
	$(if $(wildcard completions/*.fish),$(INSTALL) -m 644 $(wildcard completions/*.fish) $(DESTDIR)$(FISHCOMPDIR))

uninstall:
	rm -f $(addprefix $(DESTDIR)$(BINDIR)/,ssed sse-pub sse-cat)
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(wildcard man/*.1)))
	rm -f $(addprefix $(DESTDIR)$(MANDIR)/man7/,$(notdir $(wildcard man/*.7)))
	rm -f $(addprefix $(DESTDIR)$(BASHCOMPDIR)/,$(basename $(notdir $(wildcard completions/*.bash))))
	rm -f $(addprefix $(DESTDIR)$(ZSHCOMPDIR)/,$(notdir $(wildcard completions/_*)))
	rm -f $(addprefix $(DESTDIR)$(FISHCOMPDIR)/,$(notdir $(wildcard completions/*.fish)))

clean:
	rm -rf build bin lib/libsse.a tests/.out

-include $(shell find $(O) -name '*.d' 2>/dev/null)
