# linli 邻里 — the two commands that matter are `make run` and `make test`; both set everything up first.
.PHONY: run test test-fast lint setup train check eval bench clean

run:      ## set up if needed, then run action server + Rasa (REST, web chat, Telegram) + committee inbox
	scripts/run.sh

test:     ## set up if needed, then run the whole test suite
	scripts/test.sh

test-fast: ## the tests that need no Rasa and no browser (not e2e, not browser), in parallel
	scripts/test.sh --fast

lint:     ## ruff: lint + import order + format check (scripts/lint.sh --fix applies fixes)
	scripts/lint.sh

setup:    ## environments, KB check, model, DB schema, Rasa model (each only when changed)
	scripts/setup.sh

train:    ## retrain the Rasa model if its inputs changed
	scripts/train.sh

check:
	.venv/bin/python -m bot kb check

eval:
	.venv/bin/python -m bot eval

bench:
	for b in bench/bench_*.py; do .venv/bin/python $$b || exit 1; done

clean:    ## remove generated files (keeps the environments)
	rm -rf models/ .cache/ var/ results/ .pytest_cache
