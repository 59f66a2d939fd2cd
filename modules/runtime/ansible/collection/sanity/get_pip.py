"""A stand-in for the get-pip.py bootstrap script that ansible-test downloads from its own CI file
server (which only the package registries' hosts can replace here). ansible-test runs it, with the
same arguments as the real one, in each empty virtual environment it makes for a sanity test:
pip comes from the wheel bundled with Python (ensurepip), then pip installs what ansible-test asked
for (its pinned pip) from the package index."""

import ensurepip
import os
import subprocess
import sys

# Options of get-pip.py itself, not of `pip install`.
GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

config = os.environ.get("PIP_CONFIG_FILE")
ensurepip.bootstrap(upgrade=True)
# ensurepip points PIP_CONFIG_FILE at /dev/null in this process; the pip install below must read
# the machine's pip configuration (index, CA certificates) again.
os.environ.pop("PIP_CONFIG_FILE", None)
if config is not None:
    os.environ["PIP_CONFIG_FILE"] = config
args = [arg for arg in sys.argv[1:] if arg not in GET_PIP_ONLY]
sys.exit(subprocess.call([sys.executable, "-m", "pip", "install", *args]))
