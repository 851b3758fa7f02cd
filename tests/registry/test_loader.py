"""Tests for loading an app folder into a Registry (no Temporal server needed)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from luaflow.registry import (
    KNOWN_KINDS,
    LUA_KINDS,
    EntryId,
    Lifecycle,
    Registry,
    RegistryError,
    load_registry,
)

LUA = "local function main() return 1 end\nreturn { main = main }\n"

CLIENT_AND_WORKER = """
  - name: temporal_client
    kind: temporal.client
    address: localhost:7233
    lifecycle:
      auto_start: true
  - name: worker
    kind: temporal.worker
    client: temporal_client
    task_queue: orders
    lifecycle:
      auto_start: true
"""


def write(root: Path, files: dict[str, str]) -> Path:
    """Create `files` (relative path -> text) below `root` and return `root`."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def index(entries: str, namespace: str = "app") -> str:
    """A definition file for `namespace` holding the given (already indented) entries."""
    return f'version: "1.0"\nnamespace: {namespace}\nentries:\n{textwrap.dedent(entries)}'


def load(tmp_path: Path, entries: str, files: dict[str, str] | None = None) -> Registry:
    """Load an app with one `_index.yaml` plus extra files (Lua sources and the like)."""
    write(tmp_path, {"_index.yaml": index(entries), **(files or {})})
    return load_registry(tmp_path, environ={})


def test_full_app(tmp_path: Path) -> None:
    app = write(
        tmp_path,
        {
            "src/_index.yaml": index(
                CLIENT_AND_WORKER
                + """
  - name: order_workflow
    kind: workflow.lua
    source: file://order_workflow.lua
    method: main
    modules: [funcs, time, workflow]
    imports:
      helpers: app.lib:helpers
    meta:
      temporal:
        workflow:
          worker: worker
          name: OrderWorkflow
  - name: charge
    kind: function.lua
    source: file://./activities/charge.lua
    method: charge
    meta:
      temporal:
        activity:
          worker: app:worker
"""
            ),
            "src/order_workflow.lua": LUA,
            "src/activities/charge.lua": "return { charge = function() end }\n",
            "src/lib/_index.yaml": index(
                """
  - name: helpers
    kind: library.lua
    source: file://helpers.lua
""",
                namespace="app.lib",
            ),
            "src/lib/helpers.lua": "return {}\n",
            "wippy.lock": "directories:\n  src: ./src\n",
        },
    )
    reg = load_registry(app, environ={})
    assert reg.root == app.resolve()
    assert sorted(str(i) for i in reg.entries) == [
        "app.lib:helpers",
        "app:charge",
        "app:order_workflow",
        "app:temporal_client",
        "app:worker",
    ]
    wf = reg.get("app:order_workflow")
    assert wf.kind == "workflow.lua"
    assert wf.method == "main"
    assert wf.source == LUA
    assert wf.source_path == (app / "src" / "order_workflow.lua").resolve()
    assert wf.data["source"] == "file://order_workflow.lua"
    assert wf.data["modules"] == ["funcs", "time", "workflow"]
    assert wf.data["imports"] == {"helpers": "app.lib:helpers"}
    assert wf.meta["temporal"]["workflow"] == {"worker": "app:worker", "name": "OrderWorkflow"}
    assert wf.file == (app / "src" / "_index.yaml").resolve()
    assert "name" not in wf.data and "kind" not in wf.data and "meta" not in wf.data
    charge = reg.get(EntryId("app", "charge"))
    assert charge.source is not None and "charge" in charge.source
    assert charge.meta["temporal"]["activity"]["worker"] == "app:worker"
    assert reg.get("app:worker").data["client"] == "app:temporal_client"
    assert reg.get("app.lib:helpers").method is None
    assert [e.id.name for e in reg.by_kind("function.lua", "workflow.lua")] == [
        "charge",
        "order_workflow",
    ]
    assert [str(e.id) for e in reg.start_order()] == ["app:temporal_client", "app:worker"]
    assert reg.ignored_kinds == {}


