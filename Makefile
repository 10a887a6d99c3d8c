# ngx_http_magic_link_module: build, test and demo. Every target installs what it needs.
#
#   make            build build/ngx_http_magic_link_module.so against Debian's nginx
#   make test       unit tests (cmocka), nginx suites (t/, real Redis, PostgreSQL, Directus), the
#                   same suites with an ASan+UBSan build of the module, and a short fuzz run
#   make test-valgrind   the nginx suites with nginx under valgrind memcheck (slow; by hand)
#   make test-directus   the suites that talk to Directus against DIRECTUS_VERSION; make
#                   test-directus-versions: against each of DIRECTUS_OTHER_VERSIONS (by hand)
#   DIRECTUS_VERSION=x.y.z   the Directus every target starts (default 12.3.1, scripts/directus.sh)
#   make demo       the whole flow running on 127.0.0.1 (see README)
#   make deb        build/deb/libnginx-mod-http-magic-link_<version>_<arch>.deb (debian/), lintian
#   make format     clang-format the C++ sources

NGINX_SRC  ?= /usr/share/nginx/src
BUILD      ?= build
NGX_BUILD  := $(BUILD)/nginx
MODULE     := $(BUILD)/ngx_http_magic_link_module.so
UNIT_TESTS := $(BUILD)/unit-tests

