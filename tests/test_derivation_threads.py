"""Key derivations started from several threads at once all finish, with the keys one at a
time gives: OpenSSL's Argon2id, through cryptography 50, never returns from two concurrent
derivations in one process (the console and any front-end may derive from a worker)."""

from __future__ import annotations

import subprocess
import sys

_CODE = """
import threading
from pointerbridge.core.keys import ChatKey
salt = bytes(range(16))
alone = ChatKey.derive("threads", "a chat secret strong enough for this", salt)
found = []
def derive():
    found.append(ChatKey.derive("threads", "a chat secret strong enough for this", salt))
threads = [threading.Thread(target=derive) for _ in range(3)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(len(found), all(key.same_key(alone) for key in found))
"""


def test_derivations_from_several_threads_at_once_all_finish_with_the_same_key() -> None:
    try:
        done = subprocess.run([sys.executable, "-c", _CODE], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise AssertionError("three derivations at once did not finish within 60 s (each takes ~0.2 s)") from None
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["3", "True"]
