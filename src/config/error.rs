//! Configuration errors a site owner can act on: every problem names file, site and field.

use std::fmt;
use std::path::{Path, PathBuf};

/// One thing wrong with a configuration file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The `name` of the `[[site]]` the problem is in; `None` outside sites.
    pub site: Option<String>,
    /// Dotted path of the field (`tls.cert`, `server.listen`); empty for the whole file.
    pub field: String,
    pub message: String,
}

impl Problem {
    pub fn file(message: impl Into<String>) -> Problem {
        Problem {
            site: None,
            field: String::new(),
            message: message.into(),
        }
    }

    pub fn global(field: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            site: None,
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn site(site: &str, field: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            site: Some(site.to_owned()),
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Everything wrong with one configuration file.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ConfigError {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

impl ConfigError {
    pub fn single(file: &Path, problem: Problem) -> ConfigError {
        ConfigError {
            file: file.to_owned(),
            problems: vec![problem],
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.problems.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{}", self.file.display())?;
            if let Some(site) = &p.site {
                write!(f, ": site `{site}`")?;
            }
            if !p.field.is_empty() {
                write!(f, ": field `{}`", p.field)?;
            }
            write!(f, ": {}", p.message)?;
        }
        Ok(())
    }
}
