"""Attribute the time spent inside the database driver (execute/commit) to Tidings' callers.

    .venv/bin/python bench/pyspy_sql.py PROFILE.txt [--depth 2]

Reads a py-spy ``--format raw`` file; prints, per chain of the innermost Tidings
frames, the share of all samples spent in DBAPI execute/executemany/commit/fetch.
"""

from __future__ import annotations

import argparse
from collections import Counter

DRIVER = ("do_execute", "do_executemany", "do_commit", "fetchone", "fetchall", "fetchmany")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    total = in_driver = 0
    by: Counter[str] = Counter()
    with open(args.file) as fh:
        for line in fh:
            stack, _, count_text = line.rstrip("\n").rpartition(" ")
            if not count_text.isdigit():
                continue
            n = int(count_text)
            total += n
            frames = stack.split(";")
            if not any(f.split(" (")[0].rsplit(".", 1)[-1] in DRIVER for f in frames):
                continue
            ours = [f.split(" (")[0] for f in frames if "tidings/" in f]
            key = " <- ".join(reversed(ours[-args.depth :])) or "(outside tidings)"
            by[key] += n
            in_driver += n
    print(f"{total} samples, {100 * in_driver / max(total, 1):.1f}% in the database driver")
    for key, n in by.most_common(args.top):
        print(f"{100 * n / total:6.1f}%  {key}")


if __name__ == "__main__":
    main()
