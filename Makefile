# Two commands do all the set-up on a fresh machine: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint docs docs-serve bench mutation mutation-report clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/photoid demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks docs
	$(BIN)/lint-imports

# The documentation site (mkdocs.yml): the screenshots are taken first from the real review
# page and report in headless Chromium (docs/screenshots.py runs the tutorials' commands on a
# few lions of ../shared/data into build/docs-screenshots/), then the site is built into site/.
docs: $(STAMP)
	$(BIN)/python docs/screenshots.py
	$(BIN)/mkdocs build --strict

docs-serve: $(STAMP)
	$(BIN)/python docs/screenshots.py
	$(BIN)/mkdocs serve

bench: $(STAMP)
	$(BIN)/python benchmarks/embed.py

# Mutation testing of the core modules ([tool.mutmut] in pyproject.toml) from scratch, the
# per-module report, then issue 17's hand-made mutants (benchmarks/named_mutants.py). Long (see
# docs/benchmarks/mutation.md); not part of CI. MUTANTS='photoid.metrics.*' reruns only those mutants,
# keeping the other results. PYTHONPATH=src is relative on purpose: mutmut runs the tests in
# mutants/, so processes the tests start import the mutated copy (mutmut itself drops ./src).
MUTANTS ?=
mutation: $(STAMP)
	$(if $(MUTANTS),,rm -rf mutants)
	PYTHONPATH=src OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 \
		nice -n 10 $(BIN)/mutmut run --max-children 2 $(MUTANTS) > mutmut.log 2>&1 || \
		(tail -40 mutmut.log; exit 1)
	$(BIN)/python benchmarks/mutation_report.py
	$(if $(MUTANTS),,nice -n 10 $(BIN)/python benchmarks/named_mutants.py)

mutation-report: $(STAMP)
	$(BIN)/python benchmarks/mutation_report.py

clean:
	rm -rf $(VENV) .photoid-cache photoid-demo mutants mutmut.log site build/docs-screenshots
