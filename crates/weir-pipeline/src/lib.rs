//! The pipeline model of weir: the file format (YAML or JSON, one model), parsing with source
//! positions, validation that reports every problem at once with a stable code and a fix hint,
//! and compilation of jq expressions into a [`Plan`] that the engine runs.
//!
//! This crate does no I/O besides reading the text it is given, and needs no async runtime.
//! Step kinds are described to it through a [`Catalog`] of [`KindSpec`]s; how they run is the
//! engine's and the step kinds' business.
//!
//! Data flow: text -> [`node::parse`] (spanned tree) -> decode (format types, every field
//! checked) -> validation (graph, kinds, expressions, which steps each step reads) -> [`Plan`];
//! the plans of a file and of the files it runs, resolved, make a [`Bundle`]. Beside that flow, views of a
//! pipeline as written: [`diff`] compares two by meaning, [`format::format`] writes the node tree
//! back as canonical text for `weir fmt`, [`graph`] draws charts and pictures, [`docs`] writes pages.

mod ancestry;
mod bundle;
pub mod code;
mod decode;
pub mod diag;
pub mod diff;
pub mod docs;
mod duration;
pub mod expr;
pub mod format;
pub mod graph;
pub mod json_schema;
pub mod kind;
pub mod model;
pub mod node;
mod plan;
pub mod schema;
mod source;
pub mod suggest;
mod template;
mod validate;

pub use bundle::{Bundle, BundleError, PlanId};
pub use code::Code;
pub use diag::{Diagnostic, Severity};
pub use duration::Duration;
pub use kind::{Catalog, Effects, KindSpec};
pub use model::{Pipeline, Status};
pub use plan::{Import, Plan, PlanStep, Route, StepReads};
pub use source::{LineCol, Source, Span};
pub use template::Template;
pub use validate::{Loaded, load, valid_name};
