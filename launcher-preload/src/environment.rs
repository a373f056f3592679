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

use alloc::vec::Vec;
use analyzer::Edit;
use core::alloc::Layout;

/// One entry of the new environment.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Entry<'a> {
    /// A `NAME=value` C string of the current environment, kept where it is.
    Inherited(&'a [u8]),
    /// A variable the decision sets: a new `NAME=value` string.
    Set(&'a str, &'a [u8]),
}

impl Entry<'_> {
    /// Whether this entry is variable `name` (`NAME=...`).
    fn is(&self, name: &str) -> bool {
        match self {
            Entry::Inherited(entry) => entry
                .strip_prefix(name.as_bytes())
                .is_some_and(|rest| rest.first() == Some(&b'=')),
            Entry::Set(set, _) => *set == name,
        }
    }
}

/// `env` (the current environment's `NAME=value` strings, each the bytes of a C string in
/// place) with `edits` made, as a null-terminated array of C strings written into the memory
/// `keep` gives for a layout (which must outlive the constructor). `None` if `keep` gives
/// none or a value holds a NUL (which no C string can carry): nothing is changed then.
pub fn build(
    env: &[&[u8]],
    edits: &[Edit],
    keep: impl FnOnce(Layout) -> *mut u8,
) -> Option<*mut *const u8> {
    let entries = edited(env, edits)?;
    let strings: usize = entries
        .iter()
        .map(|entry| match entry {
            Entry::Inherited(_) => 0,
            Entry::Set(name, value) => name.len() + value.len() + 2,
        })
        .sum();
    let pointers = (entries.len() + 1) * core::mem::size_of::<*const u8>();
    let layout = Layout::from_size_align(pointers + strings, 8).ok()?;
    let block = keep(layout);
    if block.is_null() {
        return None;
    }
    let array = block.cast::<*const u8>();
    // SAFETY: `block` holds `pointers` bytes for the array, then `strings` bytes for the new
    // strings, each written once below within those bounds.
    unsafe {
        let mut text = block.add(pointers);
        for (i, entry) in entries.iter().enumerate() {
            let pointer = match entry {
                Entry::Inherited(entry) => entry.as_ptr(),
                Entry::Set(name, value) => {
                    let start = text;
                    for part in [name.as_bytes(), b"=", value, b"\0"] {
                        core::ptr::copy_nonoverlapping(part.as_ptr(), text, part.len());
                        text = text.add(part.len());
                    }
                    start.cast_const()
                }
            };
            array.add(i).write(pointer);
        }
        array.add(entries.len()).write(core::ptr::null());
    }
    Some(array)
}

/// The entries of `env` with `edits` made in order: a set replaces the first entry of its
/// name, in place, or is appended; an unset removes every entry of its name. `None` if a value
/// holds a NUL.
fn edited<'a>(env: &[&'a [u8]], edits: &'a [Edit]) -> Option<Vec<Entry<'a>>> {
    let mut entries = Vec::with_capacity(env.len() + edits.len());
    entries.extend(env.iter().map(|&entry| Entry::Inherited(entry)));
    for edit in edits {
        match edit {
            Edit::Set { name, value } => {
                if value.contains(&0) {
                    return None;
                }
                let set = Entry::Set(name, value);
                match entries.iter_mut().find(|entry| entry.is(name)) {
                    Some(entry) => *entry = set,
                    None => entries.push(set),
                }
            }
            Edit::Unset { name } => entries.retain(|entry| !entry.is(name)),
        }
    }
    Some(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CStr;

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
}
