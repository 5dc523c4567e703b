# The two commands of the README: `make demo` and `make test`.
# Each creates (or reuses) the virtual environment in .venv.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.atoma-installed
SHOTS  := .atoma/test-shots

.PHONY: demo test venv bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Atoma needs Python 3.11 or newer; found " + sys.version.split()[0])'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

# Two devices and a server; without a display it plays the story by script (--headless).
demo: $(STAMP)
	$(PY) -m examples.tasks.demo

# Screenshots the tests take are kept in .atoma/test-shots/<test module>/ to be looked at.
test: $(STAMP)
	rm -rf $(SHOTS)
	QT_QPA_PLATFORM=offscreen ATOMA_SHOTS_DIR=$(CURDIR)/$(SHOTS) $(PY) -m pytest $(PYTEST_ARGS)

bench: $(STAMP)
	$(PY) benchmarks/local_store.py

clean:
	rm -rf $(VENV) .pytest_cache build *.egg-info
