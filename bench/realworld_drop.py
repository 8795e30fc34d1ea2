"""Drop matrix values from workflow files in place: bench/realworld.sh -x uses it on its clones
to take out legs asking for interpreters this machine cannot get (under fail-fast their
failure would cancel the legs that can run). Usage: realworld_drop.py REGEX FILE..."""
import re, sys

def drop(text, pat):
    """Remove matrix values matching pat (a regex over the unquoted value) from the matrices of a
    workflow: items of [...] lists and of block lists, and include/exclude entries with a value
    that matches. A list that would become empty is kept whole (the job then fails here, alone);
    an include/exclude left empty goes. Returns the new text and how many values went."""
    rx = re.compile(pat)
    def hit(v):
        v = v.split("#")[0].strip().strip("'\"")
        return bool(rx.fullmatch(v))
    def entry_values(block):
        return re.findall(r"(?:^|[{,\s])[\w-]+:\s*([^,}#\n]+)", "\n".join(block))
    lines = text.split("\n")
    out, removed, i, matrix_indent = [], 0, 0, None
    def ind(l):
        return len(l) - len(l.lstrip())
    while i < len(lines):
        line = lines[i]
        s = line.strip()
        if matrix_indent is not None and s and not s.startswith("#") and ind(line) <= matrix_indent:
            matrix_indent = None
        if re.match(r"matrix:\s*(#.*)?$", s):
            matrix_indent = ind(line)
            out.append(line); i += 1; continue
        if matrix_indent is None:
            out.append(line); i += 1; continue
        k = re.match(r"^(\s*[\w-]+):\s*$", line)
        if k and i + 1 < len(lines) and re.match(r"^\s*\[.*\]\s*(#.*)?$", lines[i + 1]):
            # a flow list on the line after its key: the same as on the key's line
            line = k.group(1) + ": " + lines[i + 1].strip()
            i += 1
        m = re.match(r"^(\s*)([\w-]+):\s*\[(.*)\](\s*(#.*)?)$", line)
        if m:
            items = [x for x in m.group(3).split(",") if x.strip()]
            kept = [x for x in items if not hit(x)]
            if not kept and m.group(2) not in ("include", "exclude"):
                kept = items
            removed += len(items) - len(kept)
            if kept or m.group(2) not in ("include", "exclude"):
                out.append(f"{m.group(1)}{m.group(2)}: [" + ",".join(kept).strip() + "]" + m.group(4))
            i += 1; continue
        m = re.match(r"^(\s*)([\w-]+):\s*(#.*)?$", line)
        if m and i + 1 < len(lines) and lines[i + 1].lstrip().startswith("- "):
            key, item_indent = m.group(2), ind(lines[i + 1])
            j, groups = i + 1, []
            while j < len(lines):
                l = lines[j]
                if not l.strip():
                    groups.append(("blank", [l])); j += 1; continue
                if ind(l) == item_indent and l.lstrip().startswith("- "):
                    block = [l]; j += 1
                    while j < len(lines) and lines[j].strip() and ind(lines[j]) > item_indent:
                        block.append(lines[j]); j += 1
                    groups.append(("item", block)); continue
                break
            def drops(block):
                first = block[0].lstrip()[2:]
                if first.startswith("{") or re.match(r"[\w-]+:", first):
                    return any(hit(v) for v in entry_values([first] + [b.strip() for b in block[1:]]))
                return hit(first)
            items = [b for k, b in groups if k == "item"]
            gone = [b for b in items if drops(b)]
            if len(gone) == len(items) and key not in ("include", "exclude"):
                gone = []
            removed += len(gone)
            if len(gone) < len(items) or key not in ("include", "exclude"):
                out.append(line)
            for k, b in groups:
                if not any(b is g for g in gone):
                    out.extend(b)
            i = j; continue
        out.append(line); i += 1
    return "\n".join(out), removed

if __name__ == "__main__":
    pat = sys.argv[1]
    for path in sys.argv[2:]:
        text = open(path).read()
        new, n = drop(text, pat)
        if n:
            open(path, "w").write(new)
            print(f"{path}: {n}")
