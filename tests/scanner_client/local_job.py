"""A client job for the local schedd's tests: reads ``--client-startup-json``, then sleeps and exits as it says."""

import argparse
import json
import sys
import time
from pathlib import Path

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--client-startup-json", type=Path, required=True)
    startup = json.loads(parser.parse_args().client_startup_json.read_text())
    print(f"job started with {sorted(startup)}", flush=True)
    time.sleep(startup.get("sleep", 0))
    sys.exit(startup.get("exit", 0))
