//! An error and its causes, as text.

/// An error and its causes on one line (`x: y: z`): for a
/// message that has no room for a chain of causes.
pub fn one_line(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut src = e.source();
    while let Some(s) = src {
        text.push_str(": ");
        text.push_str(&s.to_string());
        src = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_error_reads_with_each_of_its_causes_in_order() {
        let io = std::io::Error::other("disk on fire");
        #[derive(Debug, thiserror::Error)]
        #[error("write the record")]
        struct Outer(#[source] std::io::Error);
        assert_eq!(
            super::one_line(&Outer(io)),
            "write the record: disk on fire"
        );
    }
}
