//! cfship-state
