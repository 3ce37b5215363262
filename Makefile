# Entry points. `make run` and `make test` are the README's two commands.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: deps configure build test run clean bench

deps:
	scripts/install-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

configure: $(BUILD)/build.ninja

build: configure
	cmake --build $(BUILD) -j $(JOBS)

test: deps build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900

run: deps build
	$(BUILD)/prtkl generate --model ../shared/fixtures/tiny-sd15 --prompt "two people hugging" --out out.png

clean:
	rm -rf $(BUILD)
