"""English aspects: noun phrases found by lexicon-tagged patterns, lemmatised by lemminflect.

There is no statistical tagger here (spaCy's and NLTK's models are downloads):
each word's possible parts of speech come from lemminflect's lexicon, which ships
in its wheel, and a noun phrase is read off two patterns a review uses for the
things it judges:

- after a *trigger* — a determiner or possessive (``the battery``, ``its cable``)
  or an opinion adjective (``great sound``, ``poor reception``) — skip modifiers,
  then take a noun, and a second one when they form a compound (``battery life``);
- a noun right before a copula (``Delivery was fast``, ``battery life is short``).

A word that cannot be a noun, an opinion or size word, or a word in :data:`STOP`
(the product itself, people, time, vague nouns) is never an aspect. The aspect is
the noun's lemma (``batteries`` -> ``battery``); a compound keeps its modifier.

>>> [a for a, _ in aspects_en("The batteries died fast. Great sound quality, but the delivery was slow.")]
['battery', 'sound quality', 'delivery']
>>> [a for a, _ in aspects_en("Battery life is short and it works.")]
['battery life']
>>> [a for a, _ in aspects_en("Too many typos; the two reviewers and my friends agree.")]
[]
"""

from __future__ import annotations

import functools
import re


def words(text: str) -> frozenset[str]:
    """The blank-separated words of ``text``."""
    return frozenset(text.split())


#: Every way to split starts at a blank; the lookahead in front tells the matcher so, and
#: it skips the other positions at once (the same splits; 25.5 -> 15.0 us a review).
#: A contrast starts a clause of its own ("nice screen, though the battery dies"): the
#: clauses naming aspects are scored apart (:mod:`streams.mentions`). The first letter,
#: looked at first, spares most blanks the five words (16.5-18.7 -> 21.8-22.7 us a review,
#: against 26.0-26.6 without it).
SENTENCE_SPLIT = re.compile(
    r"(?=\s)(?:(?<=[.!?;:])\s+|\n+|\s+(?=[abhtw])(?=(?:but|though|although|however|whereas)\s))",
    re.IGNORECASE,
)
WORD = re.compile(r"[a-z][a-z'-]*[a-z]|[a-z]")

DETERMINERS = words(
    "the this that these those my its his her their our your a an no every each some any "
    "another which what whose"
)
#: Opinion and size words: triggers before a noun, never part of an aspect.
OPINION = words(
    "great good excellent nice fine perfect awesome amazing wonderful fantastic superb terrible "
    "horrible awful bad poor cheap decent solid sturdy flimsy fast slow quick long short loud "
    "quiet clear crisp bright dim comfortable uncomfortable easy hard simple best worst better "
    "worse lousy crappy junky defective broken reliable unreliable friendly rude helpful prompt "
    "big small little large tiny huge new old first last other same whole single extra real "
    "high low overall entire main only own whole full half red blue black white green silver "
    "very really pretty quite too so much more most less least"
)
#: Nouns that are not aspects: the purchase itself, people, time, vague or opinion nouns.
STOP = words(
    "it i me you he she we they one ones thing things stuff product products item items lot "
    "lots bit way ways time times day days week weeks month months year years hour hours "
    "minute minutes amazon review reviews reviewer star stars people person everyone anyone "
    "someone something anything nothing everything kind sort type fact reason problem "
    "problems issue issues love hate waste junk piece pieces order purchase money deal buy "
    "all both other others rest end point part lack while use need help job luck number "
    "great good perfect fine best worst solid poor well none much more less least second "
    "couple out up how matter amount surprise site folk detail word wife husband son daughter "
    "friend kid kids family mom dad or and but nor can will would could should may might must "
    "means back hold work works get got make made go take today yesterday tomorrow who "
    "whom read favorite man woman guy many few several dozen hundred thousand two three four "
    "five six seven eight nine ten hand side idea morning afternoon evening night weekend"
)
COPULAS = words("is was are were seems seemed looks looked feels felt")
MAX_MODIFIERS = 3
MAX_RUN = 3


@functools.lru_cache(maxsize=65_536)
def _pos(word: str) -> dict[str, tuple[str, ...]]:
    """lemminflect's lemmas of ``word`` by universal part of speech (cached)."""
    from lemminflect import getAllLemmas

    return dict(getAllLemmas(word))


def _noun(word: str) -> bool:
    if word in STOP or word in OPINION or word in DETERMINERS or len(word) < 2:
        return False
    lemmas = _pos(word).get("NOUN")
    return lemmas is not None and lemmas[0] not in STOP  # "reviewers", "friends" too


def _plural(word: str) -> bool:
    return _pos(word).get("NOUN", (word,))[0] != word


def _phrase(words: list[str], i: int) -> tuple[str, int] | None:
    """The aspect starting at ``words[i]`` (after any modifiers) and the index after it."""
    skipped = 0
    while i < len(words) and skipped < MAX_MODIFIERS and not _noun(words[i]):
        if words[i] not in OPINION and "ADJ" not in _pos(words[i]):
            return None  # a verb, pronoun or adverb: no noun phrase here
        i, skipped = i + 1, skipped + 1
    if i >= len(words) or not _noun(words[i]):
        return None
    end = i + 1  # a run of up to MAX_RUN nouns; the aspect is its last one or two
    while end < len(words) and end - i < MAX_RUN and not _plural(words[end - 1]):
        if not _compound(words[end]):
            break
        end += 1
    if end - i >= 2:
        return f"{words[end - 2]} {_lemma(words[end - 1])}", end
    return _lemma(words[i]), end


def _compound(word: str) -> bool:
    """Whether ``word`` can end a noun compound (a noun, and not a verb's -s form)."""
    return _noun(word) and not ("VERB" in _pos(word) and _plural(word))


def _lemma(word: str) -> str:
    return _pos(word).get("NOUN", (word,))[0]


def _before_copula(words: list[str], i: int) -> str | None:
    """The noun (or compound) right before the copula at ``words[i]``."""
    if i == 0 or not _noun(words[i - 1]):
        return None
    if i >= 2 and _noun(words[i - 2]) and not _plural(words[i - 2]):
        return f"{words[i - 2]} {_lemma(words[i - 1])}"
    return _lemma(words[i - 1])


def _sentence_aspects(words: list[str]) -> list[str]:
    found: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word in COPULAS and (aspect := _before_copula(words, i)) and aspect not in found:
            found.append(aspect)
        if word in DETERMINERS or word in OPINION:
            hit = _phrase(words, i + 1)
            if hit is not None:
                found.append(hit[0])
                i = hit[1]
                continue
        i += 1
    return found


def sentences(text: str) -> list[str]:
    """``text`` cut into sentences (and before ``but``, ``though``, ``although``,
    ``however``, ``whereas``), blanks dropped."""
    return [part.strip() for part in SENTENCE_SPLIT.split(text) if part.strip()]


def aspects_en(text: str, limit: int = 8) -> list[tuple[str, str]]:
    """Distinct aspects of ``text`` in order of first mention, each with its sentence."""
    found: dict[str, str] = {}
    for sentence in sentences(text):
        for aspect in _sentence_aspects(WORD.findall(sentence.lower())):
            if aspect not in found:
                found[aspect] = sentence
                if len(found) >= limit:
                    return list(found.items())
    return list(found.items())
