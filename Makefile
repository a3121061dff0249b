# Shortcuts for the scripts in scripts/ (which are what the README and CI use).
.PHONY: run test dev dashboard
run:
	bash scripts/run.sh
test:
	bash scripts/test.sh
dev:
	bash scripts/dev.sh
dashboard:
	bash scripts/dashboard.sh
