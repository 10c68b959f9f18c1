#!/usr/bin/env python3
"""Finds import circles between the modules of each crate (docs/DESIGN.md: one-way dependencies).

A module is one source file. File A depends on file B when A names an item through a path that
resolves into B (`crate::x::y`, `super::x`, `self::x`, also inside `use` groups). A child's use of
what its ancestors hold is not counted (the parent declares the child); a parent's use of its
children is. Test modules (`#[cfg(test)] mod ...`) are skipped.
Prints every circle and exits 1 when there is one.
"""
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "crates")


def module_files(src):
    """Maps module path tuples (crate-relative) to files."""
    mods = {}
    for dirpath, _, files in os.walk(src):
        for f in files:
            if not f.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(dirpath, f), src)
            parts = rel[:-3].split(os.sep)
            if parts[-1] in ("mod", "lib", "main"):
                parts = parts[:-1]
            if "bin" in parts[:1]:
                continue
            mods[tuple(parts)] = os.path.join(dirpath, f)
    return mods


def expand_use(text):
    """Expands `a::{b, c::{d}}` use trees into flat paths."""
    out = []

    def walk(prefix, s):
        s = s.strip()
        if not s:
            return
        if "{" not in s:
            for part in split_top(s):
                part = part.strip().split(" as ")[0].strip()
                if part:
                    out.append(prefix + part)
            return
        for part in split_top(s):
            part = part.strip()
            m = re.match(r"^(.*?)::\{(.*)\}$", part, re.S)
            if m:
                walk(prefix + m.group(1) + "::", m.group(2))
            elif part.startswith("{") and part.endswith("}"):
                walk(prefix, part[1:-1])
            elif part:
                out.append(prefix + part.split(" as ")[0].strip())

    walk("", text)
    return out


def split_top(s):
    depth, cur, parts = 0, "", []
    for ch in s:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(cur)
            cur = ""
        else:
            cur += ch
    parts.append(cur)
    return parts


TOKENS = re.compile(
    r"""//[^\n]*|/\*.*?\*/|r(#*)".*?"\1|b?"(?:\\.|[^"\\])*"|b?'(?:\\.|[^\\'])'""", re.S
)


def strip_code(text):
    """Blanks comments, strings and char literals, then drops test modules."""
    text = TOKENS.sub(lambda m: '""' if m.group(0)[:1] not in "/" else " ", text)
    text = re.sub(r"#\[cfg\(test\)\]\s*(pub(\([\w:]+\))?\s+)?mod\s+\w+\s*;", "", text)
    m = re.search(r"#\[cfg\(test\)\]\s*(pub(\([\w:]+\))?\s+)?mod\s+\w+\s*\{", text)
    return text if m is None else text[: m.start()]


def paths_in(text):
    paths = []
    for m in re.finditer(r"\buse\s+([^;]+);", text):
        paths.extend(expand_use(m.group(1)))
    body = re.sub(r"\buse\s+[^;]+;", "", text)
    paths.extend(re.findall(r"\b((?:crate|super|self)(?:::\w+)+)", body))
    # a module's children are in scope by their bare names
    for child in re.findall(r"\bmod\s+(\w+)\s*;", text):
        for m in re.finditer(r"(?<![:\w])" + child + r"((?:::\w+)+)", text):
            paths.append("self::" + child + m.group(1))
    return paths


def resolve(path, here, mods, is_mod_file):
    parts = path.split("::")
    if parts[0] == "crate":
        base, rest = (), parts[1:]
    elif parts[0] in ("self", "super"):
        base = here if is_mod_file else here[:-1]
        if parts[0] == "self":
            base = here
            rest = parts[1:]
        else:
            base = here[:-1]
            rest = parts[1:]
            while rest and rest[0] == "super":
                base, rest = base[:-1], rest[1:]
    else:
        return None
    cur = base
    best = base if base in mods else None
    for p in rest:
        cur = cur + (p,)
        if cur in mods:
            best = cur
        else:
            break
    return best


def is_ancestor(a, b):
    """True when module b contains module a (or is a)."""
    return a[: len(b)] == b


def sccs(graph):
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(comp)

    sys.setrecursionlimit(10000)
    for v in list(graph):
        if v not in index:
            visit(v)
    return out


def main():
    found = 0
    for crate in sorted(os.listdir(ROOT)):
        src = os.path.join(ROOT, crate, "src")
        if not os.path.isdir(src):
            continue
        mods = module_files(src)
        graph = {}
        for mod, path in mods.items():
            is_mod_file = os.path.basename(path) in ("mod.rs", "lib.rs", "main.rs")
            text = strip_code(open(path, encoding="utf-8").read())
            for p in paths_in(text):
                target = resolve(p, mod, mods, is_mod_file)
                if target is None or is_ancestor(mod, target):
                    continue
                graph.setdefault(mod, set()).add(target)
        for comp in sccs(graph):
            found += 1
            names = sorted("/".join(m) or "lib" for m in comp)
            print(f"{crate}: import circle between {', '.join(names)}")
    if found:
        sys.exit(1)
    print("no import circles")


if __name__ == "__main__":
    main()
