"""Generated text as people read it: samples one after another in a .txt, each under a
numbered rule, so a sample's own line breaks and spaces stay as generated."""

from pathlib import Path


def format_texts(texts: list[str]) -> str:
    return "".join(f"---- sample {i} ----\n{text}\n" for i, text in enumerate(texts))


def write_texts(texts: list[str], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(format_texts(texts), encoding="utf-8")
    return path
