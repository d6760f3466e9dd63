# ipkvm: the front door. Everything a newcomer needs is `make demo` and `make check`.
#   make demo    install what is missing, build, run ipkvmd on the built-in demo configuration
#   make check   install what is missing, build, run every test (also under ASan+UBSan)
#   make bench   build and run the benchmarks under bench/
#   make fuzz    build the libFuzzer harnesses (tests/fuzz) and run each for FUZZ_SECONDS
#   make format  apply clang-format to every C file

BUILD         ?= build
ASAN_BUILD    ?= build-asan
RELEASE_BUILD ?= build-release

FUZZ_SECONDS  ?= 600

.PHONY: all deps build demo check check-vm check-arm64 bench fuzz format clean install uninstall

all: build

deps:
	@bash scripts/deps.sh

build: deps
	@bash scripts/build.sh $(BUILD)

demo: build
	@bash scripts/demo.sh $(BUILD)

check:
	@bash scripts/check.sh

# The hardware bench VM (tests/bench-vm): ipkvmd on a stock Debian kernel under QEMU, with
# dummy_hcd and vivid standing in for the USB gadget and the capture device (ASan+UBSan build).
check-vm:
	@bash scripts/deps.sh
	@bash scripts/build.sh $(ASAN_BUILD) asan
	@bash tests/bench-vm/run.sh $(ASAN_BUILD)

check-arm64:
	@bash scripts/check-arm64.sh build-arm64

bench:
	@bash scripts/deps.sh
	@bash scripts/build.sh $(RELEASE_BUILD) release
	@bash scripts/bench.sh $(RELEASE_BUILD)

# The long run of every fuzz harness (make check runs each for 30 s): FUZZ_SECONDS each, two
# at a time; prints the executions and coverage each reached (scripts/fuzz.sh).
fuzz:
	@bash scripts/deps.sh --test
	@bash scripts/fuzz.sh $(FUZZ_SECONDS)

format:
	@git ls-files '*.c' '*.h' | xargs clang-format -i

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(RELEASE_BUILD) build-arm64 build-fuzz

# make install [DESTDIR=DIR] [PREFIX=/usr/local|/usr] [IPKVMD=BINARY]: binary, web UI, profiles,
# systemd units, default /etc/ipkvm/ipkvm.ini (kept if present); see scripts/install.sh.
install:
	@DESTDIR='$(DESTDIR)' PREFIX='$(PREFIX)' IPKVMD='$(IPKVMD)' BUILD_DIR='$(RELEASE_BUILD)' bash scripts/install.sh

# make uninstall [DESTDIR=DIR] [PREFIX=...] [PURGE=1]: /etc/ipkvm and /var/lib/ipkvm stay
# unless PURGE=1.
uninstall:
	@DESTDIR='$(DESTDIR)' PREFIX='$(PREFIX)' PURGE='$(PURGE)' bash scripts/uninstall.sh
