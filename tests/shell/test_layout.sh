#!/usr/bin/env bash
# The house rules of DESIGN §2, checked on every file: arrows run down the table only (a room
# includes the rooms below it, never above), and rules/, budget/, pipeline/ (and util/) never
# include Asio or Beast. The compiler cannot tell: Debian's Boost is in /usr/include for everyone.
set -euo pipefail
cd "${TOLLGATE_SOURCE_DIR:-$(dirname "$0")/../..}"
python3 - <<'PY'
import re, subprocess, sys
order = ["util", "rules", "budget", "telemetry", "pipeline", "proxy", "admin", "app"]
no_asio = {"util", "rules", "budget", "pipeline"}
rank = {room: i for i, room in enumerate(order)}
files = subprocess.run(["git", "ls-files", "*.cpp", "*.hpp"], capture_output=True, text=True,
                       check=True).stdout.split()
problems = []
for path in files:
    room = path.split("/")[0]
    if room not in rank:
        continue  # tests, bench, fuzz may include anything
    for n, line in enumerate(open(path), 1):
        m = re.match(r'\s*#\s*include\s*[<"]([^">]+)[">]', line)
        if not m:
            continue
        target = m.group(1)
        if room in no_asio and re.match(r"boost/(asio|beast)", target):
            problems.append("%s:%d: %s/ must not include Asio or Beast (%s)" % (path, n, room, target))
        other = target.split("/")[0]
        if other in rank and rank[other] > rank[room]:
            problems.append("%s:%d: %s/ includes %s, a room above it" % (path, n, room, target))
for p in problems:
    print(p)
print("layout: %d files checked, %d problems" % (len(files), len(problems)))
sys.exit(1 if problems else 0)
PY
