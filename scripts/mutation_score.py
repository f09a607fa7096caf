"""Mutation scores per module from mutmut's results (`mutants/**/*.meta`), for `make mutate`.

A module's score is killed / (mutants - equivalent): a mutant no selected test reaches counts
as surviving. The equivalent mutants are those `docs/mutation.md` names in backticks (one per
line, `- `name`: why`), so the reasons and the figures cannot drift apart.
Exits 1 when a module is under the bar (95 %), listing what survived.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

BAR = 95.0
KILLED = {1, 3, 24, -24, 36, 37, 152, 255}  # failed tests, pytest error, timeouts, type check
EQUIVALENT = re.compile(r"^- `([\w.ǁ]+__mutmut_\d+)`", re.MULTILINE)


def main(root: Path = Path()) -> int:
    equivalent = set(EQUIVALENT.findall((root / "docs/mutation.md").read_text()))
    below = False
    print(f"{'module':<32} {'mutants':>7} {'killed':>6} {'equiv':>5} {'left':>4} {'score':>6}")
    for meta in sorted((root / "mutants").rglob("*.py.meta")):
        codes: dict[str, int | None] = json.loads(meta.read_text())["exit_code_by_key"]
        if not codes:
            continue
        module = str(meta.relative_to(root / "mutants")).removesuffix(".meta")
        outcome = Counter(
            "killed" if code in KILLED else "equivalent" if name in equivalent else "left"
            for name, code in codes.items()
        )
        unchecked = sum(code is None for code in codes.values())
        counted = len(codes) - outcome["equivalent"]
        score = 100.0 if counted == 0 else 100 * outcome["killed"] / counted
        note = f"  ({unchecked} not run yet)" if unchecked else ""
        print(
            f"{module:<32} {len(codes):>7} {outcome['killed']:>6} {outcome['equivalent']:>5}"
            f" {outcome['left']:>4} {score:>5.1f}%{note}"
        )
        if score < BAR:
            below = True
        for name, code in sorted(codes.items()):
            if code not in KILLED and name not in equivalent:
                state = (
                    "not run"
                    if code is None
                    else "no test reaches it"
                    if code in (5, 33)
                    else "survived"
                )
                print(f"    {state}: {name}")
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main())
