#!/usr/bin/env python3
"""Writes a copy of a 32-bit Squeak V3 image (6502/6504, either byte order) that, when the VM
resumes it, evaluates the VM's first argument after the image name as Smalltalk.

Two stores and one new object, nothing else:
  * a new CompiledMethod, appended after the heap's last object:
        startUp  | s |  s := self getSystemAttribute: 2.  s == nil ifTrue: [^self].
                        Compiler evaluate: s
    installed as SystemDictionary>>startUp (run by processStartUpList at every resume);
  * FileDirectory class>>startUp is pointed at Object>>yourself: Squeak 2.2 calls the file
    primitives by number (150-169), which today's VMs no longer have, and its startup would
    otherwise loop in notifiers. So the patched image has no file I/O.

Standard library only. Usage: patch_image.py IN.image OUT.image
"""
import struct
import sys


class V3Image:
    def __init__(self, raw):
        self.raw = bytearray(raw)
        for order in "<>":
            if struct.unpack_from(order + "I", self.raw, 0)[0] & 0x119EE in (6502, 6504):
                self.order = order
                break
        else:
            sys.exit("not a 32-bit Squeak V3 image")
        self.header_size = self.u32(4)
        self.data_size = self.u32(8)
        self.old_base = self.u32(12)
        self.specials = self.u32(16)
        self.objects = {}  # oop -> (class oop or None, compact index, format, body file offset, slots)
        at, end = self.header_size, self.header_size + self.data_size
        while at < end:
            first = self.u32(at)
            kind = first & 3
            if kind == 0:  # three header words: size, class, base header
                size, cls, base = first & ~3, self.u32(at + 4) & ~3, at + 8
            elif kind == 1:  # two header words: class, base header
                cls, base = first & ~3, at + 4
                size = self.u32(base) & 0xFC
            elif kind == 3:  # one header word, compact class
                cls, base, size = None, at, first & 0xFC
            else:
                sys.exit("a free chunk at file offset %#x" % at)
            word = self.u32(base)
            oop = self.old_base + base - self.header_size
            self.objects[oop] = (cls, (word >> 12) & 31, (word >> 8) & 15, base + 4, size // 4 - 1)
            at = base + size
        table = self.field(self.specials, 28)
        self.compact = [self.field(table, i) for i in range(self.size(table))]
        symbol = self.class_of(self.field(self.specials, 20))  # #doesNotUnderstand:
        self.symbols = {self.text(o): o for o in self.objects if self.class_of(o) == symbol}

    def u32(self, at):
        return struct.unpack_from(self.order + "I", self.raw, at)[0]

    def field(self, oop, i):
        return self.u32(self.objects[oop][3] + 4 * i)

    def store(self, oop, i, value):
        struct.pack_into(self.order + "I", self.raw, self.objects[oop][3] + 4 * i, value)

    def size(self, oop):
        return self.objects[oop][4]

    def pointers(self, oop):
        return self.objects[oop][2] < 5

    def class_of(self, oop):
        cls, index, *_ = self.objects[oop]
        return self.compact[index - 1] if cls is None else cls

    def text(self, oop):
        _, _, fmt, body, slots = self.objects[oop]
        return bytes(self.raw[body : body + 4 * slots - (fmt & 3)]).decode("latin1") if fmt >= 8 else None

    def symbol(self, name):
        if name not in self.symbols:
            sys.exit("the image has no Symbol #" + name)
        return self.symbols[name]

    def class_named(self, name):
        """A class (its name in field 6, a MethodDictionary in field 1), or its metaclass."""
        meta = name.endswith(" class")
        wanted = self.symbol(name[: -len(" class")] if meta else name)
        for oop in self.objects:
            if self.pointers(oop) and self.size(oop) > 6 and self.field(oop, 6) == wanted:
                if self.field(oop, 1) in self.objects:
                    return self.class_of(oop) if meta else oop
        sys.exit("no class " + name)

    def method_slot(self, cls, selector):
        """The method array and index that hold cls>>selector."""
        dictionary = self.field(cls, 1)
        key = self.symbol(selector)
        for i in range(self.size(dictionary) - 2):
            if self.field(dictionary, 2 + i) == key:
                return self.field(dictionary, 1), i
        sys.exit("no method %s" % selector)

    def global_association(self, name):
        """The association of a global class: key, then the class named by the key."""
        key = self.symbol(name)
        for oop in self.objects:
            if self.pointers(oop) and self.size(oop) == 2 and self.field(oop, 0) == key:
                value = self.field(oop, 1)
                if value in self.objects and self.pointers(value) and self.size(value) > 6:
                    if self.field(value, 6) == key:
                        return oop
        sys.exit("no global " + name)


def main(src, dst):
    image = V3Image(open(src, "rb").read())
    pack = lambda v: struct.pack(image.order + "I", v)
    literals = [image.symbol("getSystemAttribute:"), image.global_association("Compiler"), image.symbol("evaluate:")]
    code = bytes([0x70, 0x77, 0xE0, 0x68, 0x10, 0x73, 0xC6, 0x98, 0x78, 0x41, 0x10, 0xE2, 0x87, 0x78])
    code += bytes(4)  # the source pointer trailer: none
    method_header = (1 << 18) | (len(literals) << 9)  # no arguments, one temporary, no primitive
    body = pack((method_header << 1) | 1) + b"".join(pack(v) for v in literals) + code
    odd = (-len(body)) % 4
    body += bytes(odd)
    size = 4 + len(body)
    assert size <= 252 and image.text(image.field(image.compact[0], 6)) == "CompiledMethod"
    hash_bits = 0x2A5 << 17
    base_header = hash_bits | (1 << 12) | ((12 + odd) << 8) | size | 3  # compact class 1
    new_oop = image.old_base + image.data_size
    array, i = image.method_slot(image.class_named("SystemDictionary"), "startUp")
    image.store(array, i, new_oop)
    array, i = image.method_slot(image.class_named("FileDirectory class"), "startUp")
    yourself_array, j = image.method_slot(image.class_named("Object"), "yourself")
    image.store(array, i, image.field(yourself_array, j))
    end = image.header_size + image.data_size
    out = image.raw[:end] + pack(base_header) + body + image.raw[end:]
    struct.pack_into(image.order + "I", out, 8, image.data_size + size)
    open(dst, "wb").write(out)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
