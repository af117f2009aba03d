//! The statements, in one place. `$1` is always the group name. The scans, whose conditions
//! depend on the request, are built by [`scan`] and [`claim`].

use std::fmt::Write as _;

/// The lease rule of [`TAKE_LEASES`], [`PUT_BATCH`] and [`claim`]: an owner keeps its running lease (same
/// epoch) and anyone takes a free or expired one (epoch + 1); another owner's running lease
/// leaves the row untouched.
macro_rules! lease_conflict {
    () => {
        "
    ON CONFLICT (group_name, machine_id) DO UPDATE
        SET owner = EXCLUDED.owner,
            epoch = CASE WHEN l.owner = EXCLUDED.owner AND l.expires_at > now()
                         THEN l.epoch ELSE l.epoch + 1 END,
            expires_at = EXCLUDED.expires_at
        WHERE l.owner = EXCLUDED.owner OR l.expires_at <= now()"
    };
}

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

/// The lease part of [`TAKE_LEASES`] and [`PUT_BATCH`], over a CTE `input` with one
/// `machine_id` per distinct key: `held` are the leases owner `$OWNER` holds and that still run
/// (read, not locked: they need no change), `taken` the free or expired ones it takes now
/// (epoch + 1; new rows start at epoch 1), locked in key order. A key in neither is held by
/// another owner whose lease runs. `$1` is the group; `$owner` and `$ttl` name the parameters
/// holding the owner and the lease seconds.
macro_rules! lease_ctes {
    ($owner:literal, $ttl:literal) => {
        concat!(
            "
    held AS (
        SELECT l.machine_id, l.epoch FROM fsm_leases l JOIN input i
            ON l.group_name = $1 AND l.machine_id = i.machine_id
        WHERE l.owner = ",
            $owner,
            " AND l.expires_at > now()
    ),
    taken AS (
        INSERT INTO fsm_leases AS l (group_name, machine_id, owner, epoch, expires_at)
        SELECT $1, i.machine_id, ",
            $owner,
            ", 1, now() + make_interval(secs => ",
            $ttl,
            ")
        FROM input i WHERE NOT EXISTS (SELECT 1 FROM held h WHERE h.machine_id = i.machine_id)
        ORDER BY i.machine_id",
            lease_conflict!(),
            "
        RETURNING l.machine_id, l.epoch
    ),
    lease AS (SELECT machine_id, epoch FROM held UNION ALL SELECT machine_id, epoch FROM taken)"
        )
    };
}

/// Takes or keeps the leases of the machines `$2` (a `bytea[]`) for owner `$3` for `$4`
/// seconds, locking the rows it changes in key order, and returns `machine_id, epoch` of each
/// lease this owner holds afterwards (kept: same epoch; taken: epoch + 1). A machine missing
/// from the result is leased by another owner whose lease runs.
pub(crate) const TAKE_LEASES: &str = concat!(
    "
    WITH input AS (SELECT DISTINCT machine_id FROM unnest($2::bytea[]) AS u(machine_id)),",
    lease_ctes!("$3", "$4"),
    "
    SELECT machine_id, epoch FROM lease"
);

