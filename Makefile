# make run  — install what is missing, build, start tollgate on its embedded defaults
# make test — the same, then every test (unit, integration, real clients)
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: all deps build run test bench sanitize clean format

all: build

deps:
	@bash scripts/install-deps test

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/tollgate

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

bench:
	@bash scripts/install-deps bench
	bash bench/run.sh

sanitize:
	$(MAKE) test BUILD=build-asan CMAKE_FLAGS="-DTOLLGATE_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo"

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf $(BUILD) build-asan
