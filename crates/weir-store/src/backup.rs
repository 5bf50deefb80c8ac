//! Backups: every table of a store, read in one snapshot, as one JSON Lines member per table in
//! an archive (`archive`), with a manifest. The format names columns, not a backend's types, so
//! a backup of SQLite restores into PostgreSQL and back.
//!
//! `manifest.json` says what the archive is (`format`, `schema_version`, `backend`,
//! `created_at`, `weir_version`) and lists each member with its table, its row count and its
//! SHA-256; `manifest.sha256` holds the manifest's own. A restore checks all of it before it
//! touches the store, then writes every row in one transaction: a store is restored whole, or
//! left as it was.

use crate::Error;
use crate::archive;
use crate::backend::{Backend, Isolation, Param, Stmt};
use serde_json::{Map, Value, json};
use sha2::Digest;
use std::sync::LazyLock;

/// What `format` says in a weir backup's manifest.
const FORMAT: &str = "weir-backup/1";

const MANIFEST: &str = "manifest.json";
const MANIFEST_SUM: &str = "manifest.sha256";

/// A table as backups see it: its name and columns, the first of which order its rows.
struct Table {
    name: &'static str,
    columns: &'static [&'static str],
}

/// Every table but `weir_meta` (the schema version, which the manifest carries).
const TABLES: &[Table] = &[
    Table { name: "pipelines", columns: &["digest", "name", "text", "stored_at"] },
    Table { name: "bundles", columns: &["digest", "manifest", "stored_at"] },
    Table { name: "blobs", columns: &["hash", "value"] },
    Table {
        name: "runs",
        columns: &[
            "id",
            "pipeline",
            "digest",
            "parent_run",
            "parent_step",
            "parent_item",
            "status",
            "seed",
            "input",
            "input_blob",
            "output",
            "output_blob",
            "error",
            "error_kind",
            "started_at",
            "finished_at",
            "duration_ms",
            "bundle",
            "owner",
            "replay_of",
            "cancel_requested_at",
            "cancel_reason",
            "trace_id",
            "trace_parent",
        ],
    },
    Table {
        name: "steps",
        columns: &[
            "run_id",
            "step",
            "item",
            "kind",
            "first_seq",
            "status",
            "attempts",
            "started_at",
            "finished_at",
            "duration_ms",
            "output",
            "output_blob",
            "error",
            "error_kind",
        ],
    },
    Table {
        name: "attempts",
        columns: &[
            "run_id",
            "step",
            "item",
            "attempt",
            "status",
            "started_at",
            "finished_at",
            "error",
            "error_kind",
        ],
    },
    Table {
        name: "events",
        columns: &["run_id", "seq", "at", "type", "step", "item", "body", "value", "value_blob"],
    },
    Table {
        name: "approvals",
        columns: &[
            "run_id",
            "step",
            "item",
            "prompt",
            "answer_schema",
            "assignees",
            "on_timeout",
            "requested_at",
            "deadline",
            "decision",
            "answer",
            "decided_by",
            "decided_at",
            "reason",
            "timed_out",
        ],
    },
    Table {
        name: "schedules",
        columns: &[
            "name",
            "cron",
            "pipeline",
            "file",
            "digest",
            "bundle",
            "input",
            "catch_up",
            "paused",
            "next_at",
            "missed",
            "created_at",
        ],
    },
    Table { name: "schedule_ticks", columns: &["schedule", "tick_at", "run_id", "fired_at"] },
    Table { name: "bench_results", columns: &["id", "name", "saved_at", "git_commit", "report"] },
    Table { name: "queue", columns: &["run_id", "enqueued_at", "worker", "lease_until", "claims"] },
    Table { name: "workers", columns: &["id", "owner", "started_at", "heartbeat"] },
];

