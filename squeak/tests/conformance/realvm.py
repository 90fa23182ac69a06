#!/usr/bin/env python3
"""Regenerate the conformance battery's expected answers from the real Squeak VM.

    python3 squeak/tests/conformance/realvm.py [--image PATH] [--only SUBSTRING] [--keep]

Reads `battery.txt` beside this file and rewrites `expected.tsv` beside it: for every expression,
what Debian's squeak-vm 4.10 (the classic interpreter VM, not Cog) answers on a copy of the Mini
Squeak 2.2 image (`$COWHEAP_IMAGES/mini-2.2-v3-le.image`, else `../shared/images/` beside the
repository): the answer's printString, or the message of the error it stops with.
`cargo test --release -p cowheap-squeak --test conformance` then checks cowheap against that file.

Needs apt-get (download only: nothing is installed), dpkg-deb and Python 3's standard library.

How the image is made to evaluate an expression: Mini Squeak 2.2 reads no script at startup, so a
copy of the image gets one new CompiledMethod, appended after the heap's last object and installed
as `SystemDictionary>>startUp` (which `processStartUpList` runs whenever the image resumes):

    startUp
        | s |
        s := self getSystemAttribute: 2.     "the VM's first argument after the image name"
        s == nil ifTrue: [^self].
        Compiler evaluate: s

and `FileDirectory class>>startUp` becomes `Object>>yourself`, because 2.2 calls the file
primitives by number and 4.10 no longer has those numbers (startup would loop in notifiers). So the
image cannot write a file or stdout: the argument (see `doit`) keeps the answer in a global,
snapshots the image (primitive 97) and quits, and this script reads the answer back out of the
saved image file. One VM process per expression, on a fresh copy, with a timeout.

Known limit of this reference: the 4.10 VM crashes on a LargePositiveInteger times a negative
SmallInteger with these 2.2 images (and so on arithmetic that does one inside, such as reducing
the Fraction `(2 raisedTo: 100) / (3 raisedTo: 50)`); a crash is recorded as kind `crash`. battery.txt gives such answers itself (`%math ANSWER` before
the expression): they are copied to expected.tsv as kind `math` and not run.
"""
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..', '..'))
TIMEOUT_S = 20


# ---- the battery and the expected file -----------------------------------------------------------

def read_battery(path):
    """[(category, expression, math answer or None)] in file order. Lines: `-- comment`,
    `[Category]`, `%math ANSWER` (applies to the next expression), or one expression."""
    out, category, math = [], '?', None
    for n, line in enumerate(open(path, encoding='utf-8'), 1):
        line = line.rstrip('\n')
        if not line.strip() or line.startswith('--'):
            continue
        if line.startswith('[') and line.endswith(']'):
            category = line[1:-1]
        elif line.startswith('%math '):
            math = line[len('%math '):]
        else:
            if '\t' in line:
                raise SystemExit('%s:%d: a tab in an expression' % (path, n))
            out.append((category, line, math))
            math = None
    seen = set()
    for _, e, _ in out:
        if e in seen:
            raise SystemExit('battery: %r twice' % e)
        seen.add(e)
    return out


def escape(s):
    return s.replace('\\', '\\\\').replace('\t', '\\t').replace('\n', '\\n').replace('\r', '\\r')


def unescape(s):
    return re.sub(r'\\(.)', lambda m: {'t': '\t', 'n': '\n', 'r': '\r'}.get(m.group(1), m.group(1)), s)


# ---- the VM ------------------------------------------------------------------------------------

