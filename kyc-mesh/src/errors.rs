//! One line for an error and every cause under it, `outer: inner: …` (as anyhow's `{:#}`
//! printed them): how `kyc-mesh` reports an error that ends a command, and the failures `up`
//! logs and carries on after.

/// `error: cause: cause …`.
pub(crate) fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut line = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        line.push_str(": ");
        line.push_str(&c.to_string());
        cause = c.source();
    }
    line
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("writing x")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn every_cause_follows_its_error() {
        let e = Outer(std::io::Error::other("disk full"));
        assert_eq!(super::chain(&e), "writing x: disk full");
    }
}