def test_wippy_lock_limits_scan_to_src(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "wippy.lock": "directories:\n  modules: .wippy\n  src: ./src\n",
            "src/deep/er/defs.yml": index("  - {name: cfg, kind: registry.entry, value: 1}"),
            "outside/_index.yaml": index("  - {name: outside, kind: registry.entry}"),
            ".wippy/mod/_index.yaml": index("  - {name: hub, kind: registry.entry}"),
        },
    )
    reg = load_registry(tmp_path, environ={})
    assert list(reg.entries) == [EntryId("app", "cfg")]
    assert reg.get("app:cfg").data == {"value": 1}


def test_scan_skips_hidden_and_node_modules(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "_index.yaml": index("  - {name: kept, kind: registry.entry}"),
            "node_modules/x/_index.yaml": index("  - {name: nm, kind: registry.entry}"),
            ".luaflow/_index.yaml": index("  - {name: state, kind: registry.entry}"),
            ".hidden.yaml": "just: config\n",
            ".github/ci.yml": "- not a registry document\n",
        },
    )
    assert list(load_registry(tmp_path, environ={}).entries) == [EntryId("app", "kept")]


def test_single_entry_file_form(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "single.yaml": """\
                namespace: app.cfg
                name: settings
                kind: registry.entry
                meta: {title: Settings}
                value: {retries: 3}
            """,
        },
    )
    entry = load_registry(tmp_path, environ={}).get("app.cfg:settings")
    assert entry.kind == "registry.entry"
    assert entry.meta == {"title": "Settings"}
    assert entry.data == {"value": {"retries": 3}}


def test_bare_references_resolve_in_own_namespace(tmp_path: Path) -> None:
    reg = load(
        tmp_path,
        """
  - {name: gateway, kind: http.service, addr: ":8080"}
  - {name: api, kind: http.router, prefix: /api, meta: {server: gateway}}
  - name: get_user
    kind: function.lua
    source: file://h.lua
    method: handler
  - name: get_user.endpoint
    kind: http.endpoint
    method: GET
    path: /users/{id}
    func: get_user
    meta: {router: api}
  - {name: host, kind: process.host}
  - {name: caller, kind: process.lua, source: file://h.lua, method: main}
  - {name: svc, kind: process.service, process: caller, host: host}
""",
        files={"h.lua": LUA},
    )
    assert reg.get("app:api").meta["server"] == "app:gateway"
    endpoint = reg.get("app:get_user.endpoint")
    assert endpoint.meta["router"] == "app:api"
    assert endpoint.data["func"] == "app:get_user"
    assert endpoint.method == "GET"
    assert reg.get("app:svc").data["process"] == "app:caller"
    assert reg.get("app:svc").data["host"] == "app:host"
    assert reg.get("app:caller").ref("other.ns:x") == EntryId("other.ns", "x")
    assert reg.get("app:caller").ref("x") == EntryId("app", "x")


def test_env_placeholders(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "_index.yaml": index(
                """
  - name: client
    kind: temporal.client
    address: "${env:TEMPORAL_HOST|localhost}:${env:TEMPORAL_PORT|7233}"
    namespace: ${env:TEMPORAL_NS}
    auth:
      type: api_key
      api_key: ${env:API_KEY}
    tags: ["${env:API_KEY}-x", "$${env:API_KEY}", "${OTHER}", "${env:EMPTY|}"]
    meta:
      title: "client for ${env:TEMPORAL_NS}"
"""
            )
        },
    )
    environ = {"TEMPORAL_PORT": "7300", "TEMPORAL_NS": "prod", "API_KEY": "s3cret"}
    entry = load_registry(tmp_path, environ=environ).get("app:client")
    assert entry.data["address"] == "localhost:7300"
    assert entry.data["namespace"] == "prod"
    assert entry.data["auth"] == {"type": "api_key", "api_key": "s3cret"}
    assert entry.data["tags"] == ["s3cret-x", "${env:API_KEY}", "${OTHER}", ""]
    assert entry.meta["title"] == "client for prod"


def test_env_placeholder_missing_names_field(tmp_path: Path) -> None:
    app = write(
        tmp_path,
        {
            "_index.yaml": index(
                """
  - name: client
    kind: temporal.client
    address: localhost:7233
    auth: {type: api_key, api_key: "${env:TEMPORAL_API_KEY}"}
"""
            )
        },
    )
    with pytest.raises(RegistryError) as info:
        load_registry(app, environ={"OTHER": "1"})
    err = info.value
    assert err.entry == "app:client"
    assert err.field == "auth.api_key"
    assert err.file is not None and err.file.name == "_index.yaml"
    assert "TEMPORAL_API_KEY" in str(err)
    assert "entry app:client: field auth.api_key:" in str(err)


