#!/usr/bin/env python3
"""Compares the speed of builds of `cowheap` on one expression, on a noisy machine.

    tools/inrun_times.py ROUNDS IMAGE 'EXPR' BIN [BIN ...]

Runs `BIN run --json IMAGE EXPR` for every BIN in turn, ROUNDS times round robin, and prints
for each BIN the minimum, the 25th percentile and the median of the run's own seconds (the
evaluation alone: no process start, no image load), each also as a ratio to the first BIN's.
Round robin spreads the machine's slow moments over all builds alike; on a shared 2-vCPU VM a
run sometimes takes twice its usual time, so compare the low percentiles, and run a copy of the
first BIN beside it to see what the noise alone reads.
"""
import json
import statistics
import subprocess
import sys


def seconds(binary, image, expr):
    out = subprocess.run([binary, 'run', '--json', image, expr],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)['runs'][0]['seconds']


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    rounds, image, expr, binaries = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]
    times = [[] for _ in binaries]
    for _ in range(rounds):
        for t, binary in zip(times, binaries):
            t.append(seconds(binary, image, expr))

    def q25(t):
        return sorted(t)[(len(t) - 1) // 4]

    first = times[0]
    for binary, t in zip(binaries, times):
        print('%-30s min %.4f s (%.3f)  q25 %.4f s (%.3f)  median %.4f s (%.3f)' % (
            binary, min(t), min(t) / min(first), q25(t), q25(t) / q25(first),
            statistics.median(t), statistics.median(t) / statistics.median(first)))


if __name__ == '__main__':
    main()
