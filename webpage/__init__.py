"""The browser page (issue 22): docs/SPEC.md written a second time, in TypeScript (``web/``),
and built into one self-contained HTML file that finds, opens and seals pointers in the
browser, with no server, no network request and nothing stored.

The built file ships in this package, so installing Pointer Bridge needs no npm;
``tests/test_web_build.py`` rebuilds it from ``web/``'s sources and its lockfile and checks
that the bytes are the same. This package imports nothing of the project's: the page is
a front-end of its own, over its own implementation of the spec.
"""

from __future__ import annotations

import re
from importlib.resources import files

__all__ = ["PAGE_NAME", "content_security_policy", "page_html"]

PAGE_NAME = "pbridge.html"
"""The built page's file name in this package."""

_CSP = re.compile(rb'<meta http-equiv="Content-Security-Policy" content="([^"]+)">')


def page_html() -> bytes:
    """The built page, as it is written or served."""
    return files(__name__).joinpath(PAGE_NAME).read_bytes()


def content_security_policy() -> str:
    """The page's Content-Security-Policy (its meta tag's), to send as a header too."""
    found = _CSP.search(page_html())
    if found is None:
        raise LookupError(f"{PAGE_NAME} carries no Content-Security-Policy: the build is broken")
    return found.group(1).decode("ascii")
