//! The `metav1.Status`-shaped JSON written on the exec error stream (v4+).

use serde::Serialize;

/// Reason set when the command exited non-zero.
pub const REASON_NON_ZERO_EXIT: &str = "NonZeroExitCode";
/// Cause type carrying the exit code.
pub const CAUSE_EXIT_CODE: &str = "ExitCode";

#[derive(Debug, Serialize, PartialEq, Eq)]
struct Cause {
    #[serde(rename = "reason", skip_serializing_if = "String::is_empty")]
    kind: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    message: String,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
struct Details {
    causes: Vec<Cause>,
}

#[derive(Debug, Serialize, PartialEq, Eq)]
struct Metadata {}

/// An exec/attach outcome as the client expects it on the error stream.
#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Status {
    metadata: Metadata,
    status: &'static str,
    #[serde(skip_serializing_if = "String::is_empty")]
    message: String,
    #[serde(skip_serializing_if = "str::is_empty")]
    reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<Details>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u16>,
}

impl Status {
    /// The command succeeded (exit code 0).
    pub fn success() -> Self {
        Self {
            metadata: Metadata {},
            status: "Success",
            message: String::new(),
            reason: "",
            details: None,
            code: None,
        }
    }

    /// The command exited with a non-zero `code`.
    pub fn exit_code(code: i32) -> Self {
        Self {
            metadata: Metadata {},
            status: "Failure",
            message: format!("command terminated with non-zero exit code: exit status {code}"),
            reason: REASON_NON_ZERO_EXIT,
            details: Some(Details {
                causes: vec![Cause {
                    kind: CAUSE_EXIT_CODE.to_string(),
                    message: code.to_string(),
                }],
            }),
            code: None,
        }
    }

    /// The runtime failed to run the command at all.
    pub fn internal_error(msg: &str) -> Self {
        Self {
            metadata: Metadata {},
            status: "Failure",
            message: format!("Internal error occurred: {msg}"),
            reason: "InternalError",
            details: None,
            code: Some(500),
        }
    }

    /// Map an exec outcome to a status.
    pub fn from_exec(res: &Result<i32, String>) -> Self {
        match res {
            Ok(0) => Self::success(),
            Ok(code) => Self::exit_code(*code),
            Err(msg) => {
                Self::internal_error(&format!("error executing command in container: {msg}"))
            }
        }
    }

    /// Whether this is a success.
    pub fn is_success(&self) -> bool {
        self.status == "Success"
    }

    /// The human-readable message (what protocols before v4 write as plain text).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// JSON encoding.
    pub fn to_json(&self) -> Vec<u8> {
        // Serializing these plain structs cannot fail; fall back to a minimal document.
        serde_json::to_vec(self).unwrap_or_else(|_| br#"{"status":"Failure"}"#.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_json() {
        assert_eq!(
            String::from_utf8(Status::success().to_json()).unwrap(),
            r#"{"metadata":{},"status":"Success"}"#
        );
        assert!(Status::from_exec(&Ok(0)).is_success());
    }

    #[test]
    fn non_zero_exit_json_carries_the_code_as_a_cause() {
        let v: serde_json::Value =
            serde_json::from_slice(&Status::from_exec(&Ok(3)).to_json()).unwrap();
        assert_eq!(v["status"], "Failure");
        assert_eq!(v["reason"], "NonZeroExitCode");
        assert_eq!(v["details"]["causes"][0]["reason"], "ExitCode");
        assert_eq!(v["details"]["causes"][0]["message"], "3");
        assert_eq!(
            v["message"],
            "command terminated with non-zero exit code: exit status 3"
        );
    }

    #[test]
    fn runtime_error_is_internal_error_with_message() {
        let s = Status::from_exec(&Err("no such container abc".into()));
        assert!(!s.is_success());
        let v: serde_json::Value = serde_json::from_slice(&s.to_json()).unwrap();
        assert_eq!(v["reason"], "InternalError");
        assert_eq!(v["code"], 500);
        assert!(
            v["message"]
                .as_str()
                .unwrap()
                .contains("no such container abc")
        );
        assert!(v.get("details").is_none());
    }
}
