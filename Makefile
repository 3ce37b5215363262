# Entry points. `make run` and `make test` are the README's two commands.
BUILD ?= build
JOBS ?= $(shell nproc)
CMAKE_FLAGS ?=

.PHONY: deps configure build web e2e-deps test run clean bench bundled-model style style-ft lcm

deps:
	scripts/install-deps.sh

$(BUILD)/build.ninja:
	cmake -S . -B $(BUILD) -G Ninja $(CMAKE_FLAGS)

configure: $(BUILD)/build.ninja

build: configure
	cmake --build $(BUILD) -j $(JOBS)

# The web app: p5 and our modules bundled by esbuild into web/dist (served by `prtkl serve`), with LICENSE, NOTICE
# and the bundled packages' licenses beside them (the pages' footers link NOTICE.txt).
web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund
web/dist/index.html: web/node_modules/.package-lock.json web/build.mjs $(wildcard web/src/*) LICENSE NOTICE
	cd web && npm run build
web: web/dist/index.html

tests/e2e/node_modules/.package-lock.json: tests/e2e/package-lock.json
	cd tests/e2e && npm ci --no-audit --no-fund
e2e-deps: tests/e2e/node_modules/.package-lock.json

test: deps build web e2e-deps
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS) --timeout 900

# The web app on http://127.0.0.1:8080/ on the bundled model (override with MODEL=... ARGS="--port 9000 ...").
# The thread count follows the model (one for the bundled model, whose ops are too small to share; every core for
# real SD models); ARGS="--threads N" sets it.
MODEL ?= models/prtkl-emoji
run: deps build web
	$(BUILD)/prtkl serve --model $(MODEL) $(ARGS)

# The bundled model from nothing (npm data, training, eval): resumable, about 21 hours on 2 CPU cores.
# WORK=dir keeps its data and checkpoints (default ~/.cache/prtkl/bundled); STOP_AFTER=data|vae|unet|vae_decoder|g8|eval.
# RECIPE=recipe_f8: the faster recipe still being measured (about 4 hours; 68.6 % top-1 so far, the gate asks 80 %;
# models/recipe/recipe_f8.sh).
RECIPE ?= recipe
bundled-model: deps build
	models/recipe/$(RECIPE).sh

# A style adapter of the bundled model (models/recipe/style.sh): candidates, auto-curation, LoRA + pivotal
# training, the checkpoint chosen by the judges, installed as models/prtkl-emoji/styles/$(STYLE). Resumable.
STYLE ?= flat
style: deps build
	STYLE=$(STYLE) models/recipe/style.sh

# The style the bundled model ships (models/recipe/style_ft.sh): a full fine-tune on the look's real pictures,
# extracted as a small LoRA, judged and installed. Resumable.
style-ft: deps build
	STYLE=$(STYLE) models/recipe/style_ft.sh

# An LCM-LoRA of the bundled model and what it changes (models/recipe/lcm.sh, docs/lcm): distilled, judged with and
# without. Resumable; about 25 minutes of training alone on 2 cores.
lcm: deps build
	models/recipe/lcm.sh

clean:
	rm -rf $(BUILD)
