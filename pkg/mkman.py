#!/usr/bin/env python3
"""pkg/mkman.py VCR OUTDIR: write vcr(1) and vcr-CMD(1) for every command.

The pages are made from what the binary prints (`vcr --version`, `vcr help`,
`vcr CMD --help`), so that a man page cannot say something --help does not:
the help texts in cli/ are the only source. The help format read here is the
one cli/ writes:

    usage: vcr CMD ...          (more synopsis lines indented under it)
    <paragraphs>                 DESCRIPTION
    options:                     (optional heading, dropped)
      -x, --long ARG   text      OPTIONS: an indented line starting with '-';
                       more text   deeper-indented lines continue it
    Exit status: ...             EXIT STATUS (case-insensitive), to a blank line

Stale pages in OUTDIR (a command that went away) are removed first. The date
in .TH is SOURCE_DATE_EPOCH's when set (reproducible builds), else today's.
"""
import datetime
import os
import re
import subprocess
import sys


def run(argv):
    p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       universal_newlines=True)
    if p.returncode != 0:
        sys.exit("mkman: %s exited %d" % (" ".join(argv), p.returncode))
    return p.stdout


def esc(text):
    """Escape plain text for roff: backslashes, minus signs (a '-' that is not
    a hyphen inside a word), and `code` spans in bold."""
    text = text.replace("\\", "\\e")
    # an option (--no-stdin) is all minus signs; elsewhere only a '-' between
    # a letter or digit and a letter is a hyphen
    text = re.sub(r"(?<![\w-])--?[A-Za-z][\w-]*",
                  lambda m: m.group(0).replace("-", "\x00"), text)
    text = re.sub(r"(?<![A-Za-z0-9])-|-(?![A-Za-z])", r"\\-", text)
    text = text.replace("\x00", "\\-")
    text = re.sub(r"`([^`]+)`", r"\\fB\1\\fR", text)
    return text


def line(text):
    """One roff text line: a leading '.' or '\'' would be a request."""
    text = esc(text)
    if text[:1] in (".", "'"):
        text = "\\&" + text
    return text


def option_spec(spec):
    """'-m, --memory SIZE' -> bold option names, italic arguments."""
    out = []
    for part in re.split(r"(,? )", spec):
        if part in (", ", " ", ""):
            out.append(part)
        elif part.startswith("-"):
            out.append("\\fB" + esc(part) + "\\fR")
        else:
            out.append("\\fI" + esc(part) + "\\fR")
    return "".join(out)


def parse_help(text):
    """Split a --help text into synopsis lines, description paragraphs,
    options (spec, text) and the exit status paragraph."""
    lines = text.rstrip("\n").split("\n")
    synopsis, desc, opts, status = [], [], [], []
    i = 0
    while i < len(lines) and (lines[i].startswith("usage: ") or
                              (synopsis and lines[i].startswith("       "))):
        synopsis.append(lines[i][len("usage: "):].strip())
        i += 1
    para = None
    while i < len(lines):
        l = lines[i]
        i += 1
        s = l.strip()
        if not s:
            para = None
            continue
        if re.match(r"^\s+-", l):
            m = re.match(r"^\s+(\S.*?)(?:\s{2,}(.*))?$", l)
            opts.append([m.group(1), m.group(2) or ""])
            para = ("opt", len(l) - len(l.lstrip()))
            continue
        if para and para[0] == "opt" and len(l) - len(l.lstrip()) > para[1]:
            opts[-1][1] = (opts[-1][1] + " " + s).strip()
            continue
        if para is None and re.match(r"(?i)^(options|commands):$", s):
            continue
        if para is None and re.match(r"(?i)^exit status:", s):
            status.append(s.split(":", 1)[1].strip())
            para = ("status",)
            continue
        if para and para[0] == "status":
            status.append(s)
            continue
        if para and para[0] == "desc":
            desc[-1].append(l)
        else:
            desc.append([l])
            para = ("desc",)
    return synopsis, desc, opts, status


