//! Glob matching on paths and text (deny list, user rules, requirements.json), checked against
//! a slow reference matcher. Input: pattern, NUL, text. Seeds: patterns of the default deny
//! list with paths they match.
#![no_main]

use deny_list::glob;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (pattern, text) = match data.iter().position(|&c| c == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let on_path = glob::matches(pattern, text);
    let on_text = glob::matches_text(pattern, text);
    let _ = glob::matches_path(pattern, text);
    if pattern.len() * text.len() <= 200_000 {
        assert_eq!(on_path, reference(pattern, text, b'/'), "on a path");
        assert_eq!(on_text, reference(pattern, text, 0), "on text");
    }
});

/// Wildcards as the module documents them: `**` any run, `*` any run without `separator`, `?`
/// one byte other than `separator`, everything else literal. Dynamic programming over
/// (pattern, text) positions.
fn reference(pattern: &[u8], text: &[u8], separator: u8) -> bool {
    enum Token {
        Any,
        Star,
        One,
        Byte(u8),
    }
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            b'*' if pattern.get(i + 1) == Some(&b'*') => {
                tokens.push(Token::Any);
                i += 2;
            }
            b'*' => {
                tokens.push(Token::Star);
                i += 1;
            }
            b'?' => {
                tokens.push(Token::One);
                i += 1;
            }
            c => {
                tokens.push(Token::Byte(c));
                i += 1;
            }
        }
    }
    // row[j]: the tokens so far match text[..j].
    let mut row = vec![false; text.len() + 1];
    row[0] = true;
    for token in &tokens {
        let mut next = vec![false; text.len() + 1];
        for j in 0..=text.len() {
            next[j] = match token {
                Token::Any => row[j] || (j > 0 && next[j - 1]),
                Token::Star => row[j] || (j > 0 && text[j - 1] != separator && next[j - 1]),
                Token::One => j > 0 && row[j - 1] && text[j - 1] != separator,
                Token::Byte(c) => j > 0 && row[j - 1] && text[j - 1] == *c,
            };
        }
        row = next;
    }
    row[text.len()]
}