def test_env_placeholder_reads_os_environ_by_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LUAFLOW_TEST_VALUE", "from-os")
    write(
        tmp_path,
        {
            "_index.yaml": index(
                '  - {name: c, kind: registry.entry, v: "${env:LUAFLOW_TEST_VALUE}"}'
            )
        },
    )
    assert load_registry(tmp_path).get("app:c").data["v"] == "from-os"


def test_file_strings_are_inlined(tmp_path: Path) -> None:
    reg = load(
        tmp_path,
        """
  - name: client
    kind: temporal.client
    address: localhost:7233
    auth:
      type: mtls
      cert_pem: file://./certs/client.pem
      key_pem: file://certs/client.key
""",
        files={"certs/client.pem": "CERT\n", "certs/client.key": "KEY\n"},
    )
    assert reg.get("app:client").data["auth"]["cert_pem"] == "CERT\n"
    assert reg.get("app:client").data["auth"]["key_pem"] == "KEY\n"


def test_file_path_traversal_is_refused(tmp_path: Path) -> None:
    app = tmp_path / "app"
    write(tmp_path, {"x.lua": LUA})
    write(app, {"_index.yaml": index("  - {name: f, kind: function.lua, source: file://../x.lua}")})
    with pytest.raises(RegistryError, match="path escapes the app folder") as info:
        load_registry(app, environ={})
    assert info.value.field == "source"


def test_absolute_file_path_is_refused(tmp_path: Path) -> None:
    target = write(tmp_path, {"x.pem": "PEM"}) / "x.pem"
    app = tmp_path / "app"
    write(
        app, {"_index.yaml": index(f"  - {{name: c, kind: registry.entry, pem: file://{target}}}")}
    )
    with pytest.raises(RegistryError, match="path escapes the app folder"):
        load_registry(app, environ={})


def test_symlink_out_of_app_is_refused(tmp_path: Path) -> None:
    write(tmp_path, {"secret.lua": LUA})
    app = tmp_path / "app"
    write(app, {"_index.yaml": index("  - {name: f, kind: function.lua, source: file://s.lua}")})
    (app / "s.lua").symlink_to(tmp_path / "secret.lua")
    with pytest.raises(RegistryError, match="path escapes the app folder"):
        load_registry(app, environ={})


def test_missing_source_file(tmp_path: Path) -> None:
    with pytest.raises(RegistryError) as info:
        load(tmp_path, "  - {name: f, kind: function.lua, source: file://nope.lua, method: m}")
    assert info.value.field == "source"
    assert info.value.entry == "app:f"
    assert "nope.lua" in str(info.value)


def test_lua_entry_requires_file_source(tmp_path: Path) -> None:
    with pytest.raises(RegistryError) as info:
        load(tmp_path, "  - {name: f, kind: library.lua, source: 'return {}'}")
    assert info.value.field == "source"


def test_modules_must_be_list_of_strings(tmp_path: Path) -> None:
    with pytest.raises(RegistryError) as info:
        load(
            tmp_path,
            "  - {name: f, kind: function.lua, source: file://f.lua, modules: json}",
            files={"f.lua": LUA},
        )
    assert info.value.field == "modules"


def test_malformed_yaml_reports_file_and_line(tmp_path: Path) -> None:
    write(tmp_path, {"_index.yaml": "namespace: app\nentries:\n  - name: a\n    kind: [oops\n"})
    with pytest.raises(RegistryError) as info:
        load_registry(tmp_path, environ={})
    text = str(info.value)
    assert "_index.yaml" in text
    assert "line 5" in text


def test_bad_version_and_namespace(tmp_path: Path) -> None:
    write(tmp_path, {"_index.yaml": 'version: "2.0"\nnamespace: app\nentries: []\n'})
    with pytest.raises(RegistryError) as info:
        load_registry(tmp_path, environ={})
    assert info.value.field == "version"
    write(tmp_path, {"_index.yaml": "version: 1\nnamespace: app\nentries: []\n"})
    with pytest.raises(RegistryError, match="unsupported version"):
        load_registry(tmp_path, environ={})
    write(tmp_path, {"_index.yaml": "version: 1.0\nnamespace: app..x\nentries: []\n"})
    with pytest.raises(RegistryError) as info:
        load_registry(tmp_path, environ={})
    assert info.value.field == "namespace"


