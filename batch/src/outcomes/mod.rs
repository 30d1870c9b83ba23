//! Outcomes: whether the applicants a version scored went bad as often as it said, and
//! whether it still ranks them (back-testing as supervisors test PD models).

pub mod stats;
