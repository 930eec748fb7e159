#!/usr/bin/env bash
# Genesis and Exodus (King James Version, public domain) from Debian's bible-kjv-text, one chapter a paragraph:
# prose neither shipped model has seen (they were trained on Jane Austen).
set -euo pipefail
command -v bible >/dev/null || { echo "needs Debian's bible-kjv and bible-kjv-text: apt-get install bible-kjv bible-kjv-text" >&2; exit 1; }
out=${1:-kjv-genesis-exodus.txt}
{ bible -f "Gen1:1-50:26"; bible -f "Ex1:1-40:38"; } 2>/dev/null | python3 -c '
import re, sys
chapters, current = [], None
for line in sys.stdin:
    m = re.match(r"^(\w+?)(\d+):(\d+) (.*)$", line.rstrip("\n"))
    if not m: continue
    key = (m.group(1), m.group(2))
    if key != current: chapters.append([]); current = key
    chapters[-1].append(m.group(4).strip())
sys.stdout.write("\n\n".join(" ".join(c) for c in chapters) + "\n")
' > "$out"
echo "$out: $(grep -c . "$out") chapters, $(wc -c < "$out") bytes"
