"""Codec benchmark; the same as `pbridge bench`. Usage: python bench/codec.py [--json] [--seconds S]"""

from __future__ import annotations

import argparse
import json

from pointerbridge.app import benchmark


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--seconds", type=float, default=0.6, help="seconds spent per figure")
    args = parser.parse_args()
    result = benchmark.run(args.seconds)
    print(json.dumps(result, indent=2) if args.json else benchmark.render(result))


if __name__ == "__main__":
    main()