CORE_SOURCES  := $(sort $(shell find src/core -name '*.cpp'))
NGINX_SOURCES := $(sort $(wildcard src/nginx/*.cpp))
HEADERS       := $(sort $(shell find src/core src/nginx -name '*.h'))
UNIT_SOURCES  := $(sort $(wildcard tests/unit/*.cpp))
MIGRATIONS    := $(sort $(wildcard sql/[0-9]*.sql))
FUNCTIONS     := sql/functions.sql
# The schema migrations as a C++ table; one path for every build (plain, ASan, fuzz, unit).
GENERATED     := build/generated/migrations.inc
LIBS          := -lhiredis -lpq -lcurl -lcrypto -loath -ljwt -lz $(shell pkg-config --libs gmime-3.0)
GMIME_INCLUDES = $(shell pkg-config --cflags-only-I gmime-3.0)

CXX      ?= g++
CXXFLAGS ?= -O2 -g -Wall -Wextra -Werror
NGX_CC_OPT ?= -O2 -g
NGX_LD_OPT ?=

.PHONY: all deps test-deps unit t test test-asan test-valgrind test-directus test-directus-versions \
        test-directus-of-the-day demo demo-stop deb format clean FORCE

# The Directus the services run (scripts/directus.sh reads it; unset: its default, 12.3.1), and the
# other versions the suites pass against (README: Supported Directus versions).
export DIRECTUS_VERSION
DIRECTUS_OTHER_VERSIONS := 10.13.4 11.17.4

all: deps $(MODULE)

deps:
	@scripts/deps.sh build

test-deps:
	@scripts/deps.sh test

$(GENERATED): $(FUNCTIONS) $(MIGRATIONS) scripts/embed-sql.sh
	@mkdir -p $(@D)
	scripts/embed-sql.sh $@ $(FUNCTIONS) $(MIGRATIONS)

# nginx's configure lists the module's files, so it reruns when that list changes.
$(BUILD)/sources.list: FORCE
	@mkdir -p $(BUILD)
	@echo $(CORE_SOURCES) $(NGINX_SOURCES) $(HEADERS) | cmp -s - $@ \
	  || echo $(CORE_SOURCES) $(NGINX_SOURCES) $(HEADERS) > $@

# Debian ships nginx's headers and configure (not its .c files); configure with the exact flags
# Debian's nginx was built with, so the module's binary signature matches /usr/sbin/nginx.
$(NGX_BUILD)/objs/Makefile: config $(BUILD)/sources.list
	rm -rf $(NGX_BUILD)
	cp -r $(NGINX_SRC) $(NGX_BUILD)
	cd $(NGX_BUILD) && bash -c 'source ./conf_flags && ./configure "$${NGX_CONF_FLAGS[@]}" \
	  --with-cc-opt="$(NGX_CC_OPT)" --with-ld-opt="$(NGX_LD_OPT)" --add-dynamic-module=$(CURDIR)' > configure.log

$(MODULE): $(NGX_BUILD)/objs/Makefile $(CORE_SOURCES) $(NGINX_SOURCES) $(HEADERS) $(GENERATED)
	$(MAKE) -C $(NGX_BUILD) -f objs/Makefile modules
	@# A new inode, not an overwrite: a running nginx maps the old file, and its next forked
	@# worker would crash on changed pages.
	cp $(NGX_BUILD)/objs/ngx_http_magic_link_module.so $@.new && mv -f $@.new $@

$(UNIT_TESTS): $(UNIT_SOURCES) $(CORE_SOURCES) $(HEADERS) $(GENERATED)
	@mkdir -p $(BUILD)
	$(CXX) $(CXXFLAGS) -std=gnu++17 -Isrc -I$(dir $(GENERATED)) -I$(shell pg_config --includedir) $(GMIME_INCLUDES) \
	  -DMAGIC_LINK_TEMPLATES=\"$(CURDIR)/templates\" -o $@ $(UNIT_SOURCES) $(CORE_SOURCES) -lcmocka $(LIBS)

unit: deps $(UNIT_TESTS)
	$(UNIT_TESTS)

# The nginx suites start their own Redis, PostgreSQL, SMTP sink and Directus on 127.0.0.1.
PROVE := scripts/with-services.sh prove -I t/lib -r t/
# The flow suites once more with the module behind PgBouncer in transaction pooling, the usual
# way many hosts share one PostgreSQL.
FLOW_SUITES := $(sort $(wildcard t/02*.t t/03*.t t/04*.t t/07*.t))
t: all test-deps
	TEST_NGINX_LOAD_MODULES=$(CURDIR)/$(MODULE) scripts/with-services.sh sh -c '\
	  prove -I t/lib -r t/ && echo "==> the flow suites through PgBouncer (transaction pooling)" && \
	  TEST_NGINX_MODULE_PG_PORT=$$TEST_NGINX_PGBOUNCER_PORT prove -I t/lib $(FLOW_SUITES)'


# The same suites with nginx run by scripts/checked-nginx.sh, which fails the run when any
# process left a sanitizer or memcheck report (collected in $(BUILD)/<kind>/reports).
SANITIZE := -fsanitize=address,undefined -fno-omit-frame-pointer
ASAN_BUILD := $(BUILD)/asan
test-asan: deps test-deps
	$(MAKE) BUILD=$(ASAN_BUILD) NGX_CC_OPT="-O1 -g $(SANITIZE)" NGX_LD_OPT="$(SANITIZE)" \
	  $(ASAN_BUILD)/ngx_http_magic_link_module.so
	scripts/checked-nginx.sh run asan $(ASAN_BUILD)/reports \
	  $(ASAN_BUILD)/ngx_http_magic_link_module.so $(PROVE)

test-valgrind: all test-deps
	scripts/checked-nginx.sh run valgrind $(BUILD)/valgrind/reports $(MODULE) $(PROVE)

# libFuzzer targets for every parser of untrusted input: make fuzz (60 s each), fuzz-smoke.
include fuzz/fuzz.mk
fuzz-build: test-deps

test: unit t test-asan fuzz-smoke

# The suites that talk to Directus (its users, roles, access, sessions, 2FA, Data Studio), against
# DIRECTUS_VERSION; nothing there is configured per version, the module and the suites detect it.
DIRECTUS_SUITES := $(FLOW_SUITES) t/053-faults-directus.t
test-directus: all test-deps
	@echo "==> the Directus suites against Directus $$(scripts/directus.sh version)"
	TEST_NGINX_LOAD_MODULES=$(CURDIR)/$(MODULE) scripts/with-services.sh prove -I t/lib $(DIRECTUS_SUITES)

test-directus-versions:
	@for v in $(DIRECTUS_OTHER_VERSIONS); do $(MAKE) test-directus DIRECTUS_VERSION=$$v || exit 1; done

# CI: one other version each run, 10.x on even days of the year and 11.x on odd ones (the day
# with a 1 in front: never read as octal, and of the same parity).
test-directus-of-the-day:
	$(MAKE) test-directus DIRECTUS_VERSION=$(word $(shell echo $$((1$$(date +%j) % 2 + 1))),$(DIRECTUS_OTHER_VERSIONS))

# The whole flow on 127.0.0.1 for a person to try: nginx :8080, MailDev :1080, Directus :8055.
demo:
	@scripts/demo.sh start

demo-stop:
	@scripts/demo.sh stop

# The Debian package, built like Debian's libnginx-mod-* (debhelper, dh_nginx) from a copy of the
# sources in build/deb/src, with this Makefile's module target; the version is debian/changelog's.
deb:
	@scripts/deps.sh build package
	scripts/package-deb.sh

format:
	clang-format -i $(CORE_SOURCES) $(NGINX_SOURCES) $(HEADERS) $(UNIT_SOURCES)

clean:
	rm -rf $(BUILD) t/servroot