/// Each table's `SELECT`, `INSERT` and `DELETE`, built once from [`TABLES`] (a static, so the
/// statements live as long as the backends' caches of them).
static SQL: LazyLock<Vec<[String; 3]>> = LazyLock::new(|| {
    TABLES
        .iter()
        .map(|t| {
            let columns = t.columns.join(", ");
            let params: Vec<String> = (1..=t.columns.len()).map(|i| format!("${i}")).collect();
            [
                format!("SELECT {columns} FROM {} ORDER BY {columns}", t.name),
                format!("INSERT INTO {} ({columns}) VALUES ({})", t.name, params.join(", ")),
                format!("DELETE FROM {}", t.name),
            ]
        })
        .collect()
});

fn sql(table: usize, which: usize) -> &'static str {
    &SQL[table][which]
}

/// What a backup is made with besides the store.
#[derive(Clone, Debug)]
pub(crate) struct BackupInfo {
    /// `sqlite` or `postgres`.
    pub(crate) backend: &'static str,
    /// The version of the weir that writes it.
    pub(crate) weir_version: String,
    /// Milliseconds since the Unix epoch.
    pub(crate) created_at: u64,
}

/// A backup made or restored: the manifest's rows per table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupSummary {
    pub schema_version: i64,
    pub backend: String,
    pub rows: Vec<(&'static str, u64)>,
}

/// Every table in one read snapshot, as an archive.
pub(crate) async fn backup(backend: &Backend, info: &BackupInfo) -> Result<(Vec<u8>, BackupSummary), Error> {
    let script = (0..TABLES.len()).map(|i| Stmt { sql: sql(i, 0), params: Vec::new() }).collect();
    let tables = backend.script(script, Isolation::Read).await?;
    let mut members = Vec::new();
    let mut listed = Vec::new();
    let mut rows = Vec::new();
    for (table, table_rows) in TABLES.iter().zip(tables) {
        let mut text = String::new();
        for row in &table_rows {
            let object: Map<String, Value> =
                table.columns.iter().zip(row).map(|(c, p)| ((*c).to_owned(), to_json(p))).collect();
            text.push_str(&Value::Object(object).to_string());
            text.push('\n');
        }
        let name = format!("{}.jsonl", table.name);
        listed.push(json!({"name": name, "table": table.name, "rows": table_rows.len(), "sha256": sha256(text.as_bytes())}));
        rows.push((table.name, table_rows.len() as u64));
        members.push((name, text));
    }
    let manifest = json!({
        "format": FORMAT,
        "schema_version": crate::SCHEMA_VERSION,
        "backend": info.backend,
        "created_at": info.created_at,
        "weir_version": info.weir_version,
        "members": listed,
    });
    let manifest = serde_json::to_string_pretty(&manifest).expect("JSON values serialize");
    let mtime = info.created_at / 1000;
    let mut writer = archive::Writer::default();
    writer.add(MANIFEST, manifest.as_bytes(), mtime);
    writer.add(MANIFEST_SUM, format!("{}  {MANIFEST}\n", sha256(manifest.as_bytes())).as_bytes(), mtime);
    for (name, text) in &members {
        writer.add(name, text.as_bytes(), mtime);
    }
    let summary =
        BackupSummary { schema_version: crate::SCHEMA_VERSION, backend: info.backend.to_owned(), rows };
    Ok((writer.finish(), summary))
}

/// A backup, checked whole, as the statements that write it into a store.
pub(crate) struct Verified {
    pub(crate) summary: BackupSummary,
    statements: Vec<Stmt>,
}

