//! An index of a process's environment by variable name, so that the decision's look-ups (about
//! twenty) cost one pass over the environment instead of one pass each. At 10,000 variables the
//! look-ups cost about 2.9 M instructions as scans, and the index about 0.5 M to build.
//!
//! Open addressing over a table at most half full: each slot holds a name's hash and 0 (empty)
//! or 1 + the position of the first entry with that name (later entries with the same name are
//! never found, as with `getenv`); names are compared only when their hashes are equal.
//! Entries without `=` have no name and are left out.

use alloc::vec;
use alloc::vec::Vec;

/// An index of one environment (`NAME=value` entries).
#[derive(Clone, Debug, Default)]
pub struct EnvIndex {
    /// The environment it was built for: its entries' address and count. Another vector, or
    /// this one at another length, is not indexed by it.
    of: (usize, usize),
    /// The table: (hash of the name, 1 + position in the environment, 0 for an empty slot);
    /// its length a power of two, or 0 when nothing is indexed.
    slots: Vec<(u32, u32)>,
}

impl EnvIndex {
    /// The index of `env`.
    pub fn build(env: &[&[u8]]) -> EnvIndex {
        let size = (env.len() * 2).max(8).next_power_of_two();
        let mut slots = vec![(0u32, 0u32); size];
        for (position, entry) in env.iter().enumerate() {
            let Some((hash, name_len)) = name_hash(entry) else {
                continue;
            };
            let name = entry.get(..name_len).unwrap_or_default();
            if let Some(Err(free)) = probe(&slots, env, hash, name) {
                if let Some(slot) = slots.get_mut(free) {
                    *slot = (hash, position as u32 + 1);
                }
            }
        }
        EnvIndex {
            of: (env.as_ptr() as usize, env.len()),
            slots,
        }
    }

    /// The value of variable `name` in `env` (`Some(None)`: not set), or `None` if `env` is not
    /// the environment this index was built for, or `name` holds a `=` (a scan decides then).
    /// Never inlined: [`crate::process::Process::var`] stays small enough for the compiler to
    /// unroll loops over constant names into code instead of tables the loader relocates.
    #[inline(never)]
    pub fn find<'a>(&self, env: &[&'a [u8]], name: &[u8]) -> Option<Option<&'a [u8]>> {
        if self.of != (env.as_ptr() as usize, env.len()) || name.contains(&b'=') {
            return None;
        }
        match probe(&self.slots, env, hash_of(name), name)? {
            Ok(position) => Some(env.get(position).and_then(|e| e.get(name.len() + 1..))),
            Err(_) => Some(None),
        }
    }
}

/// Where `name`, of hash `hash`, is in `slots`: `Ok(its position in env)`, or `Err(the free
/// slot where it would go)`; `None` for an empty table. (Written without indexing that could
/// panic: each panic site would be a pointer for the loader to relocate in every process.)
fn probe(
    slots: &[(u32, u32)],
    env: &[&[u8]],
    hash: u32,
    name: &[u8],
) -> Option<Result<usize, usize>> {
    let mask = slots.len().checked_sub(1)?;
    let mut slot = hash as usize & mask;
    for _ in 0..slots.len() {
        match *slots.get(slot)? {
            (_, 0) => return Some(Err(slot)),
            (h, taken) => {
                let position = taken as usize - 1;
                if h == hash && env.get(position).is_some_and(|entry| named(entry, name)) {
                    return Some(Ok(position));
                }
            }
        }
        slot = (slot + 1) & mask;
    }
    None
}

/// Whether `entry` is `name=...`.
fn named(entry: &[u8], name: &[u8]) -> bool {
    entry.get(name.len()) == Some(&b'=') && entry.starts_with(name)
}

/// The hash's starting value and multiplier (the golden ratio's 64 bits).
const SEED: u64 = 0x9e37_79b9_7f4a_7c15;

/// Mixes the next eight bytes of a name (fewer, zero-padded, for the last) into `hash`.
fn mix(hash: u64, word: u64) -> u64 {
    (hash.rotate_left(5) ^ word).wrapping_mul(SEED)
}

/// The table hash of a mixed state.
fn finish(hash: u64) -> u32 {
    ((hash ^ (hash >> 32)).wrapping_mul(SEED) >> 32) as u32
}

/// The hash of variable name `name` (as [`name_hash`] hashes it in an entry).
fn hash_of(name: &[u8]) -> u32 {
    let mut chunks = name.chunks_exact(8);
    let mut hash = SEED;
    for chunk in &mut chunks {
        hash = mix(hash, full_word(chunk));
    }
    finish(mix(hash, word(chunks.remainder())))
}

/// Eight bytes (a `chunks_exact(8)` chunk) as a little-endian word.
fn full_word(chunk: &[u8]) -> u64 {
    chunk.try_into().map_or(0, u64::from_le_bytes)
}

/// Fewer than eight bytes as a little-endian word, zero-padded.
fn word(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .rev()
        .fold(0, |word, &byte| word << 8 | byte as u64)
}

