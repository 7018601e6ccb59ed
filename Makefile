# youju: plain make + pkg-config. See README.md.
#   make            build build/youju
#   make run        install build deps (root), build, start a dev instance in ./run
#   make check      install test deps (root), build, run every test
#   make fuzz       build libFuzzer targets with clang into build/fuzz/
#   make docs       regenerate docs/config.md from the settings table

CC      ?= cc
PKGS    := openssl libevent libevent_openssl sqlite3 libargon2 libcrypt libunbound zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

SRCDIRS := $(sort $(dir $(wildcard src/*/)))
INCS    := -Isrc $(addprefix -I,$(SRCDIRS)) -Itests/unit
WARN    := -Wall -Wextra -Wformat=2 -Werror -Wshadow -Wno-unused-parameter
CFLAGS  ?= -O2 -g
ALLCFLAGS = -std=c17 -D_GNU_SOURCE $(WARN) $(INCS) $(PKG_CFLAGS) $(CFLAGS)
LDLIBS  := $(PKG_LIBS)

LIB_SRC  := $(filter-out src/main.c,$(wildcard src/*/*.c))
MAIN_SRC := src/main.c
TEST_SRC := $(wildcard tests/unit/*.c)
FUZZ_SRC := $(wildcard tests/fuzz/*.c)

B := build
OBJ_LIB  := $(patsubst %.c,$(B)/obj/%.o,$(LIB_SRC))
OBJ_MAIN := $(patsubst %.c,$(B)/obj/%.o,$(MAIN_SRC))
OBJ_TEST := $(patsubst %.c,$(B)/obj/%.o,$(TEST_SRC))

A := build/asan
ASAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
AOBJ_LIB  := $(patsubst %.c,$(A)/obj/%.o,$(LIB_SRC))
AOBJ_MAIN := $(patsubst %.c,$(A)/obj/%.o,$(MAIN_SRC))
AOBJ_TEST := $(patsubst %.c,$(A)/obj/%.o,$(TEST_SRC))

.PHONY: all run check unit unit-asan fuzz docs docs-check clean deps-build deps-test

all: $(B)/youju

$(B)/youju: $(OBJ_MAIN) $(OBJ_LIB)
	$(CC) $(ALLCFLAGS) -o $@ $^ $(LDLIBS)

$(B)/unit-tests: $(OBJ_TEST) $(OBJ_LIB)
	$(CC) $(ALLCFLAGS) -o $@ $^ $(LDLIBS)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(ALLCFLAGS) -MMD -MP -c -o $@ $<

$(A)/youju: $(AOBJ_MAIN) $(AOBJ_LIB)
	$(CC) $(ALLCFLAGS) $(ASAN_FLAGS) -o $@ $^ $(LDLIBS)

$(A)/unit-tests: $(AOBJ_TEST) $(AOBJ_LIB)
	$(CC) $(ALLCFLAGS) $(ASAN_FLAGS) -o $@ $^ $(LDLIBS)

$(A)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC [asan] $<"
	@$(CC) $(ALLCFLAGS) $(ASAN_FLAGS) -MMD -MP -c -o $@ $<

-include $(OBJ_LIB:.o=.d) $(OBJ_MAIN:.o=.d) $(OBJ_TEST:.o=.d)
-include $(AOBJ_LIB:.o=.d) $(AOBJ_MAIN:.o=.d) $(AOBJ_TEST:.o=.d)

deps-build:
	@tools/install-deps build

deps-test:
	@tools/install-deps test

run: deps-build
	@$(MAKE) --no-print-directory all
	@tools/dev-run

unit: $(B)/unit-tests
	$(B)/unit-tests

unit-asan: $(A)/unit-tests
	$(A)/unit-tests

check: deps-test
	@$(MAKE) --no-print-directory all $(B)/unit-tests $(A)/unit-tests $(A)/youju
	@tools/run-tests

# libFuzzer targets: tests/fuzz/fuzz-NAME.c -> build/fuzz/fuzz-NAME. The
# library is compiled once with clang and the sanitizers, then linked into
# every target.
FUZZ_BIN := $(patsubst tests/fuzz/%.c,$(B)/fuzz/%,$(FUZZ_SRC))
FUZZ_CFLAGS := -std=c17 -D_GNU_SOURCE -g -O1 $(INCS) $(PKG_CFLAGS)
FOBJ_LIB := $(patsubst %.c,$(B)/fuzz/obj/%.o,$(LIB_SRC))
fuzz: $(FUZZ_BIN)
$(B)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "CC [fuzz] $<"
	@clang $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link,address,undefined -MMD -MP -c -o $@ $<
$(B)/fuzz/%: tests/fuzz/%.c $(FOBJ_LIB)
	@mkdir -p $(dir $@)
	@echo "LD [fuzz] $@"
	@clang $(FUZZ_CFLAGS) -fsanitize=fuzzer,address,undefined -o $@ $< $(FOBJ_LIB) $(LDLIBS)
-include $(FOBJ_LIB:.o=.d)

docs: $(B)/youju
	$(B)/youju config doc > docs/config.md

clean:
	rm -rf build
