//! Which shard a machine is in, and which instance should own each shard.
//!
//! Both are pure functions every instance computes alike, so instances agree on the
//! assignment from the membership table alone, without a coordinator.
//!
//! * **Shard of a machine**: FNV-1a (64-bit) of the machine's full store key (the group's key
//!   prefix followed by the encoded id), modulo the group's shard count. The function and the
//!   count never change for a group (the count is fixed when the group is created), so a
//!   machine stays in its shard for the group's life.
//! * **Owner of a shard**: rendezvous (highest random weight) hashing over the live members:
//!   shard `s` goes to the member `m` with the highest `weight(m, s)`. When a member joins, it
//!   takes about `1 / members` of the shards from the others, and no shard moves between two
//!   members that stay; when one leaves, only its shards move.

/// The default number of shards of a new group: enough to spread a group evenly over a few
/// dozen instances, few enough that the background lease traffic (one row per shard) stays
/// negligible.
pub const DEFAULT_SHARDS: u32 = 64;

/// The most shards a group may have.
pub const MAX_SHARDS: u32 = 1 << 16;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// FNV-1a, 64-bit.
fn fnv1a(bytes: impl IntoIterator<Item = u8>) -> u64 {
    bytes.into_iter().fold(FNV_OFFSET, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(FNV_PRIME)
    })
}

/// The shard of the machine stored under `key` in a group of `shards` shards (at least 1).
pub fn shard_of(key: &[u8], shards: u32) -> u32 {
    let shards = u64::from(shards.max(1));
    // The remainder is below `shards`, which fits in a u32.
    (fnv1a(key.iter().copied()) % shards) as u32
}

/// SplitMix64's finalizer: spreads the bits of a short FNV input over the whole word.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The rendezvous weight of `member` for `shard`.
fn weight(member: &str, shard: u32) -> u64 {
    mix(fnv1a(
        member.bytes().chain([0xff]).chain(shard.to_le_bytes()),
    ))
}

/// The member that should own `shard` among `members` (none when there are no members). Ties
/// (equal weights) go to the smaller name, so every instance decides alike.
pub fn desired_owner(shard: u32, members: &[String]) -> Option<&str> {
    members
        .iter()
        .map(|member| (weight(member, shard), std::cmp::Reverse(member.as_str())))
        .max()
        .map(|(_, std::cmp::Reverse(member))| member)
}

/// The shards of `0..shards` that `member` should own among `members`.
pub fn desired_shards(member: &str, members: &[String], shards: u32) -> Vec<u32> {
    (0..shards)
        .filter(|&shard| desired_owner(shard, members) == Some(member))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(names: &[&str]) -> Vec<String> {
        names.iter().map(|name| (*name).to_owned()).collect()
    }

    #[test]
    fn the_shard_mapping_is_stable() {
        // Pinned values: the mapping is part of the stored data's meaning, so it must never
        // change between versions.
        assert_eq!(fnv1a(*b""), FNV_OFFSET);
        assert_eq!(fnv1a(*b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(shard_of(b"a", 64), (0xaf63_dc4c_8601_ec8c_u64 % 64) as u32);
        assert_eq!(shard_of(&7_u64.to_be_bytes(), 1), 0);
        assert_eq!(shard_of(b"anything", 0), 0, "a count of 0 is read as 1");
    }

    #[test]
    fn keys_spread_evenly_over_shards() {
        let mut counts = vec![0_u32; 64];
        for id in 0_u64..64_000 {
            counts[shard_of(&id.to_be_bytes(), 64) as usize] += 1;
        }
        let (min, max) = (
            counts.iter().min().copied().unwrap_or(0),
            counts.iter().max().copied().unwrap_or(0),
        );
        assert!(min > 800 && max < 1200, "min {min}, max {max}");
    }

    #[test]
    fn every_shard_has_exactly_one_desired_owner() {
        let members = names(&["a", "b", "c"]);
        let mut owned = 0;
        for member in &members {
            owned += desired_shards(member, &members, 256).len();
        }
        assert_eq!(owned, 256);
        assert_eq!(desired_owner(3, &[]), None);
    }

    #[test]
    fn shares_are_roughly_even() {
        let members = names(&["node-1", "node-2", "node-3", "node-4"]);
        for member in &members {
            let share = desired_shards(member, &members, 1024).len();
            assert!((180..=340).contains(&share), "{member}: {share}");
        }
    }

    #[test]
    fn a_joining_member_only_takes_shards_it_will_own() {
        let before = names(&["a", "b", "c"]);
        let after = names(&["a", "b", "c", "d"]);
        for shard in 0..1024 {
            let old = desired_owner(shard, &before);
            let new = desired_owner(shard, &after);
            assert!(
                new == old || new == Some("d"),
                "shard {shard}: {old:?} -> {new:?}"
            );
        }
        let moved = desired_shards("d", &after, 1024).len();
        assert!((150..=370).contains(&moved), "{moved}");
    }

    #[test]
    fn a_leaving_member_only_gives_away_its_own_shards() {
        let before = names(&["a", "b", "c"]);
        let after = names(&["a", "c"]);
        for shard in 0..1024 {
            let old = desired_owner(shard, &before);
            if old != Some("b") {
                assert_eq!(desired_owner(shard, &after), old, "shard {shard}");
            }
        }
    }
}
