"""A separate process that holds the database's sync lock (as a syncing app does) and keeps
writing, until its stdin closes. Prints "ready" once it holds the lock."""

from __future__ import annotations

import sys
import time

import atoma
from atoma.sync.lock import SyncLock

from tests.atoma_devtools.helpers import SCHEMA


def main(path: str) -> None:
    lock = SyncLock(path)
    lock.acquire()
    client = atoma.Client(path, SCHEMA).open()
    tasks = client.store("tasks")
    print("ready", flush=True)
    for line in sys.stdin:
        n = int(line)
        tasks.add_many([{"title": f"from the other process {i}"} for i in range(n)])
        print("wrote", n, flush=True)
    client.close_sync()
    lock.release()
    time.sleep(0)


if __name__ == "__main__":
    main(sys.argv[1])
