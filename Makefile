# Sluice: every entry point a developer or CI needs. `make test` and `make serve` work on a fresh
# Debian 12 machine: they install what is missing first.
BUILD_DIR ?= build
JOBS ?= 2
PYTHON ?= /usr/bin/python3

.PHONY: all setup configure build test unit functional bench serve clean format

all: build

setup:
	@scripts/install-deps.sh

$(BUILD_DIR)/build.ninja:
	cmake -S . -B $(BUILD_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release

configure: $(BUILD_DIR)/build.ninja

build: setup configure
	cmake --build $(BUILD_DIR) -j $(JOBS)

# Unit, conformance and integration suites (ctest), then the black-box functional suite (pytest).
test: build
	ctest --test-dir $(BUILD_DIR) --output-on-failure -j $(JOBS)
	SLUICE_BIN=$(abspath $(BUILD_DIR))/bin/sluice $(PYTHON) -m pytest tests/functional -q

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
	rm -rf $(BUILD_DIR)
