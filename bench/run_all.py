"""Run every benchmark in bench/ and print their figures.

    python bench/run_all.py            # all
    python bench/run_all.py parse      # only those whose file name contains "parse"

End-to-end throughput beside cryptofeed needs the peers' setup:
    bash ../shared/peers/compare.sh 300000 -- python bench/e2e_client.py
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent
SKIP = {"run_all.py", "e2e_client.py"}


def main() -> int:
    wanted = sys.argv[1:]
    failed = 0
    for script in sorted(HERE.glob("bench_*.py")):
        if script.name in SKIP or (wanted and not any(w in script.name for w in wanted)):
            continue
        print(f"== {script.name}", flush=True)
        rc = subprocess.call([sys.executable, str(script)])
        failed += rc != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
