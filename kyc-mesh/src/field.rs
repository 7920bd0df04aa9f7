//! A value that names the input field it is about: `weights.kyc-credit-check-basic: missing
//! (every destination needs a weight)`. Every validation of a request (set-weights, chaos, the
//! canary's parameters, a scenario) answers one, and it travels as a value to each edge: the
//! CLI prints it as one line, the control socket sends that line, the dashboard answers
//! `{"error": <the line>, "field": <field>}`.

/// One invalid input: the field (`weights.x`, `errorRate`, `route`) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn it_reads_as_field_colon_message() {
        let e = FieldError::new("weights.a", "missing");
        assert_eq!(e.to_string(), "weights.a: missing");
        assert_eq!(e.field, "weights.a");
    }
}