/// The hash of the name of entry `NAME=value`, and the name's length; `None` without `=`.
/// Eight bytes at a time, `=` found in each word by bit arithmetic: this is the index's cost
/// per variable.
fn name_hash(entry: &[u8]) -> Option<(u32, usize)> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const EQUALS: u64 = ONES * b'=' as u64;
    let mut chunks = entry.chunks_exact(8);
    let mut hash = SEED;
    let mut at = 0;
    for chunk in &mut chunks {
        let word = full_word(chunk);
        // The lowest 0x80 bit marks the first byte that equals '=' (higher ones may be false).
        let x = word ^ EQUALS;
        let found = x.wrapping_sub(ONES) & !x & (ONES << 7);
        if found != 0 {
            let len = (found.trailing_zeros() / 8) as usize;
            let name_part = word & ((1u64 << (8 * len)) - 1);
            return Some((finish(mix(hash, name_part)), at + len));
        }
        hash = mix(hash, word);
        at += 8;
    }
    let rest = chunks.remainder();
    let len = rest.iter().position(|&c| c == b'=')?;
    Some((finish(mix(hash, word(&rest[..len]))), at + len))
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn finds_what_a_scan_finds() {
        let env: Vec<&[u8]> = vec![
            b"A=1",
            b"AB=2",
            b"A=3",
            b"EMPTY=",
            b"NOEQUALS",
            b"=nameless",
            b"X=a=b",
        ];
        let index = EnvIndex::build(&env);
        let found = |name: &str| index.find(&env, name.as_bytes()).unwrap();
        assert_eq!(found("A"), Some(&b"1"[..]), "the first entry wins");
        assert_eq!(found("AB"), Some(&b"2"[..]));
        assert_eq!(found("EMPTY"), Some(&b""[..]));
        assert_eq!(found("X"), Some(&b"a=b"[..]));
        assert_eq!(found(""), Some(&b"nameless"[..]));
        assert_eq!(found("NOEQUALS"), None);
        assert_eq!(found("B"), None);
        assert_eq!(index.find(&env, b"X=a"), None, "left to a scan");
    }

    #[test]
    fn a_name_hashes_alike_alone_and_in_its_entry_whatever_its_length() {
        for len in 0..40 {
            let name: Vec<u8> = (0..len).map(|i| b'A' + (i % 26) as u8).collect();
            for value in [&b""[..], b"=", b"x=y", b"0123456789abcdef"] {
                let entry = [&name[..], b"=", value].concat();
                assert_eq!(name_hash(&entry), Some((hash_of(&name), len)), "{len}");
            }
        }
        assert_eq!(name_hash(b"NOEQUALS_AT_ALL_HERE"), None);
        assert_ne!(hash_of(b"DD_SERVICE"), hash_of(b"DD_SERVICF"));
    }

    /// What a scan of `env` finds for `name`, as `getenv` does.
    fn scan<'a>(env: &[&'a [u8]], name: &[u8]) -> Option<&'a [u8]> {
        env.iter()
            .find_map(|e| e.strip_prefix(name)?.strip_prefix(b"="))
    }

    #[test]
    fn random_environments_answer_as_a_scan_does() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |n: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % n
        };
        for round in 0..200 {
            // Names from a small alphabet so that prefixes, duplicates and collisions abound.
            let entries: Vec<Vec<u8>> = (0..next(300))
                .map(|_| {
                    let name: Vec<u8> = (0..next(20)).map(|_| b"AB_D"[next(4) as usize]).collect();
                    match next(10) {
                        0 => name,
                        _ => [
                            &name[..],
                            b"=",
                            &name[..next(name.len() as u64 + 1) as usize],
                        ]
                        .concat(),
                    }
                })
                .collect();
            let env: Vec<&[u8]> = entries.iter().map(Vec::as_slice).collect();
            let index = EnvIndex::build(&env);
            for _ in 0..50 {
                let name: Vec<u8> = (0..next(20)).map(|_| b"AB_D"[next(4) as usize]).collect();
                assert_eq!(
                    index.find(&env, &name),
                    Some(scan(&env, &name)),
                    "round {round}"
                );
            }
            for entry in &env {
                if let Some(at) = entry.iter().position(|&c| c == b'=') {
                    let name = &entry[..at];
                    assert_eq!(
                        index.find(&env, name),
                        Some(scan(&env, name)),
                        "round {round}"
                    );
                }
            }
        }
    }

    #[test]
    fn another_environment_is_not_indexed() {
        let env: Vec<&[u8]> = vec![b"A=1"];
        let index = EnvIndex::build(&env);
        let other: Vec<&[u8]> = vec![b"A=2"];
        assert_eq!(index.find(&other, b"A"), None);
        assert_eq!(index.find(&env[..0], b"A"), None);
        assert_eq!(EnvIndex::default().find(&env, b"A"), None);
    }

    #[test]
    fn a_full_table_of_colliding_names_is_searched_to_its_end() {
        let names: Vec<Vec<u8>> = (0..5000)
            .map(|i| format!("VAR_{i}={i}").into_bytes())
            .collect();
        for (i, entry) in names.iter().enumerate().step_by(7) {
            let name = &entry[..entry.iter().position(|&c| c == b'=').unwrap()];
            assert_eq!(name_hash(entry), Some((hash_of(name), name.len())), "{i}");
        }
        let env: Vec<&[u8]> = names.iter().map(Vec::as_slice).collect();
        let index = EnvIndex::build(&env);
        for i in (0..5000).step_by(97) {
            let value = index.find(&env, format!("VAR_{i}").as_bytes()).unwrap();
            assert_eq!(value, Some(format!("{i}").as_bytes()));
        }
        assert_eq!(index.find(&env, b"VAR_5000"), Some(None));
    }
}