/// The hot path of a group commit, in one statement (one round trip, atomic on its own): the
/// records `$2` (distinct keys) get the values `$3` and the metadata `$5..$13` (one array per
/// column), each only if it is at the version in `$4` (0: absent) and not written under a
/// newer epoch than this owner's lease; owner `$14` takes or keeps the leases for `$15`
/// seconds first. Leases, then records, are locked in key order, so two such statements (or a
/// renewal) never deadlock.
///
/// Returns one row per key: `machine_id`, the lease epoch (null: another owner's lease runs)
/// and the record's new version (null: refused, the record is not at the expected version or
/// was written under a newer epoch).
pub(crate) const PUT_BATCH: &str = concat!(
    "
    WITH input AS (
        SELECT * FROM unnest($2::bytea[], $3::bytea[], $4::int8[], $5::text[], $6::bool[],
                             $7::int8[], $8::text[], $9::text[], $10::text[], $11::int8[],
                             $12::bool[], $13::int4[])
            AS u(machine_id, value, expected, ",
    meta_columns!(),
    ")
    ),",
    lease_ctes!("$14", "$15"),
    ",
    written AS (
        INSERT INTO fsm_records AS r (group_name, machine_id, value, version, epoch, ",
    meta_columns!(),
    ")
        SELECT $1, i.machine_id, i.value, i.expected + 1, le.epoch, i.status, i.is_final,
               i.last_active_ms, i.failure_kind, i.failure_status, i.failure_error,
               i.failure_at_ms, i.failure_halted, i.record_version
        FROM input i JOIN lease le ON le.machine_id = i.machine_id
        WHERE i.expected = 0 OR EXISTS (
            SELECT 1 FROM fsm_records x WHERE x.group_name = $1 AND x.machine_id = i.machine_id)
        ORDER BY i.machine_id
        ON CONFLICT (group_name, machine_id) DO UPDATE
            SET value = EXCLUDED.value, version = EXCLUDED.version, epoch = EXCLUDED.epoch,
                status = EXCLUDED.status, is_final = EXCLUDED.is_final,
                last_active_ms = EXCLUDED.last_active_ms, failure_kind = EXCLUDED.failure_kind,
                failure_status = EXCLUDED.failure_status,
                failure_error = EXCLUDED.failure_error, failure_at_ms = EXCLUDED.failure_at_ms,
                failure_halted = EXCLUDED.failure_halted,
                record_version = EXCLUDED.record_version
            WHERE r.version = EXCLUDED.version - 1 AND r.epoch <= EXCLUDED.epoch
        RETURNING r.machine_id, r.version
    )
    SELECT i.machine_id, le.epoch, w.version
    FROM input i
    LEFT JOIN lease le ON le.machine_id = i.machine_id
    LEFT JOIN written w ON w.machine_id = i.machine_id"
);

/// The owner of machine `$2`'s lease and the seconds it still runs (0 when it ran out or was
/// released: a released lease expires at `-infinity`, which cannot be subtracted from).
pub(crate) const LEASE_OWNER: &str = "
    SELECT owner,
           CASE WHEN expires_at > now()
                THEN EXTRACT(EPOCH FROM expires_at - now())::float8
                ELSE 0::float8 END
    FROM fsm_leases WHERE group_name = $1 AND machine_id = $2";

/// Extends every running lease of owner `$2` to `$3` seconds from now, locking them in key
/// order (the order every statement locks lease rows in).
pub(crate) const RENEW_LEASES: &str = "
    UPDATE fsm_leases l SET expires_at = now() + make_interval(secs => $3)
    FROM (SELECT machine_id FROM fsm_leases
          WHERE group_name = $1 AND owner = $2 AND expires_at > now()
          ORDER BY machine_id FOR UPDATE) s
    WHERE l.group_name = $1 AND l.machine_id = s.machine_id";

/// Ends every lease of owner `$2` at once, locking them in key order (the epoch stays, so
/// fencing keeps working).
pub(crate) const RELEASE_LEASES: &str = "
    UPDATE fsm_leases l SET expires_at = '-infinity'
    FROM (SELECT machine_id FROM fsm_leases
          WHERE group_name = $1 AND owner = $2
          ORDER BY machine_id FOR UPDATE) s
    WHERE l.group_name = $1 AND l.machine_id = s.machine_id";

/// The seconds until the last running lease of an owner other than `$2` runs out (null: no
/// other owner's lease runs).
pub(crate) const FOREIGN_LEASES_EXPIRE_IN: &str = "
    SELECT EXTRACT(EPOCH FROM max(expires_at) - now())::float8
    FROM fsm_leases WHERE group_name = $1 AND owner <> $2 AND expires_at > now()";

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

/// Creates record `$2` = `$3` written under epoch `$4` with metadata `$5..$13`, unless it
/// exists.
pub(crate) const INSERT: &str = concat!(
    "
    INSERT INTO fsm_records (group_name, machine_id, value, version, epoch, ",
    meta_columns!(),
    ")
    VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
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

/// Writes record `$2` = `$3` with metadata `$5..$13` under epoch `$4` whatever its version (a
/// store user that never read it), still refusing a record written under a newer epoch.
/// Returns the new version.
pub(crate) const UPSERT: &str = concat!(
    "
    INSERT INTO fsm_records AS r (group_name, machine_id, value, version, epoch, ",
    meta_columns!(),
    ")
    VALUES ($1, $2, $3, 1, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
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

/// One page of the non-final records to resume, taking their leases (the rule of
/// [`TAKE_LEASES`]) where they are free, expired or this owner's. Binds the group, the range's
/// parameters, the candidate limit (page size + 1), the page size, the owner and the lease
/// seconds.
///
/// Returns one row per candidate of the page, in key order: `machine_id`, whether its lease
/// was taken, then (for taken ones) `version`, `value` (or null without records) and the
/// metadata columns, and, on every row, how many candidates there were (more than the page
/// size: there is a next page).
pub(crate) fn claim(range: &Range, with_records: bool) -> String {
    let value = if with_records {
        "r.value"
    } else {
        "NULL::bytea"
    };
    let mut sql = String::from(
        "WITH candidates AS (
            SELECT machine_id FROM fsm_records WHERE group_name = $1",
    );
    let next = range.write(&mut sql, 2);
    let (candidates, page, owner, ttl) = (next, next + 1, next + 2, next + 3);
    let _ = write!(
        sql,
        " AND is_final IS NOT TRUE
            ORDER BY machine_id LIMIT ${candidates}
        ), page AS (
            SELECT machine_id FROM candidates ORDER BY machine_id LIMIT ${page}
        ), claimed AS (
            INSERT INTO fsm_leases AS l (group_name, machine_id, owner, epoch, expires_at)
            SELECT $1, machine_id, ${owner}, 1, now() + make_interval(secs => ${ttl}) FROM page
            ORDER BY machine_id
            {conflict}
            RETURNING machine_id
        )
        SELECT p.machine_id, c.machine_id IS NOT NULL, r.version, {value},
               r.status, r.is_final, r.last_active_ms, r.failure_kind, r.failure_status,
               r.failure_error, r.failure_at_ms, r.failure_halted, r.record_version,
               (SELECT count(*) FROM candidates)
        FROM page p
        LEFT JOIN claimed c ON c.machine_id = p.machine_id
        LEFT JOIN fsm_records r ON r.group_name = $1 AND r.machine_id = c.machine_id
        ORDER BY p.machine_id",
        conflict = lease_conflict!(),
    );
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
        };
        assert!(scan(&all, true).ends_with("group_name = $1 ORDER BY machine_id LIMIT $2"));
    }

    #[test]
    fn claim_binds_limits_owner_and_lease_after_the_range() {
        let range = Range {
            after_cursor: false,
            lower: true,
            upper: false,
            condition: Condition::Failed,
        };
        let sql = claim(&range, true);
        assert!(
            sql.contains("machine_id >= $2 AND failure_kind IS NOT NULL"),
            "{sql}"
        );
        assert!(sql.contains("LIMIT $3"), "{sql}");
        assert!(sql.contains("LIMIT $4"), "{sql}");
        assert!(
            sql.contains("$5, 1, now() + make_interval(secs => $6)"),
            "{sql}"
        );
    }
}
