# The two commands of the README: `make run` and `make test`. Each builds .venv first if needed;
# Debian packages (FluidSynth and a SoundFont for `segue play --audio`; Chromium for the browser
# tests) are installed by scripts/install-system-packages where missing.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test browser clean

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	scripts/install-system-packages audio
	touch $(STAMP)

run: $(STAMP)
	$(VENV)/bin/segue serve --host $(HOST) --port $(PORT)

browser:
	scripts/install-system-packages browser

test: $(STAMP) browser
	$(VENV)/bin/python -m pytest

clean:
	rm -rf $(VENV) out build src/*.egg-info
