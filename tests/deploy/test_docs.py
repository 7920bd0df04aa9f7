"""The documentation holds together: README.md is a front page (at most 400 lines) and the guides
in docs/ each carry a table of contents that matches their headings; every relative link of
README.md, BENCHMARKS.md and docs/*.md points at a file that exists and, with a #fragment, at a
heading of that file (GitHub's anchor rules).

`python3 tests/deploy/test_docs.py --fix` rewrites each guide's table of contents (the list
between its "**Contents**" line and its first "## " heading) from its headings."""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
README = ROOT / "README.md"
DOCS = ROOT / "docs"
README_MAX_LINES = 400

LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6}) (.+?)\s*$")
CONTENTS = "**Contents**"


def guides() -> list[Path]:
    return sorted(DOCS.glob("*.md"))


def documents() -> list[Path]:
    return [README, ROOT / "BENCHMARKS.md", *guides()]


def without_code(text: str) -> list[str]:
    """The lines outside fenced code blocks (inside them, '#' starts a comment, not a heading)."""
    lines, fence = [], False
    for line in text.split("\n"):
        if line.startswith("```"):
            fence = not fence
            continue
        if not fence:
            lines.append(line)
    return lines


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = text.strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def headings(path: Path) -> list[tuple[int, str]]:
    found = []
    for line in without_code(path.read_text()):
        m = HEADING.match(line)
        if m:
            found.append((len(m.group(1)), m.group(2)))
    return found


def anchors(path: Path) -> set[str]:
    """Every anchor of a file, with GitHub's -1, -2 suffixes for repeated headings."""
    seen: dict[str, int] = {}
    result = set()
    for _, h in headings(path):
        base = slug(h)
        n = seen.get(base, 0)
        result.add(base if n == 0 else f"{base}-{n}")
        seen[base] = n + 1
    return result


def expected_toc(path: Path) -> str:
    lines = []
    for level, h in headings(path):
        if level in (2, 3):
            lines.append("  " * (level - 2) + f"- [{h}](#{slug(h)})")
    return "\n".join(lines)


def current_toc(path: Path) -> str | None:
    text = path.read_text()
    m = re.search(r"^\*\*Contents\*\*\n\n(.*?)\n\n(?=## )", text, re.S | re.M)
    return m.group(1).strip("\n") if m else None


def links(path: Path) -> list[str]:
    found = []
    for line in without_code(path.read_text()):
        line = re.sub(r"`[^`]*`", "", line)  # code spans are not links
        for m in LINK.finditer(line):
            found.append(m.group(1) or m.group(2))
    return found


def fix() -> None:
    for path in guides():
        text = path.read_text()
        toc = expected_toc(path)
        new, n = re.subn(
            r"^\*\*Contents\*\*\n\n(.*?)\n*(?=## )",
            lambda _m: f"{CONTENTS}\n\n{toc}\n\n",
            text,
            count=1,
            flags=re.S | re.M,
        )
        if n and new != text:
            path.write_text(new)
            print(f"rewrote the table of contents of {path.relative_to(ROOT)}")


if __name__ == "__main__" and sys.argv[1:] == ["--fix"]:  # no pytest needed to fix
    fix()
    sys.exit(0)

import pytest  # noqa: E402


def test_readme_is_a_front_page():
    count = README.read_text().count("\n")
    assert count <= README_MAX_LINES, f"README.md has {count} lines (at most {README_MAX_LINES}): move detail to docs/"


def test_readme_links_every_guide():
    linked = {target.split("#")[0] for target in links(README)}
    missing = [g.name for g in guides() if f"docs/{g.name}" not in linked]
    assert not missing, f"README.md does not link these guides: {missing}"


@pytest.mark.parametrize("path", guides(), ids=lambda p: p.name)
def test_guide_has_a_table_of_contents_matching_its_headings(path):
    toc = current_toc(path)
    assert toc is not None, f"{path.name}: no '{CONTENTS}' list before its first '## ' heading"
    assert toc == expected_toc(path), (
        f"{path.name}: the table of contents does not match the headings; run python3 tests/deploy/test_docs.py --fix"
    )


@pytest.mark.parametrize("path", documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path):
    broken = []
    for target in links(path):
        if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
            continue
        file_part, _, fragment = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            broken.append(f"{target}: no file {dest.relative_to(ROOT) if dest.is_relative_to(ROOT) else dest}")
            continue
        if fragment and dest.suffix == ".md" and fragment not in anchors(dest):
            broken.append(f"{target}: no heading #{fragment} in {dest.relative_to(ROOT)}")
    assert not broken, f"{path.relative_to(ROOT)}: " + "; ".join(broken)


def test_the_checks_can_fail(tmp_path):
    page = tmp_path / "page.md"
    page.write_text("# T\n\n**Contents**\n\n- [A](#a)\n\n## A\n\n## B\n\n[x](missing.md) [y](#nowhere)\n")
    assert current_toc(page) != expected_toc(page)
    assert "missing.md" in links(page) and "#nowhere" in links(page)
    assert "nowhere" not in anchors(page)
    assert slug("Deploy on minikube + Istio") == "deploy-on-minikube--istio"
    assert slug("Gateway API (gateway.networking.k8s.io)") == "gateway-api-gatewaynetworkingk8sio"
