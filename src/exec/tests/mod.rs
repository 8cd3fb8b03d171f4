//! The scheduler driven through the engine with a fake backend (`fake.rs`), on workflows
//! loaded from small scripts in a home of their own.

mod fake;
mod scheduler;
