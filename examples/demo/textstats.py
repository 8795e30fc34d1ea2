"""Small text statistics, the module the demo workflow lints and tests."""


def word_count(text: str) -> int:
    """Number of whitespace-separated words in text."""
    return len(text.split())


def most_common(text: str) -> str:
    """The most frequent word (case-insensitive); ties go to the first seen."""
    counts: dict[str, int] = {}
    for word in text.lower().split():
        counts[word] = counts.get(word, 0) + 1
    if not counts:
        return ""
    return max(counts, key=lambda w: counts[w])
