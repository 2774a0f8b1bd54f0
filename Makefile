# The few verbs people need. `make run` and `make test` are the README's two commands.
PYTHON ?= python

.PHONY: install browser run test lint format sample report-sample screenshots e2e

install:            ## Python dependencies (pinned)
	$(PYTHON) -m pip install -q -r requirements.txt

browser:            ## Debian's chromium (browser tests, chart images), poppler (PDF page rendering in tests), nginx (replica tests)
	@command -v chromium >/dev/null 2>&1 && command -v pdftoppm >/dev/null 2>&1 && command -v nginx >/dev/null 2>&1 || \
		(apt-get update -qq && apt-get install -y -qq chromium poppler-utils nginx-light)

run: install        ## start the dashboard (an empty warehouse loads the bundled sample by itself)
	$(PYTHON) -m streamlit run serve.py

test: install browser  ## every test, browser tests included
	$(PYTHON) -m pytest

lint:
	$(PYTHON) -m ruff check . && $(PYTHON) -m ruff format --check .

format:
	$(PYTHON) -m ruff check --fix . && $(PYTHON) -m ruff format .

sample:             ## regenerate the bundled synthetic sample
	$(PYTHON) -m pipelines sample --out sample_data

report-sample:      ## rebuild docs/sample-report.pdf from the bundled sample
	$(PYTHON) -m pipelines.reports.sample --out docs/sample-report.pdf

screenshots:        ## rebuild docs/screenshots/*.png (the README's picture)
	$(PYTHON) scripts/screenshots.py

e2e:                ## only the browser tests
	$(PYTHON) -m pytest -m e2e
