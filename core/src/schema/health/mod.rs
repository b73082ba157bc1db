//! Schema health: checks that find the gaps a database review finds (missing indexes, RLS
//! holes, duplicates, wraparound, bloat, undocumented columns), their scans and suppressions.

pub mod checks;
pub mod finding;
pub mod schedule;
pub mod store;

pub use checks::{Thresholds, is_user_owned, run_checks};
pub use finding::{Category, Check, Finding, Level};
pub use store::{
    HealthError, NewSuppression, OpenCounts, PLATFORM, Report, Scan, ScanResult, ShownFinding,
    Suppression, check_database, check_database_with, open_error_count, report, report_page, scan,
    suppress, unsuppress,
};