def test_name_with_colon_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="without ':'"):
        load(tmp_path, "  - {name: 'a:b', kind: registry.entry}")


def test_duplicate_ids_name_both_files(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "a/_index.yaml": index("  - {name: dup, kind: registry.entry}"),
            "b/_index.yaml": index("  - {name: dup, kind: registry.entry}"),
        },
    )
    with pytest.raises(RegistryError) as info:
        load_registry(tmp_path, environ={})
    text = str(info.value)
    assert info.value.entry == "app:dup"
    assert "a/_index.yaml" in text
    assert "b/_index.yaml" in text


def test_unknown_worker_reference(tmp_path: Path) -> None:
    app = write(
        tmp_path,
        {
            "_index.yaml": index(
                CLIENT_AND_WORKER
                + """
  - name: order_workflow
    kind: workflow.lua
    source: file://wf.lua
    meta: {temporal: {workflow: {worker: app:wrker}}}
"""
            ),
            "wf.lua": LUA,
        },
    )
    with pytest.raises(RegistryError) as info:
        load_registry(app, environ={})
    text = str(info.value)
    assert "_index.yaml" in text
    assert "app:order_workflow" in text
    assert "meta.temporal.workflow.worker" in text
    assert text.endswith("unknown entry app:wrker")


def test_worker_reference_must_be_a_worker(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=r"expected a temporal\.worker") as info:
        load(
            tmp_path,
            CLIENT_AND_WORKER
            + "  - {name: a, kind: function.lua, source: file://f.lua,"
            + " meta: {temporal: {activity: {worker: temporal_client}}}}",
            files={"f.lua": LUA},
        )
    assert info.value.field == "meta.temporal.activity.worker"


def test_worker_needs_client_and_task_queue(tmp_path: Path) -> None:
    with pytest.raises(RegistryError) as info:
        load(tmp_path, "  - {name: w, kind: temporal.worker, task_queue: q}")
    assert info.value.field == "client"
    with pytest.raises(RegistryError) as info:
        load(
            tmp_path,
            "  - {name: c, kind: temporal.client, address: x}\n"
            "  - {name: w, kind: temporal.worker, client: c, task_queue: ''}",
        )
    assert info.value.field == "task_queue"


def test_import_of_any_lua_entry_is_accepted(tmp_path: Path) -> None:
    registry = load(
        tmp_path,
        """
  - {name: util, kind: function.lua, source: file://f.lua, method: m}
  - {name: f, kind: function.lua, source: file://f.lua, method: m, imports: {u: util}}
""",
        files={"f.lua": LUA},
    )
    assert registry.get("app:f").data["imports"] == {"u": "app:util"}


def test_import_of_non_lua_entry_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RegistryError) as info:
        load(
            tmp_path,
            """
  - {name: c, kind: temporal.client, address: x}
  - {name: f, kind: function.lua, source: file://f.lua, method: m, imports: {u: c}}
""",
            files={"f.lua": LUA},
        )
    assert info.value.entry == "app:f"
    assert info.value.field == "imports.u"
    assert "app:c is a temporal.client, expected a Lua entry" in str(info.value)


def test_builtin_import_is_kept(tmp_path: Path) -> None:
    reg = load(
        tmp_path,
        "  - {name: f, kind: library.lua, source: file://f.lua, imports: {r: ':registry'}}",
        files={"f.lua": LUA},
    )
    assert reg.get("app:f").data["imports"] == {"r": ":registry"}


def test_unknown_kind_is_ignored_not_fatal(tmp_path: Path) -> None:
    reg = load(
        tmp_path,
        """
  - {name: db, kind: db.sql.postgres, dsn: "${env:UNSET_DSN}"}
  - {name: db2, kind: db.sql.postgres}
  - {name: static, kind: http.static}
""",
    )
    assert reg.ignored_kinds == {
        "db.sql.postgres": [EntryId("app", "db"), EntryId("app", "db2")],
        "http.static": [EntryId("app", "static")],
    }
    assert reg.get("app:db").data["dsn"] == "${env:UNSET_DSN}"


