//! Name matching that ignores case, accents, punctuation and spacing: `  José  O'Brien-Núñez ` and
//! `jose obrien nunez` are the same person for the watchlist.

/// Transliterates to ASCII (é → e, ß → ss, Cyrillic → Latin), lowercases, drops apostrophes and
/// periods, turns every other separator into one space.
pub fn normalise(name: &str) -> String {
    let ascii = deunicode::deunicode(name).to_ascii_lowercase();
    let mut out = String::with_capacity(ascii.len());
    let mut pending_space = false;
    for c in ascii.chars() {
        if c.is_ascii_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(c);
        } else if c == '\'' || c == '.' || c == '`' {
            // O'Brien == OBrien, J. == J
        } else {
            pending_space = true;
        }
    }
    out
}

/// The normalised full name, first then last.
pub fn full_name(first: &str, last: &str) -> String {
    normalise(&format!("{first} {last}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ignores_case_accents_and_spacing() {
        assert_eq!(normalise("  José   Núñez "), "jose nunez");
        assert_eq!(normalise("JOSE NUNEZ"), "jose nunez");
        assert_eq!(full_name("Viktor", "Zane"), full_name("  viktor ", "ZANE"));
    }

    #[test]
    fn hyphens_are_spaces_and_apostrophes_vanish() {
        assert_eq!(normalise("Anne-Marie O'Brien"), "anne marie obrien");
        assert_eq!(normalise("Anne Marie OBrien"), "anne marie obrien");
    }

    #[test]
    fn transliterates_other_scripts() {
        assert_eq!(normalise("Иван"), "ivan");
        assert_eq!(normalise("Strauß"), "strauss");
    }
}
