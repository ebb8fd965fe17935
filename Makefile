# Two entry points (see README): `make demo` runs the main job on the lab, `make test` runs the suite.
# Both install what they need on a fresh Debian machine (as root).
PYTHON ?= python3
VENV ?= .venv
APT_PACKAGES = pcscd vsmartcard-vpcd libpcsclite-dev swig pcsc-tools faketime postgresql chromium chromium-driver

.PHONY: system venv setup test demo bench clean

# vpcd listens on 35963/35964 without SO_REUSEADDR: a client connection that happened to use one
# of them as its ephemeral port (TIME-WAIT) keeps pcscd's virtual readers from starting. Keep the
# kernel from handing them out (best effort: a container may not allow it).
VPCD_PORTS = 35963-35964

system:
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(APT_PACKAGES) ; \
	fi
	@reserved=$$(cat /proc/sys/net/ipv4/ip_local_reserved_ports 2>/dev/null); \
	case ",$$reserved," in *",$(VPCD_PORTS),"*) ;; *) \
		sysctl -q -w net.ipv4.ip_local_reserved_ports="$${reserved:+$$reserved,}$(VPCD_PORTS)" 2>/dev/null || \
		echo "note: could not reserve ports $(VPCD_PORTS) (vpcd) from the ephemeral range" ;; esac

# constraints.txt: the versions the suite last passed with (regenerate after an upgrade that
# passes: $(VENV)/bin/pip freeze --exclude-editable > constraints.txt).
$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -c constraints.txt -e '.[test,pcsc,lab]'
	touch $@

venv: $(VENV)/.installed

setup: system venv

# Lint and type-check first (seconds; which modules mypy holds to strict: [tool.mypy] in
# pyproject.toml), then the suite.
test: setup
	$(VENV)/bin/ruff check --no-cache .
	$(VENV)/bin/mypy --cache-dir=/dev/null
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/pytest -q -p no:cacheprovider

demo: setup
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/python scripts/demo.py

bench: setup
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH $(VENV)/bin/python bench/run_all.py

clean:
	rm -rf $(VENV) build *.egg-info
