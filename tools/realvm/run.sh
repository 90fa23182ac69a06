#!/usr/bin/env bash
# Times expressions on the real Squeak VM (Debian's squeak-vm, the classic interpreter) over a
# patched copy of a Squeak V3 image, for the interpreter bench's comparison (squeak/benches/
# interp.rs) and by hand:
#
#   tools/realvm/run.sh IMAGE 'EXPR' ['EXPR' ...]
#
# The VM package is fetched with `apt-get download` into a temporary folder and unpacked there:
# nothing is installed. Where apt cannot fetch it (no network, no Debian archive), this prints
# one line saying so and exits with status 3, so that callers can skip the real VM.
#
# Output, one line per expression, tab-separated:
#   realvm  EXPR  ANSWER(printString)  WALL_SECONDS_PER_EVALUATION  CPU_SECONDS_PER_EVALUATION  REPS
# WALL is the image's own millisecond clock around REPS evaluations; CPU is the VM process's
# user+system time less that of a run evaluating `nil` (startup, image load, snapshot), divided
# by REPS. Both are medians over RUNS (default 5) runs. KEEP=1 keeps the temporary folder.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
[ $# -ge 2 ] || { echo "usage: $0 IMAGE EXPR [EXPR...]" >&2; exit 2; }
IMAGE=$(realpath "$1"); shift
WORK=$(mktemp -d "${TMPDIR:-/tmp}/cowheap-realvm.XXXXXX")
if [ "${KEEP:-0}" = 1 ]; then echo "# work folder: $WORK" >&2; else trap 'rm -rf "$WORK"' EXIT; fi
cd "$WORK"

fetch() { apt-get download "$1" >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get download "$1" >/dev/null 2>&1; }; }
if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null || ! fetch squeak-vm; then
  echo "realvm: skipped: apt cannot fetch Debian's squeak-vm here" >&2
  exit 3
fi
dpkg-deb -x squeak-vm_*.deb root
VM=$(find "$WORK/root" -name squeakvm -type f | head -1)
LIBS="$WORK/root/lib/x86_64-linux-gnu:$WORK/root/usr/lib/x86_64-linux-gnu"
# Newer Debian releases dropped libpcre3, which this VM still links: fetch it too.
for missing in $(LD_LIBRARY_PATH=$LIBS ldd "$VM" | awk '/not found/ {print $1}'); do
  case $missing in
    libpcre.so.3) fetch libpcre3 && dpkg-deb -x libpcre3_*.deb root ;;
    *) echo "realvm: skipped: the VM needs $missing, which this script cannot fetch" >&2; exit 3 ;;
  esac
done
if LD_LIBRARY_PATH=$LIBS ldd "$VM" | grep -q 'not found'; then
  echo "realvm: skipped: the VM still misses libraries" >&2
  exit 3
fi
echo "# real VM: Debian squeak-vm $(dpkg-deb -f squeak-vm_*.deb Version)" >&2
python3 "$HERE/patch_image.py" "$IMAGE" patched.image

VM="$VM" LIBS="$LIBS" RUNS="${RUNS:-5}" python3 - "$@" <<'PY'
import os, re, resource, shutil, statistics, subprocess, sys

vm, runs = os.environ["VM"], int(os.environ["RUNS"])
env = dict(os.environ, LD_LIBRARY_PATH=os.environ["LIBS"])

def evaluate(expr, reps):
    """Answer, in-image milliseconds and process CPU seconds of REPS evaluations of EXPR. The
    image cannot write a file or stdout (see patch_image.py): it keeps its answer in a global,
    saves itself and quits, and the answer is read back out of the saved image."""
    shutil.copyfile("patched.image", "run.image")
    doit = ("| t r | t := Time millisecondClockValue. 1 to: %d do: [:i | r := %s]. "
            "t := Time millisecondClockValue - t. Smalltalk at: #BenchOut put: 'COWHEAP', "
            "'REALVM<', r printString, '|', t printString, '>'. Smalltalk snapshotPrimitive. "
            "Smalltalk quitPrimitive" % (reps, expr))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([vm, "-vm-display-null", "-vm-sound-null", "-plugins", os.path.dirname(vm) + "/",
                    "run.image", doit], env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, timeout=600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    found = re.findall(rb"COWHEAPREALVM<(.*?)\|(\d+)>", open("run.image", "rb").read(), re.S)
    if not found:
        sys.exit("realvm: no answer for %r (an error in the image, or a VM crash)" % expr)
    return found[-1][0].decode("latin1"), int(found[-1][1]) / 1000.0, cpu

for expr in sys.argv[1:]:
    # The image's clock ticks in milliseconds: short expressions are repeated.
    reps = 20 if "benchmark" in expr else 1
    walls, cpus, bases, answer = [], [], [], None
    for _ in range(runs):
        bases.append(evaluate("nil", 1)[2])
        answer, wall, cpu = evaluate(expr, reps)
        walls.append(wall / reps)
        cpus.append(cpu)
    cpu = max(statistics.median(cpus) - statistics.median(bases), 1e-6) / reps
    print("realvm\t%s\t%s\t%.6f\t%.6f\t%d" % (expr, answer, statistics.median(walls), cpu, reps), flush=True)
PY
