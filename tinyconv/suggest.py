""""Did you mean" hints for misspelt names (layers, classes, subcommands, options, files)."""
import difflib


def close_matches(word, choices, n=3, cutoff=0.6, spread=0.05):
    """Up to n of `choices` that look like `word` (difflib's ratio at least `cutoff`), most alike
    first, and only those within `spread` of the best, so that one clear match comes alone."""
    word = str(word)
    ratios = {c: difflib.SequenceMatcher(None, word, c).ratio() for c in map(str, choices)}
    ranked = sorted((c for c, r in ratios.items() if r >= cutoff), key=lambda c: -ratios[c])
    return [c for c in ranked[:n] if ratios[c] >= ratios[ranked[0]] - spread]


def suggestion(matches):
    """"; did you mean A?" or "; did you mean A, B or C?" for `matches`, "" for none."""
    matches = list(dict.fromkeys(matches))
    if not matches:
        return ""
    names = matches[0] if len(matches) == 1 else f"{', '.join(matches[:-1])} or {matches[-1]}"
    return f"; did you mean {names}?"


def did_you_mean(word, choices, n=3):
    """suggestion() of the close matches of `word` among `choices`."""
    return suggestion(close_matches(word, choices, n))
