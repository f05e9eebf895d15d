//! Logging setup: `tracing` with an `EnvFilter` from `RUST_LOG` (default `info`), printed as
//! plain text or, with `OUTRIGGER_LOG_FORMAT=json`, as one JSON object per line.

use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Log output format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Human-readable lines.
    Plain,
    /// One JSON object per line.
    Json,
}

impl Format {
    /// The format named by `OUTRIGGER_LOG_FORMAT` (`json` or anything else for plain).
    pub fn from_env() -> Self {
        match std::env::var("OUTRIGGER_LOG_FORMAT").as_deref() {
            Ok("json") => Format::Json,
            _ => Format::Plain,
        }
    }
}

/// Install the global subscriber. Returns an error if one is already installed.
pub fn init(format: Format) -> Result<(), tracing_subscriber::util::TryInitError> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        Format::Json => registry
            .with(fmt::layer().json().with_current_span(true))
            .try_init(),
        // Colours only on a terminal: pod logs are files, where escape codes are noise.
        Format::Plain => registry
            .with(fmt::layer().with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout())))
            .try_init(),
    }
}
