//! What one tool call may read from the server, over all the calendars it asks:
//! answer bytes and calendar objects (recurrence steps per call are in
//! `expand::Limits`). One answer is bounded by the HTTP client
//! (`http::MAX_ANSWER_BYTES`) and the XML parser (`dav::MAX_NODES`); this bounds
//! their sum, so asking fifty calendars costs no more than asking one.

use crate::error::CalError;

/// Most bytes of server answers one call reads.
pub const MAX_CALL_BYTES: u64 = 32 << 20;
/// Most calendar objects one call reads; more are left out and the answer says
/// `truncated`.
pub const MAX_OBJECTS: usize = 20_000;

/// What is left of one call's reading.
#[derive(Debug, Clone)]
pub struct Budget {
    bytes: u64,
    objects: usize,
    /// Whether objects were left out.
    pub cut: bool,
}

impl Default for Budget {
    fn default() -> Budget {
        Budget::per_call()
    }
}

impl Budget {
    /// A whole call's budget.
    pub fn per_call() -> Budget {
        Budget {
            bytes: MAX_CALL_BYTES,
            objects: MAX_OBJECTS,
            cut: false,
        }
    }

    /// Counts an answer of `bytes`; past the call's total it is an error.
    pub fn answer(&mut self, bytes: usize) -> Result<(), CalError> {
        let bytes = u64::try_from(bytes).unwrap_or(u64::MAX);
        self.bytes = self
            .bytes
            .checked_sub(bytes)
            .ok_or(CalError::TooLarge(MAX_CALL_BYTES))?;
        Ok(())
    }

    /// How many more objects the call may read.
    pub fn objects_left(&self) -> usize {
        self.objects
    }

    /// Takes one object; false (and `cut`) when the call has read its share.
    pub fn object(&mut self) -> bool {
        if self.objects == 0 {
            self.cut = true;
            return false;
        }
        self.objects -= 1;
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_and_objects_are_counted_over_the_whole_call() {
        let mut budget = Budget::per_call();
        let half = (MAX_CALL_BYTES / 2) as usize;
        assert!(budget.answer(half).is_ok());
        assert!(budget.answer(half).is_ok());
        assert_eq!(budget.answer(1), Err(CalError::TooLarge(MAX_CALL_BYTES)));
        let mut budget = Budget::per_call();
        assert!((0..MAX_OBJECTS).all(|_| budget.object()));
        assert!(!budget.cut);
        assert!(!budget.object());
        assert!(budget.cut);
    }
}
