"""Hostile or malformed YAML in an app: each is one RegistryError naming the file (and entry and
field where there is one), raised promptly and without building anything huge."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from luaflow.registry import EntryId, RegistryError, load_registry
from luaflow.registry._loader import MAX_ALIAS_VALUES
from tests.registry.test_loader import index, write

#: Nine levels of ten aliases: 10^9 strings once expanded, a few hundred bytes on disk.
BILLION_LAUGHS = (
    'version: "1.0"\nnamespace: app\nl0: &l0 ["lol", "lol", "lol", "lol", "lol"]\n'
    + "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 10))
    + "entries:\n  - {name: cfg, kind: registry.entry, value: *l9}\n"
)


def _error(tmp_path: Path, files: dict[str, str]) -> RegistryError:
    write(tmp_path, files)
    with pytest.raises(RegistryError) as info:
        load_registry(tmp_path, environ={})
    return info.value


def test_alias_bomb_fails_fast_naming_the_file(tmp_path: Path) -> None:
    started = time.monotonic()
    err = _error(tmp_path, {"_index.yaml": BILLION_LAUGHS})
    assert time.monotonic() - started < 5
    assert err.file == tmp_path / "_index.yaml"
    assert f"aliases expand to more than {MAX_ALIAS_VALUES} extra values" in str(err)
    assert str(err).startswith(str(tmp_path / "_index.yaml") + ": invalid YAML: ")
    assert "\n" not in str(err)


def test_self_referencing_alias_is_refused(tmp_path: Path) -> None:
    err = _error(tmp_path, {"_index.yaml": index("  - &e {name: x, kind: registry.entry, me: *e}")})
    assert err.file == tmp_path / "_index.yaml"
    assert "an alias refers to a value that contains it" in str(err)


def test_deep_nesting_is_one_error(tmp_path: Path) -> None:
    deep = index("  - {name: x, kind: registry.entry, v: " + "[" * 5000 + "]" * 5000 + "}")
    err = _error(tmp_path, {"_index.yaml": deep})
    assert str(err) == f"{tmp_path / '_index.yaml'}: invalid YAML: nested too deeply"


def test_ordinary_aliases_and_merge_keys_still_work(tmp_path: Path) -> None:
    text = index(
        """
  - name: base
    kind: registry.entry
    defaults: &defaults {retries: 3, region: eu}
  - name: derived
    kind: registry.entry
    settings:
      <<: *defaults
      region: us
    copies: [*defaults, *defaults]
"""
    )
    registry = write(tmp_path, {"_index.yaml": text})
    loaded = load_registry(registry, environ={})
    assert loaded.get("app:derived").data["settings"] == {"retries": 3, "region": "us"}
    assert loaded.get("app:derived").data["copies"] == [{"retries": 3, "region": "eu"}] * 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("- name: a\n  kind: registry.entry\n", "not a registry document: expected a mapping "
         "with namespace and entries, got a list"),
        ("just a string\n", "not a registry document: expected a mapping with namespace and "
         "entries, got a str value"),
        ("", "not a registry document: expected a mapping with namespace and entries, got an "
         "empty document"),
        ("entries:\n  - {name: a, kind: registry.entry}\n",
         "field namespace: required: every YAML file of the app is a registry document"),
        ("namespace: app\nversion: '1.0'\n",
         "field entries: required: a list of entries (or a single entry's name and kind)"),
    ],
    ids=["yaml-document-is-list", "scalar", "empty", "no-namespace", "no-entries"],
)  # fmt: skip
def test_non_registry_yaml_is_an_error_naming_the_file(
    tmp_path: Path, text: str, expected: str
) -> None:
    err = _error(
        tmp_path,
        {"_index.yaml": index("  - {name: ok, kind: registry.entry}"), "sub/other.yaml": text},
    )
    assert err.file == tmp_path / "sub" / "other.yaml"
    assert str(err) == f"{tmp_path / 'sub' / 'other.yaml'}: {expected}"


def test_single_entry_form_without_kind_names_the_field(tmp_path: Path) -> None:
    err = _error(tmp_path, {"one.yaml": "namespace: app\nname: lonely\n"})
    assert str(err) == (
        f"{tmp_path / 'one.yaml'}: entry app:lonely: field kind: must be a non-empty string, "
        "got None"
    )


@pytest.mark.parametrize(
    ("kind", "hint"),
    [
        ("workflow.luaa", "(did you mean workflow.lua?)"),
        ("workflowlua", "(did you mean workflow.lua?)"),
        ("http.endpont", "(did you mean http.endpoint?)"),
        ("temporal.schedule", "(known temporal kinds: temporal.client, temporal.worker)"),
    ],
)
def test_kind_typo_is_an_unknown_kind(tmp_path: Path, kind: str, hint: str) -> None:
    err = _error(tmp_path, {"_index.yaml": index(f"  - {{name: w, kind: {kind}}}")})
    assert str(err) == (
        f"{tmp_path / '_index.yaml'}: entry app:w: field kind: unknown kind {kind!r} {hint}"
    )


def test_other_wippy_kinds_are_still_ignored(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "_index.yaml": index(
                """
  - {name: db, kind: db.sql.postgres}
  - {name: mem, kind: store.memory}
  - {name: files, kind: http.static}
  - {name: wasm, kind: function.wasm}
"""
            )
        },
    )
    loaded = load_registry(tmp_path, environ={})
    assert loaded.ignored_kinds == {
        "db.sql.postgres": [EntryId("app", "db")],
        "function.wasm": [EntryId("app", "wasm")],
        "http.static": [EntryId("app", "files")],
        "store.memory": [EntryId("app", "mem")],
    }


def test_wippy_lock_is_not_scanned_and_hidden_config_is_skipped(tmp_path: Path) -> None:
    """`wippy.lock` and `.wippy.yaml` are Wippy's own files, not registry documents."""
    write(
        tmp_path,
        {
            "wippy.lock": "directories:\n  src: ./src\n",
            ".wippy.yaml": "version: 1\nlogger: {encoding: console}\n",
            "src/_index.yaml": index("  - {name: cfg, kind: registry.entry}"),
        },
    )
    assert list(load_registry(tmp_path, environ={}).entries) == [EntryId("app", "cfg")]
