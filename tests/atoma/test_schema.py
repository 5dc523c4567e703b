from __future__ import annotations

import pytest

import atoma


class Task(atoma.Entity):
    title: str
    done: bool = False
    project_id: str | None = None
    tags: list[str] = []


class Project(atoma.Entity):
    name: str


def test_valid_schema_exposes_fields_and_relations() -> None:
    schema = atoma.Schema(
        [
            atoma.Resource(
                "tasks",
                Task,
                indexes=[atoma.Index("done"), atoma.TextIndex("title")],
                relations={"project": atoma.BelongsTo("projects", foreign_key="project_id")},
            ),
            atoma.Resource("projects", Project, relations={"tasks": atoma.HasMany("tasks", foreign_key="project_id")}),
        ]
    )
    tasks = schema["tasks"]
    assert set(tasks.fields) == {"id", "version", "title", "done", "project_id", "tags"}
    assert tasks.fields["tags"].scalar is False
    assert tasks.fields["done"].kinds == {"bool"}
    assert tasks.text_fields == {"title": 0}


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda: atoma.Resource("tasks", Task, indexes=[atoma.Index("nope")]), "unknown field 'nope'"),
        (lambda: atoma.Resource("tasks", Task, indexes=[atoma.TextIndex("done")]), "not a string field"),
        (lambda: atoma.Resource("tasks", Task, indexes=[atoma.Index("tags")]), "not a scalar field"),
        (lambda: atoma.Resource("bad name", Task), "must be an identifier"),
        (lambda: atoma.Resource("tasks", dict), "subclass of atoma.Entity"),  # type: ignore[arg-type]
        (
            lambda: atoma.Resource("tasks", Task, relations={"p": atoma.BelongsTo("projects", foreign_key="owner_id")}),
            "unknown field 'owner_id'",
        ),
        (
            lambda: atoma.Schema([atoma.Resource("tasks", Task, relations={"p": atoma.BelongsTo("nowhere", foreign_key="project_id")})]),
            "unknown resource 'nowhere'",
        ),
        (
            lambda: atoma.Schema(
                [atoma.Resource("tasks", Task), atoma.Resource("projects", Project, relations={"t": atoma.HasMany("tasks", foreign_key="proj")})]
            ),
            "unknown field 'proj'",
        ),
        (lambda: atoma.Schema([atoma.Resource("tasks", Task), atoma.Resource("tasks", Task)]), "declared twice"),
        (lambda: atoma.Resource("tasks", Task, relations={"title": atoma.BelongsTo("projects", foreign_key="project_id")}), "is not a field"),
    ],
)
def test_bad_schemas_fail_at_construction(make, fragment: str) -> None:
    with pytest.raises(atoma.SchemaError, match=fragment):
        make()


def test_renamed_fields_are_refused() -> None:
    class Renamed(atoma.Entity, rename="camel"):
        due_date: str | None = None

    with pytest.raises(atoma.SchemaError, match="renamed"):
        atoma.Resource("r", Renamed)