def fetch_vm(work):
    """Download and unpack squeak-vm (and libpcre3, which bookworm lacks) into work/x; answer
    (the squeakvm binary, LD_LIBRARY_PATH, the package version)."""
    def download(pkg):
        if subprocess.run(['apt-get', 'download', pkg], cwd=work, capture_output=True).returncode:
            subprocess.run(['apt-get', 'update'], capture_output=True)
            subprocess.run(['apt-get', 'download', pkg], cwd=work, check=True, capture_output=True)
        deb = next(f for f in os.listdir(work) if f.startswith(pkg + '_') and f.endswith('.deb'))
        subprocess.run(['dpkg-deb', '-x', deb, 'x'], cwd=work, check=True)
        return deb
    deb = download('squeak-vm')
    version = subprocess.run(['dpkg-deb', '-f', deb, 'Version'], cwd=work, check=True,
                             capture_output=True, text=True).stdout.strip()
    vm = next(os.path.join(d, f) for d, _, fs in os.walk(os.path.join(work, 'x'))
              for f in fs if f == 'squeakvm')
    libs = ':'.join(os.path.join(work, 'x', p) for p in ('lib/x86_64-linux-gnu', 'usr/lib/x86_64-linux-gnu'))
    env = dict(os.environ, LD_LIBRARY_PATH=libs)
    missing = re.findall(r'(\S+) => not found', subprocess.run(['ldd', vm], capture_output=True, text=True, env=env).stdout)
    for lib in missing:
        if lib != 'libpcre.so.3':
            raise SystemExit('the VM needs %s: add its package to fetch_vm' % lib)
        download('libpcre3')
    return vm, libs, version


# ---- patching a copy of the image ------------------------------------------------------------------

