"""Summarise a py-spy ``--format raw`` (collapsed stacks) file: top inclusive and self frames.

    .venv/bin/python bench/pyspy_top.py PROFILE.txt [--top 30] [--match tidings]

Inclusive counts a frame once per sample however deep it recurs; percentages are of
all non-idle samples in the file (every thread).
"""

from __future__ import annotations

import argparse
import re
import signal
from collections import Counter

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]*)(?::(?P<line>\d+))?\)$")


def _short(frame: str) -> str:
    m = _FRAME.match(frame)
    if not m:
        return frame
    path = m["file"]
    for marker in ("site-packages/", "src/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{m['func']} ({path})"


def main() -> None:
    signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    ap = argparse.ArgumentParser()
    ap.add_argument("file")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--match", help="only frames whose text contains this")
    args = ap.parse_args()
    inclusive: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    total = 0
    with open(args.file) as fh:
        for line in fh:
            stack, _, count_text = line.rstrip("\n").rpartition(" ")
            if not count_text.isdigit():
                continue
            count = int(count_text)
            frames = [_short(f) for f in stack.split(";")]
            # The first frame is the thread ("thread (0x...)") with --threads; skip it.
            frames = [
                f for f in frames if not f.startswith("thread (") and not f.startswith("process ")
            ]
            if not frames:
                continue
            total += count
            for f in set(frames):
                inclusive[f] += count
            self_[frames[-1]] += count
    print(f"{total} samples")
    for title, counter in (("inclusive", inclusive), ("self", self_)):
        print(f"--- top {title}")
        shown = 0
        for frame, count in counter.most_common():
            if args.match and args.match not in frame:
                continue
            print(f"{100 * count / total:6.1f}%  {frame}")
            shown += 1
            if shown >= args.top:
                break


if __name__ == "__main__":
    main()
