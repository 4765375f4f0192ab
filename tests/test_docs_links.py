"""Every relative link (and image) in README.md and docs/*.md leads somewhere: the file exists and,
when the link names a `#section`, that file has a heading with that anchor (GitHub's rule: lower
case, punctuation dropped, spaces to hyphens, `-1`, `-2`, ... for repeats). Links to the web are not
fetched (tests never use the network); links and headings inside fenced code blocks do not count."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
LINK = re.compile(r"\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)


def _prose(text: str) -> str:
    return FENCE.sub("", text)


def anchors(text: str) -> set[str]:
    """The `#anchors` of a Markdown file's headings, as GitHub makes them."""
    seen: dict[str, int] = {}
    out = set()
    for title in HEADING.findall(_prose(text)):
        title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)  # a link in a heading: its text
        slug = re.sub(r"[^\w\- ]", "", title.replace("`", "").strip().lower()).replace(" ", "-")
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        out.add(slug if n == 0 else f"{slug}-{n}")
    return out


def broken_links(path: Path, root: Path = ROOT) -> list[str]:
    """`path`'s relative links that lead nowhere, each as 'target: why'."""
    problems = []
    for target in LINK.findall(_prose(path.read_text(encoding="utf-8"))):
        if re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # https:, mailto:, ...
            continue
        file_part, _, anchor = target.partition("#")
        dest = (path.parent / file_part).resolve() if file_part else path
        if not dest.exists():
            problems.append(f"{target}: no file {dest.relative_to(root) if dest.is_relative_to(root) else dest}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest.read_text(encoding="utf-8")):
            problems.append(f"{target}: {dest.name} has no heading with the anchor #{anchor}")
    return problems


def test_every_relative_link_in_the_docs_resolves() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    assert len(pages) > 3, "README.md and docs/*.md were not found"
    problems = {str(p.relative_to(ROOT)): broken_links(p) for p in pages}
    assert not any(problems.values()), {k: v for k, v in problems.items() if v}


def test_the_checker_finds_missing_files_and_anchors(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "b.md").write_text('# B\n\n## Contract face (v0.1, "x")\n\n## Same\n\n## Same\n')
    (tmp_path / "img.png").write_bytes(b"")
    page = tmp_path / "README.md"
    page.write_text(
        "[ok](docs/b.md) [ok](docs/b.md#contract-face-v01-x) [ok](docs/b.md#same-1) [ok](#top) "
        "[web](https://example.com/x.md) ![img](img.png)\n"
        "[gone](docs/c.md) [bad](docs/b.md#nowhere) [self](#nope)\n\n# Top\n\n```\n[in code](nowhere.md)\n```\n"
    )
    assert broken_links(page, tmp_path) == [
        "docs/c.md: no file docs/c.md",
        "docs/b.md#nowhere: b.md has no heading with the anchor #nowhere",
        "#nope: README.md has no heading with the anchor #nope",
    ]
