#!/usr/bin/env python3
"""ksyms.py VMLINUX [NAME...]: addresses of a kernel's exported symbols.

Debian's linux-image package ships a stub System.map ("The real System.map is
in the linux-image-<version>-dbg package", an 860 MB download) and a stripped
image, but every kernel carries the table of its exported symbols for
modules: __ksymtab and __ksymtab_gpl, entries of struct kernel_symbol. On
x86-64 (CONFIG_HAVE_ARCH_PREL32_RELOCATIONS) an entry is three 32-bit
signed offsets, each relative to its own field's address:
    { int value_offset; int name_offset; int namespace_offset; }
so value = &entry.value_offset + value_offset, and the name is a C string
in __ksymtab_strings at &entry.name_offset + name_offset.
Prints System.map lines ("ffffffff81234560 T name"), sorted by address, for
all exported symbols or the NAMEs given (exit 1 if one is missing). The
addresses hold with nokaslr (the image's link addresses).
"""
import struct
import sys


def sections(elf):
    if elf[:4] != b"\x7fELF" or elf[4] != 2:
        sys.exit("ksyms: not an ELF64 file")
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3a)
    hdrs = [struct.unpack_from("<IIQQQQIIQQ", elf, shoff + i * shentsize) for i in range(shnum)]
    strtab = hdrs[shstrndx]
    names = elf[strtab[4]:strtab[4] + strtab[5]]
    out = {}
    for h in hdrs:
        name = names[h[0]:names.index(b"\0", h[0])].decode()
        out[name] = (h[3], h[4], h[5])     # address, file offset, size
    return out


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    elf = open(sys.argv[1], "rb").read()
    sec = sections(elf)
    if "__ksymtab_strings" not in sec:
        sys.exit("ksyms: no __ksymtab_strings section")
    s_addr, s_off, s_size = sec["__ksymtab_strings"]
    syms = {}
    for tab, kind in (("__ksymtab", "T"), ("__ksymtab_gpl", "T")):
        if tab not in sec:
            continue
        addr, off, size = sec[tab]
        if size % 12:
            sys.exit("ksyms: %s is %d bytes, not a multiple of 12" % (tab, size))
        for i in range(0, size, 12):
            v, n, _ = struct.unpack_from("<iii", elf, off + i)
            value = (addr + i + v) & 0xffffffffffffffff
            name_addr = addr + i + 4 + n
            if not s_addr <= name_addr < s_addr + s_size:
                sys.exit("ksyms: %s entry %d names outside the string table" % (tab, i // 12))
            p = s_off + (name_addr - s_addr)
            syms[elf[p:elf.index(b"\0", p)].decode()] = value
    want = sys.argv[2:]
    missing = [w for w in want if w not in syms]
    rows = sorted((syms[w], w) for w in (want or syms) if w in syms)
    for value, name in rows:
        print("%016x %s %s" % (value, "T", name))
    if missing:
        sys.exit("ksyms: not exported: " + " ".join(missing))


if __name__ == "__main__":
    main()
