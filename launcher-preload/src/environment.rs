//! The environment the program starts with: the decision's edits made as libc's `setenv(name,
//! value, 1)` and `unsetenv(name)` would make them one after the other, written once into memory
//! that lives for the rest of the process, then given to the program by pointing libc's
//! `environ` at it (`libc::Libc::set_environment`).
//!
//! Why not call `setenv`: it runs libc's `malloc` inside the constructor (its first call sets
//! the allocator up: three system calls, and a program's own allocator may not be ready yet),
//! it scans the whole environment and copies the array for each variable (1.7 M instructions
//! at 10,000 variables) and, a call at a time, it can fail half-way. Here the edits land with
//! one store, all or none. Later `setenv`/`unsetenv`/`putenv` calls of the program work on the
//! new array as on any `environ` libc did not allocate: glibc and musl copy it on the first
//! addition, edit it in place otherwise, and never free it or its strings.

use analyzer::Edit;
use core::alloc::Layout;

/// Pointer size: the array's unit.
const POINTER: usize = core::mem::size_of::<*const u8>();

/// `env` (the current environment's `NAME=value` strings, each the bytes of a C string in
/// place) with `edits` made, as a null-terminated array of C strings written into the memory
/// `keep` gives for a layout (which must outlive the constructor). The edits are made in
/// order on that array itself: a set replaces the first entry of its name, in place, or is
/// appended; an unset removes every entry of its name. Inherited strings stay where they are;
/// set ones are written after the array. `None` if `keep` gives no memory or a value holds a
/// NUL (which no C string can carry): nothing is changed then.
pub fn build(
    env: &[&[u8]],
    edits: &[Edit],
    keep: impl FnOnce(Layout) -> *mut u8,
) -> Option<*mut *const u8> {
    let mut sets = 0;
    let mut strings = 0;
    for edit in edits {
        if let Edit::Set { name, value } = edit {
            if value.contains(&0) {
                return None;
            }
            sets += 1;
            strings += name.len() + value.len() + 2;
        }
    }
    // Room for every inherited entry, every set appended and the null.
    let slots = env.len() + sets + 1;
    let layout = Layout::from_size_align(slots * POINTER + strings, 8).ok()?;
    let block = keep(layout);
    if block.is_null() {
        return None;
    }
    let array = block.cast::<*const u8>();
    // SAFETY: `block` holds `slots` pointers, then `strings` bytes; the array never holds more
    // than `env.len()` entries plus one per set, and each set's string is written once into
    // its own part of the string room.
    unsafe {
        for (i, entry) in env.iter().enumerate() {
            array.add(i).write(entry.as_ptr());
        }
        let mut len = env.len();
        let mut text = block.add(slots * POINTER);
        for edit in edits {
            match edit {
                Edit::Set { name, value } => {
                    let start = text.cast_const();
                    for part in [name.as_bytes(), b"=", value, b"\0"] {
                        core::ptr::copy_nonoverlapping(part.as_ptr(), text, part.len());
                        text = text.add(part.len());
                    }
                    let at = (0..len).find(|&i| is(*array.add(i), name)).unwrap_or(len);
                    array.add(at).write(start);
                    len = len.max(at + 1);
                }
                Edit::Unset { name } => {
                    let mut kept = 0;
                    for i in 0..len {
                        let entry = *array.add(i);
                        if !is(entry, name) {
                            array.add(kept).write(entry);
                            kept += 1;
                        }
                    }
                    len = kept;
                }
            }
        }
        array.add(len).write(core::ptr::null());
    }
    Some(array)
}

