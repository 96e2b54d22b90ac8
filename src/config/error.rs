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
    /// A file that does not exist here: an error when serving, a warning with `--offline`.
    pub missing_file: bool,
}

impl Problem {
    pub fn file(message: impl Into<String>) -> Problem {
        Problem {
            site: None,
            field: String::new(),
            message: message.into(),
            missing_file: false,
        }
    }

    pub fn global(field: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            site: None,
            field: field.into(),
            message: message.into(),
            missing_file: false,
        }
    }

    /// `path` (named in `field`) does not exist or is not a file.
    pub fn missing(site: Option<&str>, field: impl Into<String>, path: &Path) -> Problem {
        Problem {
            site: site.map(str::to_owned),
            field: field.into(),
            message: format!("`{}` does not exist or is not a file", path.display()),
            missing_file: true,
        }
    }

    pub fn site(site: &str, field: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            site: Some(site.to_owned()),
            field: field.into(),
            message: message.into(),
            missing_file: false,
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
            write!(f, "{}", p.located(&self.file))?;
        }
        Ok(())
    }
}

impl Problem {
    /// `FILE: site `NAME`: field `FIELD`: message`, the way every problem is printed.
    pub fn located(&self, file: &Path) -> String {
        let mut text = file.display().to_string();
        if let Some(site) = &self.site {
            text.push_str(&format!(": site `{site}`"));
        }
        if !self.field.is_empty() {
            text.push_str(&format!(": field `{}`", self.field));
        }
        text.push_str(": ");
        text.push_str(&self.message);
        text
    }
}
