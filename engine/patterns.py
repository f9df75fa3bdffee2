"""Regular expressions for "email is ... (treat as regular expression)".

Owns compiling and matching author-supplied patterns under RE2, a linear-time
engine, so no pattern (however hostile) can make a worker backtrack for
minutes. Validation uses `pattern_problem`; conditions use `search`.

Matching ignores letter case, as the plain "email is" does: `Kate@Gmail.com` is
the guide's kate@gmail.com for `^(kate|kathreine|katerina)@gmail\\.com$`, and a
platform's capitalisation of an address is no reason to skip a learner. A
pattern matches anywhere in the address unless the author anchors it with ^
and $, as the guide's example does.
"""

from __future__ import annotations

from functools import lru_cache

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
_OPTIONS.case_sensitive = False


@lru_cache(maxsize=4096)
def _compiled(pattern: str):
    return re2.compile(pattern, _OPTIONS)


def pattern_problem(pattern: str) -> str | None:
    """None when the pattern compiles under RE2, else the reason in plain words."""
    try:
        _compiled(pattern)
    except re2.error as error:
        detail = error.args[0] if error.args else ""
        if isinstance(detail, bytes):
            detail = detail.decode("utf-8", "replace")
        return f"is not a valid regular expression ({detail})"
    except UnicodeEncodeError:
        # A lone surrogate (legal as a JSON escape) is not text RE2 can read.
        return "is not a valid regular expression (it contains invalid characters)"
    return None


def search(pattern: str, text: str) -> bool:
    """True when the pattern matches somewhere in `text` (anchors are the author's to add).

    An invalid pattern matches nothing; validation keeps such patterns out of
    active automations.
    """
    try:
        return _compiled(pattern).search(text) is not None
    except (re2.error, UnicodeEncodeError):
        return False
