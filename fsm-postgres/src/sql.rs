//! The statements, in one place. `$1` is always the group name. The scans, whose conditions
//! depend on the request, are built by [`scan`].

use std::fmt::Write as _;

/// The engine metadata columns of `fsm_records`, in the order [`crate::meta`] reads and binds
/// them.
macro_rules! meta_columns {
    () => {
        "status, is_final, last_active_ms, failure_kind, failure_status, failure_error, \
         failure_at_ms, failure_halted, record_version"
    };
}

/// How many metadata columns there are (and parameters a metadata write binds).
pub(crate) const META_COLUMNS: usize = 9;

/// The hot path of a group commit, in one statement (one round trip, atomic on its own): the
/// records `$2` (distinct keys) get the values `$3` and the metadata `$5..$13` (one array per
/// column), each only if it is at the version in `$4` (0: absent), if owner `$16` holds the
/// lease of its shard (`$14`) at the epoch in `$15` and that lease still runs (the fencing
/// check), and if the record was not written under a newer epoch. The shard rows are locked
/// `FOR SHARE` (in shard order) until the statement commits, so no other instance can take a
/// shard while a write to it is under way: a takeover waits for it and then sees it, or comes
/// first and the write finds the lease gone. Records are locked in key order, so two such
/// statements never deadlock.
///
/// The batch (`input`) is read once: the lease check is a semi-join on the (at most one row
/// per shard) leases, so the planner cannot put the leases outside a loop that unpacks the
/// arrays again for every lease.
///
/// Returns one row per written record (`machine_id`, its new version, null), then one row per
/// shard lease the statement found held (null, the epoch, the shard). A key without a row was
/// refused: by its shard (no lease row at the epoch it named, or the lease ran out) or by its
/// record (not at the expected version, or written under a newer epoch). The result is built
/// without joining the batch back to what was written, which the planner, knowing nothing of
/// the arrays' sizes, could turn into a nested loop over the whole batch.
pub(crate) const PUT_BATCH: &str = concat!(
    "
    WITH input AS (
        SELECT * FROM unnest($2::bytea[], $3::bytea[], $4::int8[], $5::text[], $6::bool[],
                             $7::int8[], $8::text[], $9::text[], $10::text[], $11::int8[],
                             $12::bool[], $13::int4[], $14::int4[], $15::int8[])
            AS u(machine_id, value, expected, ",
    meta_columns!(),
    ", shard, epoch)
    ),
    lease AS (
        SELECT shard, epoch FROM fsm_shards
        WHERE group_name = $1 AND shard = ANY($14::int4[]) AND owner = $16
          AND expires_at > now()
        ORDER BY shard FOR SHARE
    ),
    written AS (
        INSERT INTO fsm_records AS r (group_name, machine_id, value, version, epoch, shard, ",
    meta_columns!(),
    ")
        SELECT $1, i.machine_id, i.value, i.expected + 1, i.epoch, i.shard, i.status,
               i.is_final, i.last_active_ms, i.failure_kind, i.failure_status,
               i.failure_error, i.failure_at_ms, i.failure_halted, i.record_version
        FROM input i
        WHERE EXISTS (SELECT 1 FROM lease le WHERE le.shard = i.shard AND le.epoch = i.epoch)
          AND (i.expected = 0 OR EXISTS (
            SELECT 1 FROM fsm_records x WHERE x.group_name = $1 AND x.machine_id = i.machine_id))
        ORDER BY i.machine_id
        ON CONFLICT (group_name, machine_id) DO UPDATE
            SET value = EXCLUDED.value, version = EXCLUDED.version, epoch = EXCLUDED.epoch,
                shard = EXCLUDED.shard, status = EXCLUDED.status,
                is_final = EXCLUDED.is_final, last_active_ms = EXCLUDED.last_active_ms,
                failure_kind = EXCLUDED.failure_kind,
                failure_status = EXCLUDED.failure_status,
                failure_error = EXCLUDED.failure_error, failure_at_ms = EXCLUDED.failure_at_ms,
                failure_halted = EXCLUDED.failure_halted,
                record_version = EXCLUDED.record_version
            WHERE r.version = EXCLUDED.version - 1 AND r.epoch <= EXCLUDED.epoch
        RETURNING r.machine_id, r.version
    )
    SELECT w.machine_id, w.version, NULL::int4 AS shard FROM written w
    UNION ALL
    SELECT NULL, le.epoch, le.shard FROM lease le"
);

/// The running leases owner `$3` holds among shards `$2` (an `int4[]`), as `shard, epoch`,
/// locked in shard order `FOR SHARE` until the transaction ends: no other instance can take
/// them while the transaction's writes run.
pub(crate) const HELD_SHARDS: &str = "
    SELECT shard, epoch FROM fsm_shards
    WHERE group_name = $1 AND shard = ANY($2::int4[]) AND owner = $3 AND expires_at > now()
    ORDER BY shard FOR SHARE";

/// Registers member `$2` (advertising address `$3`, may be null) as live for `$4` seconds.
pub(crate) const HEARTBEAT: &str = "
    INSERT INTO fsm_members (group_name, member, address, expires_at)
    VALUES ($1, $2, $3, now() + make_interval(secs => $4))
    ON CONFLICT (group_name, member) DO UPDATE
        SET address = EXCLUDED.address, expires_at = EXCLUDED.expires_at";

/// The live members (heartbeat not expired), by name.
pub(crate) const LIVE_MEMBERS: &str = "
    SELECT member FROM fsm_members WHERE group_name = $1 AND expires_at > now()
    ORDER BY member";

/// Every shard row: `shard`, `owner`, the owner's advertised address (null: none, or the owner
/// is no member any more), whether the lease runs, and the seconds it still runs (0 when it ran
/// out or was released: a released lease expires at `-infinity`, which cannot be subtracted
/// from).
pub(crate) const SHARD_TABLE: &str = "
    SELECT s.shard, s.owner, m.address, s.expires_at > now(),
           CASE WHEN s.expires_at > now()
                THEN EXTRACT(EPOCH FROM s.expires_at - now())::float8
                ELSE 0::float8 END
    FROM fsm_shards s
    LEFT JOIN fsm_members m ON m.group_name = s.group_name AND m.member = s.owner
    WHERE s.group_name = $1";

/// One shard's row as [`SHARD_TABLE`] returns it (`$2`: the shard), and its epoch.
pub(crate) const SHARD_OWNER: &str = "
    SELECT s.owner, m.address, s.expires_at > now(),
           CASE WHEN s.expires_at > now()
                THEN EXTRACT(EPOCH FROM s.expires_at - now())::float8
                ELSE 0::float8 END,
           s.epoch
    FROM fsm_shards s
    LEFT JOIN fsm_members m ON m.group_name = s.group_name AND m.member = s.owner
    WHERE s.group_name = $1 AND s.shard = $2";

/// Owner `$2` keeps (renews, same epoch) or takes (free, released or expired: epoch + 1; new
/// rows start at epoch 1) the leases of shards `$3` for `$4` seconds; another owner's running
/// lease is left alone. Rows are locked in shard order. Returns `shard, epoch` of every lease
/// the owner holds afterwards among `$3`.
pub(crate) const CLAIM_SHARDS: &str = "
    INSERT INTO fsm_shards AS s (group_name, shard, owner, epoch, expires_at)
    SELECT $1, u.shard, $2, 1, now() + make_interval(secs => $4)
    FROM unnest($3::int4[]) AS u(shard) ORDER BY u.shard
    ON CONFLICT (group_name, shard) DO UPDATE
        SET owner = EXCLUDED.owner,
            epoch = CASE WHEN s.owner = EXCLUDED.owner AND s.expires_at > now()
                         THEN s.epoch ELSE s.epoch + 1 END,
            expires_at = EXCLUDED.expires_at
        WHERE s.owner = EXCLUDED.owner OR s.expires_at <= now()
    RETURNING s.shard, s.epoch";

/// Ends owner `$2`'s leases of shards `$3` at once (null: all of them), locking them in shard
/// order; the epoch stays, so fencing keeps working and the next owner's epoch is higher.
pub(crate) const RELEASE_SHARDS: &str = "
    UPDATE fsm_shards s SET expires_at = '-infinity'
    FROM (SELECT shard FROM fsm_shards
          WHERE group_name = $1 AND owner = $2
            AND ($3::int4[] IS NULL OR shard = ANY($3::int4[]))
          ORDER BY shard FOR UPDATE) x
    WHERE s.group_name = $1 AND s.shard = x.shard";

/// Removes member `$2` (a clean stop: the others rebalance without waiting for its heartbeat
/// to expire).
pub(crate) const LEAVE: &str = "
    DELETE FROM fsm_members WHERE group_name = $1 AND member = $2";

/// The group's shard count.
pub(crate) const GROUP_SHARDS: &str = "
    SELECT shard_count FROM fsm_groups WHERE group_name = $1";

/// Creates the group with `$2` shards.
pub(crate) const CREATE_GROUP: &str = "
    INSERT INTO fsm_groups (group_name, shard_count) VALUES ($1, $2)
    ON CONFLICT (group_name) DO NOTHING";

/// Up to `$2` keys of the group's records that have no shard yet (written before shards).
pub(crate) const UNSHARDED: &str = "
    SELECT machine_id FROM fsm_records WHERE group_name = $1 AND shard IS NULL LIMIT $2";

/// Sets the shards `$3` of records `$2` and resets their epoch (the per-machine lease epochs
/// they were written under mean nothing to shard leases, which start at 1).
pub(crate) const SET_SHARDS: &str = "
    UPDATE fsm_records r SET shard = u.shard, epoch = 0
    FROM unnest($2::bytea[], $3::int4[]) AS u(machine_id, shard)
    WHERE r.group_name = $1 AND r.machine_id = u.machine_id";

/// Record `$2`: value, version, then the metadata columns.
pub(crate) const GET: &str = concat!(
    "
    SELECT value, version, ",
    meta_columns!(),
    "
    FROM fsm_records WHERE group_name = $1 AND machine_id = $2"
);

/// Record `$2`: version, epoch, then the metadata columns (what a retried metadata write
/// compares).
pub(crate) const GET_META: &str = concat!(
    "
    SELECT version, epoch, ",
    meta_columns!(),
    "
    FROM fsm_records WHERE group_name = $1 AND machine_id = $2"
);

/// Creates record `$2` = `$3` in shard `$14` written under epoch `$4` with metadata `$5..$13`,
/// unless it exists.
pub(crate) const INSERT: &str = concat!(
    "
    INSERT INTO fsm_records (group_name, machine_id, value, version, epoch, ",
    meta_columns!(),
    ", shard)
    VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
    ON CONFLICT (group_name, machine_id) DO NOTHING"
);

/// Replaces record `$2` with `$3` and metadata `$6..$14` under epoch `$4` if it is still at
/// version `$5` and was not written under a newer epoch (the fencing check).
pub(crate) const UPDATE: &str = "
    UPDATE fsm_records
    SET value = $3, version = version + 1, epoch = $4,
        status = $6, is_final = $7, last_active_ms = $8, failure_kind = $9,
        failure_status = $10, failure_error = $11, failure_at_ms = $12, failure_halted = $13,
        record_version = $14
    WHERE group_name = $1 AND machine_id = $2 AND version = $5 AND epoch <= $4";

/// Writes record `$2` = `$3` in shard `$14` with metadata `$5..$13` under epoch `$4` whatever
/// its version (a store user that never read it), still refusing a record written under a
/// newer epoch. Returns the new version.
pub(crate) const UPSERT: &str = concat!(
    "
    INSERT INTO fsm_records AS r (group_name, machine_id, value, version, epoch, ",
    meta_columns!(),
    ", shard)
    VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
    ON CONFLICT (group_name, machine_id) DO UPDATE
        SET value = EXCLUDED.value, version = r.version + 1, epoch = EXCLUDED.epoch,
            status = EXCLUDED.status, is_final = EXCLUDED.is_final,
            last_active_ms = EXCLUDED.last_active_ms, failure_kind = EXCLUDED.failure_kind,
            failure_status = EXCLUDED.failure_status, failure_error = EXCLUDED.failure_error,
            failure_at_ms = EXCLUDED.failure_at_ms, failure_halted = EXCLUDED.failure_halted,
            record_version = EXCLUDED.record_version
        WHERE r.epoch <= EXCLUDED.epoch
    RETURNING version"
);

/// Replaces only the metadata (`$5..$13`) of existing record `$2` under epoch `$3`, if it was
/// not written under a newer epoch and, when `$4` is not null, is still at version `$4`. Bumps
/// the version (another instance's cached copy of the machine, which may predate a halt, is
/// then refused and reloaded). Returns the new version; no row: absent, or fenced off.
pub(crate) const PUT_META: &str = "
    UPDATE fsm_records
    SET version = version + 1, epoch = $3,
        status = $5, is_final = $6, last_active_ms = $7, failure_kind = $8,
        failure_status = $9, failure_error = $10, failure_at_ms = $11, failure_halted = $12,
        record_version = $13
    WHERE group_name = $1 AND machine_id = $2 AND epoch <= $3
      AND ($4::bigint IS NULL OR version = $4)
    RETURNING version";

/// Deletes record `$2` if written under epoch `$3` or older and, when `$4` is not null, still
/// at version `$4`.
pub(crate) const DELETE: &str = "
    DELETE FROM fsm_records
    WHERE group_name = $1 AND machine_id = $2 AND epoch <= $3
      AND ($4::bigint IS NULL OR version = $4)";

/// Whether record `$2` exists.
pub(crate) const EXISTS: &str = "
    SELECT 1 FROM fsm_records WHERE group_name = $1 AND machine_id = $2";

/// The header of the records under prefix `$2`: format, group label, codec.
pub(crate) const GET_HEADER: &str = "
    SELECT format, group_label, codec FROM fsm_headers WHERE group_name = $1 AND prefix = $2";

/// Sets the header of prefix `$2` to format `$3`, group label `$4`, codec `$5`.
pub(crate) const PUT_HEADER: &str = "
    INSERT INTO fsm_headers (group_name, prefix, format, group_label, codec)
    VALUES ($1, $2, $3, $4, $5)
    ON CONFLICT (group_name, prefix) DO UPDATE
        SET format = EXCLUDED.format, group_label = EXCLUDED.group_label,
            codec = EXCLUDED.codec";

/// Which rows a scan keeps, beside its key range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Condition {
    /// Every row.
    All,
    /// Rows whose `status` is the parameter (served by `fsm_records_by_status`).
    Status,
    /// Rows with a failure (served by `fsm_records_failed`).
    Failed,
    /// Rows whose status is not final, and rows without metadata (which the scan reports).
    Active,
}

/// The parts of a scan's `WHERE` clause after the group, and the parameters they bind (in
/// order, starting at `$2`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Range {
    /// `machine_id > $n` (the cursor) instead of `machine_id >= $n` (the prefix).
    pub(crate) after_cursor: bool,
    /// Whether there is a lower bound at all (not for an empty prefix without cursor).
    pub(crate) lower: bool,
    /// `machine_id < $n`: the first key after every key with the prefix (none for an empty
    /// prefix or one of only `0xff` bytes).
    pub(crate) upper: bool,
    /// The filter.
    pub(crate) condition: Condition,
    /// `shard = ANY($n)`: only the records of the given shards (served, for active records,
    /// by `fsm_records_active_by_shard`).
    pub(crate) in_shards: bool,
}

impl Range {
    /// Appends the conditions to `sql`, numbering parameters from `next`; returns the next
    /// free parameter number.
    fn write(&self, sql: &mut String, mut next: usize) -> usize {
        if self.lower {
            let op = if self.after_cursor { ">" } else { ">=" };
            // Writing to a String cannot fail.
            let _ = write!(sql, " AND machine_id {op} ${next}");
            next += 1;
        }
        if self.upper {
            let _ = write!(sql, " AND machine_id < ${next}");
            next += 1;
        }
        match self.condition {
            Condition::All => {}
            Condition::Status => {
                let _ = write!(sql, " AND status = ${next}");
                next += 1;
            }
            Condition::Failed => sql.push_str(" AND failure_kind IS NOT NULL"),
            Condition::Active => sql.push_str(" AND is_final IS NOT TRUE"),
        }
        if self.in_shards {
            let _ = write!(sql, " AND shard = ANY(${next}::int4[])");
            next += 1;
        }
        next
    }
}

/// One page of records: `machine_id`, `version`, `value` (or null without records), then the
/// metadata columns. Binds the group, the range's parameters, then the row limit.
pub(crate) fn scan(range: &Range, with_records: bool) -> String {
    let value = if with_records { "value" } else { "NULL::bytea" };
    let mut sql = format!(
        "SELECT machine_id, version, {value}, {} FROM fsm_records WHERE group_name = $1",
        meta_columns!()
    );
    let next = range.write(&mut sql, 2);
    let _ = write!(sql, " ORDER BY machine_id LIMIT ${next}");
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_numbers_its_parameters_in_order() {
        let range = Range {
            after_cursor: true,
            lower: true,
            upper: true,
            condition: Condition::Status,
            in_shards: false,
        };
        let sql = scan(&range, false);
        assert!(
            sql.contains("machine_id > $2 AND machine_id < $3 AND status = $4"),
            "{sql}"
        );
        assert!(sql.ends_with("LIMIT $5"), "{sql}");
        assert!(sql.contains("NULL::bytea"), "{sql}");
        let all = Range {
            after_cursor: false,
            lower: false,
            upper: false,
            condition: Condition::All,
            in_shards: false,
        };
        assert!(scan(&all, true).ends_with("group_name = $1 ORDER BY machine_id LIMIT $2"));
    }

    #[test]
    fn the_shard_restriction_comes_last() {
        let range = Range {
            after_cursor: false,
            lower: true,
            upper: false,
            condition: Condition::Active,
            in_shards: true,
        };
        let sql = scan(&range, true);
        assert!(
            sql.contains("machine_id >= $2 AND is_final IS NOT TRUE AND shard = ANY($3::int4[])"),
            "{sql}"
        );
        assert!(sql.ends_with("LIMIT $4"), "{sql}");
    }
}
