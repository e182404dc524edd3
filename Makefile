# arf_ids — every target installs what it needs (uv, then the locked environment).
PYTHON ?= python3
UV_VERSION := 0.13.8
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
BIN := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)
export ARF_IDS_HOME ?= .arf_ids
export DAGSTER_HOME ?= $(abspath $(ARF_IDS_HOME))/dagster

.PHONY: install test test-fast demo up dev lock lint clean serve browser bento

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.installed: $(UV) uv.lock pyproject.toml
	$(UV) sync --frozen --all-extras --python $(PYTHON)
	touch $@

install: $(VENV)/.installed  ## the locked environment in .venv

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

test: install browser  ## every test (real Dagster, MLflow, SQLite; shared data when present)
	$(BIN)/python -m pytest -q -p no:cacheprovider --durations=15

demo: install $(DAGSTER_HOME)/dagster.yaml  ## the whole loop: bootstrap, daemon, drift, retrain, promotion, report
	$(BIN)/arf-ids demo

up: install $(DAGSTER_HOME)/dagster.yaml  ## everything to watch: Dagster UI :3000, dashboard :3001/dashboard, /metrics, drifting traffic (Ctrl-C stops)
	$(BIN)/arf-ids up

dev: install $(DAGSTER_HOME)/dagster.yaml  ## Dagster webserver and daemon on 127.0.0.1:3000
	$(BIN)/arf-ids bootstrap
	$(BIN)/dagster dev -h 127.0.0.1 -p 3000 -w workspace.yaml

lock: $(UV)  ## re-resolve uv.lock after a change to pyproject.toml
	$(UV) lock --python $(PYTHON)

lint: install
	$(BIN)/ruff check arf_ids arf_ids_tests scripts

clean:
	rm -rf $(VENV) $(TOOLS) $(ARF_IDS_HOME)

CHROMIUM := /usr/bin/chromium
BENTO_ENV := BENTOML_HOME=$(abspath $(ARF_IDS_HOME))/bentoml BENTOML_DO_NOT_TRACK=True

browser:  ## Debian's chromium for the dashboard test (apt-get only when it is missing; never a downloaded browser)
	@test -x $(CHROMIUM) || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; }

serve: install  ## the BentoML service on 127.0.0.1:3001 (ARF_IDS_SERVICE__HOST/__PORT); serves the registry's production model
	$(BENTO_ENV) $(BIN)/bentoml serve service:IdsService --working-dir bento

bento: install  ## build the bento (service code and locked requirements; the model comes from the registry at start)
	$(UV) export --frozen --no-dev --no-emit-project --no-hashes --format requirements-txt -o bento/requirements.txt
	PATH=$(abspath $(TOOLS))/bin:$$PATH $(BENTO_ENV) $(BIN)/bentoml build -f bento/bentofile.yaml .

SHARED_DATA ?= ../shared/data
REPORTS := $(ARF_IDS_HOME)/reports
EVALUATE := $(BIN)/arf-ids evaluate
CIC := $(SHARED_DATA)/cic-ids2017/cic_0.01km.csv
NSL := $(SHARED_DATA)/nsl-kdd/KDDTrain+_20Percent.txt $(SHARED_DATA)/nsl-kdd/KDDTest+.txt
# PWPAE's protocol on the CIC sample; run with seed 42 (and the static baseline), then seeds 1 and 2
CIC_PREQUENTIAL := --data $(CIC) --format cicflowmeter --binary --protocol prequential --train-fraction 0.1 \
	--arf n_models=20 lambda_value=15 split_confidence=0.1

.PHONY: bench
bench: install  ## speed, memory and drift, each beside its baseline (about 10 min on 2 cores): $(REPORTS)/bench.json and .md
	$(BIN)/python -m arf_ids.bench --out $(REPORTS)/bench.json

.PHONY: evaluate
evaluate: install  ## every row of the README results table; reports (JSON, markdown, PNG) in $(ARF_IDS_HOME)/reports
	$(EVALUATE) $(CIC_PREQUENTIAL) --baseline seed static --out $(REPORTS)/cic-ids2017-prequential.json
	for seed in 1 2; do \
		$(EVALUATE) $(CIC_PREQUENTIAL) --seed $$seed --baseline seed \
			--out $(REPORTS)/cic-ids2017-prequential.seed$$seed.json || exit 1; \
	done
	$(EVALUATE) --data $(NSL) --format nsl-kdd --protocol prequential --train-fraction 0 \
		--out $(REPORTS)/nsl-kdd-prequential.json
	$(EVALUATE) --data $(NSL) --format nsl-kdd --protocol holdout --out $(REPORTS)/nsl-kdd-holdout.json
	$(EVALUATE) --data $(NSL) --format nsl-kdd --protocol recovery --label-delay 500 \
		--out $(REPORTS)/nsl-kdd-recovery.json
	for scenario in attack_variant novel_attack benign_shift; do \
		$(EVALUATE) --format synthetic --scenario $$scenario --protocol recovery --label-delay 200 \
			--out $(REPORTS)/synthetic-$$scenario-recovery.json || exit 1; \
	done
	$(BIN)/python -m arf_ids.evaluate --table $(REPORTS) > $(REPORTS)/results.md
	@echo "results table: $(REPORTS)/results.md"