/// Whether the C string `entry` is variable `name` (`NAME=...`).
///
/// # Safety
/// `entry` points to a NUL-terminated string. It is read no further than its NUL: `name` has
/// none, so a shorter string differs at its NUL.
unsafe fn is(entry: *const u8, name: &str) -> bool {
    name.bytes()
        .enumerate()
        .all(|(i, byte)| *entry.add(i) == byte)
        && *entry.add(name.len()) == b'='
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;
    use std::string::String;
    use std::vec::Vec;

    /// The edits made one by one on a list of strings, as `setenv(name, value, 1)` and
    /// `unsetenv(name)` make them: the model `build` must agree with.
    fn model(env: &[&str], edits: &[Edit]) -> Vec<String> {
        let mut out: Vec<String> = env.iter().map(|e| e.to_string()).collect();
        let named = |entry: &String, name: &str| {
            entry
                .strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('='))
        };
        for edit in edits {
            match edit {
                Edit::Set { name, value } => {
                    let entry = [*name, "=", std::str::from_utf8(value).unwrap()].concat();
                    match out.iter_mut().find(|e| named(e, name)) {
                        Some(e) => *e = entry,
                        None => out.push(entry),
                    }
                }
                Edit::Unset { name } => out.retain(|e| !named(e, name)),
            }
        }
        out
    }

    fn set(name: &'static str, value: &str) -> Edit {
        Edit::Set {
            name,
            value: value.as_bytes().to_vec(),
        }
    }

    fn unset(name: &'static str) -> Edit {
        Edit::Unset { name }
    }

    /// An entry of a built environment and its address.
    type Placed = (String, usize);

    /// The environment `build` writes, as strings with the address of each, and the
    /// addresses of `env`'s own strings (the memory is leaked, as in the library).
    fn built_at(env: &[&str], edits: &[Edit]) -> Option<(Vec<Placed>, Vec<usize>)> {
        let c_strings: Vec<&'static [u8]> = env
            .iter()
            .map(|e| &*[e.as_bytes(), b"\0"].concat().leak())
            .collect();
        let entries: Vec<&[u8]> = c_strings.iter().map(|e| &e[..e.len() - 1]).collect();
        // SAFETY: a valid non-zero layout; the block is leaked, as the library keeps it.
        let array = build(&entries, edits, |layout| unsafe {
            std::alloc::alloc(layout)
        })?;
        let mut out = Vec::new();
        // SAFETY: `build` wrote a null-terminated array of C strings, alive for the test
        // (inherited entries point into the leaked `c_strings`).
        unsafe {
            let mut at = array;
            while !(*at).is_null() {
                let text = CStr::from_ptr((*at).cast()).to_str().unwrap().to_string();
                out.push((text, *at as usize));
                at = at.add(1);
            }
        }
        Some((out, c_strings.iter().map(|c| c.as_ptr() as usize).collect()))
    }

    /// The environment `build` writes, as strings.
    fn built(env: &[&str], edits: &[Edit]) -> Option<Vec<String>> {
        built_at(env, edits).map(|(out, _)| out.into_iter().map(|(text, _)| text).collect())
    }

    #[test]
    fn sets_replace_in_place_or_append_and_unsets_remove_every_entry() {
        let env = ["A=1", "PATH=/bin", "AB=2", "A=dup", "NOEQUALS", "B=3"];
        let edits = [
            set("A", "new"),
            set("C", "c=d"),
            unset("B"),
            unset("NOEQUALS"),
            set("PATH", ""),
        ];
        assert_eq!(
            built(&env, &edits).unwrap(),
            ["A=new", "PATH=", "AB=2", "A=dup", "NOEQUALS", "C=c=d"],
            "the first A replaced, its duplicate kept (setenv); AB is another name; an entry \
             without '=' is no variable"
        );
        assert_eq!(
            built(&env, &[unset("A"), set("A", "back")]).unwrap(),
            ["PATH=/bin", "AB=2", "NOEQUALS", "B=3", "A=back"],
            "unset removes both A entries; the set after it appends"
        );
    }

    #[test]
    fn an_empty_environment_gets_the_sets_and_no_edits_change_nothing() {
        assert_eq!(built(&[], &[set("X", "1")]).unwrap(), ["X=1"]);
        assert_eq!(built(&[], &[unset("X")]).unwrap(), Vec::<String>::new());
        assert_eq!(built(&["A=1", "B"], &[]).unwrap(), ["A=1", "B"]);
    }

    #[test]
    fn a_value_with_a_nul_or_no_memory_changes_nothing() {
        let edits = [set("A", "fine"), set("B", "bad\0value")];
        assert_eq!(built(&["A=1"], &edits), None);
        let no_memory = build(&[b"A=1"], &[set("A", "2")], |_| core::ptr::null_mut());
        assert!(no_memory.is_none());
    }

    #[test]
    fn inherited_strings_are_kept_where_they_are() {
        let (out, originals) = built_at(
            &["KEEP=me", "DROP=x", "ALSO=kept"],
            &[unset("DROP"), set("NEW", "1")],
        )
        .unwrap();
        assert_eq!(out[0], ("KEEP=me".to_string(), originals[0]));
        assert_eq!(out[1], ("ALSO=kept".to_string(), originals[2]));
        assert!(
            !originals.contains(&out[2].1),
            "a set variable is a new string"
        );
    }

    /// Random environments (duplicates, prefixes of names, entries without `=`) and random
    /// edits of a few names: `build` agrees with the model.
    #[test]
    fn random_edits_agree_with_setenv_and_unsetenv_made_one_by_one() {
        const NAMES: [&str; 5] = ["A", "AB", "B", "PYTHONPATH", "DD_X"];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % n) as usize
        };
        for _ in 0..500 {
            let env: Vec<String> = (0..next(8))
                .map(|i| match next(4) {
                    0 => NAMES[next(5)].to_string(),
                    _ => format!("{}={i}", NAMES[next(5)]),
                })
                .collect();
            let edits: Vec<Edit> = (0..next(6))
                .map(|i| match next(3) {
                    0 => unset(NAMES[next(5)]),
                    _ => set(NAMES[next(5)], &format!("v{i}")),
                })
                .collect();
            let env: Vec<&str> = env.iter().map(String::as_str).collect();
            assert_eq!(
                built(&env, &edits).unwrap(),
                model(&env, &edits),
                "{env:?} {edits:?}"
            );
        }
    }
}
