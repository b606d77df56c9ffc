//! Counts in words, for what bop prints about a trace: "1 event", "2 events", "1 process".

/// `n` and `noun`, the noun in the plural unless `n` is 1 (English: `-es` after s, x, ch and
/// sh, else `-s`).
pub fn count(n: impl TryInto<u64>, noun: &str) -> String {
    let n: u64 = n.try_into().unwrap_or(u64::MAX);
    if n == 1 {
        return format!("1 {noun}");
    }
    let es = ["s", "x", "ch", "sh"].iter().any(|e| noun.ends_with(e));
    format!("{n} {noun}{}", if es { "es" } else { "s" })
}

#[cfg(test)]
mod tests {
    use super::count;

    #[test]
    fn singular_and_plural() {
        assert_eq!(count(1u64, "event"), "1 event");
        assert_eq!(count(0u64, "event"), "0 events");
        assert_eq!(count(2u32, "process"), "2 processes");
        assert_eq!(count(1u32, "class"), "1 class");
        assert_eq!(count(3usize, "class"), "3 classes");
    }
}
