# Sluice: every entry point a developer or CI needs. `make test` and `make serve` work on a fresh
# Debian 12 machine: they install what is missing first.
BUILD_DIR ?= build
ASAN_DIR ?= build-asan
TSAN_DIR ?= build-tsan
JOBS ?= 2
PYTHON ?= /usr/bin/python3

# Sanitizer runs: a report aborts the process that made it (so its test fails); a server's report
# also fails the functional test that stopped it (tests/functional/conftest.py).
ASAN_ENV = ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
TSAN_ENV = TSAN_OPTIONS=halt_on_error=1:second_deadlock_stack=1:suppressions=$(abspath tests/sanitizers/tsan.supp)

.PHONY: all setup configure build test test-asan test-tsan unit functional bench serve clean format

all: build

setup:
	@scripts/install-deps.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release

$(ASAN_DIR)/build.ninja:
	cmake -S . -B $(ASAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_SANITIZE=address,undefined

$(TSAN_DIR)/build.ninja:
	cmake -S . -B $(TSAN_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_SANITIZE=thread

configure: $(BUILD_DIR)/build.ninja

build: setup configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

# AddressSanitizer + UndefinedBehaviorSanitizer: the program and the unit test binaries (no
# benchmarks), then the unit suite and the functional suite against the instrumented program
# (the embedded shape; the distributed shape's processes run uninstrumented in the main pass).
define asan-run
cmake --build $(ASAN_DIR) -j $(JOBS) --target sluice sluice-example-cpp-stage unit_tests
$(ASAN_ENV) ctest --test-dir $(ASAN_DIR) --output-on-failure -j $(JOBS) -L unit
$(ASAN_ENV) SLUICE_BIN=$(abspath $(ASAN_DIR))/bin/sluice $(PYTHON) -m pytest tests/functional -q --ignore-glob="tests/functional/test_distributed*.py"
endef

# ThreadSanitizer: the concurrent modules (queue; pipeline, which holds the device hub; the MQTT
# transport, against a real mosquitto), then the program itself (HTTP loop, device loops, stage
# threads, MQTT threads) under the functional tests that move frames. Only these binaries are built
# there, so `-L unit` runs just the first two's tests.
TSAN_FUNCTIONAL = test_delivery.py test_event_loop.py test_sse.py test_mqtt.py test_durability.py test_bad_input.py \
                  test_subscriptions.py test_auth.py test_operations.py test_tail.py test_js_client.py
define tsan-run
cmake --build $(TSAN_DIR) -j $(JOBS) --target queue_test pipeline_test mqtt_integration_test sluice
$(TSAN_ENV) ctest --test-dir $(TSAN_DIR) --output-on-failure -j $(JOBS) -L unit
$(TSAN_ENV) ctest --test-dir $(TSAN_DIR) --output-on-failure -R '^mqtt_integration$$'
$(TSAN_ENV) SLUICE_BIN=$(abspath $(TSAN_DIR))/bin/sluice $(PYTHON) -m pytest -q $(addprefix tests/functional/,$(TSAN_FUNCTIONAL))
endef

# Unit, conformance and integration suites (ctest; the integration ones start RabbitMQ, PostgreSQL
# and Redis on loopback), then the black-box functional suite (pytest), the distributed shape's
# included;
# then the unit and functional suites under ASan+UBSan; then the concurrent modules and the program under TSan.
test: build $(ASAN_DIR)/build.ninja $(TSAN_DIR)/build.ninja
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)
	SLUICE_BIN=$(abspath $(BUILD_DIR))/bin/sluice $(PYTHON) -m pytest tests/functional -q
	$(asan-run)
	$(tsan-run)

test-asan: setup $(ASAN_DIR)/build.ninja
	$(asan-run)

test-tsan: setup $(TSAN_DIR)/build.ninja
	$(tsan-run)

unit: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS) -L unit

functional: build
	SLUICE_BIN=$(abspath $(BUILD_DIR))/bin/sluice $(PYTHON) -m pytest tests/functional -q

bench: build
	bench/run.sh $(BUILD_DIR)

serve: build
	$(BUILD_DIR)/bin/sluice serve

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf $(BUILD_DIR) $(ASAN_DIR) $(TSAN_DIR)
