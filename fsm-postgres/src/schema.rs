//! The tables, created and migrated on open under an advisory lock, versioned in
//! `fsm_schema_version`.

use tokio_postgres::Client;

use crate::error::PgError;

/// Migration `n` (0-based) takes the schema from version `n` to `n + 1`. Each runs in the
/// migrating transaction; only plain DDL that YugabyteDB accepts as well.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: records keyed by (group, machine) with the writer's lease epoch and a version
    // counter; one lease row per machine.
    "CREATE TABLE fsm_records (
         group_name text NOT NULL,
         machine_id bytea NOT NULL,
         value bytea NOT NULL,
         version bigint NOT NULL,
         epoch bigint NOT NULL,
         PRIMARY KEY (group_name, machine_id)
     );
     CREATE TABLE fsm_leases (
         group_name text NOT NULL,
         machine_id bytea NOT NULL,
         owner text NOT NULL,
         epoch bigint NOT NULL,
         expires_at timestamptz NOT NULL,
         PRIMARY KEY (group_name, machine_id)
     );
     CREATE INDEX fsm_leases_by_owner ON fsm_leases (group_name, owner);",
    // 2: the engine metadata beside each record (NULL status: written before this migration,
    // metadata missing), a status index, a failure index, and one header per key prefix.
    "ALTER TABLE fsm_records ADD COLUMN status text;
     ALTER TABLE fsm_records ADD COLUMN is_final boolean;
     ALTER TABLE fsm_records ADD COLUMN last_active_ms bigint;
     ALTER TABLE fsm_records ADD COLUMN failure_kind text;
     ALTER TABLE fsm_records ADD COLUMN failure_status text;
     ALTER TABLE fsm_records ADD COLUMN failure_error text;
     ALTER TABLE fsm_records ADD COLUMN failure_at_ms bigint;
     ALTER TABLE fsm_records ADD COLUMN failure_halted boolean;
     ALTER TABLE fsm_records ADD COLUMN record_version integer;
     CREATE INDEX fsm_records_by_status ON fsm_records (group_name, status, machine_id);
     CREATE INDEX fsm_records_failed ON fsm_records (group_name, machine_id)
         WHERE failure_kind IS NOT NULL;
     CREATE TABLE fsm_headers (
         group_name text NOT NULL,
         prefix bytea NOT NULL,
         format integer NOT NULL,
         group_label text NOT NULL,
         codec text NOT NULL,
         PRIMARY KEY (group_name, prefix)
     );",
];

/// The schema version this library writes and reads.
pub const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// Any constant shared by every process migrating the same database.
const MIGRATION_LOCK: i64 = 0x6673_6d5f_7067; // "fsm_pg"

/// Creates or migrates the schema. Concurrent opens serialize on an advisory lock; a schema
/// newer than [`SCHEMA_VERSION`] is refused with [`PgError::SchemaTooNew`].
pub(crate) async fn migrate(client: &Client) -> Result<(), PgError> {
    let doing = "migrating the schema";
    client
        .batch_execute("BEGIN")
        .await
        .map_err(PgError::db(doing))?;
    let result = migrate_in_transaction(client).await;
    let end = if result.is_ok() { "COMMIT" } else { "ROLLBACK" };
    let ended = client.batch_execute(end).await.map_err(PgError::db(doing));
    result.and(ended)
}

async fn migrate_in_transaction(client: &Client) -> Result<(), PgError> {
    let doing = "migrating the schema";
    client
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(PgError::db(doing))?;
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS fsm_schema_version (
                 singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
                 version integer NOT NULL
             )",
        )
        .await
        .map_err(PgError::db(doing))?;
    let found: i32 = client
        .query_opt("SELECT version FROM fsm_schema_version", &[])
        .await
        .map_err(PgError::db(doing))?
        .map_or(0, |row| row.get(0));
    if found > SCHEMA_VERSION {
        return Err(PgError::SchemaTooNew {
            found,
            supported: SCHEMA_VERSION,
        });
    }
    // `found` is in 0..=SCHEMA_VERSION here, so the slice is in bounds.
    for (index, migration) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        tracing::info!(to = index + 1, "migrating the fsm-postgres schema");
        client
            .batch_execute(migration)
            .await
            .map_err(PgError::db(doing))?;
    }
    client
        .execute(
            "INSERT INTO fsm_schema_version (singleton, version) VALUES (true, $1)
             ON CONFLICT (singleton) DO UPDATE SET version = EXCLUDED.version",
            &[&SCHEMA_VERSION],
        )
        .await
        .map_err(PgError::db(doing))?;
    Ok(())
}
