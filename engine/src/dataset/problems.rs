//! One problem found while validating a dataset, and how a list of them is summarised.

use std::fmt;
use std::path::PathBuf;

/// Where in a layer file a problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// The file as a whole (not JSON, not a FeatureCollection, …).
    File,
    /// One feature: its 0-based index in `features`, and its id when it has one.
    Feature {
        /// 0-based index in the `features` array.
        index: usize,
        /// The feature's id, when it could be read.
        id: Option<String>,
    },
}

/// One problem in a dataset file: the file, the feature, the field and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetProblem {
    /// The layer file.
    pub path: PathBuf,
    /// The feature, or the file as a whole.
    pub location: Location,
    /// The field (`properties.lanes`, `geometry.coordinates`), when the problem is in one.
    pub field: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for DatasetProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Location::Feature { index, id } = &self.location {
            write!(f, ": feature #{index}")?;
            if let Some(id) = id {
                write!(f, " (id {id:?})")?;
            }
        }
        if let Some(field) = &self.field {
            write!(f, ": field `{field}`")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// One line: the first problem, and how many more there are.
pub(crate) fn summary(problems: &[DatasetProblem]) -> String {
    match problems {
        [] => "invalid dataset".to_string(),
        [one] => one.to_string(),
        [first, rest @ ..] => format!(
            "{first} (and {} more problem{}; `twin validate` lists them all)",
            rest.len(),
            if rest.len() == 1 { "" } else { "s" }
        ),
    }
}
