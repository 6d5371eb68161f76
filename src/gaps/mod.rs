//! Lost-date detection: gather the evidence for every (date, market), then apply the table.

pub mod evidence;
pub mod verdict;