def th(name, version, date):
    return ['.TH "%s" 1 "%s" "%s" "User Commands"' %
            (esc(name.upper()), date, esc(version))]


def paragraphs(desc):
    out = []
    for p in desc:
        out.append(".PP")
        if all(l.startswith("  ") for l in p):
            # an indented block (a list of commands, an example): keep lines
            out.append(".nf")
            out += [line(l.strip()) for l in p]
            out.append(".fi")
        else:
            out += [line(l.strip()) for l in p]
    return out


def synopsis_lines(synopsis):
    out = [".SH SYNOPSIS", ".nf"]
    for s in synopsis:
        words = s.split(" ")
        # program and command in bold, the rest as written
        n = 2 if len(words) > 1 and re.match(r"^[a-z]+$", words[1]) else 1
        out.append("\\fB" + esc(" ".join(words[:n])) + "\\fR" +
                   ("" if len(words) == n else " " + esc(" ".join(words[n:]))))
    out.append(".fi")
    return out


def command_page(cmd, summary, help_text, version, date):
    synopsis, desc, opts, status = parse_help(help_text)
    if not synopsis:
        sys.exit("mkman: `vcr %s --help` has no usage line" % cmd)
    out = th("vcr-" + cmd, version, date)
    out += [".SH NAME", "vcr\\-%s \\- %s" % (esc(cmd), esc(summary))]
    out += synopsis_lines(synopsis)
    if desc:
        out += [".SH DESCRIPTION"] + paragraphs(desc)
    if opts:
        out.append(".SH OPTIONS")
        for spec, text in opts:
            out += [".TP", option_spec(spec), line(text) if text else ".br"]
    if status:
        out += [".SH EXIT STATUS"] + [line(s) for s in status]
    out += [".SH SEE ALSO", "\\fBvcr\\fR(1)"]
    return out


def main_page(help_text, cmds, version, date):
    synopsis, desc, _, status = parse_help(help_text)
    out = th("vcr", version, date)
    out += [".SH NAME", "vcr \\- " + esc(desc[0][0].strip().rstrip("."))]
    out += synopsis_lines(synopsis)
    rest = [p for p in desc[1:] if not all(re.match(r"^  [a-z]+\s", l) for l in p)]
    if rest:
        out += [".SH DESCRIPTION"] + paragraphs(rest)
    out.append(".SH COMMANDS")
    for c, summary in cmds:
        out += [".TP", "\\fBvcr %s\\fR" % esc(c),
                line(summary) + " (\\fBvcr\\-%s\\fR(1))" % esc(c)]
    if status:
        out += [".SH EXIT STATUS"] + [line(s) for s in status]
    out += [".SH SEE ALSO", ",\n".join("\\fBvcr\\-%s\\fR(1)" % esc(c) for c, _ in cmds)]
    return out


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: mkman.py VCR OUTDIR")
    vcr, outdir = sys.argv[1], sys.argv[2]
    version = run([vcr, "--version"]).strip()
    if not re.match(r"^vcr \S+$", version):
        sys.exit("mkman: unexpected `vcr --version`: %r" % version)
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = (datetime.datetime.utcfromtimestamp(int(epoch)) if epoch
            else datetime.datetime.utcnow())
    date = when.strftime("%Y-%m-%d")
    top = run([vcr, "help"])
    cmds = re.findall(r"(?m)^  ([a-z]+)\s+(\S.*)$", top)
    if not cmds:
        sys.exit("mkman: `vcr help` lists no command")
    os.makedirs(outdir, exist_ok=True)
    for f in os.listdir(outdir):
        if f.endswith(".1"):
            os.unlink(os.path.join(outdir, f))
    pages = {"vcr.1": main_page(top, cmds, version, date)}
    for c, summary in cmds:
        pages["vcr-%s.1" % c] = command_page(c, summary, run([vcr, c, "--help"]),
                                             version, date)
    for name, body in pages.items():
        with open(os.path.join(outdir, name), "w") as f:
            f.write("\n".join(body) + "\n")


if __name__ == "__main__":
    main()
