# heatcast: the two commands in README.md are `make demo` and `make test`.
# Both set up everything they need on a fresh Debian / Raspberry Pi OS machine:
# Debian packages (with sudo unless run as root), then a project-local venv.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
VENV_TFLITE := .venv-tflite
BIN := $(VENV)/bin
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# chromium + driver: the billboard page is tested in a real headless browser;
# strace checks at the system-call level that the kiosk writes no frames; shellcheck lints install.sh;
# mosquitto is the real MQTT broker the fleet tests start on a free loopback port (never the service).
APT_TEST := chromium chromium-driver strace shellcheck mosquitto
PIP := PIP_DISABLE_PIP_VERSION_CHECK=1 $(BIN)/pip

.PHONY: demo test lint typecheck unit test-tflite bench soak system-deps clean

demo: $(VENV)/.installed
	$(BIN)/heatcast run --demo

test: system-deps $(VENV)/.installed-dev $(VENV_TFLITE)/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest
	$(MAKE) test-tflite

# The classifier tests again, on tflite-runtime with numpy<2 (no ai-edge-litert).
test-tflite: $(VENV_TFLITE)/.installed
	$(VENV_TFLITE)/bin/pytest -m tflite tests/classify

bench: $(VENV)/.installed-dev
	$(BIN)/heatcast bench

soak: $(VENV)/.installed-dev
	$(BIN)/pytest tests/test_soak.py --soak-frames=864000 -s

system-deps:
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || { $(SUDO) apt-get update && $(SUDO) apt-get install -y python3-venv; }
	@missing=""; for p in $(APT_TEST); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:$$missing"; \
		$(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q --no-install-recommends $$missing; \
	fi

$(VENV)/bin/python:
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || { $(SUDO) apt-get update && $(SUDO) apt-get install -y python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

$(VENV)/.installed: $(VENV)/bin/python setup.cfg pyproject.toml
	$(PIP) install -q -e .
	touch $@

$(VENV)/.installed-dev: $(VENV)/bin/python setup.cfg pyproject.toml
	$(PIP) install -q -e ".[dev,train]"
	touch $(VENV)/.installed $@

$(VENV_TFLITE)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV_TFLITE)
	PIP_DISABLE_PIP_VERSION_CHECK=1 $(VENV_TFLITE)/bin/pip install -q -e ".[tflite,dev]"
	PIP_DISABLE_PIP_VERSION_CHECK=1 $(VENV_TFLITE)/bin/pip uninstall -q -y ai-edge-litert
	touch $@

clean:
	rm -rf $(VENV) $(VENV_TFLITE) build *.egg-info .pytest_cache .mypy_cache .ruff_cache
	find . -name __pycache__ -prune -exec rm -rf {} +