def test_start_order_dependencies_first(tmp_path: Path) -> None:
    # Names chosen so that id order alone would start the worker first.
    reg = load(
        tmp_path,
        """
  - name: a_worker
    kind: temporal.worker
    client: z_client
    task_queue: q
    lifecycle: {auto_start: true}
  - {name: z_client, kind: temporal.client, address: x, lifecycle: {auto_start: true}}
  - name: b_service
    kind: registry.entry
    lifecycle: {auto_start: true, requires: [y_db], depends_on: [app:a_worker]}
  - {name: y_db, kind: registry.entry, lifecycle: {auto_start: true, start_timeout: 30s}}
  - {name: idle, kind: registry.entry}
""",
    )
    order = [str(e.id) for e in reg.start_order()]
    assert order == ["app:y_db", "app:z_client", "app:a_worker", "app:b_service"]
    assert reg.get("app:b_service").lifecycle.depends_on == (
        EntryId("app", "y_db"),
        EntryId("app", "a_worker"),
    )
    assert reg.get("app:y_db").lifecycle == Lifecycle(auto_start=True, start_timeout="30s")
    assert reg.get("app:idle").lifecycle == Lifecycle()


def test_lifecycle_timeout_must_be_string(tmp_path: Path) -> None:
    with pytest.raises(RegistryError) as info:
        load(tmp_path, "  - {name: s, kind: registry.entry, lifecycle: {stop_timeout: 5}}")
    assert info.value.field == "lifecycle.stop_timeout"


def test_unknown_lifecycle_dependency(tmp_path: Path) -> None:
    with pytest.raises(RegistryError) as info:
        load(tmp_path, "  - {name: s, kind: registry.entry, lifecycle: {requires: [ghost]}}")
    assert info.value.field == "lifecycle.requires"
    assert "unknown entry app:ghost" in str(info.value)


def test_dependency_cycle(tmp_path: Path) -> None:
    reg = load(
        tmp_path,
        """
  - {name: a, kind: registry.entry, lifecycle: {auto_start: true, requires: [b]}}
  - {name: b, kind: registry.entry, lifecycle: {auto_start: true, requires: [c]}}
  - {name: c, kind: registry.entry, lifecycle: {requires: [a]}}
""",
    )
    with pytest.raises(RegistryError, match=r"dependency cycle: app:a -> app:b -> app:c -> app:a"):
        reg.start_order()


def test_registry_get_and_find(tmp_path: Path) -> None:
    reg = load(tmp_path, "  - {name: x, kind: registry.entry}")
    assert reg.find("app:x") is reg.get(EntryId("app", "x"))
    assert reg.find("app:missing") is None
    assert reg.find("no namespace") is None
    with pytest.raises(RegistryError, match="unknown entry app:missing"):
        reg.get("app:missing")
    with pytest.raises(RegistryError, match="invalid entry id"):
        reg.get("bare")


@pytest.mark.parametrize(
    ("text", "default", "expected"),
    [
        ("a.b:c", None, EntryId("a.b", "c")),
        ("c", "app", EntryId("app", "c")),
        ("x:c", "app", EntryId("x", "c")),
        (":registry", None, EntryId("", "registry")),
    ],
)
def test_entry_id_parse(text: str, default: str | None, expected: EntryId) -> None:
    parsed = EntryId.parse(text, default)
    assert parsed == expected
    assert str(parsed) == (text if ":" in text else f"{default}:{text}")


@pytest.mark.parametrize("text", ["", "a:b:c", "app:", "bare"])
def test_entry_id_parse_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid entry id"):
        EntryId.parse(text)


def test_error_message_format() -> None:
    err = RegistryError(
        "unknown entry app:wrker",
        file=Path("app/_index.yaml"),
        entry="app:order_workflow",
        field="meta.temporal.workflow.worker",
    )
    assert str(err) == (
        "app/_index.yaml: entry app:order_workflow: field meta.temporal.workflow.worker: "
        "unknown entry app:wrker"
    )
    assert err.reason == "unknown entry app:wrker"
    assert str(RegistryError("boom", field="x")) == "field x: boom"


def test_kind_sets() -> None:
    assert LUA_KINDS <= KNOWN_KINDS
    assert "temporal.worker" in KNOWN_KINDS
    assert "http.static" not in KNOWN_KINDS
