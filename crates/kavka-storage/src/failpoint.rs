//! Crash injection for the multi-step file protocols (segment swap after cleaning).
//!
//! Production code passes [`FailPoint::never`]; tests pass [`FailPoint::after`] to stop a
//! protocol after any number of its file operations, drop the log as a crash would, and check
//! that opening the directory again finds a valid log.

use crate::error::StorageError;

/// Counts file operations and fails the one after the allowed number.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FailPoint {
    /// Operations still allowed; `None` for no limit.
    remaining: Option<usize>,
    /// An operation was refused.
    fired: bool,
}

impl FailPoint {
    /// Never fails.
    pub(crate) fn never() -> FailPoint {
        FailPoint {
            remaining: None,
            fired: false,
        }
    }

    /// Allows `operations` operations, then fails every later one.
    #[cfg(test)]
    pub(crate) fn after(operations: usize) -> FailPoint {
        FailPoint {
            remaining: Some(operations),
            fired: false,
        }
    }

    /// Called before each file operation of a protocol.
    pub(crate) fn hit(&mut self) -> Result<(), StorageError> {
        match &mut self.remaining {
            None => Ok(()),
            Some(0) => {
                self.fired = true;
                Err(StorageError::Corrupt("injected crash".to_string()))
            }
            Some(n) => {
                *n -= 1;
                Ok(())
            }
        }
    }

    /// Whether an operation was refused (the protocol stopped early).
    #[cfg(test)]
    pub(crate) fn fired(&self) -> bool {
        self.fired
    }
}
