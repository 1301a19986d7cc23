//! The domain of an agent's task — search, SQL, software engineering (and
//! `other` for trajectories the compiler cannot place) — one enum for the
//! environments that generate episodes, the compiler that classifies
//! trajectories, and the probe inputs built from both.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The domain of a trajectory or an episode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Domain {
    Search,
    Swe,
    Sql,
    Other,
}

impl Domain {
    /// Every domain, in its order.
    pub const ALL: [Domain; 4] = [Domain::Search, Domain::Swe, Domain::Sql, Domain::Other];

    pub fn name(&self) -> &'static str {
        match self {
            Domain::Search => "search",
            Domain::Swe => "swe",
            Domain::Sql => "sql",
            Domain::Other => "other",
        }
    }

    /// `search`, `swe`, `sql` or `other`.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|d| d.name() == s)
    }
}

impl fmt::Display for Domain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Domain {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        Self::parse(s).ok_or_else(|| {
            Error::Input(format!(
                "unknown domain `{s}`: expected search, swe, sql or other"
            ))
        })
    }
}
