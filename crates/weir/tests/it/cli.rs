//! CLI behaviour beyond single runs.