/// Checks everything in `bytes`: the archive, the manifest and its checksum, the format and
/// schema version, every member's checksum and row count, every row's columns.
pub(crate) fn verify(bytes: &[u8]) -> Result<Verified, Error> {
    let invalid = |m: String| Error::InvalidBackup(m);
    let members = archive::read(bytes).map_err(invalid)?;
    let member = |name: &str| members.iter().find(|(n, _)| n == name).map(|(_, data)| *data);
    let manifest = member(MANIFEST).ok_or_else(|| invalid(format!("it has no {MANIFEST}")))?;
    let sum = member(MANIFEST_SUM).ok_or_else(|| invalid(format!("it has no {MANIFEST_SUM}")))?;
    let expected = String::from_utf8_lossy(sum).split_whitespace().next().unwrap_or_default().to_owned();
    let actual = sha256(manifest);
    if actual != expected {
        return Err(invalid(format!(
            "{MANIFEST} is damaged: its SHA-256 is {actual}, {MANIFEST_SUM} says {expected}"
        )));
    }
    let manifest: Value =
        serde_json::from_slice(manifest).map_err(|e| invalid(format!("{MANIFEST} does not parse: {e}")))?;
    if manifest["format"] != FORMAT {
        return Err(invalid(format!("{MANIFEST} says format {}, expected \"{FORMAT}\"", manifest["format"])));
    }
    let found = manifest["schema_version"]
        .as_i64()
        .ok_or_else(|| invalid(format!("{MANIFEST} has no schema_version")))?;
    if found > crate::SCHEMA_VERSION {
        return Err(Error::BackupTooNew { found, known: crate::SCHEMA_VERSION });
    }
    let listed =
        manifest["members"].as_array().ok_or_else(|| invalid(format!("{MANIFEST} lists no members")))?;
    for (name, _) in &members {
        let known =
            name == MANIFEST || name == MANIFEST_SUM || listed.iter().any(|m| m["name"] == name.as_str());
        if !known {
            return Err(invalid(format!("member \"{name}\" is not listed in {MANIFEST}")));
        }
    }
    let mut statements = Vec::new();
    let mut rows = Vec::new();
    for entry in listed {
        let (table, count) = member_rows(entry, &member, &mut statements)?;
        rows.push((TABLES[table].name, count));
    }
    let backend = manifest["backend"].as_str().unwrap_or_default().to_owned();
    Ok(Verified { summary: BackupSummary { schema_version: found, backend, rows }, statements })
}

/// Checks the member `entry` of the manifest names, and adds the inserts of its rows; returns
/// its table's index and its row count.
fn member_rows<'a>(
    entry: &Value,
    member: &impl Fn(&str) -> Option<&'a [u8]>,
    out: &mut Vec<Stmt>,
) -> Result<(usize, u64), Error> {
    let invalid = |m: String| Error::InvalidBackup(m);
    let name =
        entry["name"].as_str().ok_or_else(|| invalid(format!("a member of {MANIFEST} has no name")))?;
    let table = TABLES.iter().position(|t| entry["table"] == t.name).ok_or_else(|| {
        invalid(format!("member \"{name}\" is of table {}, which weir does not know", entry["table"]))
    })?;
    let data =
        member(name).ok_or_else(|| invalid(format!("member \"{name}\" is missing from the archive")))?;
    let (actual, expected) = (sha256(data), entry["sha256"].as_str().unwrap_or_default());
    if actual != expected {
        return Err(invalid(format!(
            "member \"{name}\" is damaged: its SHA-256 is {actual}, the manifest says {expected}"
        )));
    }
    let text = std::str::from_utf8(data).map_err(|_| invalid(format!("member \"{name}\" is not UTF-8")))?;
    let columns = TABLES[table].columns;
    let mut count = 0u64;
    for (n, line) in text.lines().enumerate() {
        let at = || format!("member \"{name}\" line {}", n + 1);
        let object: Map<String, Value> =
            serde_json::from_str(line).map_err(|e| invalid(format!("{}: {e}", at())))?;
        if let Some(unknown) = object.keys().find(|k| !columns.contains(&k.as_str())) {
            return Err(invalid(format!(
                "{}: column \"{unknown}\" is not a column of {}",
                at(),
                TABLES[table].name
            )));
        }
        let params = columns
            .iter()
            .map(|c| {
                from_json(object.get(*c).unwrap_or(&Value::Null))
                    .ok_or_else(|| invalid(format!("{}: column \"{c}\" holds a value no column can", at())))
            })
            .collect::<Result<_, _>>()?;
        out.push(Stmt { sql: sql(table, 1), params });
        count += 1;
    }
    if Some(count) != entry["rows"].as_u64() {
        return Err(invalid(format!(
            "member \"{name}\" has {count} rows, the manifest says {}",
            entry["rows"]
        )));
    }
    Ok((table, count))
}

