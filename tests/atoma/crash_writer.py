"""Child process of test_crash: writes in a loop and reports each commit on stdout until killed."""

from __future__ import annotations

import random
import sys

import atoma


class Note(atoma.Entity):
    body: str
    n: int = 0


SCHEMA = atoma.Schema([atoma.Resource("notes", Note, indexes=[atoma.Index("n"), atoma.TextIndex("body")])])


def main(path: str, seed: int) -> None:
    rnd = random.Random(seed)
    client = atoma.Client(path, SCHEMA).open()
    notes = client.store("notes")
    ids = [n.id for n in notes.find()]
    for step in range(100_000):  # bounded; the parent kills us long before
        action = rnd.random()
        if action < 0.4 or not ids:
            ids.append(notes.add({"body": f"note {step}", "n": step}).id)
        elif action < 0.55:
            ids += [n.id for n in notes.add_many({"body": f"bulk {step} {k}", "n": k} for k in range(5))]
        elif action < 0.9:
            notes.update(rnd.choice(ids), {"body": f"edit {step}", "n": step})
        else:
            victim = ids.pop(rnd.randrange(len(ids)))
            notes.delete(victim)
        print(step, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
