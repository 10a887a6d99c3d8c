# libFuzzer targets for the core's parsers of untrusted input (see fuzz/README.md).
# A fragment for the top Makefile (`include fuzz/fuzz.mk`), which defines CORE_SOURCES (the
# src/core/*.cpp list) and BUILD (= build); paths are relative to the repository root.
#
#   make fuzz-build     build $(BUILD)/fuzz/<target> for every fuzz/fuzz_*.cpp
#   make fuzz           run each target for FUZZ_SECONDS (default 60) on a scratch copy of its
#                       corpus, fail on any crash or sanitizer report, print a summary
#   make fuzz-smoke     the same, FUZZ_SMOKE_SECONDS (default 10) each: for CI
#   make fuzz-crashes   replay fuzz/crashes/<target>/*: which findings the core still has (a
#                       replay that passes means the bug was fixed)
#
# Needs clang++ with its fuzzer and sanitizer runtimes (Debian 12: clang-14, libclang-rt-14-dev).

# Whichever target the including Makefile makes its default stays the default.
FUZZ_SAVED_DEFAULT_GOAL := $(.DEFAULT_GOAL)

FUZZ_CXX           ?= clang++
FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_OUT           := $(BUILD)/fuzz
FUZZ_TARGETS       := $(patsubst fuzz/%.cpp,%,$(sort $(wildcard fuzz/fuzz_*.cpp)))
FUZZ_BINS          := $(addprefix $(FUZZ_OUT)/,$(FUZZ_TARGETS))
FUZZ_CORE_OBJS     := $(patsubst src/core/%.cpp,$(FUZZ_OUT)/obj/%.o,$(CORE_SOURCES))
FUZZ_CORE_LIB      := $(FUZZ_OUT)/libcore.a
FUZZ_CXXFLAGS      := -std=c++17 -g -O1 -fsanitize=fuzzer,address,undefined \
                      -fno-sanitize-recover=all
# Deferred: pg_config only runs when something is compiled.
FUZZ_CPPFLAGS       = -Isrc -I$(dir $(GENERATED)) -I$(shell pg_config --includedir) \
                      $(shell pkg-config --cflags-only-I gmime-3.0) \
                      -DMAGIC_LINK_TEMPLATES='"$(CURDIR)/templates"'
FUZZ_LIBS          := -lhiredis -lpq -lcurl -lcrypto -loath -ljwt -lz $(shell pkg-config --libs gmime-3.0)

.PHONY: fuzz-build fuzz fuzz-smoke fuzz-crashes

fuzz-build: $(FUZZ_BINS)

# The core, instrumented the same way. No file of src/core has a main (libFuzzer brings one);
# as an archive, each target links only the objects it uses.
$(FUZZ_OUT)/obj/%.o: src/core/%.cpp $(GENERATED)
	@mkdir -p $(@D)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) $(FUZZ_CPPFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_CORE_LIB): $(FUZZ_CORE_OBJS)
	rm -f $@
	ar rcs $@ $^

$(FUZZ_BINS): $(FUZZ_OUT)/%: fuzz/%.cpp $(FUZZ_CORE_LIB)
	@mkdir -p $(@D)
	$(FUZZ_CXX) $(FUZZ_CXXFLAGS) $(FUZZ_CPPFLAGS) -MMD -MP -MF $@.d -o $@ $< $(FUZZ_CORE_LIB) \
	  $(FUZZ_LIBS)

-include $(FUZZ_CORE_OBJS:.o=.d) $(FUZZ_BINS:=.d)

# $(1): seconds per target. fuzz/run.sh prints one line per target; the last line counts them.
define FUZZ_RUN_ALL
	@passed=0; failed=0; \
	for target in $(FUZZ_TARGETS); do \
	  if fuzz/run.sh run $(FUZZ_OUT)/$$target $(1) $(FUZZ_OUT)/run; \
	  then passed=$$((passed + 1)); else failed=$$((failed + 1)); fi; \
	done; \
	echo "fuzz: $$passed passed, $$failed failed"; \
	test $$failed -eq 0
endef

fuzz: fuzz-build
	$(call FUZZ_RUN_ALL,$(FUZZ_SECONDS))

fuzz-smoke: fuzz-build
	$(call FUZZ_RUN_ALL,$(FUZZ_SMOKE_SECONDS))

fuzz-crashes: fuzz-build
	@fuzz/run.sh crashes $(FUZZ_OUT)

.DEFAULT_GOAL := $(FUZZ_SAVED_DEFAULT_GOAL)
