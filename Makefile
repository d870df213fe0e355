# make run  — install what the binary needs, build the binary only, start tollgate on its embedded defaults
# make test — install everything tests need, build everything, then every test
# make fuzz — build the libFuzzer targets with clang, replay fuzz/regressions, fuzz each target
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 30

.PHONY: all deps deps-build configure build build-tollgate run test bench sanitize fuzz clean format

all: build

deps-build:
	@bash scripts/install-deps build

deps:
	@bash scripts/install-deps test

# Configured once; later runs of make only build.
$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release $(CMAKE_FLAGS)

configure: $(BUILD)/CMakeCache.txt

build-tollgate: deps-build configure
	cmake --build $(BUILD) -j $(JOBS) --target tollgate

# Configured again (a second or two): tools the test packages brought since `make run`
# configured the tree (python3, faketime) are found now.
build: deps configure
	cmake -S . -B $(BUILD) >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

run: build-tollgate
	./$(BUILD)/tollgate

test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 600

bench:
	@bash scripts/install-deps bench
	bash bench/run.sh

sanitize:
	$(MAKE) test BUILD=build-asan CMAKE_FLAGS="-DTOLLGATE_SANITIZE=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo"

$(FUZZ_BUILD)/CMakeCache.txt:
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ \
	  -DTOLLGATE_FUZZ=ON -DTOLLGATE_TESTS=OFF

fuzz:
	@bash scripts/install-deps fuzz
	$(MAKE) $(FUZZ_BUILD)/CMakeCache.txt
	cmake --build $(FUZZ_BUILD) --target fuzz -j $(JOBS)
	FUZZ_BUILD=$(FUZZ_BUILD) FUZZ_SECONDS=$(FUZZ_SECONDS) bash fuzz/run.sh

format:
	clang-format -i $$(git ls-files '*.cpp' '*.hpp')

clean:
	rm -rf $(BUILD) build-asan $(FUZZ_BUILD)