/// The rows of every table, for the check that a store is empty.
const ROWS: &str = "SELECT (SELECT COUNT(*) FROM runs) + (SELECT COUNT(*) FROM steps) + (SELECT COUNT(*) FROM attempts) \
     + (SELECT COUNT(*) FROM events) + (SELECT COUNT(*) FROM pipelines) + (SELECT COUNT(*) FROM bundles) \
     + (SELECT COUNT(*) FROM blobs)";

/// Writes a verified backup into the store, in one transaction; with `replace`, after deleting
/// everything the store holds, in the same one. Without it, a store that holds any row is
/// refused.
pub(crate) async fn restore(
    backend: &Backend,
    location: &str,
    backup: Verified,
    replace: bool,
) -> Result<(), Error> {
    let mut statements = Vec::new();
    if replace {
        statements.extend((0..TABLES.len()).map(|i| Stmt { sql: sql(i, 2), params: Vec::new() }));
    } else {
        let rows = backend.query(ROWS, Vec::new()).await?;
        let held = rows.first().and_then(|r| r.first().cloned());
        if !matches!(held, Some(Param::Int(0))) {
            return Err(Error::NotEmpty { location: location.to_owned() });
        }
    }
    statements.extend(backup.statements);
    backend.write(statements).await
}

fn to_json(p: &Param) -> Value {
    match p {
        Param::Null => Value::Null,
        Param::Int(n) => Value::from(*n),
        Param::Real(x) => Value::from(*x),
        Param::Text(t) => Value::String(t.clone()),
    }
}

fn from_json(v: &Value) -> Option<Param> {
    Some(match v {
        Value::Null => Param::Null,
        Value::String(s) => Param::Text(s.clone()),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Param::Int(i),
            None => Param::Real(n.as_f64()?),
        },
        _ => return None,
    })
}

fn sha256(bytes: &[u8]) -> String {
    sha2::Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_name_every_column_in_order() {
        for (i, t) in TABLES.iter().enumerate() {
            assert!(sql(i, 0).starts_with(&format!("SELECT {} FROM {}", t.columns.join(", "), t.name)));
            assert!(sql(i, 1).ends_with(&format!("${})", t.columns.len())));
            assert!(crate::record::tests::parameters_in_order(sql(i, 1)));
        }
    }

    /// An archive with a valid manifest (and checksum) saying `schema_version`, and no members.
    fn archive_of_version(schema_version: i64) -> Vec<u8> {
        let manifest =
            json!({"format": FORMAT, "schema_version": schema_version, "backend": "sqlite", "members": []});
        let manifest = manifest.to_string();
        let mut w = archive::Writer::default();
        w.add(MANIFEST, manifest.as_bytes(), 0);
        w.add(MANIFEST_SUM, sha256(manifest.as_bytes()).as_bytes(), 0);
        w.finish()
    }

    #[test]
    fn a_backup_of_a_newer_schema_is_refused() {
        assert!(verify(&archive_of_version(crate::SCHEMA_VERSION)).is_ok());
        let err = verify(&archive_of_version(crate::SCHEMA_VERSION + 1)).err().unwrap().to_string();
        let expected = format!("schema version {}, newer than this weir knows", crate::SCHEMA_VERSION + 1);
        assert!(err.contains(&expected), "{err}");
    }

    #[test]
    fn a_damaged_manifest_is_named() {
        let mut bytes = archive_of_version(crate::SCHEMA_VERSION);
        let at = bytes.windows(6).position(|w| w == b"sqlite").unwrap();
        bytes[at] = b'S';
        let err = verify(&bytes).err().unwrap().to_string();
        assert!(err.contains("manifest.json is damaged"), "{err}");
    }
}
