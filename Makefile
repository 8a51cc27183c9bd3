# The two commands a newcomer needs:
#   make demo   set everything up and run the main job
#   make test   set everything up and run the whole test suite (what CI runs)
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
DATASETS ?= ../shared/datasets
WORK ?= .work
# torch and torchvision pinned to the builds this project is developed and tested with
TORCH_PINS ?= torch==2.14.1 torchvision==0.29.1

# Debian packages the tests talk to: mbpoll (a Modbus client written by others), the
# Mosquitto broker the MQTT tests start and its clients (mosquitto_sub, mosquitto_pub),
# Aravis (its GigE Vision camera simulator, and the GObject introspection data the
# `aravis` source loads), what PyGObject needs to build in the venv, ffmpeg, and the
# GStreamer RTSP server the OpenCV source tests read a live stream from
# (tests/camera/rtsp_server.py: gst-rtsp-server, JPEG and RTP from plugins-good).
# Each is PACKAGE or PACKAGE:CHECK, where CHECK shows the package is installed when it is
# not a command named like the package: a command, an absolute path of a command outside
# a user's PATH, or the absolute path of a file the package installs (a library has no
# command).
LIBDIR := /usr/lib/$(shell uname -m)-linux-gnu
DEB_PACKAGES ?= mbpoll mosquitto:/usr/sbin/mosquitto mosquitto-clients:mosquitto_sub \
	aravis-tools:arv-fake-gv-camera-0.8 \
	gir1.2-aravis-0.8:$(LIBDIR)/girepository-1.0/Aravis-0.8.typelib \
	libgirepository1.0-dev:$(LIBDIR)/pkgconfig/gobject-introspection-1.0.pc \
	libcairo2-dev:$(LIBDIR)/pkgconfig/cairo.pc pkg-config ffmpeg \
	gir1.2-gst-rtsp-server-1.0:$(LIBDIR)/girepository-1.0/GstRtspServer-1.0.typelib \
	gstreamer1.0-plugins-good:$(LIBDIR)/gstreamer-1.0/libgstrtp.so
# the dashboard's browser test drives Debian's chromium (Playwright, no browser download)
DEB_PACKAGES += chromium
# the service unit's test runs systemd-analyze verify on deploy/inspector.service
DEB_PACKAGES += systemd:systemd-analyze
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: demo test venv venv-runtime lint models-eval docs clean system-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Station runtime only: no torch, no Ultralytics. A stamp, like the full venv's, so a
# second `make demo` starts the demo at once. The full venv holds the runtime too: when
# its stamp is up to date, this one is stamped without installing (no reinstall either way).
venv-runtime: $(VENV)/.runtime
$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	@if [ $(VENV)/.full -nt pyproject.toml ]; then echo "runtime: in the full venv already"; \
	else $(BIN)/pip install --quiet --disable-pip-version-check -e '.[openvino,web]'; fi
	touch $@

# Everything: runtime, training (torch + Ultralytics, AGPL-3.0), Aravis cameras and test
# tools. PyGObject (the aravis extra) builds from source against Debian's libraries, so
# the system packages come first.
venv: $(VENV)/.full
$(VENV)/.full: pyproject.toml | system-deps $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH_PINS)
	$(BIN)/pip install --quiet -e '.[train,openvino,aravis,web,sparkplug,int8,dev]'
	touch $@

# The station end to end on the bundled conveyor recording (about a minute, real time).
demo: venv-runtime
	$(BIN)/inspector demo

# The shipped models scored through the runtime on the project's validation splits
# (what each figure is measured on: models/README.md, Figures).
DEMO_PARTS := models/magnetic-tile/demo/conveyor.parts.csv
models-eval: venv-runtime
	$(BIN)/inspector data convert-masks $(DATASETS)/magnetic-tile $(WORK)/magnetic-tile \
		--single-class defect --val-fraction 0.2 --seed 0 --exclude $(DEMO_PARTS) --force
	$(BIN)/inspector eval --model models/magnetic-tile/magnetic-tile.onnx \
		--data $(WORK)/magnetic-tile/data.yaml --split val --pass-fail --max-escape 0.03 --cv-folds 5
	$(BIN)/inspector data convert-masks $(DATASETS)/magnetic-tile $(WORK)/magnetic-tile-demo \
		--single-class defect --val-fraction 1.0 --only $(DEMO_PARTS) --force
	$(BIN)/inspector eval --model models/magnetic-tile/magnetic-tile.onnx \
		--data $(WORK)/magnetic-tile-demo/data.yaml --split val --pass-fail
	$(BIN)/inspector data split $(DATASETS)/neu-det/data.yaml $(WORK)/neu-det \
		--val-fraction 0.2 --seed 0 --force
	$(BIN)/inspector eval --model models/neu-det/neu-det.onnx --data $(WORK)/neu-det/data.yaml
	$(BIN)/inspector eval --model models/neu-det-fcos/neu-det-fcos.onnx --data $(WORK)/neu-det/data.yaml \
		--compare models/neu-det/neu-det.onnx --bootstrap 1000

# The generated docs: the station.yaml reference and the PLC register map (a test fails
# when a committed one differs from what the code generates).
docs: venv-runtime
	$(BIN)/inspector config schema --markdown --output docs/config.md
	$(BIN)/inspector plc docs

# A CHECK with a slash that is not a command is a file the package installs.
system-deps:
	@missing=""; for entry in $(DEB_PACKAGES); do package=$${entry%%:*}; check=$${entry#*:}; \
		command -v $$check >/dev/null || [ "$${check#/}" != "$$check" -a -e "$$check" ] \
		|| missing="$$missing $$package"; done; \
	if [ -n "$$missing" ]; then \
		$(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq $$missing; fi

# The station runtime (everything but inspector/train, which runs on a workstation) must
# also run on Python 3.10, JetPack 6's Python: mypy checks it against typeshed's 3.10
# view of the standard library, which lacks 3.11-only names (datetime.UTC, enum.StrEnum,
# typing.Self, tomllib, ...). Nothing more to install: the venv's Python stays as it is.
RUNTIME_MIN_PYTHON ?= 3.10
test: system-deps venv
	$(BIN)/ruff check inspector tests
	$(BIN)/ruff format --check inspector tests
	$(BIN)/python -m mypy inspector
	$(BIN)/python -m mypy --python-version $(RUNTIME_MIN_PYTHON) --exclude '^inspector/train/' inspector
	$(BIN)/python -m pytest -q -ra

lint: venv
	$(BIN)/ruff check inspector tests

clean:
	rm -rf $(WORK) .pytest_cache .ruff_cache
