#!/usr/bin/env python3
"""Makes every citation of the bad-input catalogue name a file a reader can open.

Comments and docs cite rows of docs/security-cases.md by id (J10, E5, C9, ...). They used
to name the catalogue as `SECURITY-CASES` or `SECURITY-CASES.md`, a file outside the
repository, or not at all. This script, over the files git tracks:

1. replaces `SECURITY-CASES` and `SECURITY-CASES.md` with `docs/security-cases.md`;
2. in a Rust file whose comments cite an id but never name docs/security-cases.md, puts
   `docs/security-cases.md ` before the first cited id (usually in the `//!` header, e.g.
   "Claims (docs/security-cases.md K1–K23)."), so the bare ids further down have a source.

Idempotent: a second run changes nothing. Ids are those that head a row of the catalogue,
so `H2`-like words that are not rows are left alone.

Usage: python3 tools/cite-catalogue.py           rewrite in place, list changed files
       python3 tools/cite-catalogue.py --check   change nothing; exit 1 if a file would change
"""

import pathlib
import re
import subprocess
import sys

CATALOGUE = "docs/security-cases.md"
SELF = "tools/cite-catalogue.py"  # its own text names the old spelling on purpose
OLD_NAME = re.compile(r"(?<![\w/.-])SECURITY-CASES(?:\.md)?(?![\w-])")
TEXT_SUFFIXES = {".rs", ".md", ".json", ".py", ".sh", ".toml", ".yaml", ".yml", ".txt"}
WIDTH = 100  # rustfmt's max_width; a lengthened comment line is wrapped to it
COMMENT_LINE = re.compile(r"^(\s*)(//[/!]?)( ?)(.*)$")


def catalogue_ids(root):
    text = (root / CATALOGUE).read_text()
    return set(re.findall(r"^\|\s*([A-Z]\d{1,2})\s*\|", text, re.M))


def comment_start(line):
    """Index of the `//` that starts a comment on this line, or -1. Good enough for this
    code base: a `//` inside a string literal on a line that also cites an id is not
    expected (and `--check` shows every change for review)."""
    return line.find("//")


def name_first_citation(text, ids):
    id_pattern = re.compile(r"\b(" + "|".join(sorted(ids, key=len, reverse=True)) + r")\b")
    lines = text.split("\n")
    for i, line in enumerate(lines):
        start = comment_start(line)
        if start < 0:
            continue
        found = id_pattern.search(line, start + 2)
        if found:
            at = found.start()
            lines[i] = line[:at] + CATALOGUE + " " + line[at:]
            return "\n".join(lines)
    return text


def split(line):
    """(head, first, rest) for a comment-only Rust line over WIDTH that has a space to
    split at; None otherwise."""
    parts = COMMENT_LINE.match(line)
    if len(line) <= WIDTH or not parts:
        return None
    indent, marker, _, body = parts.groups()
    head = f"{indent}{marker} "
    cut = body.rfind(" ", 0, WIDTH - len(head) + 1)
    if cut <= 0:
        return None
    return head, head + body[:cut], body[cut + 1 :]


def continues(line, head):
    """Whether `line` carries on the same comment paragraph as a line starting `head`."""
    if not line.startswith(head):
        return False
    body = line[len(head) :]
    return bool(body.strip()) and not body.startswith((" ", "-", "*", "#", "`", "|"))


def rewrap(lines, changed):
    """Wraps each changed comment line that grew past WIDTH, moving the overflow onto the
    next line of the same comment paragraph (or a line of its own where the paragraph
    ends); a next line that grows in turn is wrapped the same way."""
    out = []
    carry = None  # (head, words) spilled from the previous line
    for i, line in enumerate(lines):
        grown = i in changed
        if carry and continues(line, carry[0]):
            line = carry[0] + carry[1] + " " + line[len(carry[0]) :]
            grown = True
        elif carry:
            out.append(carry[0] + carry[1])
        carry = None
        parts = split(line) if grown else None
        if parts:
            head, first, rest = parts
            out.append(first)
            carry = (head, rest)
        else:
            out.append(line)
    if carry:
        out.append(carry[0] + carry[1])
    return out


def rewrite(path, text, ids):
    new = OLD_NAME.sub(CATALOGUE, text)
    if path.suffix == ".rs" and CATALOGUE not in new:
        new = name_first_citation(new, ids)
    if path.suffix == ".rs" and new != text:
        old_lines, lines = text.split("\n"), new.split("\n")
        # Both have the same number of lines: only words were inserted, within lines.
        changed = {i for i, (a, b) in enumerate(zip(old_lines, lines)) if a != b}
        new = "\n".join(rewrap(lines, changed))
    return new


def main():
    check = sys.argv[1:] == ["--check"]
    if sys.argv[1:] not in ([], ["--check"]):
        print(__doc__, file=sys.stderr)
        return 2
    root = pathlib.Path(
        subprocess.run(
            ["git", "rev-parse", "--show-toplevel"], check=True, capture_output=True, text=True
        ).stdout.strip()
    )
    ids = catalogue_ids(root)
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=root, check=True, capture_output=True, text=True
    ).stdout.split("\0")
    changed = []
    for name in files:
        path = root / name
        if name in ("", CATALOGUE, SELF) or path.suffix not in TEXT_SUFFIXES or not path.is_file():
            continue
        try:
            text = path.read_text()
        except UnicodeDecodeError:
            continue
        new = rewrite(path, text, ids)
        if new != text:
            changed.append(name)
            if not check:
                path.write_text(new)
    for name in changed:
        print(("would change " if check else "changed ") + name)
    return 1 if check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