class Heap:
    """Just enough of a 32-bit V3 image to find a few objects and repoint two methods."""

    def __init__(self, raw):
        self.buf = bytearray(raw)
        for order in '<>':
            if struct.unpack_from(order + 'I', raw, 0)[0] & 0x119EE == 6502:
                self.order = order
                break
        else:
            raise SystemExit('not a 32-bit V3 image')
        self.header_size, self.data_size, self.old_base, self.specials = (self.word(p) for p in (4, 8, 12, 16))
        self.objects = {}           # oop -> (class oop or None, compact index, format, first slot offset, slots)
        p = self.header_size
        while p < self.header_size + self.data_size:
            w = self.word(p)
            kind = w & 3
            if kind == 0:           # three header words: size, class, base
                cls, base, size = self.word(p + 4) & ~3, p + 8, w & ~3
            elif kind == 1:         # two: class, base
                cls, base = w & ~3, p + 4
                size = self.word(base) & 0xFC
            elif kind == 3:         # one: the class is a compact index
                cls, base, size = None, p, w & 0xFC
            else:
                raise SystemExit('a free chunk at %#x' % p)
            h = self.word(base)
            self.objects[self.old_base + base - self.header_size] = (cls, (h >> 12) & 31, (h >> 8) & 15, base + 4, size // 4 - 1)
            p = base + size
        table = self.slot(self.specials, 28)
        self.compact = [self.slot(table, i) for i in range(self.size(table))]
        symbol = self.class_of(self.slot(self.specials, 20))   # #doesNotUnderstand:
        self.symbols = {self.bytes(o).decode('latin1'): o for o in self.objects if self.class_of(o) == symbol}

    def word(self, p):
        return struct.unpack_from(self.order + 'I', self.buf, p)[0]

    def slot(self, o, i):
        return self.word(self.objects[o][3] + 4 * i)

    def set_slot(self, o, i, v):
        struct.pack_into(self.order + 'I', self.buf, self.objects[o][3] + 4 * i, v)

    def size(self, o):
        return self.objects[o][4]

    def pointers(self, o):
        return self.objects[o][2] < 5

    def bytes(self, o):
        _, _, fmt, first, n = self.objects[o]
        return bytes(self.buf[first:first + 4 * n - (fmt & 3)])

    def class_of(self, o):
        cls, index, *_ = self.objects[o]
        return self.compact[index - 1] if cls is None else cls

    def symbol(self, s):
        return self.symbols[s]

    def named_class(self, name):
        """A class by name (its slot 6); `X class` is its metaclass."""
        meta = name.endswith(' class')
        sym = self.symbol(name[:-len(' class')] if meta else name)
        c = next(o for o in self.objects if self.pointers(o) and self.size(o) > 6 and self.slot(o, 6) == sym
                 and self.slot(o, 1) in self.objects)
        return self.class_of(c) if meta else c

    def method_slot(self, cls, selector):
        """(the MethodDictionary's array, index) of cls's method for selector."""
        md, sym = self.slot(cls, 1), self.symbol(selector)
        for i in range(self.size(md) - 2):
            if self.slot(md, 2 + i) == sym:
                return self.slot(md, 1), i
        raise SystemExit('%s has no #%s' % (cls, selector))

    def method(self, cls, selector):
        return self.slot(*self.method_slot(cls, selector))

    def set_method(self, cls, selector, method):
        self.set_slot(*self.method_slot(cls, selector), method)

    def global_association(self, name):
        sd = self.named_class('SystemDictionary')
        smalltalk = next(o for o in self.objects if self.pointers(o) and self.size(o) == 2
                         and self.slot(o, 0) == self.symbol('Smalltalk') and self.slot(o, 1) in self.objects
                         and self.class_of(self.slot(o, 1)) == sd)
        array = self.slot(self.slot(smalltalk, 1), 1)
        sym = self.symbol(name)
        for i in range(self.size(array)):
            a = self.slot(array, i)
            if a in self.objects and self.pointers(a) and self.size(a) >= 2 and self.slot(a, 0) == sym:
                return a
        raise SystemExit('no global ' + name)

    def append_startup(self):
        """Append the startUp method of the module's docs; answer the patched file's bytes."""
        literals = [self.symbol('getSystemAttribute:'), self.global_association('Compiler'), self.symbol('evaluate:')]
        code = bytes([
            0x70, 0x77, 0xE0,       # push self, push 2, send literal 0 (getSystemAttribute:)
            0x68,                   # pop into temporary 0
            0x10, 0x73, 0xC6,       # push temporary 0, push nil, send ==
            0x98, 0x78,             # jump over the next byte if false; return self
            0x41, 0x10, 0xE2,       # push literal variable 1 (Compiler), push temporary 0, send literal 2
            0x87, 0x78,             # pop; return self
        ]) + bytes(4)               # the source pointer trailer
        header = (1 << 18) | (len(literals) << 9)   # 1 temporary, no arguments, no primitive
        body = struct.pack(self.order + 'I', header << 1 | 1)
        body += b''.join(struct.pack(self.order + 'I', l) for l in literals) + code
        odd = -len(body) % 4                        # unused bytes at the end, kept in the format
        body += bytes(odd)
        words = 1 + len(body) // 4
        assert words < 64 and self.compact[0] == self.named_class('CompiledMethod')
        base_header = (words * 4) | ((12 + odd) << 8) | (1 << 12) | 3     # compact class 1, one header word
        oop = self.old_base + self.data_size
        self.set_method(self.named_class('SystemDictionary'), 'startUp', oop)
        self.set_method(self.named_class('FileDirectory class'), 'startUp',
                        self.method(self.named_class('Object'), 'yourself'))
        end = self.header_size + self.data_size
        out = self.buf[:end] + struct.pack(self.order + 'I', base_header) + body + self.buf[end:]
        struct.pack_into(self.order + 'I', out, 8, self.data_size + 4 * words)
        return bytes(out)


# ---- one expression ----------------------------------------------------------------------------

MARK = 'CONFORM<'


def doit(expr):
    """The argument the patched image evaluates: expr under an error handler (Squeak 2.2's error:
    and doesNotUnderstand: hand their message to the active process's errorHandler), its
    printString or the message kept as `CONFORM<KIND SIZE:TEXT>` in the global ConformOut. The
    marker is put together at run time, so that the do-it's own literals do not contain it."""
    return (
        "| r | Processor activeProcess errorHandler: [:msg :rcvr | "
        "Smalltalk at: #ConformOut put: 'CONF', 'ORM<stop ', msg size printString, ':', msg, '>'. "
        "Smalltalk snapshotPrimitive. Smalltalk quitPrimitive]. "
        "r := (Compiler evaluate: '%s') printString. "
        "Smalltalk at: #ConformOut put: 'CONF', 'ORM<answer ', r size printString, ':', r, '>'. "
        "Smalltalk snapshotPrimitive. Smalltalk quitPrimitive" % expr.replace("'", "''"))


def answer_in(image_bytes):
    """(kind, text) of the last marker in a saved image, or None."""
    found = None
    for m in re.finditer(re.escape(MARK.encode()) + rb'(answer|stop) (\d+):', image_bytes):
        n = int(m.group(2))
        text = image_bytes[m.end():m.end() + n]
        if image_bytes[m.end() + n:m.end() + n + 1] == b'>':
            found = (m.group(1).decode(), text.decode('latin1'))
    return found


def run_one(vm, libs, patched, work, expr):
    img = os.path.join(work, 'run.image')
    shutil.copyfile(patched, img)
    cmd = [vm, '-vm-display-null', '-vm-sound-null', '-plugins', os.path.dirname(vm) + '/', 'run.image', doit(expr)]
    try:
        p = subprocess.run(cmd, cwd=work, env=dict(os.environ, LD_LIBRARY_PATH=libs),
                           capture_output=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        return 'timeout', 'no answer within %d s' % TIMEOUT_S
    found = answer_in(open(img, 'rb').read())
    if found:
        return found
    if p.returncode < 0:
        return 'crash', 'the VM died of signal %d' % -p.returncode
    return 'crash', 'the VM exited %d without an answer' % p.returncode


def main():
    args = sys.argv[1:]
    image = os.path.join(os.environ.get('COWHEAP_IMAGES') or os.path.join(ROOT, '..', 'shared', 'images'),
                         'mini-2.2-v3-le.image')
    only, keep = None, False
    while args:
        a = args.pop(0)
        if a == '--image':
            image = args.pop(0)
        elif a == '--only':
            only = args.pop(0)
        elif a == '--keep':
            keep = True
        else:
            raise SystemExit(__doc__)
    battery = read_battery(os.path.join(HERE, 'battery.txt'))
    expected_path = os.path.join(HERE, 'expected.tsv')
    old = {}
    if os.path.exists(expected_path):
        for line in open(expected_path, encoding='utf-8'):
            if not line.startswith('--'):
                e, kind, text = line.rstrip('\n').split('\t')
                old[e] = (kind, unescape(text))
    work = tempfile.mkdtemp(prefix='conform.')
    try:
        vm, libs, version = fetch_vm(work)
        patched = os.path.join(work, 'patched.image')
        open(patched, 'wb').write(Heap(open(image, 'rb').read()).append_startup())
        rows = []
        for i, (category, expr, math) in enumerate(battery):
            if math is not None:
                kind, text = 'math', math
            elif only is not None and only not in expr and escape(expr) in old:
                kind, text = old[escape(expr)]
            else:
                kind, text = run_one(vm, libs, patched, work, expr)
                print('%3d/%d [%s] %s\n        %s %s' % (i + 1, len(battery), category, expr, kind, text[:200]), flush=True)
            rows.append((escape(expr), kind, escape(text)))
        with open(expected_path, 'w', encoding='utf-8') as f:
            f.write('-- Generated by realvm.py from battery.txt: do not edit. The real VM: Debian squeak-vm %s\n'
                    '-- on mini-2.2-v3-le.image. Columns: expression, kind (answer: its printString; stop: the\n'
                    '-- message it stopped with; math: given by battery.txt, the VM cannot), text. Escapes: \\\\ \\t \\n \\r.\n'
                    % version)
            for r in rows:
                f.write('\t'.join(r) + '\n')
        counts = {}
        for _, k, _ in rows:
            counts[k] = counts.get(k, 0) + 1
        print('wrote %s: %d expressions, %s' % (expected_path, len(rows), counts))
    finally:
        if keep:
            print('work dir kept: ' + work)
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == '__main__':
    main()
