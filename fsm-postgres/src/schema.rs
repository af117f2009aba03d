//! The tables, created and migrated on open under an advisory lock, versioned in
//! `fsm_schema_version`.

use tokio_postgres::Client;

use crate::error::PgError;
use crate::shards::{DEFAULT_SHARDS, MAX_SHARDS, shard_of};
use crate::sql;

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
    // 3: shard ownership instead of per-machine leases. A group's shard count; the members
    // with their heartbeat; one lease per shard with its epoch (the fencing token); the shard
    // of each record, with an index of the active records by shard (what a takeover resumes).
    // Per-machine leases are gone (the migration is refused while one runs, see
    // `live_machine_leases`).
    "CREATE TABLE fsm_groups (
         group_name text PRIMARY KEY,
         shard_count integer NOT NULL
     );
     CREATE TABLE fsm_members (
         group_name text NOT NULL,
         member text NOT NULL,
         address text,
         expires_at timestamptz NOT NULL,
         PRIMARY KEY (group_name, member)
     );
     CREATE TABLE fsm_shards (
         group_name text NOT NULL,
         shard integer NOT NULL,
         owner text NOT NULL,
         epoch bigint NOT NULL,
         expires_at timestamptz NOT NULL,
         PRIMARY KEY (group_name, shard)
     );
     ALTER TABLE fsm_records ADD COLUMN shard integer;
     CREATE INDEX fsm_records_active_by_shard ON fsm_records (group_name, shard, machine_id)
         WHERE is_final IS NOT TRUE;
     DROP TABLE fsm_leases;",
];

/// The first schema version without per-machine leases.
const SHARDED: i32 = 3;

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
    if (1..SHARDED).contains(&found) {
        let owners = live_machine_leases(client).await?;
        if !owners.is_empty() {
            return Err(PgError::MigrationBlocked { owners });
        }
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

/// The instances holding a running per-machine lease (schema versions before shards): they
/// run an older fsm-postgres, which the shard migration would break under their feet.
async fn live_machine_leases(client: &Client) -> Result<Vec<String>, PgError> {
    let rows = client
        .query(
            "SELECT DISTINCT owner FROM fsm_leases WHERE expires_at > now() ORDER BY owner",
            &[],
        )
        .await
        .map_err(PgError::db("migrating the schema"))?;
    rows.iter()
        .map(|row| row.try_get(0).map_err(PgError::db("migrating the schema")))
        .collect()
}

/// How many record keys one statement of [`open_group`] assigns shards to.
const SHARD_FILL_BATCH: i64 = 10_000;

/// Creates group `group` with `requested` shards (or [`DEFAULT_SHARDS`] when not given), or
/// checks an existing group's count against `requested`; returns the group's count. A group
/// created here that already has records (written before shards existed) gets every record's
/// shard assigned in the same transaction, under the migration lock.
pub(crate) async fn open_group(
    client: &Client,
    group: &str,
    requested: Option<u32>,
) -> Result<u32, PgError> {
    let doing = "opening the group";
    if let Some(count) = requested
        && !(1..=MAX_SHARDS).contains(&count)
    {
        return Err(PgError::BadShardCount { requested: count });
    }
    let stored = |row: Option<tokio_postgres::Row>| -> Result<Option<u32>, PgError> {
        let Some(row) = row else { return Ok(None) };
        let count: i32 = row.try_get(0).map_err(PgError::db(doing))?;
        u32::try_from(count)
            .map(Some)
            .map_err(|_| PgError::BadShardCount { requested: 0 })
    };
    let existing = stored(
        client
            .query_opt(sql::GROUP_SHARDS, &[&group])
            .await
            .map_err(PgError::db(doing))?,
    )?;
    let count = match existing {
        Some(count) => count,
        None => {
            client
                .batch_execute("BEGIN")
                .await
                .map_err(PgError::db(doing))?;
            let created = create_group(client, group, requested.unwrap_or(DEFAULT_SHARDS)).await;
            let end = if created.is_ok() {
                "COMMIT"
            } else {
                "ROLLBACK"
            };
            let ended = client.batch_execute(end).await.map_err(PgError::db(doing));
            let count = created?;
            ended?;
            count
        }
    };
    match requested {
        Some(requested) if requested != count => Err(PgError::ShardCountMismatch {
            group: group.to_owned(),
            stored: count,
            requested,
        }),
        _ => Ok(count),
    }
}

/// The transaction of [`open_group`] for a group without a count: another instance may have
/// created it meanwhile (its count wins), else creates it and assigns the shards of its
/// records.
async fn create_group(client: &Client, group: &str, count: u32) -> Result<u32, PgError> {
    let doing = "creating the group";
    client
        .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
        .await
        .map_err(PgError::db(doing))?;
    // `count` was checked against MAX_SHARDS, so it fits an i32.
    let wanted = count as i32;
    client
        .execute(sql::CREATE_GROUP, &[&group, &wanted])
        .await
        .map_err(PgError::db(doing))?;
    let row = client
        .query_one(sql::GROUP_SHARDS, &[&group])
        .await
        .map_err(PgError::db(doing))?;
    let count: i32 = row.try_get(0).map_err(PgError::db(doing))?;
    let count = u32::try_from(count).map_err(|_| PgError::BadShardCount { requested: 0 })?;
    loop {
        let rows = client
            .query(sql::UNSHARDED, &[&group, &SHARD_FILL_BATCH])
            .await
            .map_err(PgError::db(doing))?;
        if rows.is_empty() {
            return Ok(count);
        }
        let mut keys: Vec<Vec<u8>> = Vec::with_capacity(rows.len());
        let mut shards: Vec<i32> = Vec::with_capacity(rows.len());
        for row in &rows {
            let key: Vec<u8> = row.try_get(0).map_err(PgError::db(doing))?;
            // Below MAX_SHARDS, so it fits an i32.
            shards.push(shard_of(&key, count) as i32);
            keys.push(key);
        }
        client
            .execute(sql::SET_SHARDS, &[&group, &keys, &shards])
            .await
            .map_err(PgError::db(doing))?;
        tracing::info!(
            group,
            assigned = keys.len(),
            "assigned shards to records written before shards"
        );
    }
}
