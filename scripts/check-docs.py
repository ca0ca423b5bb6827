#!/usr/bin/env python3
"""Check the Markdown docs (README.md, docs/, crates/README.md): every relative link points at a file or folder
that exists, and every `eoforge-<binary> <subcommand>` the docs show exists in that binary's CLI definition.
Standard library only; exit 1 listing every problem."""
import pathlib
import re
import sys

root = pathlib.Path(__file__).resolve().parent.parent
pages = [root / "README.md", root / "crates" / "README.md", *sorted((root / "docs").glob("*.md"))]
problems = []

# Subcommands per binary, from the clap enums (`Name(NameArgs)` variants become kebab-case subcommands).
subcommands = {}
for binary, cli in [("prep", "bins/prep/src/cli.rs"), ("train", "bins/train/src/cli.rs"), ("infer", "bins/infer/src/cli.rs"), ("slurm", "bins/slurm/src/cli.rs"), ("area", "bins/area/src/cli.rs")]:
    text = (root / cli).read_text()
    enum = text[text.index("pub enum Command"):]
    enum = enum[: enum.index("\n}")]
    names = re.findall(r"^\s{4}([A-Z][A-Za-z]*)\(", enum, re.M)
    subcommands[f"eoforge-{binary}"] = {re.sub(r"(?<!^)([A-Z])", r"-\1", n).lower() for n in names}

for page in pages:
    text = page.read_text()
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"^[a-z]+:", target) or target.startswith("#"):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        if not path.exists():
            problems.append(f"{page.relative_to(root)}: link to missing {target}")
    for binary, sub in re.findall(r"\b(eoforge-(?:prep|train|infer|slurm|area)) ([a-z][a-z-]+)\b", text):
        if sub not in subcommands[binary] and sub not in {"fit", "eval"} | subcommands[binary]:
            # Words after a binary name that are not subcommands are prose ("eoforge-prep shards …"): only flag
            # those that look like commands in code spans or blocks.
            if re.search(rf"(`|^\s*|\$ ){re.escape(binary)} {re.escape(sub)}\b", text, re.M):
                problems.append(f"{page.relative_to(root)}: `{binary} {sub}` is not a subcommand of {binary}")

for p in problems:
    print(p)
print(f"checked {len(pages)} pages: {len(problems)} problem(s)", file=sys.stderr)
sys.exit(1 if problems else 0)
