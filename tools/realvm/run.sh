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
#
# BRANCHES=BIN (a `cowheap` command) counts instead of timing: callgrind with its branch
# simulator over one run of each expression on both VMs, less a run of `nil`, per bytecode
# (cowheap's count of the expression's bytecodes, which the real VM runs too: same methods):
#   branches  EXPR  VM(realvm|cowheap)  INSTRUCTIONS  CONDITIONAL  MISPREDICTED  INDIRECT  MISPREDICTED
# valgrind's predictors are simple (an indirect branch is predicted to go where it went last),
# so the mispredictions are the model's, not a CPU's; the counts of branches are exact.
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

VM="$VM" LIBS="$LIBS" RUNS="${RUNS:-5}" IMAGE="$IMAGE" python3 - "$@" <<'PY'
import json, os, re, resource, shutil, statistics, subprocess, sys

vm, runs = os.environ["VM"], int(os.environ["RUNS"])
env = dict(os.environ, LD_LIBRARY_PATH=os.environ["LIBS"])

def callgrind(command, env=None):
    """Instructions, conditional branches, their mispredictions, indirect branches and theirs,
    of one run of COMMAND under callgrind's branch simulator."""
    subprocess.run(["valgrind", "--tool=callgrind", "--branch-sim=yes",
                    "--callgrind-out-file=branches.out"] + command, env=env,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=3600, check=True)
    totals = [l for l in open("branches.out") if l.startswith(("summary:", "totals:"))]
    return [int(n) for n in totals[0].split()[1:6]]

def real_vm_doit(expr):
    return ("| r | r := %s. Smalltalk at: #BenchOut put: 'COWHEAP', 'REALVM<', r printString, "
            "'|0>'. Smalltalk snapshotPrimitive. Smalltalk quitPrimitive" % expr)

if os.environ.get("BRANCHES"):
    cowheap, image = os.environ["BRANCHES"], os.environ["IMAGE"]
    def real(expr):
        shutil.copyfile("patched.image", "run.image")
        return callgrind([vm, "-vm-display-null", "-vm-sound-null", "-plugins",
                          os.path.dirname(vm) + "/", "run.image", real_vm_doit(expr)], env)
    def ours(expr):
        return callgrind([cowheap, "run", image, expr])
    def bytecodes(expr):
        out = subprocess.run([cowheap, "run", "--json", image, expr], capture_output=True, check=True)
        return json.loads(out.stdout)["bytecodes"]
    base = {"realvm": real("nil"), "cowheap": ours("nil")}
    for expr in sys.argv[1:]:
        n = bytecodes(expr) - bytecodes("nil")
        for name, run in (("realvm", real), ("cowheap", ours)):
            counts = [(a - b) / n for a, b in zip(run(expr), base[name])]
            print("branches\t%s\t%s\t%s" % (expr, name, "\t".join("%.2f" % c for c in counts)),
                  flush=True)
    sys.exit(0)

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
